"""Home dashboard (首页): KPIs, the 90-day volume and revenue trend, the level table (分级看板)
in brief and the biggest markets in scope."""

from __future__ import annotations

from fastapi import APIRouter, Request

from jiqun.kpi import overview
from jiqun.web.deps import Context, RequestContext
from jiqun.web.routes.kpi import Picture, level_table
from jiqun.web.routes.markets import market_list
from jiqun.web.routes.service import dashboard_tiles
from jiqun.web.schemas import DailyPointOut, DashboardOut, KpisOut
from jiqun.web.templating import render

router = APIRouter()


def dashboard(ctx: RequestContext) -> DashboardOut:
    """The dashboard of the request's scope, computed once per data version (the most opened
    page: a morning's burst of users shares one computation)."""
    return ctx.figure("dashboard", lambda: _dashboard(ctx))


def _dashboard(ctx: RequestContext) -> DashboardOut:
    as_of = overview.data_date(ctx.con, ctx.lake, ctx.scope)
    trend, kpis = [], None
    if as_of is not None:
        points, k = overview.dashboard_series(ctx.con, ctx.lake, ctx.scope, as_of)
        trend = [DailyPointOut(day=p.day, parcels=p.parcels, revenue=p.revenue) for p in points]
        kpis = KpisOut(
            as_of=k.as_of, parcels_day=k.parcels_day, revenue_day=k.revenue_day,
            parcels_month=k.parcels_month, revenue_month=k.revenue_month,
            parcels_prev_month=k.parcels_prev_month, revenue_prev_month=k.revenue_prev_month,
            parcels_mom=k.parcels_mom, revenue_mom=k.revenue_mom,
        )
    return DashboardOut(as_of=as_of, kpis=kpis, trend=trend, markets=market_list(ctx, as_of))


@router.get("/api/dashboard", response_model=DashboardOut, tags=["dashboard"])
def api_dashboard(ctx: Context) -> DashboardOut:
    """KPIs as of the data date, the daily trend of 90 days and the markets in scope."""
    return dashboard(ctx)


DASHBOARD_MARKETS = 10  # the biggest markets the dashboard lists; /markets lists them all
DASHBOARD_LEVELS = 12  # top rows of the level table on the dashboard; /level lists them all


@router.get("/", include_in_schema=False)
def dashboard_page(request: Request, ctx: Context, picture: Picture):
    """The dashboard and, in brief, the level table of /level (its top rows: /api/levels)."""
    levels = level_table(ctx, picture)
    return render(request, "dashboard.html", {
        "data": dashboard(ctx), "market_limit": DASHBOARD_MARKETS,
        "levels": [r for r in levels.rows if r.level != "grid"][:DASHBOARD_LEVELS],
        "level": levels.level, "service": dashboard_tiles(ctx)})
