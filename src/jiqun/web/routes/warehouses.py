"""Warehousing customers (仓配一体, 源头仓): /warehouses and its JSON twins (tag ``service``).

The page shows the warehouses in the viewer's area with their utilisation, and the merchants
for whom warehousing would pay with the reasons, each with a form to serve it from a warehouse
for those who may (``warehouse.assign``). Every figure comes from
:mod:`jiqun.service.warehousing` through the request's scoped context, the same calls for the
page, ``/api/warehouses``, ``/api/warehouses/candidates`` and ``jiqun warehouses``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, BeforeValidator, Field

from jiqun.bounds import MAX_ID
from jiqun.errors import Conflict
from jiqun.network.params import PlanningParams
from jiqun.permissions import Action
from jiqun.service import warehousing
from jiqun.web.computed import Reads, computed
from jiqun.web.deps import Context, RequestContext, allow, rules_of
from jiqun.web.params import DateQuery
from jiqun.web.schemas import model_of
from jiqun.web.tables import (
    Column,
    Download,
    PageRequest,
    download_response,
    paginate,
    paging,
)
from jiqun.web.templating import render

router = APIRouter()

CANDIDATES_PER_PAGE = 10  # a phone page stays short
CandidatePaging = paging(per_page=CANDIDATES_PER_PAGE)

WarehouseOut = model_of(warehousing.WarehouseRow, "WarehouseOut",
                        "A warehouse (源头仓): capacity, merchants served, outbound parcels a "
                        "day over the window and utilisation.")
CandidateOut = model_of(warehousing.Candidate, "CandidateOut",
                        "A merchant for whom warehousing would pay, with the estimate and the "
                        "reasons in the caller's language.")


class WarehousesOut(BaseModel):
    as_of: dt.date | None = Field(None, description="Last day of the window, if asked.")
    warehouses: list[WarehouseOut]


class CandidatesOut(BaseModel):
    as_of: dt.date | None = None
    total: int
    candidates: list[CandidateOut]


class AssignIn(BaseModel):
    customer_id: int = Field(ge=1, le=MAX_ID)
    warehouse_id: int | None = Field(None, ge=1, le=MAX_ID,
                                     description="The warehouse; null: served from none.")


class AssignedOut(BaseModel):
    customer_id: int
    warehouse_id: int | None


ASSIGN_ERRORS = {403: {"description": "The user's role may not assign warehouses"},
                 404: {"description": "No such merchant or warehouse in the user's area"},
                 409: {"description": "The warehouse would go over its capacity"}}

WAREHOUSE_COLUMNS = (
    Column("code", "Code"), Column("name", "Warehouse"), Column("place", "Place"),
    Column("capacity_per_day", "Capacity a day", "dec"),
    Column("customer_count", "Merchants", "int"),
    Column("outbound_per_day", "Outbound a day", "dec"),
    Column("utilisation", "Utilisation", "pct"),
    Column("customers", "Merchants served", value=lambda r: " ".join(c.code for c in r.customers)),
)
CANDIDATE_COLUMNS = (
    Column("rank", "Rank", "int"), Column("code", "Code"), Column("name", "Name"),
    Column("market", "Market"), Column("daily_parcels", "Parcels a day", "dec"),
    Column("cv", "Variation", "dec"), Column("hub", "Nearest centre"),
    Column("hub_km", "Road km", "dec"), Column("line_share", "Line coverage", "pct"),
    Column("pickups_avoided", "Pickup trips avoided a day", "dec"),
    Column("saving_per_day", "Saving a day", "money"),
    Column("saving_per_year", "Saving a year", "money"),
    Column("cutoff_hours_later", "Cut-off later (h)", "dec"),
    Column("reasons", "Why", value=lambda r: " ".join(r.reasons)),
)


# What the warehouses and their candidates read besides the lake: the merchants (and whom a
# warehouse serves), the facilities, the markets, the lines, the org tree of the scope.
WAREHOUSE_READS = Reads(tables=("customers", "facilities", "markets", "dedicated_lines",
                                "org_units"))


def _warehouses(request: Request, ctx: RequestContext, as_of: dt.date | None):
    """The warehouses, once per day asked and version of what they read (shared: never
    change them)."""
    params = rules_of(request, warehousing.WarehousingParams)
    return computed(request, ctx, "warehouses",
                    lambda: warehousing.warehouses(ctx.db, ctx.con, ctx.lake, ctx.scope, as_of,
                                                   params=params),
                    as_of, dt.date.today(), reads=WAREHOUSE_READS)


def _candidates(request: Request, ctx: RequestContext, as_of: dt.date | None):
    """The merchants for whom a warehouse would pay, kept as :func:`_warehouses` is."""
    params = rules_of(request, warehousing.WarehousingParams)
    planning = rules_of(request, PlanningParams)
    return computed(request, ctx, "warehouse_candidates",
                    lambda: warehousing.candidates(ctx.db, ctx.con, ctx.lake, ctx.scope, as_of,
                                                   params=params, planning=planning, t=ctx.t,
                                                   locale=ctx.locale),
                    as_of, dt.date.today(), ctx.locale, reads=WAREHOUSE_READS)


def _page(request: Request, ctx: RequestContext, paged_request, as_of, *, done=None,
          error=None, status_code=200):
    rows = _warehouses(request, ctx, as_of)
    found = _candidates(request, ctx, as_of)
    return render(request, "warehouses.html", {
        "warehouses": rows, "paged": paginate(found, paged_request), "as_of": as_of,
        "choices": [w for w in rows if w.status == "active"],
        "may_assign": ctx.user.may(Action.WAREHOUSE_ASSIGN), "done": done, "error": error,
        "params": rules_of(request, warehousing.WarehousingParams)}, status_code=status_code)


@router.get("/warehouses", include_in_schema=False)
def warehouses_page(request: Request, ctx: Context, paged: CandidatePaging,
                    download: Download, as_of: DateQuery = None, done: str | None = None):
    """Warehouses and candidates; both downloadable (``?format=csv&table=warehouses|
    candidates``)."""
    if download:
        if (download.table or "candidates") == "warehouses":
            return download_response(_warehouses(request, ctx, as_of), WAREHOUSE_COLUMNS,
                                     "warehouses", download, ctx.locale)
        return download_response(_candidates(request, ctx, as_of), CANDIDATE_COLUMNS,
                                 "warehouse-candidates", download, ctx.locale)
    return _page(request, ctx, paged, as_of, done=(done or "")[:40] or None)


@router.get("/api/warehouses", response_model=WarehousesOut, tags=["service"])
def api_warehouses(request: Request, ctx: Context, as_of: DateQuery = None) -> WarehousesOut:
    """Warehouses in the caller's area: capacity, the merchants served (those the caller sees),
    outbound parcels a day over the trailing window and utilisation. Same rows as
    ``/warehouses`` and ``jiqun warehouses list``."""
    rows = _warehouses(request, ctx, as_of)
    return WarehousesOut(as_of=as_of, warehouses=[dataclasses.asdict(r) for r in rows])


@router.get("/api/warehouses/candidates", response_model=CandidatesOut, tags=["service"])
def api_candidates(request: Request, ctx: Context, as_of: DateQuery = None) -> CandidatesOut:
    """Merchants for whom warehousing would pay, biggest saving first, with the reasons
    (volume and steadiness, road km to the nearest centre, line coverage, pickup trips avoided,
    later cut-off). Same rows as ``/warehouses`` and ``jiqun warehouses candidates``."""
    rows = _candidates(request, ctx, as_of)
    return CandidatesOut(as_of=as_of, total=len(rows),
                         candidates=[dataclasses.asdict(r) for r in rows])


IdForm = Annotated[int, Form(ge=1, le=MAX_ID)]


# The form's "no warehouse" sends an empty value; ``²`` or a huge number is a 422 like any id.
WarehouseForm = Annotated[Annotated[int, Field(ge=1, le=MAX_ID)] | None,
                          BeforeValidator(lambda v: None if v == "" else v), Form()]


@router.post("/warehouses/assign", include_in_schema=False,
             dependencies=[allow(Action.WAREHOUSE_ASSIGN)])
def assign_form(request: Request, ctx: Context, customer_id: IdForm,
                warehouse_id: WarehouseForm = None):
    """Serve a merchant from the chosen warehouse (empty: from none); over capacity the page
    is shown again with the reason (409)."""
    try:
        customer = warehousing.assign(ctx.db, customer_id, warehouse_id, con=ctx.con, lake=ctx.lake,
                                      params=rules_of(request, warehousing.WarehousingParams))
    except Conflict as err:
        ctx.db.rollback()
        return _page(request, ctx, PageRequest(per_page=CANDIDATES_PER_PAGE), None,
                     error=err.translated(ctx.t), status_code=409)
    ctx.db.commit()
    return RedirectResponse(f"/warehouses?done={customer.code}", status_code=303)


@router.post("/api/warehouses/assign", response_model=AssignedOut, tags=["service"],
             dependencies=[allow(Action.WAREHOUSE_ASSIGN)], responses=ASSIGN_ERRORS)
def api_assign(request: Request, ctx: Context, body: AssignIn) -> AssignedOut:
    """Serve a merchant from a warehouse (``warehouse_id`` null: from none); refused (409) when
    the merchant's parcels a day would take the warehouse over its capacity. Audited."""
    customer = warehousing.assign(ctx.db, body.customer_id, body.warehouse_id, con=ctx.con,
                                  lake=ctx.lake,
                                  params=rules_of(request, warehousing.WarehousingParams))
    ctx.db.commit()
    return AssignedOut(customer_id=customer.id, warehouse_id=customer.warehouse_id)
