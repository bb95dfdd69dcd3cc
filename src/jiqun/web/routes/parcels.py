"""Parcel tracking pages (邮件跟踪): search by waybill number, one parcel's timeline, a customer's
parcels in flight — and their JSON twins under ``/api`` (tag ``tracking``).

Every figure comes from :mod:`jiqun.service.tracking` through the request's scoped context. A
waybill that does not exist and one outside the reader's subtree are the same 404.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field

from jiqun.errors import NotFound
from jiqun.service import tracking
from jiqun.service.reasons import REASON_LABELS, RESPONSIBILITY_LABELS
from jiqun.store.models import Customer
from jiqun.web.deps import Context, RequestContext, not_found
from jiqun.web.params import IdPath
from jiqun.web.schemas import model_of
from jiqun.web.tables import Paged, PageRequest, paging
from jiqun.web.templating import render

router = APIRouter()

# Waybill numbers are letters, digits, dashes and underscores (国内邮件号 13 digits; 1180000000001,
# EMS EA123456789CN); the store keeps 32 characters of one.
WAYBILL_PATTERN = r"^[A-Za-z0-9_-]{1,32}$"
_WAYBILL = re.compile(WAYBILL_PATTERN)
WaybillPath = Annotated[str, Path(pattern=WAYBILL_PATTERN, description="Waybill number.")]
SearchQuery = Annotated[str | None, Query(max_length=64, description="A waybill number.")]
PER_PAGE = 25
InFlightPaging = paging(per_page=PER_PAGE)

EXCEPTION_KIND_LABELS = {
    "stalled": "Stalled beyond its usual time", "late": "Late against the promise",
    "missing_scan": "An expected scan is missing", "failed_delivery": "Delivery failed",
    "returned": "Returned", "locker_uncollected": "Not collected from the locker",
    "lost": "Lost",
}

# -- schemas of the API -------------------------------------------------------------------------
TrackedScanOut = model_of(tracking.TrackedScan, "TrackedScanOut",
                          "One scan of a parcel, normalised (``counted``: the state followed it).")
ParcelStateOut = model_of(
    tracking.ParcelState, "ParcelStateOut",
    "Where a parcel stands (``state`` null: no scan yet) and its scans in time order.",
    {"scans": list[TrackedScanOut]})
WaybillFactsOut = model_of(tracking.WaybillFacts, "WaybillFactsOut", "The waybill's facts.")
ParcelExceptionOut = model_of(tracking.ExceptionRow, "ParcelExceptionOut",
                              "An exception found on the parcel (jiqun.service.exceptions).")
ParcelTimelineOut = model_of(
    tracking.ParcelTimeline, "ParcelTimelineOut", "One parcel: waybill, state, timeline.",
    {"waybill": WaybillFactsOut, "state": ParcelStateOut,
     "exceptions": list[ParcelExceptionOut]})
InFlightParcelOut = model_of(tracking.InFlightParcel, "InFlightParcelOut",
                             "A parcel not yet delivered or returned.")


class ParcelSearchOut(BaseModel):
    q: str
    items: list[ParcelStateOut] = Field(description="The parcel of that number (0 or 1).")
    waybill_no: str | None


class InFlightOut(BaseModel):
    customer_id: int
    as_of: dt.datetime | None = Field(description="The end of the lake's last day.")
    days: int = Field(description="Parcels shipped in this many days before as_of.")
    total: int
    page: int
    per_page: int
    items: list[InFlightParcelOut]


# -- the service calls, once for the page and its twin ---------------------------------------------
def parcel_timeline(ctx: RequestContext, waybill_no: str) -> tracking.ParcelTimeline:
    try:
        return tracking.timeline(ctx.con, ctx.lake, ctx.scope, waybill_no, session=ctx.db)
    except NotFound:
        raise not_found(ctx, "No such parcel in your part of the organisation") from None


def _search(ctx: RequestContext, q: str | None) -> tuple[str, tracking.ParcelTimeline | None,
                                                          str | None]:
    """(the number asked for, its timeline, the msgid of what went wrong)."""
    number = (q or "").strip()
    if not number:
        return "", None, None
    if not _WAYBILL.match(number):
        return number, None, "A waybill number is letters, digits, dashes and underscores"
    try:
        return number, tracking.timeline(ctx.con, ctx.lake, ctx.scope, number,
                                         session=ctx.db), None
    except NotFound:
        return number, None, "No such parcel in your part of the organisation"


def _customer(ctx: RequestContext, customer_id: int) -> Customer:
    customer = ctx.db.get(Customer, customer_id)  # scoped: a foreign customer is not found
    if customer is None:
        raise not_found(ctx, "Customer not found")
    return customer


def _in_flight(ctx: RequestContext, customer_id: int,
               request: PageRequest) -> tuple[tracking.InFlight, Paged]:
    """The page ``request`` asks for of the customer's parcels in flight (past the end: the
    last page, as every paged table of the app)."""
    def page_of(page: int, as_of=None) -> tracking.InFlight:
        return tracking.in_flight(ctx.con, ctx.lake, ctx.scope, customer_id,
                                  limit=request.per_page, offset=(page - 1) * request.per_page,
                                  as_of=as_of, session=ctx.db)

    found = page_of(request.page)
    pages = max(1, math.ceil(found.total / request.per_page))
    page = min(request.page, pages)
    if page != request.page:
        found = page_of(page, found.as_of)
    return found, Paged(list(found.items), found.total, page, request.per_page, request.param,
                        request.size_param)


# -- API ----------------------------------------------------------------------------------------
@router.get("/api/parcels", response_model=ParcelSearchOut, tags=["tracking"])
def api_parcel_search(ctx: Context, q: SearchQuery = None) -> ParcelSearchOut:
    """Find a parcel by its waybill number in the caller's scope (no match: an empty list)."""
    number, found, _problem = _search(ctx, q)
    return ParcelSearchOut(
        q=number, waybill_no=found.waybill.waybill_no if found else None,
        items=[ParcelStateOut.model_validate(dataclasses.asdict(found.state))] if found else [])


@router.get("/api/parcels/{waybill_no}", response_model=ParcelTimelineOut, tags=["tracking"],
            responses={404: {"description": "No such waybill in the caller's scope"}})
def api_parcel(ctx: Context, waybill_no: WaybillPath) -> ParcelTimelineOut:
    """One parcel: waybill facts, its state with reason and who is responsible, its scans
    (sorted, repeats dropped, out-of-sequence scans marked) and the exceptions found on it."""
    return ParcelTimelineOut.model_validate(dataclasses.asdict(parcel_timeline(ctx, waybill_no)))


@router.get("/api/customers/{customer_id}/parcels", response_model=InFlightOut,
            tags=["tracking"],
            responses={404: {"description": "No such customer in the caller's scope"}})
def api_customer_parcels(ctx: Context, customer_id: IdPath,
                         pages: InFlightPaging) -> InFlightOut:
    """A customer's parcels in flight (not delivered, not returned), oldest first."""
    _customer(ctx, customer_id)
    head, paged = _in_flight(ctx, customer_id, pages)
    return InFlightOut(
        customer_id=customer_id, as_of=head.as_of, days=head.days, total=paged.total,
        page=paged.page, per_page=paged.per_page,
        items=[InFlightParcelOut.model_validate(dataclasses.asdict(p)) for p in paged.items])


# -- pages --------------------------------------------------------------------------------------
def _labels() -> dict:
    return {"states": tracking.STATE_LABELS, "reasons": REASON_LABELS,
            "responsible": RESPONSIBILITY_LABELS, "kinds": EXCEPTION_KIND_LABELS}


@router.get("/parcels", include_in_schema=False)
def parcels_page(request: Request, ctx: Context, q: SearchQuery = None):
    """The search box; a number found goes straight to its parcel's page."""
    number, found, problem = _search(ctx, q)
    if found is not None:
        return RedirectResponse(f"/parcels/{found.waybill.waybill_no}", status_code=303)
    return render(request, "parcels.html", {"q": number, "problem": problem},
                  status_code=404 if problem and number and _WAYBILL.match(number) else 200)


@router.get("/parcels/{waybill_no}", include_in_schema=False)
def parcel_page(request: Request, ctx: Context, waybill_no: WaybillPath):
    data = parcel_timeline(ctx, waybill_no)
    return render(request, "parcel.html", {"data": data, "scans": data.state.scans[::-1],
                                           "tl": _labels()})


@router.get("/customers/{customer_id}/parcels", include_in_schema=False)
def customer_parcels_page(request: Request, ctx: Context, customer_id: IdPath,
                          pages: InFlightPaging):
    customer = _customer(ctx, customer_id)
    head, paged = _in_flight(ctx, customer_id, pages)
    return render(request, "parcels_in_flight.html", {
        "customer": customer, "head": head, "paged": paged, "tl": _labels()})
