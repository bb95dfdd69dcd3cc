"""ISO weeks (周): the one definition the bulletin, its pages, its CLI and the share trend use."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

# The canonical spelling (``2026-W47``), in ASCII digits: ``\d`` would take any script's.
ISO_WEEK_PATTERN = r"^[0-9]{4}-W[0-9]{2}$"
_LENIENT = re.compile(r"^([0-9]{4})-?W([0-9]{1,2})$", re.IGNORECASE)


@dataclass(frozen=True)
class IsoWeek:
    year: int
    week: int

    @classmethod
    def parse(cls, text: str) -> IsoWeek:
        """``2026-W47`` (or ``2026W47``, ``2026-w7``); ValueError for anything else, and for a
        week the year does not have (week 0, week 53 of a 52-week year)."""
        match = _LENIENT.match(text.strip())
        if not match:
            raise ValueError(f"not an ISO week (YYYY-Www): {text!r}")
        week = cls(int(match[1]), int(match[2]))
        week.monday  # noqa: B018 — raises on a week the year does not have
        return week

    @classmethod
    def of(cls, day: dt.date) -> IsoWeek:
        year, week, _ = day.isocalendar()
        return cls(year, week)

    @classmethod
    def last_complete_before(cls, day: dt.date) -> IsoWeek:
        """The last whole week (Monday–Sunday) that ends before ``day``."""
        return cls.of(day - dt.timedelta(days=day.weekday() + 1))

    @classmethod
    def last_complete_by(cls, day: dt.date) -> IsoWeek:
        """The last whole week that ends on or before ``day`` (the data date): the bulletin's
        default week."""
        return cls.last_complete_before(day + dt.timedelta(days=1))

    @property
    def monday(self) -> dt.date:
        return dt.date.fromisocalendar(self.year, self.week, 1)

    @property
    def sunday(self) -> dt.date:
        return self.monday + dt.timedelta(days=6)

    def __str__(self) -> str:
        return f"{self.year}-W{self.week:02d}"
