"""Market registry and teams (M1, M2, G1): the market form (``/markets/new``,
``/markets/{id}/edit``), the TOP-N by potential (``/markets/top``), key-city targets
(``/markets/targets``), the teams list and proposal form (``/teams``) and a team's page with
the province's approve / reject buttons (``/teams/{id}``), each with its ``/api`` twin.

All of them call :mod:`jiqun.markets` with the request's session, which acts as the user: the
services ask the permission registry (403), a market or team outside the user's subtree is 404, a
market placed outside it is refused by the scope mechanism, and every change is audited with the
user and ``web`` / ``api``. Every write route also declares its action (``allow``), so a refused
user gets 403 before anything is parsed, and pages show only the buttons the user may press.

Edits carry the version the user saw (the form's hidden ``version``, the JSON ``version``): a
market or team changed since is answered 409 with both values, never silently overwritten.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Any, Literal

from babel.numbers import format_compact_decimal
from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field
from sqlalchemy import select

from jiqun.bounds import MAX_ID
from jiqun.formats import babel_locale
from jiqun.grids import teams
from jiqun.markets import potential, registry
from jiqun.markets.errors import Conflict, Invalid, NotFound
from jiqun.permissions import Action
from jiqun.store.models import Grid, Market, MarketType, TeamStatus
from jiqun.web.deps import Context, RequestContext, allow, not_found, open_picture
from jiqun.web.params import IdPath
from jiqun.web.tables import Column, Download, download_response
from jiqun.web.templating import render

router = APIRouter()

RankBy = Literal["potential", "gap"]

# The refusals of the write routes, for the OpenAPI document (answered by web/app.py).
WRITE_ERRORS = {401: {"description": "Not signed in"},
                403: {"description": "The user's role may not do this (docs/permissions.md)"},
                404: {"description": "No such record in the user's scope"},
                409: {"description": "Changed or decided meanwhile (with mine and theirs)"},
                422: {"description": "Invalid input, per field"}}
READ_ERRORS = {401: WRITE_ERRORS[401], 404: WRITE_ERRORS[404], 422: WRITE_ERRORS[422]}


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
    version: int


class MarketPatch(BaseModel):
    """Fields to change (``PATCH /api/markets/{id}``); the others keep their values. The
    values are checked by the registry, which names each wrong field (422)."""

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
    version: int | None = Field(None, ge=1, le=MAX_ID, description=(
        "The market's version when it was read: a market changed since is refused (409, with "
        "``mine`` and ``theirs`` per field) instead of overwriting the other change."))


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
def _saved(market: Market) -> MarketSavedOut:
    return MarketSavedOut(**{k: getattr(market, k) for k in MarketSavedOut.model_fields
                             if k != "type"}, type=market.type.value)


_DIGITS = re.compile(r"[0-9]{1,10}")


def _int(value: Any) -> int | None:
    """A form's id: ASCII digits within the id range, else ``None`` (``²`` is a digit to
    ``str.isdigit`` but not to ``int``)."""
    if not isinstance(value, str) or not _DIGITS.fullmatch(value.strip()):
        return None
    number = int(value.strip())
    return number if 1 <= number <= MAX_ID else None


def _form_version(form) -> int | None:
    """The hidden ``version`` of an edit form; a form without one is not checked, one that was
    tampered with is refused."""
    raw = form.get("version")
    if raw is None or raw == "":
        return None
    version = _int(raw)
    if version is None:
        raise Invalid({"version": registry.FIELD_MESSAGES["version"]})
    return version


# The form's labels of the fields a conflict can list.
FIELD_LABELS = {"name": "Name", "code": "Code", "type": "Type", "industry": "Industry",
                "org_unit_id": "Org unit", "tier": "Operating tier", "key_area": "Key area",
                "yearly_revenue_target": "Yearly revenue target (yuan)",
                "yearly_volume_target": "Yearly volume target (parcels)",
                "market_daily_volume": "Estimated parcels a day, all carriers",
                "address": "Address", "lon": "Longitude", "lat": "Latitude",
                "adcode": "Division code", "name_en": "English name", "members": "Members"}


# -- market form --------------------------------------------------------------------------------
def _form_page(request: Request, ctx: RequestContext, values: dict[str, Any], *,
               market: Market | None = None, errors: dict[str, str] | None = None,
               conflict: Conflict | None = None, status_code: int = 200):
    return render(request, "market_form.html", {
        "market": market, "values": values, "errors": errors or {}, "conflict": conflict,
        "field_labels": FIELD_LABELS, "may_set_targets": ctx.user.may(Action.TARGET_SET),
        "units": registry.market_units(ctx.db), "market_types": list(MarketType),
        "tiers": registry.TIERS,
    }, status_code=status_code)


@router.get("/markets/new", include_in_schema=False,
            dependencies=[allow(Action.MARKET_CREATE)])
def new_market_page(request: Request, ctx: Context):
    return _form_page(request, ctx, {"target_year": dt.date.today().year})


@router.post("/markets/new", include_in_schema=False,
             dependencies=[allow(Action.MARKET_CREATE)])
async def create_market_page(request: Request, ctx: Context):
    data = registry.clean_form(await request.form())
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


@router.get("/markets/{market_id}/edit", include_in_schema=False,
            dependencies=[allow(Action.MARKET_EDIT)])
def edit_market_page(request: Request, ctx: Context, market_id: IdPath):
    market = _market_or_404(ctx, market_id)
    return _form_page(request, ctx, registry.market_values(ctx.db, market), market=market)


@router.post("/markets/{market_id}/edit", include_in_schema=False,
             dependencies=[allow(Action.MARKET_EDIT)])
async def save_market_page(request: Request, ctx: Context, market_id: IdPath):
    market = _market_or_404(ctx, market_id)
    form = await request.form()
    data = registry.clean_form(form)
    # Shown again on a refusal: what was typed over what is stored (read-only targets included).
    values = {**registry.market_values(ctx.db, market), **data, "version": form.get("version")}
    try:
        registry.edit_market(ctx.db, market.id, data, version=_form_version(form))
    except Invalid as err:
        ctx.db.rollback()
        return _form_page(request, ctx, values, market=market, errors=err.errors,
                          status_code=400)
    except Conflict as err:
        ctx.db.rollback()
        # The form keeps what the user typed; saving it again (now against the stored version)
        # is their deliberate choice to overwrite.
        market = _market_or_404(ctx, market_id)
        return _form_page(request, ctx, {**values, "version": market.version}, market=market,
                          conflict=err, status_code=409)
    ctx.db.commit()
    return RedirectResponse(f"/markets/{market.id}", status_code=303)


@router.post("/api/markets", response_model=MarketSavedOut, status_code=201, tags=["markets"],
             dependencies=[allow(Action.MARKET_CREATE)], responses=WRITE_ERRORS)
def api_create_market(ctx: Context, body: registry.MarketIn) -> MarketSavedOut:
    """Register a market (bearer token, or the session with ``X-CSRF-Token``); with
    ``yearly_revenue_target`` / ``yearly_volume_target`` the year's monthly targets are written
    (needs ``target.set``), with ``market_daily_volume`` an estimate of all carriers from today."""
    market = registry.create_market(ctx.db, body)
    ctx.db.commit()
    return _saved(market)


@router.patch("/api/markets/{market_id}", response_model=MarketSavedOut, tags=["markets"],
              dependencies=[allow(Action.MARKET_EDIT)], responses=WRITE_ERRORS)
def api_edit_market(ctx: Context, market_id: IdPath, body: MarketPatch) -> MarketSavedOut:
    """Change some fields of a market of the caller's scope (404 outside it). Changing a yearly
    target needs ``target.set`` (403); with ``version``, a market changed since is 409."""
    changes = body.model_dump(exclude_unset=True)
    version = changes.pop("version", None)
    if changes.get("type") is not None:
        changes["type"] = changes["type"].value
    market = registry.edit_market(ctx.db, market_id, changes, version=version)
    ctx.db.commit()
    return _saved(market)


# -- TOP-N and key-city targets -----------------------------------------------------------------
def top_data(request: Request, ctx: RequestContext, n: int, by: RankBy) -> TopOut:
    with open_picture(request, ctx) as picture:
        rows, as_of = potential.top_markets(ctx.db, picture, n, by)
    return TopOut(as_of=as_of, by=by, window_days=potential.WINDOW_DAYS, items=rows)


@router.get("/api/markets/top", response_model=TopOut, tags=["markets"])
def api_top(request: Request, ctx: Context, n: int = Query(10, ge=1, le=500),
            by: RankBy = "potential") -> TopOut:
    """The scope's TOP-N markets by potential (潜力) or by gap, with our daily parcels and share
    over the 30 days up to the data date (formula: docs/markets.md)."""
    return top_data(request, ctx, n, by)


TOP_COLUMNS = (
    Column("rank", "Rank", "int"), Column("code", "Code"), Column("name", "Market"),
    Column("city", "City"), Column("tier", "Tier"), Column("merchants", "Merchants", "int"),
    Column("potential_daily", "Potential parcels a day", "dec"),
    Column("our_daily", "Our parcels a day", "dec"), Column("share", "Share", "pct"),
    Column("gap_daily", "Gap to potential a day", "dec"),
)
TEAM_COLUMNS = (
    Column("name", "Team"), Column("status", "Status"), Column("market", "Market"),
    Column("grids", "Grids"), Column("leader", "Leader"), Column("members", "Members", "int"),
    Column("proposed_by", "Proposed by"), Column("approved_by", "Approved by"),
)


@router.get("/markets/top", include_in_schema=False)
def top_page(request: Request, ctx: Context, download: Download, n: str = "10",
             by: str = "potential"):
    # A link's n is forgiving: anything but a number (``²``, ``-3``) shows the TOP 10.
    n_value = min(_int(n) or 10, 500)
    by_value: RankBy = "gap" if by == "gap" else "potential"
    data = top_data(request, ctx, n_value, by_value)
    if download:
        return download_response(data.items, TOP_COLUMNS, "markets-top", download, ctx.locale)
    return render(request, "markets_top.html", {"data": data, "n": n_value, "by": by_value})


def targets_data(request: Request, ctx: RequestContext) -> list[KeyCityOut]:
    with open_picture(request, ctx) as picture:
        cities = potential.key_city_targets(ctx.db, picture)
    return [KeyCityOut(**c.as_dict()) for c in cities]


@router.get("/api/markets/targets", response_model=list[KeyCityOut], tags=["markets"])
def api_targets(request: Request, ctx: Context) -> list[KeyCityOut]:
    """Key cities (重点产粮区): markets with yearly revenue targets of 10M and 5M yuan against
    the plan (one and two per key city), whether it is met, and revenue so far this year."""
    return targets_data(request, ctx)


TARGET_COLUMNS = (
    Column("city", "City"), Column("code", "Code"), Column("name", "Market"),
    Column("yearly_revenue_target", "Yearly revenue target", "money"),
    Column("slot", "Counts as", "money"), Column("revenue_ytd", "Revenue this year", "money"),
    Column("expected_ytd", "Expected by today", "money"), Column("progress", "Progress", "pct"),
)


@router.get("/markets/targets", include_in_schema=False)
def targets_page(request: Request, ctx: Context, download: Download):
    cities = targets_data(request, ctx)
    if download:  # one row per market of a key city
        rows = [{"city": c.name, **dataclasses.asdict(m)} for c in cities for m in c.markets]
        return download_response(rows, TARGET_COLUMNS, "key-city-targets", download,
                                 ctx.locale)
    return render(request, "markets_targets.html", {
        "cities": cities,
        # A target's size in the reader's words: 1000万 (zh-CN), 10M (en).
        "yuan": lambda value: format_compact_decimal(value, locale=babel_locale(ctx.locale),
                                                     fraction_digits=1),
    })


# -- teams --------------------------------------------------------------------------------------
def _teams_page(request: Request, ctx: RequestContext, *, values=None, errors=None,
                status_code: int = 200):
    markets = list(ctx.db.scalars(select(Market).order_by(Market.code)))
    grids = list(ctx.db.scalars(select(Grid).order_by(Grid.code)))
    return render(request, "teams.html", {
        "teams": teams.list_teams(ctx.db), "may_propose": ctx.user.may(Action.TEAM_PROPOSE),
        "markets": markets, "grids": grids, "people": teams.candidate_members(ctx.db),
        "member_roles": teams.MEMBER_ROLES, "values": values or {}, "errors": errors or {},
        "statuses": STATUS_LABELS,
    }, status_code=status_code)


STATUS_LABELS = {TeamStatus.PROPOSED.value: "Awaiting approval",
                 TeamStatus.APPROVED.value: "Approved",
                 TeamStatus.REJECTED.value: "Rejected",
                 TeamStatus.DISBANDED.value: "Disbanded"}


HISTORY_LABELS = {"propose": "Proposed", "insert": "Created", "update": "Changed",
                  "members": "Members changed", "reject": "Rejected", "delete": "Deleted"}


def _proposal(form) -> dict[str, Any]:
    """The phone form: a leader and members picked from lists."""
    leader = _int(form.get("leader_id"))
    members = [{"user_id": leader, "role": "leader"}] if leader else []
    for raw in form.getlist("member_ids"):
        uid = _int(raw)
        if uid and uid != leader:
            members.append({"user_id": uid, "role": "member"})
    return {"name": str(form.get("name") or "").strip(), "market_id": _int(form.get("market_id")),
            "grid_id": _int(form.get("grid_id")), "members": members}


@router.get("/teams", include_in_schema=False)
def teams_page(request: Request, ctx: Context, download: Download):
    if download:
        return download_response(teams.list_teams(ctx.db), TEAM_COLUMNS, "teams", download,
                                 ctx.locale)
    return _teams_page(request, ctx)


@router.post("/teams", include_in_schema=False, dependencies=[allow(Action.TEAM_PROPOSE)])
async def propose_page(request: Request, ctx: Context):
    form = await request.form()
    data = _proposal(form)
    try:
        team = teams.propose_team(ctx.db, data)
    except Invalid as err:
        ctx.db.rollback()
        values = {**data, "member_ids": [m["user_id"] for m in data["members"]],
                  "leader_id": _int(form.get("leader_id"))}
        return _teams_page(request, ctx, values=values, errors=err.errors, status_code=400)
    ctx.db.commit()
    return RedirectResponse(f"/teams/{team.id}", status_code=303)


def _team_detail(ctx: RequestContext, team_id: int) -> teams.TeamDetail:
    try:
        return teams.team_detail(ctx.db, team_id)
    except NotFound:
        raise not_found(ctx, "Team not found") from None


def _team_page(request: Request, ctx: RequestContext, team_id: int, *,
               errors: dict[str, str] | None = None, conflict: Conflict | None = None,
               status_code: int = 200):
    detail = _team_detail(ctx, team_id)
    team = detail.team
    return render(request, "team.html", {
        "data": detail,
        # The proposer never decides their own team: no buttons for them either.
        "may_decide": ctx.user.may(Action.TEAM_DECIDE) and team.status == "proposed"
        and team.proposed_by_id != ctx.user.id,
        "may_edit": ctx.user.may(Action.TEAM_EDIT_MEMBERS)
        and team.status in ("proposed", "approved"),
        "member_roles": teams.MEMBER_ROLES, "people": teams.candidate_members(ctx.db),
        "statuses": STATUS_LABELS, "history_labels": HISTORY_LABELS,
        "errors": errors or {}, "conflict": conflict, "field_labels": FIELD_LABELS,
    }, status_code=status_code)


@router.get("/teams/{team_id}", include_in_schema=False)
def team_page(request: Request, ctx: Context, team_id: IdPath, error: str | None = None):
    errors = {"reason": "Give a reason of 1–255 characters"} if error == "reason" else None
    return _team_page(request, ctx, team_id, errors=errors)


def _back_to(team_id: int) -> RedirectResponse:
    return RedirectResponse(f"/teams/{team_id}", status_code=303)


@router.post("/teams/{team_id}/approve", include_in_schema=False,
             dependencies=[allow(Action.TEAM_DECIDE)])
def approve_page(ctx: Context, team_id: IdPath):
    teams.approve_team(ctx.db, team_id)  # a second decision is 409 (web/app.py)
    ctx.db.commit()
    return _back_to(team_id)


@router.post("/teams/{team_id}/reject", include_in_schema=False,
             dependencies=[allow(Action.TEAM_DECIDE)])
async def reject_page(request: Request, ctx: Context, team_id: IdPath):
    reason = str((await request.form()).get("reason") or "")
    try:
        teams.reject_team(ctx.db, team_id, reason)
    except Invalid:
        ctx.db.rollback()
        return RedirectResponse(f"/teams/{team_id}?error=reason", status_code=303)
    ctx.db.commit()
    return _back_to(team_id)


def _posted_members(form) -> list[dict[str, Any]]:
    """The member table as posted: kept rows with their roles, and the person to add."""
    members = []
    for raw in form.getlist("user_ids"):
        uid = _int(raw)
        if uid and not form.get(f"remove_{uid}"):
            members.append({"user_id": uid, "role": str(form.get(f"role_{uid}") or "member")})
    added = _int(form.get("add_user_id"))
    if added and added not in [m["user_id"] for m in members]:
        members.append({"user_id": added, "role": str(form.get("add_role") or "member")})
    return members


@router.post("/teams/{team_id}/members", include_in_schema=False,
             dependencies=[allow(Action.TEAM_EDIT_MEMBERS)])
async def members_page(request: Request, ctx: Context, team_id: IdPath):
    form = await request.form()
    try:
        teams.set_members(ctx.db, team_id, _posted_members(form),
                          version=_form_version(form))
    except Conflict as err:
        ctx.db.rollback()
        return _team_page(request, ctx, team_id, conflict=err, status_code=409)
    ctx.db.commit()
    return _back_to(team_id)


@router.get("/api/teams", response_model=list[teams.TeamRow], tags=["teams"])
def api_teams(ctx: Context, status: TeamStatus | None = None) -> list[teams.TeamRow]:
    """Teams of the caller's scope, proposed ones first (the province's queue)."""
    return teams.list_teams(ctx.db, status)


@router.post("/api/teams", response_model=teams.TeamDetail, status_code=201, tags=["teams"],
             dependencies=[allow(Action.TEAM_PROPOSE)], responses=WRITE_ERRORS)
def api_propose(ctx: Context, body: teams.TeamIn) -> teams.TeamDetail:
    """Propose a team for a market (and grid) with members and roles (``team.propose``)."""
    team = teams.propose_team(ctx.db, body)
    ctx.db.commit()
    return teams.team_detail(ctx.db, team.id)


@router.get("/api/teams/{team_id}", response_model=teams.TeamDetail, tags=["teams"],
            responses=READ_ERRORS)
def api_team(ctx: Context, team_id: IdPath) -> teams.TeamDetail:
    """A team with its members and history (proposal, member changes, decision)."""
    return _team_detail(ctx, team_id)


@router.post("/api/teams/{team_id}/approve", response_model=teams.TeamDetail, tags=["teams"],
             dependencies=[allow(Action.TEAM_DECIDE)], responses=WRITE_ERRORS)
def api_approve(ctx: Context, team_id: IdPath) -> teams.TeamDetail:
    """Approve a proposed team (``team.decide``; not the proposer). A team is decided once: a
    second decision, even a concurrent one, is 409."""
    teams.approve_team(ctx.db, team_id)
    ctx.db.commit()
    return teams.team_detail(ctx.db, team_id)


@router.post("/api/teams/{team_id}/reject", response_model=teams.TeamDetail, tags=["teams"],
             dependencies=[allow(Action.TEAM_DECIDE)], responses=WRITE_ERRORS)
def api_reject(ctx: Context, team_id: IdPath, body: RejectIn) -> teams.TeamDetail:
    """Reject a proposed team with a reason (``team.decide``; not the proposer; once)."""
    teams.reject_team(ctx.db, team_id, body.reason)
    ctx.db.commit()
    return teams.team_detail(ctx.db, team_id)


@router.put("/api/teams/{team_id}/members", response_model=teams.TeamDetail, tags=["teams"],
            dependencies=[allow(Action.TEAM_EDIT_MEMBERS)], responses=WRITE_ERRORS)
def api_members(ctx: Context, team_id: IdPath, body: teams.MembersIn) -> teams.TeamDetail:
    """Replace the team's members and roles; the change is kept in its history. With the
    ``version`` of the team read before, a team changed since is 409 (both lists given)."""
    teams.set_members(ctx.db, team_id, body.members, version=body.version)
    ctx.db.commit()
    return teams.team_detail(ctx.db, team_id)
