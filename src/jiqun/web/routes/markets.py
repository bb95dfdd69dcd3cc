"""Markets (集群市场): the list with share of the market total, and one market's page."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from sqlalchemy import select

from jiqun.kpi import overview
from jiqun.money.competitors import price_comparison
from jiqun.store.estimates import estimates_in_force
from jiqun.store.models import ALL_CARRIERS, Market, MarketType, OrgUnit
from jiqun.web import labels
from jiqun.web.deps import Context, RequestContext, not_found
from jiqun.web.params import IdPath
from jiqun.web.routes.kpi import _data_date
from jiqun.web.schemas import (
    DailyPointOut,
    EstimateOut,
    GridOut,
    MarketDetailOut,
    MarketListOut,
    MarketOut,
    MarketSummaryOut,
    PeriodOut,
    TopCustomerOut,
)
from jiqun.web.tables import Column, Download, download_response, paginate, paging
from jiqun.web.templating import render

router = APIRouter()

SortKey = Literal["code", "name", "parcels", "revenue", "share", "active_customers"]
MarketPaging = paging(per_page=50)
GridPaging = paging(per_page=20, param="grids_page", size_param="grids_per_page")


def summary_period(as_of: dt.date | None) -> PeriodOut | None:
    """The last 30 days up to the data date: the window of market and grid figures."""
    if as_of is None:
        return None
    return PeriodOut(start=as_of - dt.timedelta(days=overview.SUMMARY_DAYS - 1), end=as_of)


def _summary_out(market: Market, s: overview.MarketSummary | None) -> MarketSummaryOut:
    return MarketSummaryOut(
        id=market.id, code=market.code, name=market.name, type=market.type.value,
        industry=market.industry, key_area=bool(market.key_area), tier=market.tier,
        parcels=s.parcels if s else 0, revenue=s.revenue if s else 0.0,
        daily_parcels=s.daily_parcels if s else 0.0,
        market_daily_total=s.market_daily_total if s else None,
        share=s.share if s else None, active_customers=s.active_customers if s else 0,
    )


def market_list(
    ctx: RequestContext,
    as_of: dt.date | None,
    *,
    industry: str | None = None,
    type: MarketType | None = None,
    key_area: bool | None = None,
    sort: SortKey = "parcels",
    descending: bool = True,
) -> MarketListOut:
    """Markets in scope, filtered and sorted, with their figures of the last 30 days; computed
    once per data version for every request of the same scope and filters (shared: the list
    and its items must not be changed)."""
    return ctx.figure("market_list", lambda: _market_list(
        ctx, as_of, industry=industry, type=type, key_area=key_area, sort=sort,
        descending=descending), as_of, industry, type, key_area, sort, descending)


def _market_list(ctx: RequestContext, as_of: dt.date | None, *, industry: str | None,
                 type: MarketType | None, key_area: bool | None, sort: SortKey,
                 descending: bool) -> MarketListOut:
    query = select(Market).order_by(Market.code)
    if industry:
        query = query.where(Market.industry == industry)
    if type is not None:
        query = query.where(Market.type == type)
    if key_area is not None:
        query = query.where(Market.key_area.is_(key_area))
    markets = list(ctx.db.scalars(query))
    period = summary_period(as_of)
    summaries = {}
    if period is not None:
        found = overview.market_summaries(
            ctx.con, ctx.lake, ctx.scope, ctx.db, period.start, period.end, markets
        )
        summaries = {s.market_id: s for s in found}
    items = [_summary_out(m, summaries.get(m.id)) for m in markets]

    def key(item: MarketSummaryOut):
        value = getattr(item, sort)
        missing = value is None
        # Missing shares sort last whichever the direction.
        return (missing != descending, value if value is not None else 0, item.code)

    items.sort(key=key, reverse=descending)
    return MarketListOut(period=period, items=items)


def industries(ctx: RequestContext) -> list[str]:
    return list(ctx.db.scalars(select(Market.industry).distinct().order_by(Market.industry)))


def current_estimates(
    ctx: RequestContext, market_id: int, on: dt.date | None
) -> list[EstimateOut]:
    """The latest estimate per carrier valid on ``on``: the whole market first, then the
    competitors by volume, each with its share of the whole market."""
    latest = {carrier: e for (_market, carrier), e in
              estimates_in_force(ctx.db, on, market_ids=[market_id], carrier=None).items()}
    whole = latest.get(ALL_CARRIERS)
    total = whole.daily_volume if whole else None
    rows = sorted(latest.values(),
                  key=lambda e: (e.carrier != ALL_CARRIERS, -e.daily_volume))
    return [EstimateOut(carrier=e.carrier, valid_from=e.valid_from, daily_volume=e.daily_volume,
                        share=e.daily_volume / total if total else None) for e in rows]


def market_detail(ctx: RequestContext, market_id: int) -> MarketDetailOut:
    market = ctx.db.get(Market, market_id)  # the scoped session: foreign markets are not found
    if market is None:
        raise not_found(ctx, "Market not found")
    unit = ctx.db.get(OrgUnit, market.org_unit_id)
    as_of = overview.data_date(ctx.con, ctx.lake, ctx.scope)
    period = summary_period(as_of)
    summary, trend, grids, top = None, [], [], []
    if period is not None:
        summary = overview.market_summaries(
            ctx.con, ctx.lake, ctx.scope, ctx.db, period.start, period.end, [market]
        )[0]
        start = as_of - dt.timedelta(days=overview.TREND_DAYS - 1)
        trend = overview.daily_trend(ctx.con, ctx.lake, ctx.scope, start, as_of,
                                     market_id=market.id)
        grids = overview.grid_summaries(ctx.con, ctx.lake, ctx.scope, ctx.db, market.id,
                                        period.start, period.end)
        top = overview.top_customers(ctx.con, ctx.lake, ctx.scope, ctx.db, market.id,
                                     period.start, period.end)
    estimates = current_estimates(ctx, market.id, as_of)
    return MarketDetailOut(
        market=MarketOut(
            id=market.id, code=market.code, name=market.name, name_en=market.name_en,
            type=market.type.value, industry=market.industry, adcode=market.adcode,
            address=market.address, tier=market.tier, key_area=bool(market.key_area),
            yearly_revenue_target=market.yearly_revenue_target,
            org_unit=unit.name if unit else "", version=market.version,
        ),
        period=period,
        summary=_summary_out(market, summary),
        trend=[DailyPointOut(day=p.day, parcels=p.parcels, revenue=p.revenue) for p in trend],
        grids=[GridOut(id=g.grid_id, code=g.code, name=g.name, parcels=g.parcels,
                       revenue=g.revenue, active_customers=g.active_customers) for g in grids],
        top_customers=[
            TopCustomerOut(id=c.id, code=c.code, name=c.name,
                           tier=c.tier.value if c.tier else None,
                           lifecycle_stage=c.lifecycle_stage.value,
                           parcels=v.parcels, revenue=v.revenue)
            for c, v in top
        ],
        estimates=estimates,
    )


def _filters(industry, type, key_area, sort, order):
    return dict(industry=industry or None, type=type or None, key_area=key_area,
                sort=sort, descending=order != "asc")


@router.get("/api/markets", response_model=MarketListOut, tags=["markets"])
def api_markets(
    ctx: Context,
    industry: str | None = None,
    type: MarketType | None = None,
    key_area: bool | None = None,
    sort: SortKey = "parcels",
    order: Literal["asc", "desc"] = "desc",
) -> MarketListOut:
    """Markets in the caller's scope with parcels, revenue, share and active customers (30 days)."""
    as_of = _data_date(ctx)
    return market_list(ctx, as_of, **_filters(industry, type, key_area, sort, order))


@router.get("/api/markets/{market_id}", response_model=MarketDetailOut, tags=["markets"],
            responses={404: {"description": "No such market in the caller's scope"},
                       422: {"description": "Not a record id"}})
def api_market(ctx: Context, market_id: IdPath) -> MarketDetailOut:
    """One market: figures, 90-day trend, grids, top customers and market-total estimates."""
    return market_detail(ctx, market_id)


def market_columns(t) -> tuple[Column, ...]:
    """The market list as downloaded."""
    return (
        Column("code", "Code"), Column("name", "Market"),
        Column("type", "Type", value=lambda m: t(labels.label(labels.MARKET_TYPES, m.type))),
        Column("industry", "Industry"), Column("key_area", "Key area"),
        Column("parcels", "Parcels", "int"), Column("revenue", "Revenue", "money"),
        Column("daily_parcels", "Per day", "dec"),
        Column("market_daily_total", "Market total per day", "dec"),
        Column("share", "Share", "pct"), Column("active_customers", "Active customers", "int"),
    )


def market_tables(t) -> dict[str, tuple[Column, ...]]:
    """The tables of a market's page as downloaded, by ``?table=``."""
    return {
        "grids": (Column("code", "Code"), Column("name", "Grid"),
                  Column("parcels", "Parcels", "int"), Column("revenue", "Revenue", "money"),
                  Column("active_customers", "Active customers", "int")),
        "top_customers": (
            Column("code", "Code"), Column("name", "Customer"),
            Column("lifecycle_stage", "Stage",
                   value=lambda c: t(labels.label(labels.STAGES, c.lifecycle_stage))),
            Column("tier", "Tier",
                   value=lambda c: t(labels.label(labels.TIERS, c.tier)) if c.tier else None),
            Column("parcels", "Parcels", "int"), Column("revenue", "Revenue", "money")),
        "estimates": (
            Column("carrier", "Carrier",
                   value=lambda e: t("Whole market") if e.carrier == ALL_CARRIERS
                   else e.carrier),
            Column("daily_volume", "Parcels per day", "dec"), Column("share", "Share", "pct"),
            Column("valid_from", "Valid from", "date")),
    }


@router.get("/markets", include_in_schema=False)
def markets_page(
    request: Request,
    ctx: Context,
    industry: str | None = None,
    type: Annotated[str | None, Query()] = None,
    key_area: Annotated[str | None, Query()] = None,
    sort: SortKey = "parcels",
    order: Literal["asc", "desc"] = "desc",
    *,
    page: MarketPaging,
    download: Download,
):
    """The filtered, sorted list, paged; downloads every market of the filters."""
    # The filter form sends empty strings for "all"; unknown codes are ignored, not errors.
    type = MarketType(type) if type in MarketType._value2member_map_ else None
    key_area = {"1": True, "0": False}.get(key_area or "")
    as_of = _data_date(ctx)
    data = market_list(ctx, as_of, **_filters(industry, type, key_area, sort, order))
    if download:
        return download_response(data.items, market_columns(ctx.t), "markets", download,
                                 ctx.locale)
    context = {
        "data": data, "paged": paginate(data.items, page), "industries": industries(ctx), "market_types": list(MarketType),
        "filters": {"industry": industry or "", "type": type.value if type else "",
                    "key_area": key_area, "sort": sort, "order": order},
    }
    template = "_market_table.html" if request.headers.get("HX-Request") == "true" \
        else "markets.html"
    return render(request, template, context)


@router.get("/markets/{market_id}", include_in_schema=False)
def market_page(request: Request, ctx: Context, market_id: IdPath, grids_page: GridPaging,
                download: Download):
    """Grids paged; each table downloadable (``?format=…&table=grids``)."""
    data = market_detail(ctx, market_id)
    if download:
        tables = market_tables(ctx.t)
        table = download.table or "grids"
        if table not in tables:
            raise not_found(ctx)
        return download_response(getattr(data, table), tables[table],
                                 f"market-{data.market.id}-{table.replace('_', '-')}",
                                 download, ctx.locale)
    gaps, _ = price_comparison(ctx.db, data.market.id, dt.date.today(), months=4)
    return render(request, "market.html", {"data": data, "gaps": gaps,
                                           "grids": paginate(data.grids, grids_page)})
