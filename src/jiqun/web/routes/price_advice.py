"""Price and product advice (P1, P2): /prices/advice (the merchants' price response, its check, and a what-if
for a market × zone with the advised change) and /prices/competitors (our price against each
competitor's in a market: the gap and its trend), /prices/products (the merchants that should
ship express), with their JSON twins under /api/prices.

The fit is computed once per data version and scope (``ctx.figure``); every figure comes from
:mod:`jiqun.money.price_advice` and :mod:`jiqun.money.competitors`, the same calls as
``jiqun price response|advise|competitors``.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel
from sqlalchemy import select

from jiqun.errors import Invalid, NotFound
from jiqun.money import competitors, price_advice, product_advice
from jiqun.service.promise import PromiseRules
from jiqun.store.models import Market, Role
from jiqun.web.deps import Context, RequestContext, rules_of
from jiqun.web.params import DateQuery
from jiqun.web.schemas import model_of
from jiqun.web.templating import render

router = APIRouter()

Zone = Literal["same", "neighbour", "far", "remote"]
ZONES = ("same", "neighbour", "far", "remote")
Code = Annotated[str, Query(min_length=1, max_length=48, description="The market's code.")]
Change = Annotated[float, Query(ge=-price_advice.MAX_CHANGE, le=price_advice.MAX_CHANGE,
                                description="Yuan per parcel; a cut is negative.")]

GapOut = model_of(competitors.GapRow, "CompetitorGapOut",
                  "Per zone × weight band × carrier: the latest month's prices and the gap.")
PointOut = model_of(competitors.SeriesPoint, "CompetitorPointOut",
                    "A month's median prices of a zone × weight band × carrier.")


class ResponseOut(BaseModel):
    beta: float
    beta_low: float
    beta_high: float
    odds_per_10_fen_cut: float
    merchants: int
    merchant_months: int
    first_month: str
    last_month: str
    identified: bool
    holdout_months: int | None
    holdout_error: float | None
    baseline_error: float | None
    beats_baseline: bool | None


class WhatIfRowOut(BaseModel):
    market: str
    zone: str
    month: str
    cost: float
    case: Literal["now", "what_if", "advice"]
    change: float
    price: float
    parcels: int
    parcels_low: int
    parcels_high: int
    share: float
    revenue: float
    margin: float
    below_cost: bool


class CompetitorsOut(BaseModel):
    market: str
    gaps: list[GapOut]
    series: list[PointOut]


def _fit(ctx: RequestContext, day):
    """The fitted response of the scope, or the Invalid saying why there is none — kept as
    well, so a scope too small to fit is not fitted again on every load."""
    def fit():
        try:
            return price_advice.fit_response(ctx.db, ctx.con, ctx.lake, ctx.scope, day)
        except Invalid as err:
            return err

    found = ctx.figure("price_response", fit, day)
    if isinstance(found, Invalid):  # a fresh one: the kept one is shared by every request
        raise Invalid(found.errors)
    return found


def _day(ctx: RequestContext, on):
    return on or price_advice.data_date(ctx.con, ctx.lake, ctx.scope)


def _market(ctx: RequestContext, code: str) -> Market:
    market = ctx.db.scalar(select(Market).where(Market.code == code))  # scoped
    if market is None:
        raise NotFound("market")
    return market


def _markets(ctx: RequestContext) -> list[tuple[str, str]]:
    return [tuple(r) for r in ctx.db.execute(select(Market.code, Market.name)
                                             .order_by(Market.code)).all()]


@router.get("/prices/advice", include_in_schema=False)
def advice_page(request: Request, ctx: Context,
                market: Annotated[str | None, Query(max_length=48)] = None,
                zone: Zone = "same", change: Change = -0.10, on: DateQuery = None):
    """The price response and, for a market × zone, the what-if with its interval."""
    day = _day(ctx, on)
    error = rows = None
    try:
        model, report = _fit(ctx, day)
    except Invalid as err:
        model, report, error = None, None, "; ".join(err.translated(ctx.t).values())
    if model is not None and market:
        try:
            found = price_advice.advise_market(ctx.db, ctx.con, ctx.lake, ctx.scope, model, day,
                                               _market(ctx, market).id, zone, change)
            rows = price_advice.what_if_records(found)
        except Invalid as err:
            error = "; ".join(err.translated(ctx.t).values())
    return render(request, "price_advice.html", {
        "report": price_advice.report_record(report) if report else None, "rows": rows,
        "error": error, "markets": _markets(ctx), "zones": ZONES, "on": day,
        "form": {"market": market, "zone": zone, "change": change}})


@router.get("/api/prices/response", response_model=ResponseOut, tags=["money"],
            responses={422: {"description": "Too few merchant-months to fit"}})
def api_response(ctx: Context, on: DateQuery = None) -> ResponseOut:
    """The merchants' price response (β per yuan of gap, 95 % interval) and its check on the
    held-out months; same as ``jiqun price response --format json``."""
    _, report = _fit(ctx, _day(ctx, on))
    return ResponseOut(**price_advice.report_record(report))


@router.get("/api/prices/advice", response_model=list[WhatIfRowOut], tags=["money"],
            responses={404: {"description": "No such market in the caller's area"},
                       422: {"description": "No parcels, cost or response to build on"}})
def api_advice(ctx: Context, market: Code, zone: Zone, change: Change,
               on: DateQuery = None) -> list[WhatIfRowOut]:
    """Now, the what-if and the advised change (never below cost) for a market × zone; same as
    ``jiqun price advise --format json``."""
    day = _day(ctx, on)
    model, _ = _fit(ctx, day)
    found = price_advice.advise_market(ctx.db, ctx.con, ctx.lake, ctx.scope, model, day,
                                       _market(ctx, market).id, zone, change)
    return [WhatIfRowOut(**r) for r in price_advice.what_if_records(found)]


def comparison(ctx: RequestContext, market: Market, on):
    """A market's gap table and series (for its market page and /prices/competitors)."""
    return competitors.price_comparison(ctx.db, market.id, _day(ctx, on))


@router.get("/prices/competitors", include_in_schema=False)
def competitors_page(request: Request, ctx: Context,
                     market: Annotated[str | None, Query(max_length=48)] = None,
                     on: DateQuery = None):
    """Our price against each competitor's in a market: the gap and its trend, the series."""
    markets = _markets(ctx)
    code = market or (markets[0][0] if markets else None)
    gaps, points = comparison(ctx, _market(ctx, code), on) if code else ([], [])
    return render(request, "price_competitors.html", {
        "markets": markets, "market": code, "gaps": gaps, "points": points})


@router.get("/api/prices/competitors", response_model=CompetitorsOut, tags=["money"],
            responses={404: {"description": "No such market in the caller's area"}})
def api_competitors(ctx: Context, market: Code, on: DateQuery = None) -> CompetitorsOut:
    """Same as ``jiqun price competitors --format json`` (and ``--series``)."""
    gaps, points = comparison(ctx, _market(ctx, market), on)
    return CompetitorsOut(market=market, gaps=[GapOut(**dataclasses.asdict(g)) for g in gaps],
                          series=[PointOut(**dataclasses.asdict(p)) for p in points])


AdviceOut = model_of(product_advice.ProductAdvice, "ProductAdviceOut",
                     "A merchant that should ship express, why, and what it changes a month.")
FIELD_ROLES = {Role.MARKETER, Role.ACCOUNT_MANAGER, Role.COURIER}


def _product_advice(request: Request, ctx: RequestContext, on, mine: bool | None):
    day = _day(ctx, on)
    own = ctx.user.role in FIELD_ROLES if mine is None else mine
    promise = rules_of(request, PromiseRules)  # the app's promise, not the process's
    found = ctx.figure("product_advice", lambda: product_advice.advice(
        ctx.db, ctx.con, ctx.lake, ctx.scope, day, promise=promise), day)
    return day, own, [a for a in found if not own or a.owner_id == ctx.user.id]


@router.get("/prices/products", include_in_schema=False)
def products_page(request: Request, ctx: Context, on: DateQuery = None,
                  mine: bool | None = None):
    """Product advice (P2): the merchants that should ship express; a marketer's own first."""
    day, own, found = _product_advice(request, ctx, on, mine)
    return render(request, "price_products.html", {
        "advice": found, "on": day, "mine": own,
        "counts": product_advice.counts_by_market(found)})


@router.get("/api/prices/products", response_model=list[AdviceOut], tags=["money"])
def api_products(request: Request, ctx: Context, on: DateQuery = None,
                 mine: bool | None = None) -> list[AdviceOut]:
    """Same as ``jiqun price products --format json`` (``mine``: the caller's merchants;
    default for marketers, account managers and couriers)."""
    _, _, found = _product_advice(request, ctx, on, mine)
    return [AdviceOut(**dataclasses.asdict(a)) for a in found]
