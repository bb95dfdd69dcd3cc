"""Request parameters with their bounds, for every route: an id, a page or a date outside them
is answered 422 with a message before any code runs (never an OverflowError or a 500).

HTML forms and links send strings; these types parse them the same way for pages and ``/api``
(``?market_id=²`` is a 422, not ``int("²")`` in a route).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import Path, Query

from jiqun.bounds import FIRST_DATE, LAST_DATE, MAX_ID, MAX_PAGE

IdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="Record id.")]
IdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]
PageQuery = Annotated[int, Query(ge=1, le=MAX_PAGE, description="Page number, from 1.")]
DateQuery = Annotated[dt.date | None, Query(ge=FIRST_DATE, le=LAST_DATE)]
