"""Grid pages: the grid KPI table (网格考核, ``/grids``) and the grid design page (网格调整)
for city managers: draft, compare, approve, activate.

``/grids/design?market_id=…`` shows the current grids beside the latest draft; the forms POST
(with the CSRF token) through the request's scoped session, so every write is audited with the
user and ``web``. The JSON twins live under ``/api/grids/design``.

Who may draft, approve and activate is the permission registry's answer (``grid.draft``,
``grid.approve``, ``grid.activate``), asked by each route before it reads the request and by
:mod:`jiqun.grids.redraw` again. Approve and activate carry the fingerprint of the draft
the user was shown: a draft that changed meanwhile, or a decision already taken, answers 409.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from jiqun.bounds import MAX_ID, PlausibleDate
from jiqun.formats import number
from jiqun.grids import profile, redraw, teams
from jiqun.grids.design import DEFAULT_TOLERANCE
from jiqun.kpi.service import OperatingPicture
from jiqun.permissions import Action
from jiqun.store.models import Customer, Market
from jiqun.web import labels
from jiqun.web.deps import Context, RequestContext, allow, not_found
from jiqun.web.params import IdPath, IdQuery
from jiqun.web.routes.kpi import Picture, _data_date, _page
from jiqun.web.routes.registry import STATUS_LABELS as TEAM_STATUSES
from jiqun.web.tables import Column, Download, Paged, PageOut, download_response, paginate, paging
from jiqun.web.templating import render

router = APIRouter()


# -- grid KPIs (网格考核) -----------------------------------------------------------------------
class GridKpiOut(BaseModel):
    rank: int
    grid_id: int
    grid: str
    market_id: int | None
    market: str | None
    team: str | None
    target_parcels: float = Field(description="Monthly plan (月计划).")
    parcels: int = Field(description="Month to date.")
    revenue: float
    progress: float | None
    forecast_parcels: float = Field(description="Run-rate forecast for month end.")
    in_province_share: float | None = Field(description="In-province parcels share (省内占比).")
    line_daily_average: float | None = Field(description="Dedicated-line parcels a day.")
    active_customers: int | None
    activated_customers: int | None
    archived: int | None = Field(description="Customers in the grid's archive (建档).")
    cooperating: int | None
    development_rate: float | None = Field(description="开发率 = cooperating / archived.")
    meets_target: bool | None = Field(description="Development rate at or above the bar.")
    grid_profit: float | None = Field(None, description="网格效益: the month's revenue − "
                                      "activity cost (jiqun.money.ledger.grid_profit).")


class GridsOut(BaseModel):
    as_of: dt.date | None
    development_rate_target: float
    rows: list[GridKpiOut]


def grid_table(ctx: RequestContext, picture: OperatingPicture) -> GridsOut:
    as_of = _data_date(ctx)
    bar = picture.rules.development_rate_target
    if as_of is None:
        return GridsOut(as_of=None, development_rate_target=bar, rows=[])
    rows = [GridKpiOut.model_validate(r) for r in profile.grid_kpi_rows(ctx.db, picture, as_of)]
    return GridsOut(as_of=as_of, development_rate_target=bar, rows=rows)


@router.get("/api/grids", response_model=GridsOut, tags=["kpi"])
def api_grids(ctx: Context, picture: Picture) -> GridsOut:
    """The grid KPI table (网格考核) of the month to date, ranked by plan progress."""
    return grid_table(ctx, picture)


GRID_COLUMNS = (
    Column("rank", "Rank", "int"), Column("grid", "Grid"), Column("market", "Market"),
    Column("team", "Team"), Column("target_parcels", "Monthly plan", "dec"),
    Column("parcels", "Parcels this month", "int"), Column("progress", "Plan progress", "pct"),
    Column("revenue", "Revenue", "money"),
    Column("in_province_share", "In-province share", "pct"),
    Column("line_daily_average", "Dedicated-line daily average", "dec"),
    Column("active_customers", "Active customers", "int"),
    Column("activated_customers", "Activated customers", "int"),
    Column("development_rate", "Development rate", "pct"),
)


@router.get("/grids", include_in_schema=False)
def grids_page(request: Request, ctx: Context, picture: Picture, download: Download):
    data = grid_table(ctx, picture)
    if download:
        return download_response(data.rows, GRID_COLUMNS, "grids", download, ctx.locale)
    return _page(request, "grids.html", "_grids_table.html", data)


def _market_or_404(ctx: RequestContext, market_id: int) -> Market:
    market = ctx.db.get(Market, market_id)  # scoped
    if market is None:
        raise not_found(ctx, "Market not found")
    return market


def _comparison(ctx: RequestContext, market_id: int) -> dict | None:
    draft_id = redraw.latest_draft_id(ctx.db, market_id)
    if draft_id is None:
        return None
    parcels = redraw.parcels_by_customer(ctx.con, ctx.lake, ctx.scope, market_id,
                                             dt.date.today())
    return redraw.compare(ctx.db, market_id, draft_id, parcels)


def _scatter(ctx: RequestContext, market_id: int, comparison: dict | None) -> dict:
    """Merchants as points coloured by grid: the draft's when there is one, else today's."""
    rows = ctx.db.execute(select(Customer.id, Customer.lon, Customer.lat, Customer.grid_id).where(
        Customer.market_id == market_id, Customer.lon.is_not(None))).all()
    grid_of = {cid: gid for cid, _, _, gid in rows}
    names = {}
    if comparison:
        for g in redraw.draft_grids(ctx.db, market_id, comparison["draft"]):
            names[g.id] = g.code
            grid_of.update({cid: g.id for cid in g.geometry["properties"]["customer_ids"]})
    else:
        names = {g.id: g.code for g in redraw.active_grids(ctx.db, market_id)}
    series: dict[str, list] = {}
    for cid, lon, lat, _ in rows:
        name = names.get(grid_of.get(cid), ctx.t("No grid"))
        series.setdefault(name, []).append([round(lon, 5), round(lat, 5)])
    return {"series": [{"name": k, "points": v} for k, v in sorted(series.items())]}


def _market_choices(ctx: RequestContext) -> list[dict]:
    """Markets in scope with their merchant and active-grid counts, to pick one to redraw."""
    merchants = dict(ctx.db.execute(select(Customer.market_id, func.count())
                                    .group_by(Customer.market_id)).all())
    return [{"market": m, "merchants": merchants.get(m.id, 0),
             "grids": len(redraw.active_grids(ctx.db, m.id))}
            for m in ctx.db.scalars(select(Market).order_by(Market.code))]


DesignError = Literal["design"]
MarketIdForm = Annotated[int, Form(ge=1, le=MAX_ID)]
DraftForm = Annotated[str, Form(min_length=1, max_length=40)]
SeenForm = Annotated[str, Form(min_length=1, max_length=64)]


@router.get("/grids/design", include_in_schema=False)
def design_page(request: Request, ctx: Context, market_id: IdQuery = None,
                error: DesignError | None = None):
    if market_id is None:
        return render(request, "grid_design_pick.html", {"choices": _market_choices(ctx)})
    market = _market_or_404(ctx, market_id)
    comparison = _comparison(ctx, market_id)
    return render(request, "grid_design.html", {
        "market": market, "comparison": comparison,
        "scatter": _scatter(ctx, market_id, comparison),
        "active": redraw.active_grids(ctx.db, market_id),
        "default_k": max(len(redraw.active_grids(ctx.db, market_id)), 2),
        "default_tolerance": DEFAULT_TOLERANCE, "error": error,
    })


class DesignOut(BaseModel):
    market_id: int
    comparison: dict | None = Field(description="Current grids beside the latest draft (with "
                                                "its ``fingerprint``), null if none.")


@router.get("/api/grids/design", response_model=DesignOut, tags=["grids"])
def api_design(ctx: Context, market_id: Annotated[int, Query(ge=1, le=MAX_ID)]) -> DesignOut:
    """The market's current grids compared with its latest draft (``comparison`` null if none)."""
    _market_or_404(ctx, market_id)
    return DesignOut(market_id=market_id, comparison=_comparison(ctx, market_id))


def _back(market_id: int, error: str | None = None) -> RedirectResponse:
    url = f"/grids/design?market_id={market_id}" + (f"&error={error}" if error else "")
    return RedirectResponse(url, status_code=303)


@router.post("/grids/design/draft", include_in_schema=False,
             dependencies=[allow(Action.GRID_DRAFT)])
def make_draft(ctx: Context, market_id: MarketIdForm,
               k: Annotated[int, Form(ge=1, le=redraw.MAX_GRIDS)],
               tolerance: Annotated[float, Form(ge=0, le=redraw.MAX_TOLERANCE)]
               = DEFAULT_TOLERANCE):
    _market_or_404(ctx, market_id)
    try:
        redraw.create_draft(ctx.db, market_id, k, tolerance)
    except redraw.GridDesignError:  # e.g. more grids than merchants: say so on the page
        ctx.db.rollback()
        return _back(market_id, "design")
    ctx.db.commit()
    return _back(market_id)


@router.post("/grids/design/approve", include_in_schema=False,
             dependencies=[allow(Action.GRID_APPROVE)])
def approve_draft(ctx: Context, market_id: MarketIdForm, draft: DraftForm, seen: SeenForm):
    _market_or_404(ctx, market_id)
    redraw.approve(ctx.db, market_id, draft, seen=seen)
    ctx.db.commit()
    return _back(market_id)


@router.post("/grids/design/activate", include_in_schema=False,
             dependencies=[allow(Action.GRID_ACTIVATE)])
def activate_draft(ctx: Context, market_id: MarketIdForm, draft: DraftForm, seen: SeenForm):
    _market_or_404(ctx, market_id)
    redraw.activate(ctx.db, market_id, draft, seen=seen)
    ctx.db.commit()
    return _back(market_id)


# -- the /api twins ------------------------------------------------------------------------------
class DraftIn(BaseModel):
    market_id: int = Field(ge=1, le=MAX_ID)
    k: int = Field(ge=1, le=redraw.MAX_GRIDS, description="Number of grids.")
    tolerance: float = Field(DEFAULT_TOLERANCE, ge=0, le=redraw.MAX_TOLERANCE,
                             description="Allowed max/min − 1 of workload and potential.")


class DecisionIn(BaseModel):
    market_id: int = Field(ge=1, le=MAX_ID)
    draft: str = Field(min_length=1, max_length=40)
    fingerprint: str = Field(min_length=1, max_length=64,
                             description="The draft's fingerprint as the user saw it.")


class ActivateIn(DecisionIn):
    on: PlausibleDate | None = Field(None, description="First day of the new grids; today "
                                                       "by default.")


CONFLICT = {409: {"description": "The draft changed since it was seen, or is decided already"}}
REFUSED = {403: {"description": "The user's role may not do this"},
           404: {"description": "No such market or draft in the user's area"}}


@router.post("/api/grids/design/draft", response_model=DesignOut, status_code=201,
             tags=["grids"], dependencies=[allow(Action.GRID_DRAFT)],
             responses={**REFUSED, 422: {"description": "No design possible"}})
def api_make_draft(ctx: Context, body: DraftIn) -> DesignOut:
    """Design the market's grids and save them as its draft (replaces an unapproved one)."""
    _market_or_404(ctx, body.market_id)
    redraw.create_draft(ctx.db, body.market_id, body.k, body.tolerance)
    ctx.db.commit()
    return DesignOut(market_id=body.market_id, comparison=_comparison(ctx, body.market_id))


@router.post("/api/grids/design/approve", response_model=DesignOut, tags=["grids"],
             dependencies=[allow(Action.GRID_APPROVE)], responses={**REFUSED, **CONFLICT})
def api_approve(ctx: Context, body: DecisionIn) -> DesignOut:
    """Approve the draft, if it is the one of ``fingerprint``; a second approval is a 409."""
    _market_or_404(ctx, body.market_id)
    redraw.approve(ctx.db, body.market_id, body.draft, seen=body.fingerprint)
    ctx.db.commit()
    return DesignOut(market_id=body.market_id, comparison=_comparison(ctx, body.market_id))


@router.post("/api/grids/design/activate", response_model=DesignOut, tags=["grids"],
             dependencies=[allow(Action.GRID_ACTIVATE)], responses={**REFUSED, **CONFLICT})
def api_activate(ctx: Context, body: ActivateIn) -> DesignOut:
    """Put the approved draft of ``fingerprint`` into force from ``on``; customers move."""
    _market_or_404(ctx, body.market_id)
    redraw.activate(ctx.db, body.market_id, body.draft, seen=body.fingerprint, on=body.on)
    ctx.db.commit()
    return DesignOut(market_id=body.market_id, comparison=_comparison(ctx, body.market_id))


# -- one grid's page (网格画像) --------------------------------------------------------------------
# Registered after /grids/design, which /grids/{grid_id} would otherwise catch.
MERCHANTS_PER_PAGE = 25
MerchantPaging = paging(per_page=MERCHANTS_PER_PAGE)


class GridMerchantOut(BaseModel):
    id: int
    code: str
    name: str
    tier: str | None
    stage: str = Field(description="Lifecycle stage (archived … vip, churned).")
    vip: bool
    owner_id: int | None
    owner: str | None = Field(description="The customer's owner (归属人).")
    parcels: int = Field(description="Month to date.")
    lon: float | None
    lat: float | None


class GridMemberOut(BaseModel):
    user_id: int
    name: str
    role: str


class GridTeamOut(BaseModel):
    id: int
    name: str
    status: str
    leader: str | None
    members: list[GridMemberOut]


class GridPageOut(BaseModel):
    id: int
    code: str
    name: str
    status: str = Field(description="draft, active or retired.")
    valid_from: dt.date | None
    valid_to: dt.date | None
    market_id: int
    market: str | None
    manager_id: int | None
    manager: str | None = Field(description="The grid's manager (网格长).")
    as_of: dt.date | None = Field(description="The data date; the KPIs are its month to date.")
    development_rate_target: float
    kpis: GridKpiOut | None = Field(description="The grid's row of /api/grids; null when the "
                                                "grid has no plan or parcels this month.")
    team: GridTeamOut | None
    merchants: list[GridMerchantOut] = Field(description="This page of the grid's merchants, "
                                                         "most parcels first.")
    merchants_page: PageOut


def _grid_out(data: profile.GridProfile, merchants: Paged) -> GridPageOut:
    team = data.team
    return GridPageOut(
        id=data.id, code=data.code, name=data.name, status=data.status,
        valid_from=data.valid_from, valid_to=data.valid_to, market_id=data.market_id,
        market=data.market, manager_id=data.manager_id, manager=data.manager,
        as_of=data.as_of, development_rate_target=data.development_rate_target,
        kpis=GridKpiOut.model_validate(data.kpis) if data.kpis else None,
        team=GridTeamOut(id=team.id, name=team.name, status=team.status, leader=team.leader,
                         members=[GridMemberOut(user_id=m.user_id, name=m.display_name,
                                                role=m.role) for m in team.members])
        if team else None,
        merchants=[GridMerchantOut.model_validate(m, from_attributes=True)
                   for m in merchants.items],
        merchants_page=merchants.out(),
    )


def _map_data(ctx: RequestContext, data: profile.GridProfile) -> dict:
    """The merchant map's series for grid.js: stage names and parcel counts in the reader's
    language (grid.js escapes the text it shows)."""
    series = []
    for s in profile.merchant_map(data.merchants)["series"]:
        series.append({"name": ctx.t(labels.label(labels.STAGES, s["stage"])), "points": [
            {"value": [lon, lat], "parcels": parcels, "name": name, "id": cid,
             "text": ctx.t("{n} parcels this month", n=number(parcels, locale=ctx.locale))}
            for lon, lat, parcels, name, cid in s["points"]]})
    return {"series": series}


NOT_IN_SCOPE = {404: {"description": "No such grid in the caller's area"}}


@router.get("/api/grids/{grid_id}", response_model=GridPageOut, tags=["grids"],
            responses=NOT_IN_SCOPE)
def api_grid(ctx: Context, picture: Picture, grid_id: IdPath,
             merchants: MerchantPaging) -> GridPageOut:
    """One grid: its KPIs (its row of ``/api/grids``), market, team and manager, and a page
    of its merchants with their month-to-date parcels."""
    data = profile.grid_profile(picture, grid_id, _data_date(ctx))
    return _grid_out(data, paginate(data.merchants, merchants))


def merchant_columns(t) -> tuple[Column, ...]:
    """The grid's merchants as downloaded: every one, in the page's order."""
    return (
        Column("code", "Code"), Column("name", "Customer"),
        Column("tier", "Tier", value=lambda m: t(labels.label(labels.TIERS, m.tier))
               if m.tier else None),
        Column("owner", "Owner"),
        Column("stage", "Stage", value=lambda m: t(labels.label(labels.STAGES, m.stage))),
        Column("vip", "VIP"), Column("parcels", "Parcels this month", "int"),
    )


@router.get("/grids/{grid_id}", include_in_schema=False)
def grid_page(request: Request, ctx: Context, picture: Picture, grid_id: IdPath,
              merchants: MerchantPaging, download: Download):
    data = profile.grid_profile(picture, grid_id, _data_date(ctx))
    if download:
        return download_response(data.merchants, merchant_columns(ctx.t),
                                 f"grid-{data.id}-merchants", download, ctx.locale)
    paged = paginate(data.merchants, merchants)
    return render(request, "grid.html", {
        "data": _grid_out(data, paged), "paged": paged, "map": _map_data(ctx, data),
        "member_roles": teams.MEMBER_ROLES, "team_statuses": TEAM_STATUSES})
