"""Market registry and teams (M1, M2, G1): the market form (``/markets/new``,
``/markets/{id}/edit``), the TOP-N by potential (``/markets/top``), key-city targets
(``/markets/targets``), the teams list and proposal form (``/teams``) and a team's page with
the province's approve / reject buttons (``/teams/{id}``), each with its ``/api`` twin.

All of them call :mod:`jiqun.markets` with the request's scoped session: a market or team outside
the user's subtree is 404, a market placed outside it is refused by the scope mechanism, and
every change is audited with the user and ``web`` / ``api``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field
from sqlalchemy import select

from jiqun.analytics.service import OperatingPicture
from jiqun.markets import potential, registry, teams
from jiqun.markets.errors import Invalid, NotAllowed, NotFound
from jiqun.store.models import Grid, Market, MarketType, OrgLevel, Role, TeamStatus
from jiqun.web.deps import Context, RequestContext, not_found
from jiqun.web.templating import render

router = APIRouter()

RankBy = Literal["potential", "gap"]


# -- schemas of the API -------------------------------------------------------------------------
class MarketSavedOut(BaseModel):
    id: int
    code: str
    name: str
    name_en: str | None
    type: str
    industry: str
    tier: str | None
    key_area: bool
    org_unit_id: int
    adcode: str | None
    address: str | None
    lon: float | None
    lat: float | None
    yearly_revenue_target: float | None


class MarketPatch(BaseModel):
    """Fields to change (``PATCH /api/markets/{id}``); the others keep their values."""

    code: str | None = None
    name: str | None = None
    name_en: str | None = None
    type: MarketType | None = None
    industry: str | None = None
    tier: str | None = None
    key_area: bool | None = None
    org_unit_id: int | None = None
    adcode: str | None = None
    address: str | None = None
    lon: float | None = None
    lat: float | None = None
    yearly_revenue_target: float | None = None
    yearly_volume_target: float | None = None
    market_daily_volume: float | None = None
    target_year: int | None = None


class TopOut(BaseModel):
    as_of: dt.date | None
    by: str
    window_days: int
    items: list[potential.MarketPotential]


class SlotOut(BaseModel):
    threshold: float
    planned: int
    filled: int
    met: bool


class KeyCityOut(BaseModel):
    city_id: int
    code: str
    name: str
    met: bool
    slots: list[SlotOut]
    markets: list[potential.KeyMarket]


class RejectIn(BaseModel):
    reason: str = Field(min_length=1, max_length=255)


# -- helpers ------------------------------------------------------------------------------------
def _actor(ctx: RequestContext) -> teams.Actor:
    return teams.Actor(ctx.user.id, Role(ctx.user.role), OrgLevel(ctx.user.org_unit_level))


@contextmanager
def _api_errors(ctx: RequestContext):
    """Service refusals as HTTP answers: 422 with the fields, 403, 404; nothing is kept."""
    try:
        yield
    except Invalid as err:
        ctx.db.rollback()
        raise HTTPException(422, err.translated(ctx.t)) from None
    except NotAllowed as err:
        ctx.db.rollback()
        raise HTTPException(403, ctx.t(err.msgid)) from None
    except NotFound:
        ctx.db.rollback()
        raise not_found(ctx) from None


def _picture(request: Request, ctx: RequestContext) -> OperatingPicture:
    return OperatingPicture(request.app.state.store, ctx.lake, ctx.scope, con=ctx.con)


def _saved(market: Market) -> MarketSavedOut:
    return MarketSavedOut(**{k: getattr(market, k) for k in MarketSavedOut.model_fields
                             if k != "type"}, type=market.type.value)


# -- market form --------------------------------------------------------------------------------
def _form_page(request: Request, ctx: RequestContext, values: dict[str, Any], *,
               market: Market | None = None, errors: dict[str, str] | None = None,
               status_code: int = 200):
    return render(request, "market_form.html", {
        "market": market, "values": values, "errors": errors or {},
        "units": registry.market_units(ctx.db), "market_types": list(MarketType),
        "tiers": registry.TIERS,
    }, status_code=status_code)


async def _posted(request: Request) -> dict[str, Any]:
    form = await request.form()
    return registry.clean_form(form)


@router.get("/markets/new", include_in_schema=False)
def new_market_page(request: Request, ctx: Context):
    return _form_page(request, ctx, {"target_year": dt.date.today().year})


@router.post("/markets/new", include_in_schema=False)
async def create_market_page(request: Request, ctx: Context):
    data = await _posted(request)
    try:
        market = registry.create_market(ctx.db, data)
    except Invalid as err:
        ctx.db.rollback()
        return _form_page(request, ctx, data, errors=err.errors, status_code=400)
    ctx.db.commit()
    return RedirectResponse(f"/markets/{market.id}", status_code=303)


def _market_or_404(ctx: RequestContext, market_id: int) -> Market:
    try:
        return registry.get_market(ctx.db, market_id)
    except NotFound:
        raise not_found(ctx, "Market not found") from None


@router.get("/markets/{market_id}/edit", include_in_schema=False)
def edit_market_page(request: Request, ctx: Context, market_id: int):
    market = _market_or_404(ctx, market_id)
    return _form_page(request, ctx, registry.market_values(ctx.db, market), market=market)


@router.post("/markets/{market_id}/edit", include_in_schema=False)
async def save_market_page(request: Request, ctx: Context, market_id: int):
    market = _market_or_404(ctx, market_id)
    data = await _posted(request)
    try:
        registry.edit_market(ctx.db, market.id, data)
    except Invalid as err:
        ctx.db.rollback()
        return _form_page(request, ctx, data, market=market, errors=err.errors, status_code=400)
    ctx.db.commit()
    return RedirectResponse(f"/markets/{market.id}", status_code=303)


@router.post("/api/markets", response_model=MarketSavedOut, status_code=201, tags=["markets"])
def api_create_market(ctx: Context, body: registry.MarketIn) -> MarketSavedOut:
    """Register a market (bearer token, or the session with ``X-CSRF-Token``); with
    ``yearly_revenue_target`` / ``yearly_volume_target`` the year's monthly targets are written,
    with ``market_daily_volume`` an estimate of all carriers from today."""
    with _api_errors(ctx):
        market = registry.create_market(ctx.db, body)
    ctx.db.commit()
    return _saved(market)


@router.patch("/api/markets/{market_id}", response_model=MarketSavedOut, tags=["markets"])
def api_edit_market(ctx: Context, market_id: int, body: MarketPatch) -> MarketSavedOut:
    """Change some fields of a market of the caller's scope (404 outside it)."""
    changes = body.model_dump(exclude_unset=True)
    if "type" in changes and changes["type"] is not None:
        changes["type"] = changes["type"].value
    with _api_errors(ctx):
        market = registry.edit_market(ctx.db, market_id, changes)
    ctx.db.commit()
    return _saved(market)


# -- TOP-N and key-city targets -----------------------------------------------------------------
def top_data(request: Request, ctx: RequestContext, n: int, by: RankBy) -> TopOut:
    with _picture(request, ctx) as picture:
        rows, as_of = potential.top_markets(ctx.db, picture, n, by)
    return TopOut(as_of=as_of, by=by, window_days=potential.WINDOW_DAYS, items=rows)


@router.get("/api/markets/top", response_model=TopOut, tags=["markets"])
def api_top(request: Request, ctx: Context, n: int = Query(10, ge=1, le=500),
            by: RankBy = "potential") -> TopOut:
    """The scope's TOP-N markets by potential (潜力) or by gap, with our daily parcels and share
    over the 30 days up to the data date (formula: docs/markets.md)."""
    return top_data(request, ctx, n, by)


@router.get("/markets/top", include_in_schema=False)
def top_page(request: Request, ctx: Context, n: str = "10", by: str = "potential"):
    n_value = min(max(int(n), 1), 500) if n.isdigit() else 10
    by_value: RankBy = "gap" if by == "gap" else "potential"
    data = top_data(request, ctx, n_value, by_value)
    return render(request, "markets_top.html", {"data": data, "n": n_value, "by": by_value})


def targets_data(request: Request, ctx: RequestContext) -> list[KeyCityOut]:
    with _picture(request, ctx) as picture:
        cities = potential.key_city_targets(ctx.db, picture)
    return [KeyCityOut(**c.as_dict()) for c in cities]


@router.get("/api/markets/targets", response_model=list[KeyCityOut], tags=["markets"])
def api_targets(request: Request, ctx: Context) -> list[KeyCityOut]:
    """Key cities (重点产粮区): markets with yearly revenue targets of 10M and 5M yuan against
    the plan (one and two per key city), whether it is met, and revenue so far this year."""
    return targets_data(request, ctx)


@router.get("/markets/targets", include_in_schema=False)
def targets_page(request: Request, ctx: Context):
    return render(request, "markets_targets.html", {"cities": targets_data(request, ctx)})


# -- teams --------------------------------------------------------------------------------------
def _teams_page(request: Request, ctx: RequestContext, *, values=None, errors=None,
                status_code: int = 200):
    actor = _actor(ctx)
    markets = list(ctx.db.scalars(select(Market).order_by(Market.code)))
    grids = list(ctx.db.scalars(select(Grid).order_by(Grid.code)))
    return render(request, "teams.html", {
        "teams": teams.list_teams(ctx.db), "may_propose": actor.may_propose,
        "markets": markets, "grids": grids, "people": teams.candidate_members(ctx.db),
        "member_roles": teams.MEMBER_ROLES, "values": values or {}, "errors": errors or {},
        "statuses": STATUS_LABELS,
    }, status_code=status_code)


STATUS_LABELS = {TeamStatus.PROPOSED.value: "Awaiting approval",
                 TeamStatus.APPROVED.value: "Approved",
                 TeamStatus.REJECTED.value: "Rejected",
                 TeamStatus.DISBANDED.value: "Disbanded"}


HISTORY_LABELS = {"propose": "Proposed", "insert": "Created", "update": "Changed", "members": "Members changed",
                  "reject": "Rejected", "delete": "Deleted"}


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, str) and value.strip().isdigit() else None


def _proposal(form) -> dict[str, Any]:
    """The phone form: a leader and members picked from lists."""
    leader = _int(form.get("leader_id"))
    members = [{"user_id": leader, "role": "leader"}] if leader else []
    for raw in form.getlist("member_ids"):
        uid = _int(raw)
        if uid and uid != leader:
            members.append({"user_id": uid, "role": "member"})
    return {"name": (form.get("name") or "").strip(), "market_id": _int(form.get("market_id")),
            "grid_id": _int(form.get("grid_id")), "members": members}


@router.get("/teams", include_in_schema=False)
def teams_page(request: Request, ctx: Context):
    return _teams_page(request, ctx)


@router.post("/teams", include_in_schema=False)
async def propose_page(request: Request, ctx: Context):
    form = await request.form()
    data = _proposal(form)
    try:
        team = teams.propose_team(ctx.db, _actor(ctx), data)
    except Invalid as err:
        ctx.db.rollback()
        values = {**data, "member_ids": [m["user_id"] for m in data["members"]],
                  "leader_id": _int(form.get("leader_id"))}
        return _teams_page(request, ctx, values=values, errors=err.errors, status_code=400)
    except NotAllowed as err:
        ctx.db.rollback()
        raise HTTPException(403, ctx.t(err.msgid)) from None
    ctx.db.commit()
    return RedirectResponse(f"/teams/{team.id}", status_code=303)


def _team_detail(ctx: RequestContext, team_id: int) -> teams.TeamDetail:
    try:
        return teams.team_detail(ctx.db, team_id)
    except NotFound:
        raise not_found(ctx, "Team not found") from None


@router.get("/teams/{team_id}", include_in_schema=False)
def team_page(request: Request, ctx: Context, team_id: int, error: str | None = None):
    actor = _actor(ctx)
    detail = _team_detail(ctx, team_id)
    return render(request, "team.html", {
        "data": detail, "may_decide": actor.may_decide and detail.team.status == "proposed",
        "may_edit": actor.may_propose and detail.team.status in ("proposed", "approved"),
        "member_roles": teams.MEMBER_ROLES, "people": teams.candidate_members(ctx.db),
        "statuses": STATUS_LABELS, "history_labels": HISTORY_LABELS,
        "errors": {"reason": "Give a reason of 1–255 characters"} if error == "reason" else {},
    })


def _decide(ctx: RequestContext, action: Callable[[], Any], team_id: int) -> RedirectResponse:
    with _api_errors(ctx):
        action()
    ctx.db.commit()
    return RedirectResponse(f"/teams/{team_id}", status_code=303)


@router.post("/teams/{team_id}/approve", include_in_schema=False)
def approve_page(ctx: Context, team_id: int):
    return _decide(ctx, lambda: teams.approve_team(ctx.db, _actor(ctx), team_id), team_id)


@router.post("/teams/{team_id}/reject", include_in_schema=False)
async def reject_page(request: Request, ctx: Context, team_id: int):
    reason = str((await request.form()).get("reason") or "")
    try:
        return _decide(ctx, lambda: teams.reject_team(ctx.db, _actor(ctx), team_id, reason),
                       team_id)
    except HTTPException as err:
        if err.status_code != 422:
            raise
        return RedirectResponse(f"/teams/{team_id}?error=reason", status_code=303)


@router.post("/teams/{team_id}/members", include_in_schema=False)
async def members_page(request: Request, ctx: Context, team_id: int):
    form = await request.form()
    members = []
    for raw in form.getlist("user_ids"):
        uid = _int(raw)
        if uid and not form.get(f"remove_{uid}"):
            members.append({"user_id": uid, "role": str(form.get(f"role_{uid}") or "member")})
    added = _int(form.get("add_user_id"))
    if added and added not in [m["user_id"] for m in members]:
        members.append({"user_id": added, "role": str(form.get("add_role") or "member")})
    return _decide(ctx, lambda: teams.set_members(ctx.db, _actor(ctx), team_id, members),
                   team_id)


@router.get("/api/teams", response_model=list[teams.TeamRow], tags=["teams"])
def api_teams(ctx: Context, status: TeamStatus | None = None) -> list[teams.TeamRow]:
    """Teams of the caller's scope, proposed ones first (the province's queue)."""
    return teams.list_teams(ctx.db, status)


@router.post("/api/teams", response_model=teams.TeamDetail, status_code=201, tags=["teams"])
def api_propose(ctx: Context, body: teams.TeamIn) -> teams.TeamDetail:
    """Propose a team for a market (and grid) with members and roles (city and above)."""
    with _api_errors(ctx):
        team = teams.propose_team(ctx.db, _actor(ctx), body)
    ctx.db.commit()
    return teams.team_detail(ctx.db, team.id)


@router.get("/api/teams/{team_id}", response_model=teams.TeamDetail, tags=["teams"])
def api_team(ctx: Context, team_id: int) -> teams.TeamDetail:
    """A team with its members and history (proposal, member changes, decision)."""
    return _team_detail(ctx, team_id)


@router.post("/api/teams/{team_id}/approve", response_model=teams.TeamDetail, tags=["teams"])
def api_approve(ctx: Context, team_id: int) -> teams.TeamDetail:
    """Approve a proposed team (province roles; not the proposer)."""
    with _api_errors(ctx):
        teams.approve_team(ctx.db, _actor(ctx), team_id)
    ctx.db.commit()
    return teams.team_detail(ctx.db, team_id)


@router.post("/api/teams/{team_id}/reject", response_model=teams.TeamDetail, tags=["teams"])
def api_reject(ctx: Context, team_id: int, body: RejectIn) -> teams.TeamDetail:
    """Reject a proposed team with a reason (province roles; not the proposer)."""
    with _api_errors(ctx):
        teams.reject_team(ctx.db, _actor(ctx), team_id, body.reason)
    ctx.db.commit()
    return teams.team_detail(ctx.db, team_id)


@router.put("/api/teams/{team_id}/members", response_model=teams.TeamDetail, tags=["teams"])
def api_members(ctx: Context, team_id: int, body: list[teams.MemberIn]) -> teams.TeamDetail:
    """Replace the team's members and roles; the change is kept in its history."""
    with _api_errors(ctx):
        teams.set_members(ctx.db, _actor(ctx), team_id, body)
    ctx.db.commit()
    return teams.team_detail(ctx.db, team_id)
