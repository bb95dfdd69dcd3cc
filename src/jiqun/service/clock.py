"""The deadline clock of the service queue: arithmetic in working hours (工作时间).

A case's deadlines are counted in the service team's working hours (:mod:`jiqun.service.rules`):
two working hours opened at 17:00 on a Friday fall due at 10:00 on Saturday under the default
hours (one hour on Friday, one from 09:00 on Saturday), and a holiday or a closed day adds
nothing. Time spent waiting on others (a merchant's answer, another carrier) is *paused*: the
intervals in ``paused`` do not count either.

Datetimes are naive and read as local time (China Standard Time), as the store keeps them.
Pure functions, no database: :class:`WorkingHours` is the calendar, :func:`add_working` and
:func:`working_between` the two operations the queue needs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

Interval = tuple[dt.datetime, dt.datetime]
Pause = tuple[dt.datetime, dt.datetime | None]  # None: still paused (waiting now)
MAX_DAYS = 3660  # a deadline further than ten years of working days is a broken calendar
_DAY = dt.timedelta(days=1)


def _minutes(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def _parse_window(window: str) -> tuple[int, int]:
    start, end = window.split("-")
    return _minutes(start), min(_minutes(end), 24 * 60)


@dataclass(frozen=True)
class WorkingHours:
    """A working calendar: windows per weekday (minutes from midnight, Monday first), closed
    holidays and make-up working days (调休) that take the first working weekday's windows."""

    week: tuple[tuple[tuple[int, int], ...], ...]
    holidays: frozenset[dt.date] = frozenset()
    make_up_days: frozenset[dt.date] = frozenset()

    @classmethod
    def of_rules(cls, rules) -> WorkingHours:
        from jiqun.service.rules import WEEKDAYS

        week = tuple(tuple(sorted(_parse_window(w) for w in rules.hours.get(day, [])))
                     for day in WEEKDAYS)
        return cls(week, frozenset(rules.holidays), frozenset(rules.make_up_days))

    @classmethod
    def default(cls) -> WorkingHours:
        return _default_calendar()

    def windows(self, day: dt.date) -> list[Interval]:
        """The working intervals of one day (empty on a closed day)."""
        if day in self.make_up_days:
            spans = next((w for w in self.week if w), ())
        elif day in self.holidays:
            spans = ()
        else:
            spans = self.week[day.weekday()]
        midnight = dt.datetime.combine(day, dt.time())
        return [(midnight + dt.timedelta(minutes=a), midnight + dt.timedelta(minutes=b))
                for a, b in spans]


@cache
def _default_calendar() -> WorkingHours:
    from jiqun.service.rules import ServiceRules

    return WorkingHours.of_rules(ServiceRules())


def _pauses(paused: Iterable[Pause]) -> list[Interval]:
    return sorted((a, b or dt.datetime.max) for a, b in paused if b is None or b > a)


def _without(spans: list[Interval], pauses: list[Interval]) -> list[Interval]:
    """``spans`` with the paused intervals cut out."""
    out = []
    for start, end in spans:
        cursor = start
        for p_start, p_end in pauses:
            if p_end <= cursor or p_start >= end:
                continue
            if p_start > cursor:
                out.append((cursor, p_start))
            cursor = max(cursor, p_end)
            if cursor >= end:
                break
        if cursor < end:
            out.append((cursor, end))
    return out


def _counted(day: dt.date, calendar: WorkingHours, pauses: list[Interval]) -> list[Interval]:
    return _without(calendar.windows(day), pauses)


def add_working(start: dt.datetime, hours: float, paused: Iterable[Pause] = (), *,
                calendar: WorkingHours | None = None) -> dt.datetime:
    """The moment ``hours`` working hours after ``start``, not counting ``paused``.

    A deadline that uses up a day's last window falls at its close (18:00), not at the next
    opening. Zero hours is ``start`` itself.
    """
    calendar = calendar or WorkingHours.default()
    remaining = dt.timedelta(hours=hours)
    if remaining <= dt.timedelta(0):
        return start
    pauses = _pauses(paused)
    day = start.date()
    for _ in range(MAX_DAYS):
        for a, b in _counted(day, calendar, pauses):
            a = max(a, start)
            if b <= a:
                continue
            if remaining <= b - a:
                return a + remaining
            remaining -= b - a
        day += _DAY
    raise ValueError("no working time within ten years: check the working hours")


def working_between(a: dt.datetime, b: dt.datetime, paused: Iterable[Pause] = (), *,
                    calendar: WorkingHours | None = None) -> float:
    """Working hours from ``a`` to ``b`` (0 when ``b`` is not after ``a``), less ``paused``."""
    if b <= a:
        return 0.0
    calendar = calendar or WorkingHours.default()
    pauses = _pauses(paused)
    total = dt.timedelta(0)
    day = a.date()
    while day <= b.date():
        for start, end in _counted(day, calendar, pauses):
            start, end = max(start, a), min(end, b)
            if end > start:
                total += end - start
        day += _DAY
    return total.total_seconds() / 3600


def shift_for_pause(due: dt.datetime, paused_at: dt.datetime, resumed_at: dt.datetime, *,
                    calendar: WorkingHours | None = None) -> dt.datetime:
    """A deadline after a pause: the working time it had left when the clock stopped, counted
    again from the resumption (a deadline already passed when the pause began stays)."""
    if due <= paused_at:
        return due
    left = working_between(paused_at, due, calendar=calendar)
    return add_working(resumed_at, left, calendar=calendar)
