"""Bounds on what a user may send: ids, pages, dates and amounts that can be stored and shown.

One definition for every edge. The web takes the ``Annotated`` types of :mod:`jiqun.web.params`
built on these limits; services and importers check values with the same limits, so a value that
cannot be stored is refused at write time, not discovered later by the page that reads it.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated

from pydantic import AfterValidator

MAX_ID = 2**31 - 1  # an integer primary key on SQLite and PostgreSQL
MAX_PAGE = 100_000
# Business dates (ship times, campaigns, targets, visits) fall in this window; anything else is
# a typo (0001-01-02, 2099) that would break date arithmetic or move "the data date".
FIRST_DATE = dt.date(2000, 1, 1)
LAST_DATE = dt.date(2100, 12, 31)
FIRST_YEAR, LAST_YEAR = FIRST_DATE.year, LAST_DATE.year


def plausible_date(value: dt.date) -> bool:
    day = value.date() if isinstance(value, dt.datetime) else value
    return FIRST_DATE <= day <= LAST_DATE


def finite(value: float | None) -> bool:
    return value is None or math.isfinite(value)


def _check_date(value: dt.date) -> dt.date:
    if not plausible_date(value):
        raise ValueError(f"a date between {FIRST_DATE} and {LAST_DATE}")
    return value


def _check_finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("a finite number")
    return value


PlausibleDate = Annotated[dt.date, AfterValidator(_check_date)]
FiniteFloat = Annotated[float, AfterValidator(_check_finite)]
