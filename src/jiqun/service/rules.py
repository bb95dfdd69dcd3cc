"""Rules of the proactive service queue (主动客服): working hours, holidays, deadlines, grouping.

They live in the ``[service]`` table of the rules file (``JIQUN_RULES_FILE``, beside ``[sales]``),
so one file holds every threshold of a deployment; missing values take the defaults below,
which are what a city customer-service team of a Chinese express carrier works to:

* working hours 08:30–18:00 Monday to Friday, 09:00–17:00 on Saturday, closed on Sunday;
* the statutory holidays (法定节假日) of the State Council's yearly notice are closed and its
  make-up working days (调休上班) are worked with weekday hours — 2026 is filled in, a
  deployment adds each year's notice to its file (``holidays`` / ``make_up_days``);
* first response (首次响应) and resolution (处理完结) targets per exception kind, in working
  hours: a lost parcel is answered within 1 hour and settled within 3 working days; a warning
  at 75 % of a deadline.

Example of a file's table::

    [service]
    warn_share = 0.75
    holidays = ["2026-10-01", "2026-10-02"]
    make_up_days = ["2026-10-10"]
    [service.hours]
    mon = ["08:30-12:00", "13:30-18:00"]
    sun = []
    [service.first_response_hours]
    lost = 0.5
"""

from __future__ import annotations

import datetime as dt
import re
from typing import ClassVar

from pydantic import Field, field_validator, model_validator

from jiqun.config import FileRules
from jiqun.store.models import ExceptionKind

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # date.weekday() order
_WINDOW = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")
WEEKDAY_HOURS = ["08:30-18:00"]

# The State Council's arrangement of the 2026 holidays (国务院办公厅关于2026年部分节假日安排的通知).
HOLIDAYS_2026 = [
    "2026-01-01", "2026-01-02", "2026-01-03",  # 元旦
    *(f"2026-02-{d:02d}" for d in range(15, 24)),  # 春节
    "2026-04-04", "2026-04-05", "2026-04-06",  # 清明节
    "2026-05-01", "2026-05-02", "2026-05-03", "2026-05-04", "2026-05-05",  # 劳动节
    "2026-06-19", "2026-06-20", "2026-06-21",  # 端午节
    "2026-09-25", "2026-09-26", "2026-09-27",  # 中秋节
    *(f"2026-10-{d:02d}" for d in range(1, 8)),  # 国庆节
]
MAKE_UP_DAYS_2026 = ["2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20",
                     "2026-10-10"]

K = ExceptionKind
FIRST_RESPONSE_HOURS = {K.LOST.value: 1.0, K.LATE.value: 2.0, K.STALLED.value: 2.0,
                        K.FAILED_DELIVERY.value: 2.0, K.MISSING_SCAN.value: 4.0,
                        K.RETURNED.value: 4.0, K.LOCKER_UNCOLLECTED.value: 4.0}
RESOLVE_HOURS = {K.LOST.value: 27.0, K.LATE.value: 9.0, K.STALLED.value: 9.0,
                 K.FAILED_DELIVERY.value: 9.0, K.MISSING_SCAN.value: 18.0,
                 K.RETURNED.value: 18.0, K.LOCKER_UNCOLLECTED.value: 9.0}


def _default_hours() -> dict[str, list[str]]:
    return {**{day: list(WEEKDAY_HOURS) for day in WEEKDAYS[:5]}, "sat": ["09:00-17:00"],
            "sun": []}


class ServiceRules(FileRules):
    toml_table: ClassVar[tuple[str, ...]] = ("service",)

    hours: dict[str, list[str]] = Field(
        default_factory=_default_hours,
        description="Working hours per day of the week (mon … sun): windows 'HH:MM-HH:MM'; "
        "an empty list is a closed day.")
    holidays: list[dt.date] = Field(
        default_factory=lambda: [dt.date.fromisoformat(d) for d in HOLIDAYS_2026],
        description="Closed days (法定节假日), whatever their day of the week.")
    make_up_days: list[dt.date] = Field(
        default_factory=lambda: [dt.date.fromisoformat(d) for d in MAKE_UP_DAYS_2026],
        description="Weekend days worked instead of a holiday (调休上班), with Monday's hours.")
    first_response_hours: dict[str, float] = Field(
        default_factory=lambda: dict(FIRST_RESPONSE_HOURS),
        description="Working hours from the case's opening to the first contact, per kind.")
    resolve_hours: dict[str, float] = Field(
        default_factory=lambda: dict(RESOLVE_HOURS),
        description="Working hours from the case's opening to its resolution, per kind.")
    warn_share: float = Field(
        0.75, gt=0, lt=1,
        description="The owner is warned when this share of a deadline's working time is used.")
    bag_min_exceptions: int = Field(
        2, ge=2,
        description="Exceptions of one bag (bag_key) that make a bag case (one case for the "
        "parcels that travelled together) instead of one case per customer.")
    ageing_hours: list[float] = Field(
        default_factory=lambda: [4.0, 24.0, 72.0],
        description="Upper bounds (calendar hours since opening) of the ageing buckets of the "
        "city summary; the last bucket is everything older.")

    @field_validator("hours")
    @classmethod
    def _valid_hours(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        unknown = set(value) - set(WEEKDAYS)
        if unknown:
            raise ValueError(f"unknown days {sorted(unknown)}: use {', '.join(WEEKDAYS)}")
        for day, windows in value.items():
            for window in windows:
                match = _WINDOW.match(window)
                if not match or window[:5] >= window[6:]:
                    raise ValueError(f"{day}: {window!r} is not a window 'HH:MM-HH:MM'")
        defaults = _default_hours()  # a day the file leaves out keeps its default hours
        return {day: value.get(day, defaults[day]) for day in WEEKDAYS}

    @field_validator("first_response_hours", "resolve_hours")
    @classmethod
    def _valid_targets(cls, value: dict[str, float], info) -> dict[str, float]:
        unknown = set(value) - {k.value for k in ExceptionKind}
        if unknown:
            raise ValueError(f"unknown exception kinds {sorted(unknown)}")
        if any(hours <= 0 for hours in value.values()):
            raise ValueError("deadlines must be positive working hours")
        defaults = FIRST_RESPONSE_HOURS if info.field_name == "first_response_hours" \
            else RESOLVE_HOURS  # a kind the file leaves out keeps its default target
        return {**defaults, **value}

    @model_validator(mode="after")
    def _some_working_time(self) -> ServiceRules:
        if not any(self.hours.values()):
            raise ValueError("the working week has no hours: no deadline could ever fall")
        return self

    def first_response_target(self, kind: ExceptionKind) -> float:
        return self.first_response_hours[kind.value]

    def resolve_target(self, kind: ExceptionKind) -> float:
        return self.resolve_hours[kind.value]

    def working_hours(self):
        """The calendar of these rules (:class:`jiqun.service.clock.WorkingHours`)."""
        from jiqun.service.clock import WorkingHours

        return WorkingHours.of_rules(self)

    def to_table(self) -> dict:
        """The ``[service]`` table of a rules file with these values."""
        return {"service": self.model_dump(mode="json")}
