"""Request parameters with their bounds, for every route: an id, a page or a date outside them
is answered 422 with a message before any code runs (never an OverflowError or a 500).

HTML forms and links send strings; these types parse them the same way for pages and ``/api``
(``?market_id=²`` is a 422, not ``int("²")`` in a route).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import Path, Query
from pydantic import BeforeValidator, Field

from jiqun.bounds import FIRST_DATE, LAST_DATE, MAX_ID, MAX_PAGE

IdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="Record id.")]
IdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]
PageQuery = Annotated[int, Query(ge=1, le=MAX_PAGE, description="Page number, from 1.")]
DateQuery = Annotated[dt.date | None, Query(ge=FIRST_DATE, le=LAST_DATE)]
MONTH_PATTERN = r"^(19|20)\d{2}-(0[1-9]|1[0-2])$"  # a month of 1900–2099 (Python's dates)
MonthQuery = Annotated[str | None, Query(pattern=MONTH_PATTERN,
                                         description="YYYY-MM; default: the latest month.")]


def _blank_is_none(value):
    return None if value == "" else value


# An id filter of an HTML form, whose "all" option sends an empty value: "" is no filter, and
# ``²`` or a huge number is refused like IdQuery (the bound sits on the int, not on None).
FormIdQuery = Annotated[Annotated[int, Field(ge=1, le=MAX_ID)] | None,
                        BeforeValidator(_blank_is_none), Query()]
