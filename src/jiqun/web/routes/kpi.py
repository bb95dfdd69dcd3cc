"""The operating picture's pages (经营全景): the level table of the dashboard, grid KPIs, market
share trend, customer tiers and owners, and the weekly bulletin downloads.

Every figure comes from :class:`~jiqun.kpi.service.OperatingPicture` — the same object the
``jiqun kpi`` CLI and the reports use — opened on the request's scope and lake connection. Each
page has a JSON twin under ``/api`` with its own output model. Long tables are paged and
downloaded as CSV/XLSX through :mod:`jiqun.web.tables` (``?page=``, ``?format=csv&table=…``).
"""

from __future__ import annotations

import datetime as dt
import re
import tempfile
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from jiqun.bounds import MAX_ID
from jiqun.errors import Invalid
from jiqun.kpi import overview, share
from jiqun.kpi.rules import KpiRules
from jiqun.kpi.service import OperatingPicture
from jiqun.kpi.weeks import ISO_WEEK_PATTERN, IsoWeek
from jiqun.permissions import Action
from jiqun.sales import ownership
from jiqun.sales.tier_issues import tier_issues
from jiqun.store.models import Customer, Market
from jiqun.web import labels
from jiqun.web.computed import Reads, computed
from jiqun.web.deps import Context, RequestContext, allow, not_found, open_picture
from jiqun.web.params import IdQuery
from jiqun.web.tables import Column, Download, download_response, paginate, paging
from jiqun.web.templating import render

router = APIRouter()

TIER_PAGE_ROWS = 10  # rows a page of each table on /tiers (mismatches first); the API lists all
MAX_ROWS = 100_000  # a bound on row counts a request may name (limits, ticked changes)


def get_picture(request: Request, ctx: Context) -> Iterator[OperatingPicture]:
    """The operating picture of the request's scope, on the request's lake connection and
    store session; its figures are shared with every request of the same scope and data
    version (the app's figure cache), so a burst of users computes each one once."""
    with open_picture(request, ctx) as picture:
        yield picture


Picture = Annotated[OperatingPicture, Depends(get_picture)]


def _data_date(ctx: RequestContext) -> dt.date | None:
    return ctx.figure("data_date", lambda: overview.data_date(ctx.con, ctx.lake, ctx.scope))


def _page(request: Request, template: str, partial: str, data: BaseModel, **extra):
    """The whole page, or only its table when HTMX asks for it."""
    htmx = request.headers.get("HX-Request") == "true"
    return render(request, partial if htmx else template, {"data": data, **extra})


# -- level table (分级看板) ---------------------------------------------------------------------
class LevelRowOut(BaseModel):
    level: Literal["province", "city", "county", "outlet", "market", "grid"]
    id: int
    code: str
    name: str
    parent_id: int | None = Field(description="The market of a grid row.")
    parcels: int = Field(description="Month to date.")
    revenue: float
    target_parcels: float | None = Field(description="Monthly parcel target (计划).")
    progress: float | None = Field(description="Parcels / target prorated to the day; 1 = on plan.")
    share: float | None = Field(description="Of the estimated market total, month to date.")
    active_customers: int


class LevelOut(BaseModel):
    as_of: dt.date | None
    level: str | None = Field(description="What the rows are: province, city or market.")
    rows: list[LevelRowOut]


def level_table(ctx: RequestContext, picture: OperatingPicture) -> LevelOut:
    as_of = _data_date(ctx)
    if as_of is None:
        return LevelOut(as_of=None, level=None, rows=[])
    rows = [LevelRowOut(**r) for r in picture.by_level(as_of)]
    return LevelOut(as_of=as_of, level=rows[0].level if rows else None, rows=rows)


@router.get("/api/levels", response_model=LevelOut, tags=["kpi"])
def api_levels(ctx: Context, picture: Picture) -> LevelOut:
    """The level below the user's unit: provinces (HQ), cities (province), markets and grids."""
    return level_table(ctx, picture)


def level_groups(data: LevelOut) -> list[list[LevelRowOut]]:
    """The rows as the page lists them: each top row (province, city or market) followed by its
    grids, then grids whose market is not listed, one group each."""
    top = [r for r in data.rows if r.level != "grid"]
    ids = {r.id for r in top}
    grids: dict[int | None, list[LevelRowOut]] = {}
    for r in data.rows:
        if r.level == "grid":
            grids.setdefault(r.parent_id, []).append(r)
    groups = [[r, *grids.get(r.id, [])] for r in top]
    groups += [[r] for r in data.rows if r.level == "grid" and r.parent_id not in ids]
    return groups


LevelPaging = paging(per_page=25)
LEVEL_NAMES = {"province": "Province", "city": "City", "county": "County", "outlet": "Outlet",
               "market": "Market", "grid": "Grid"}


def level_columns(t) -> tuple[Column, ...]:
    return (
        Column("level", "Level", value=lambda r: t(LEVEL_NAMES[r.level])),
        Column("code", "Code"), Column("name", "Name"),
        Column("parcels", "Parcels", "int"), Column("revenue", "Revenue", "money"),
        Column("target_parcels", "Monthly plan", "int"),
        Column("progress", "Plan progress", "pct"), Column("share", "Share", "pct"),
        Column("active_customers", "Active customers", "int"),
    )


@router.get("/level", include_in_schema=False)
def level_page(request: Request, ctx: Context, picture: Picture, page: LevelPaging,
               download: Download):
    """Paged by top row (each with its grids); downloads every row in the page's order."""
    data = level_table(ctx, picture)
    groups = level_groups(data)
    if download:
        rows = [r for group in groups for r in group]
        return download_response(rows, level_columns(ctx.t), f"levels-{data.as_of or 'none'}",
                                 download, ctx.locale)
    return _page(request, "level.html", "_level_table.html", data,
                 groups=paginate(groups, page))


# -- market share trend (市场占有率走势) ---------------------------------------------------------
class SharePointOut(BaseModel):
    period: dt.date = Field(description="Monday of the week.")
    parcels: int
    market_total: float | None
    share: float | None


class MarketShareOut(BaseModel):
    market_id: int
    code: str
    name: str
    points: list[SharePointOut]


class CompetitorShareOut(BaseModel):
    carrier: str
    period: dt.date
    parcels: float = Field(description="Estimated parcels of the carrier in the week.")
    share: float | None


class ShareOut(BaseModel):
    as_of: dt.date | None
    start: dt.date | None
    weeks: list[dt.date]
    markets: list[MarketShareOut]
    market_id: int | None = Field(description="The market whose competitors are listed.")
    competitors: list[CompetitorShareOut]


def share_trend(ctx: RequestContext, picture: OperatingPicture,
                market_id: int | None) -> ShareOut:
    if market_id is not None and ctx.db.get(Market, market_id) is None:
        raise not_found(ctx, "Market not found")
    as_of = _data_date(ctx)
    if as_of is None:
        return ShareOut(as_of=None, start=None, weeks=[], markets=[], market_id=None,
                        competitors=[])
    weeks, trend = share.weekly_trend(picture, as_of)  # share.TREND_WEEKS, as the bulletin
    start = weeks[0]
    markets = [
        MarketShareOut(market_id=m.id, code=m.code, name=m.name,
                       points=[SharePointOut(**p) for p in trend[m.id]])
        for m in ctx.db.scalars(select(Market).order_by(Market.code)) if m.id in trend
    ]
    markets.sort(key=lambda m: -sum(p.parcels for p in m.points))
    if market_id is None and markets:
        market_id = markets[0].market_id
    competitors = [CompetitorShareOut(**r) for r in picture.competitors("week", start, as_of)
                   if r["market_id"] == market_id]
    return ShareOut(as_of=as_of, start=start, weeks=weeks, markets=markets,
                    market_id=market_id, competitors=competitors)


@router.get("/api/share", response_model=ShareOut, tags=["kpi"])
def api_share(ctx: Context, picture: Picture,
              market_id: IdQuery = None) -> ShareOut:
    """Weekly share of each market over the last 26 weeks (the weekly bulletin shows the last
    12 of them, computed alike); competitors of one market (the
    biggest unless ``market_id`` is given)."""
    return share_trend(ctx, picture, market_id)


SharePaging = paging(per_page=25)
SHARE_TABLES = {
    "weekly": (Column("code", "Code"), Column("market", "Market"),
               Column("period", "Week of", "date"), Column("parcels", "Parcels", "int"),
               Column("market_total", "Market total", "dec"), Column("share", "Share", "pct")),
    "competitors": (Column("carrier", "Carrier"), Column("period", "Week of", "date"),
                    Column("parcels", "Parcels a week (est.)", "dec"),
                    Column("share", "Share", "pct")),
}


def share_rows(data: ShareOut, table: str) -> list:
    """The rows of a share table as downloaded: every week of every market (``weekly``), or
    every week of the chosen market's competitors."""
    if table == "competitors":
        return data.competitors
    return [{"code": m.code, "market": m.name, **p.model_dump()}
            for m in data.markets for p in m.points]


@router.get("/share", include_in_schema=False)
def share_page(request: Request, ctx: Context, picture: Picture, page: SharePaging,
               download: Download, market_id: IdQuery = None):
    """Markets paged in the weekly table; both tables downloadable with all 26 weeks."""
    data = share_trend(ctx, picture, market_id)
    if download:
        table = download.table or "weekly"
        if table not in SHARE_TABLES:
            raise not_found(ctx)
        name = f"share-{table}-{data.as_of or 'none'}"
        return download_response(share_rows(data, table), SHARE_TABLES[table], name, download,
                                 ctx.locale)
    return render(request, "share.html", {"data": data, "markets": paginate(data.markets, page),
                                          **share_charts(data, ctx.t("Us"))})


def _percent(value: float | None) -> float | None:
    return None if value is None else round(value * 100, 2)


def share_charts(data: ShareOut, us: str) -> dict:
    """Chart series (percent) and the latest week's competitor table of the share page."""
    x = [str(w) for w in data.weeks]
    selected = next((m for m in data.markets if m.market_id == data.market_id), None)
    share_chart = {"x": x, "percent": True, "series": [
        {"name": m.name, "data": [_percent(p.share) for p in m.points]} for m in data.markets]}
    rivals: dict[str, dict[dt.date, float | None]] = {}
    for c in data.competitors:
        rivals.setdefault(c.carrier, {})[c.period] = c.share
    rival_chart = {"x": x, "percent": True, "series": [
        {"name": carrier, "data": [_percent(by_week.get(w)) for w in data.weeks]}
        for carrier, by_week in sorted(rivals.items())]}
    if selected:
        rival_chart["series"].insert(0, {"name": us, "data": [_percent(p.share)
                                                             for p in selected.points]})
    latest_week = max((c.period for c in data.competitors), default=None)
    latest = sorted((c for c in data.competitors if c.period == latest_week),
                    key=lambda c: -c.parcels)
    selected_latest = next((p for p in selected.points if p.period == latest_week), None) \
        if selected else None
    return {"share_chart": share_chart, "rival_chart": rival_chart, "selected": selected,
            "latest_week": latest_week, "latest_competitors": latest,
            "selected_latest": selected_latest}


# -- customer tiers and owners (客户分级与归属) --------------------------------------------------
# A customer's computed tier, the owner it requires and the change proposed for it are one fact
# for every viewer: computed once for the organisation (ownership.organisation_plan) and shown
# to each user for the customers their scope holds.
class TierRowOut(BaseModel):
    customer_id: int
    code: str
    name: str
    daily_parcels: float = Field(description="Average over the tier window.")
    tier: str = Field(description="The tier the volume earns (计算分级).")
    stored_tier: str | None = Field(description="The tier in the archive.")
    owner_id: int | None
    owner: str | None
    owner_role: str | None
    required_role: str = Field(description="The role the computed tier requires.")
    issues: list[Literal["tier", "no_owner", "owner_role"]]


class TierCountOut(BaseModel):
    tier: str
    computed: int
    stored: int


class TiersOut(BaseModel):
    as_of: dt.date | None = Field(description="The organisation's data date the tiers are of.")
    total: int
    mismatches: int
    counts: list[TierCountOut]
    rows: list[TierRowOut]


def tier_plan(request: Request, ctx: RequestContext,
              picture: OperatingPicture) -> ownership.TierPlan:
    """The organisation's tier plan, the same for every viewer; computed once per data version
    when the app keeps a figure cache (it does not depend on who asks, so neither does the key)."""

    def compute() -> ownership.TierPlan:
        return ownership.organisation_plan(request.app.state.store, ctx.lake, picture.rules,
                                           ctx.con)

    figures, version = getattr(ctx, "figures", None), getattr(ctx, "data_version", None)
    if figures is None or version is None:
        return compute()
    return figures.get(("tier_plan", picture.rules.model_dump_json(), version), compute)


def _seen_plan(request: Request, ctx: RequestContext,
               picture: OperatingPicture) -> ownership.TierPlan:
    """The plan as the request's scope sees it, once per scope, rules and data version."""
    return ctx.figure("seen_tier_plan",
                      lambda: tier_plan(request, ctx, picture).seen_by(ctx.db),
                      picture.rules.model_dump_json())


def tier_table(ctx: RequestContext, plan: ownership.TierPlan, rules: KpiRules,
               limit: int | None = None) -> TiersOut:
    """``plan``: the organisation's plan as seen by the request (``TierPlan.seen_by``); the
    rows are :func:`jiqun.sales.tier_issues.tier_issues`, mismatches first. Every row of the
    scope is built once per rules and data version (thousands of rows: ``/api/tiers`` and
    ``/tiers`` were most of the CPU of 50 users); shared, so ``limit`` takes a copy."""
    data = ctx.figure("tier_table", lambda: _tier_table(ctx, plan, rules),
                      rules.model_dump_json())
    return data.model_copy(update={"rows": data.rows[:limit]}) if limit else data


def _tier_table(ctx: RequestContext, plan: ownership.TierPlan, rules: KpiRules) -> TiersOut:
    found = tier_issues(ctx.db, plan, rules)
    rows = [TierRowOut(**{**asdict(r), "issues": list(r.issues)}) for r in found.rows]
    return TiersOut(as_of=found.as_of, total=found.total, mismatches=found.mismatches,
                    counts=[TierCountOut(**asdict(c)) for c in found.counts], rows=rows)


@router.get("/api/tiers", response_model=TiersOut, tags=["kpi"])
def api_tiers(request: Request, ctx: Context, picture: Picture,
              limit: Annotated[int | None, Query(ge=1, le=MAX_ROWS)] = None) -> TiersOut:
    """Computed tier against the archive's tier and owner, mismatches first."""
    return tier_table(ctx, _seen_plan(request, ctx, picture), picture.rules, limit)


TierPaging = paging(per_page=TIER_PAGE_ROWS)
ChangePaging = paging(per_page=TIER_PAGE_ROWS, param="changes_page",
                      size_param="changes_per_page")
ISSUE_LABELS = {"tier": "Tier differs", "no_owner": "No owner",
                "owner_role": "Owner's role does not fit the tier",
                "unfilled": "No one in reach"}


def _label(t, table: dict[str, str], code: str | None) -> str | None:
    return t(labels.label(table, code)) if code else None


def tier_columns(t) -> tuple[Column, ...]:
    """The tier table as downloaded: codes in the reader's words (``t``)."""
    issues = lambda r: "; ".join(t(ISSUE_LABELS[i]) for i in r.issues)  # noqa: E731
    return (
        Column("code", "Code"), Column("name", "Customer"),
        Column("daily_parcels", "Parcels a day", "dec"),
        Column("tier", "Computed tier", value=lambda r: _label(t, labels.TIERS, r.tier)),
        Column("stored_tier", "Archive tier",
               value=lambda r: _label(t, labels.TIERS, r.stored_tier)),
        Column("owner", "Owner"),
        Column("owner_role", "Owner's role",
               value=lambda r: _label(t, labels.ROLES, r.owner_role)),
        Column("required_role", "Required owner",
               value=lambda r: _label(t, labels.ROLES, r.required_role)),
        Column("issues", "Issues", value=issues),
    )


def change_columns(t) -> tuple[Column, ...]:
    """The proposed changes as downloaded."""
    reasons = lambda c: "; ".join(t(ISSUE_LABELS[r]) for r in c.reasons)  # noqa: E731
    return (
        Column("code", "Code"), Column("name", "Customer"),
        Column("old_tier", "Archive tier", value=lambda c: _label(t, labels.TIERS, c.old_tier)),
        Column("new_tier", "New tier", value=lambda c: _label(t, labels.TIERS, c.new_tier)),
        Column("old_owner", "Owner"), Column("new_owner", "New owner"),
        Column("required_role", "Required owner",
               value=lambda c: _label(t, labels.ROLES, c.required_role)),
        Column("reasons", "Issues", value=reasons),
    )


@router.get("/tiers", include_in_schema=False)
def tiers_page(request: Request, ctx: Context, picture: Picture, page: TierPaging,
               changes_page: ChangePaging, download: Download,
               applied: Annotated[int | None, Query(ge=0, le=MAX_ROWS)] = None,
               skipped: Annotated[int | None, Query(ge=0, le=MAX_ROWS)] = None):
    """Both tables paged (mismatches first; approvable changes first), each downloadable."""
    plan = _seen_plan(request, ctx, picture)
    data = tier_table(ctx, plan, picture.rules)
    proposal = proposed_tier_changes(ctx, plan)
    changes = sorted(proposal.changes, key=lambda c: not c.approvable)  # stable: by code
    if download:
        name = f"tiers-{data.as_of}" if data.as_of else "tiers"
        if download.table == "changes":
            return download_response(changes, change_columns(ctx.t), f"{name}-changes",
                                     download, ctx.locale)
        if download.table not in (None, "tiers"):
            raise not_found(ctx)
        return download_response(data.rows, tier_columns(ctx.t), name, download, ctx.locale)
    return render(request, "tiers.html", {
        "data": data, "rows": paginate(data.rows, page), "proposal": proposal,
        "changes": paginate(changes, changes_page), "applied": applied, "skipped": skipped,
    })


# -- tier and owner changes for approval (分级调整审批) ------------------------------------------
class TierChangeOut(BaseModel):
    customer_id: int
    code: str
    name: str
    old_tier: str | None
    new_tier: str
    old_owner_id: int | None
    old_owner: str | None
    new_owner_id: int | None = Field(description="None: no one of the required role in reach, "
                                                 "or a prospect in the pool.")
    new_owner: str | None
    required_role: str
    pooled: bool = Field(description="A prospect in the pool (公海): it keeps no owner until "
                                     "someone claims it.")
    reasons: list[Literal["tier", "no_owner", "owner_role", "unfilled"]]
    approvable: bool = Field(description="Approving it writes something; an unfilled change "
                                         "with the right tier is only reported.")
    fingerprint: str = Field(description="The change as listed: send it back to approve it.")


class TierChangesOut(BaseModel):
    as_of: dt.date | None
    may_approve: bool = Field(description="The user may approve (permission tier.apply).")
    fingerprint: str = Field(description="The whole list as listed.")
    changes: list[TierChangeOut]


class TierChoiceIn(BaseModel):
    customer_id: int = Field(ge=1, le=MAX_ID)
    fingerprint: str = Field(min_length=1, max_length=64,
                             description="The change's fingerprint as listed to the approver.")


class TierApplyIn(BaseModel):
    changes: list[TierChoiceIn] = Field(max_length=MAX_ROWS, description=(
        "The changes to apply, each with the fingerprint the approver saw; if any of them is "
        "proposed differently now, nothing is applied (409)."))


class TierApplyOut(BaseModel):
    applied: list[TierChangeOut]
    skipped: list[int] = Field(description="Ids not applied: already applied, nothing to write, "
                                           "or outside the user's area.")


def _change_rows(ctx: RequestContext, plan: ownership.TierPlan,
                 changes: list[ownership.TierChange]) -> list[TierChangeOut]:
    names = dict(ctx.db.execute(select(Customer.id, Customer.name).where(
        Customer.id.in_([c.customer_id for c in changes]))).all())

    def name(uid: int | None) -> str | None:
        person = plan.people.get(uid) if uid else None
        return person.name if person else None

    return [TierChangeOut(
        customer_id=c.customer_id, code=c.customer_code, name=names.get(c.customer_id, ""),
        old_tier=c.old_tier, new_tier=c.new_tier, old_owner_id=c.old_owner_id,
        old_owner=name(c.old_owner_id), new_owner_id=c.new_owner_id,
        new_owner=name(c.new_owner_id), required_role=c.required_role, pooled=c.pooled,
        reasons=c.reasons, approvable=c.writes, fingerprint=c.fingerprint,
    ) for c in changes]


def proposed_tier_changes(ctx: RequestContext, plan: ownership.TierPlan) -> TierChangesOut:
    """``plan``: the organisation's plan as seen by the request."""
    return TierChangesOut(as_of=plan.as_of, may_approve=ctx.user.may(Action.TIER_APPLY),
                          fingerprint=plan.fingerprint,
                          changes=_change_rows(ctx, plan, plan.ordered()))


def approve_tier_changes(request: Request, ctx: RequestContext, picture: OperatingPicture,
                         seen: dict[int, str]) -> TierApplyOut:
    """Apply the ticked changes as the approver saw them, through the scoped session (audited
    with the user and ``web``/``api``); a change proposed differently now is a 409."""
    plan = tier_plan(request, ctx, picture)
    applied, skipped = ownership.apply_seen(ctx.db, plan, seen)
    rows = _change_rows(ctx, plan, applied)  # read before commit: names of the rows just written
    ctx.db.commit()
    return TierApplyOut(applied=rows, skipped=skipped)


@router.get("/api/tiers/changes", response_model=TierChangesOut, tags=["kpi"])
def api_tier_changes(request: Request, ctx: Context, picture: Picture) -> TierChangesOut:
    """Tier and owner changes proposed for approval (the same plan as ``jiqun tiers apply
    --dry-run`` of the user's area)."""
    return proposed_tier_changes(ctx, _seen_plan(request, ctx, picture))


@router.post("/api/tiers/apply", response_model=TierApplyOut, tags=["kpi"],
             dependencies=[allow(Action.TIER_APPLY)],
             responses={403: {"description": "The user's role may not apply tiers"},
                        409: {"description": "The list changed since it was seen"}})
def api_tier_apply(request: Request, ctx: Context, picture: Picture,
                   body: TierApplyIn) -> TierApplyOut:
    """Apply the proposed changes the approver ticked, each with the fingerprint they saw
    (permission ``tier.apply``); audited."""
    return approve_tier_changes(request, ctx, picture,
                                {c.customer_id: c.fingerprint for c in body.changes})


TICKED = re.compile(r"^([1-9][0-9]{0,9}):([0-9a-f]{1,64})$")


def ticked_changes(values: list[str]) -> dict[int, str]:
    """The page's ticked boxes, ``<customer id>:<fingerprint>`` each; anything else is 422."""
    seen = {}
    for value in values:
        found = TICKED.match(value)
        if found is None or int(found.group(1)) > MAX_ID:
            raise Invalid({"change": "Invalid request"})
        seen[int(found.group(1))] = found.group(2)
    return seen


@router.post("/tiers/apply", include_in_schema=False, dependencies=[allow(Action.TIER_APPLY)])
def tiers_apply(request: Request, ctx: Context, picture: Picture,
                change: Annotated[list[str], Form(max_length=MAX_ROWS)] = ()) -> RedirectResponse:
    result = approve_tier_changes(request, ctx, picture, ticked_changes(list(change)))
    return RedirectResponse(
        f"/tiers?applied={len(result.applied)}&skipped={len(result.skipped)}", status_code=303)


# -- weekly bulletin (一周通报) ------------------------------------------------------------------
BULLETIN_FORMATS = {
    "html": "text/html; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}


# The bulletin HTML carries its own inline ECharts and script: it is served in a sandbox (an
# opaque origin without cookies or same-origin API access) instead of under the site's CSP.
BULLETIN_HTML_CSP = (
    "sandbox allow-scripts; default-src 'none'; script-src 'unsafe-inline'; "
    "style-src 'unsafe-inline'; img-src data:"
)


@router.get("/bulletin", include_in_schema=False)
def bulletin_page(request: Request, ctx: Context,
                  week: Annotated[str | None, Query(pattern=ISO_WEEK_PATTERN)] = None):
    as_of = _data_date(ctx)
    chosen = week or (str(IsoWeek.last_complete_by(as_of)) if as_of else None)
    return render(request, "bulletin.html", {
        "as_of": as_of, "week": chosen, "formats": list(BULLETIN_FORMATS),
        "ready": _reports() is not None,
    })


def _reports():
    """The reports package (weekly bulletin and its writers), or ``None`` where it is missing."""
    try:
        from jiqun.reports import html, weekly, xlsx
    except ImportError:
        return None
    return weekly, html, xlsx


class BulletinUnavailable(RuntimeError):
    """The bulletin cannot be produced here (no reports package, no browser for the PDF)."""


def bulletin_file(picture: OperatingPicture, week: str, fmt: str, locale: str,
                  bulletin=None) -> bytes:
    """The weekly bulletin (一周通报) of ``week`` as ``fmt``, written by :mod:`jiqun.reports`
    exactly as ``jiqun report weekly --format FMT`` writes it (of ``bulletin`` when it is given:
    the :func:`~jiqun.reports.weekly.weekly_bulletin` of that week)."""
    modules = _reports()
    if modules is None:
        raise BulletinUnavailable("The weekly bulletin is not available yet.")
    weekly, html, xlsx = modules
    if bulletin is None:
        bulletin = weekly.weekly_bulletin(picture, IsoWeek.parse(week), locale)
    text = html.bulletin_html(bulletin, locale)
    if fmt == "html":
        return text.encode("utf-8")
    with tempfile.TemporaryDirectory(prefix="jiqun-bulletin-") as tmp:
        out = Path(tmp) / f"bulletin.{fmt}"
        if fmt == "xlsx":
            xlsx.bulletin_xlsx(bulletin, out, locale)
        else:
            from jiqun.reports.pdf import PdfError, html_to_pdf

            page = html.write_html(text, Path(tmp) / "bulletin.html")
            try:
                html_to_pdf(page, out)
            except PdfError as e:
                raise BulletinUnavailable("The PDF cannot be printed on this server.") from e
        return out.read_bytes()


# The bulletin gathers from every capability (figures, problems, service, prices, the ledger):
# it is kept per version of the whole store and the lake.
BULLETIN_READS = Reads(every_table=True)


def kept_bulletin_file(request: Request, ctx: RequestContext, picture: OperatingPicture,
                       week: str, fmt: str) -> bytes:
    """:func:`bulletin_file`, written once per week, format, language, scope and data version
    (the PDF prints in a browser: seconds); the bulletin itself is shared by its formats."""
    modules = _reports()
    if modules is None:
        raise BulletinUnavailable("The weekly bulletin is not available yet.")
    weekly = modules[0]
    rules = picture.rules.model_dump_json()

    def bulletin():
        return computed(request, ctx, "weekly_bulletin",
                        lambda: weekly.weekly_bulletin(picture, IsoWeek.parse(week), ctx.locale),
                        week, ctx.locale, rules, reads=BULLETIN_READS)

    return computed(request, ctx, "bulletin_file",
                    lambda: bulletin_file(picture, week, fmt, ctx.locale, bulletin()),
                    week, fmt, ctx.locale, rules, reads=BULLETIN_READS)


@router.get("/bulletin/{week}.{fmt}", include_in_schema=False)
def bulletin_download(request: Request, week: str, fmt: str, ctx: Context,
                      picture: Picture) -> Response:
    """The bulletin file; HTML opens in the browser (sandboxed), XLSX and PDF download."""
    if not re.match(ISO_WEEK_PATTERN, week) or fmt not in BULLETIN_FORMATS:
        raise not_found(ctx)
    try:
        IsoWeek.parse(week)
    except ValueError:
        raise not_found(ctx) from None  # week 53 of a 52-week year, week 00
    try:
        content = kept_bulletin_file(request, ctx, picture, week, fmt)
    except BulletinUnavailable as e:
        raise HTTPException(503, ctx.t(str(e))) from e
    disposition = "inline" if fmt == "html" else "attachment"
    headers = {"Content-Disposition": f'{disposition}; filename="bulletin-{week}.{fmt}"'}
    if fmt == "html":
        headers["Content-Security-Policy"] = BULLETIN_HTML_CSP
    return Response(content, media_type=BULLETIN_FORMATS[fmt], headers=headers)
