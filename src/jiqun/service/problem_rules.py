"""Clocks of the problem escalation (R2, 问题有人盯): how many working days each level holds a
problem before it goes one level up.

They live in the ``[problems]`` table of the KPI rules file (``JIQUN_RULES_FILE``), like the
``[sales]`` rules, so one file holds every threshold of a deployment; missing values take the
defaults below (a city has a working week, the province two, HQ a month). Working days are
Monday to Friday, less the ``holidays`` listed (public holidays move every year: list them).
"""

from __future__ import annotations

import datetime as dt
from typing import ClassVar

from pydantic import Field

from jiqun.config import FileRules
from jiqun.store.models import OrgLevel


class ProblemRules(FileRules):
    toml_table: ClassVar[tuple[str, ...]] = ("problems",)

    city_days: int = Field(
        5, ge=1, le=250, description="Working days a city holds a problem before it goes to "
        "the province.")
    province_days: int = Field(
        10, ge=1, le=250, description="Working days the province holds it before it goes to HQ.")
    hq_days: int = Field(
        20, ge=1, le=250, description="Working days HQ has to solve it (after that it is "
        "overdue; there is no level above).")
    holidays: list[dt.date] = Field(
        default_factory=list, description="Days that are not working days (法定节假日).")

    def days_at(self, level: OrgLevel) -> int:
        """The clock of ``level`` in working days (a county or outlet counts as its city)."""
        if level == OrgLevel.HQ:
            return self.hq_days
        if level == OrgLevel.PROVINCE:
            return self.province_days
        return self.city_days

    def due(self, level: OrgLevel, start: dt.datetime) -> dt.datetime:
        """When the clock of ``level`` started at ``start`` runs out: that many working days
        later at the same time of day (a start on a weekend counts from the next working day)."""
        import numpy as np  # numpy's business-day calendar; loaded when a clock is computed

        day = np.busday_offset(np.datetime64(start.date(), "D"), self.days_at(level),
                               roll="forward", holidays=[np.datetime64(h, "D")
                                                         for h in self.holidays])
        return dt.datetime.combine(day.astype(dt.date), start.time())

    def to_table(self) -> dict:
        """The ``[problems]`` table of a rules file with these values."""
        return {"problems": self.model_dump(mode="json")}
