"""Network planning pages: flows (/flows), dedicated lines (/lines), consolidation centres (/hubs),
with their JSON twins under ``/api`` (tag ``planning``).

Every figure comes from :mod:`jiqun.network` through the request's scoped context, the same
calls for the page and its twin; accepting a line proposal (a lane of a market or an outlet, or
a pooled line through a consolidation point) records a draft
:class:`~jiqun.store.models.DedicatedLine` (audited by the store, idempotent).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from typing import Annotated, Literal

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field

from jiqun.bounds import MAX_ID, PlausibleDate
from jiqun.errors import Invalid
from jiqun.geo import division
from jiqun.network import flows as flows_mod
from jiqun.network import hubs as hubs_mod
from jiqun.network import line_lifecycle as line_steps
from jiqun.network import lines as lines_mod
from jiqun.network.params import PlanningParams
from jiqun.permissions import Action
from jiqun.store.models import LineStatus
from jiqun.web.computed import Reads, computed
from jiqun.web.deps import Context, RequestContext, allow, not_found, rules_of
from jiqun.web.params import DateQuery, IdPath
from jiqun.web.schemas import model_of
from jiqun.web.tables import Column, Download, Paging, download_response, paginate, paging
from jiqun.web.templating import render

router = APIRouter()

MODEL_NAMES = {"cover": "Set covering", "mclp": "Maximal covering", "pmedian": "p-median",
               "cflp": "Capacitated with fixed costs"}
MAX_ADDED_SITES = 20

OriginBy = Literal["market", "outlet"]
DestLevel = Literal["province", "city"]
Period = Literal["all", "day", "week", "month"]
FlowSort = Literal["parcels", "daily_parcels", "revenue", "weight_kg", "origin", "dest"]
HubModel = Literal["cover", "mclp", "pmedian", "cflp"]
ProductName = Literal["express", "parcel", "standard"]
PointKind = Literal["market", "outlet", "consolidation_centre", "processing_centre", "warehouse"]
MAX_CAPACITY = 1e9  # parcels a day: far above any centre, still a finite number


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else x


# -- schemas of the API -------------------------------------------------------------------------
class FlowOut(BaseModel):
    """Parcels of one origin × destination (× period) 流量流向."""

    period: dt.date | None = None
    origin_id: int
    origin: str
    dest_code: str
    dest: str
    product: str
    parcels: int
    daily_parcels: float
    revenue: float
    weight_kg: float
    line_share: float = Field(description="Share of the parcels already on a dedicated line.")


class PeakOut(BaseModel):
    """A peak window 旺季窗口 found in the data."""

    name: str
    start: dt.date
    end: dt.date
    days: int
    peak_parcels: int
    peak_ratio: float


class FlowsOut(BaseModel):
    start: dt.date | None
    end: dt.date | None
    by: OriginBy
    to: DestLevel
    period: Period
    product: str | None
    total: int
    flows: list[FlowOut]
    peaks: list[PeakOut]


LaneOut = model_of(
    lines_mod.LaneProposal, "LaneOut",
    "A lane's dedicated-line economics and the planner's decision (专线建议); "
    "``existing_line`` is the status of the line already recorded for the lane.",
    {"origin_kind": OriginBy,
     "break_even": Annotated[float | None, Field(
         description="Parcels a day; null when no truck pays.")]},
    proposed=(bool, ...),
    offered=(bool, Field(description="No line recorded for the lane yet: it may be accepted.")))

PooledLineOut = model_of(
    lines_mod.PooledLine, "PooledLineOut",
    "A line through a consolidation point fed by several origins (拼线).",
    offered=(bool, Field(description="No line recorded for it yet: it may be accepted.")))


class LinesOut(BaseModel):
    as_of: dt.date | None
    by: OriginBy
    lanes: list[LaneOut]
    pools: list[PooledLineOut]
    peaks: list[PeakOut]


class AcceptIn(BaseModel):
    """A proposal to record as a draft line: a lane (``origin_id``) or a pooled line
    (``point_kind`` + ``point_id``), to ``dest_code``; ``by`` is the plan's origin level."""

    kind: Literal["lane", "pooled"] = "lane"
    by: OriginBy = "market"
    dest_code: str = Field(min_length=6, max_length=12)
    origin_id: int | None = Field(None, ge=1, le=MAX_ID)
    point_kind: PointKind | None = None
    point_id: int | None = Field(None, ge=1, le=MAX_ID)


class AcceptedOut(BaseModel):
    id: int
    code: str
    status: str
    version: int = Field(description="The line's version, for its next lifecycle step.")
    created: bool = Field(description="False when the proposal had already been recorded.")
    origin_market_id: int | None
    origin_facility_id: int | None
    dest_adcode: str
    truck_type: str | None
    trips_per_day: float | None
    proposal: dict


class SiteOut(BaseModel):
    """A candidate site: an outlet, an existing centre or a site the user added."""

    name: str
    code: str | None
    kind: str
    lon: float
    lat: float
    existing: bool
    closable: bool = False


class CentreOut(BaseModel):
    """A chosen centre and the merchants it serves (集包中心)."""

    site: str
    code: str | None
    kind: str
    existing: bool
    added: bool
    lon: float
    lat: float
    merchants: int
    parcels_per_day: float
    max_minutes: float
    within_radius: float = Field(description="Parcels a day of its merchants within the radius.")


class CoverageOut(BaseModel):
    radius_min: float
    radius_km: float
    merchants: int
    parcels_per_day: float
    covered_parcels_per_day: float
    covered_share: float | None
    unreachable: int


class MerchantPointOut(BaseModel):
    """A merchant on the map of the what-if: where it is, its parcels, whether it is covered."""

    lon: float
    lat: float
    parcels: float = Field(description="Average parcels a day.")
    covered: bool = Field(description="Within the radius of its centre.")


class ProvinceOut(BaseModel):
    adcode: str
    name: str


class HubsOut(BaseModel):
    """One what-if of the consolidation centres, with the solve's objective, bound and gap."""

    model: HubModel
    p: int | None
    objective: float | None
    bound: float | None
    gap: float | None
    status: str | None
    seconds: float | None
    centres: list[CentreOut]
    coverage: CoverageOut | None
    sites: list[SiteOut]
    errors: list[str]
    province: str | None = Field(None, description="The province the what-if is narrowed to.")
    provinces: list[ProvinceOut] = Field(
        default_factory=list, description="Provinces of the merchants in scope (分省测算).")
    points: list[MerchantPointOut] = Field(default_factory=list,
                                           description="The merchants of the what-if.")


# -- flows 流量流向 --------------------------------------------------------------------------------
# What flows and the lanes' economics read besides the lake: the origins (markets, outlets),
# the consolidation centres, and the org tree that the scope is a subtree of. The recorded
# lines are applied on every request (lines_mod.with_recorded_lines): accepting one keeps the
# rest.
ORIGIN_READS = Reads(tables=("markets", "facilities", "org_units"))


def _flows(request: Request, ctx: RequestContext, by: str, to: str, period: str,
           product: str | None, start: dt.date | None = None,
           end: dt.date | None = None) -> dict:
    """Flows of :func:`~jiqun.network.flows.flow_window` (the trailing year unless the days
    are given) and the peak windows: page and API, the same rows as ``jiqun flows``; computed
    once per version of the lake and the origins (the caller gets its own list of rows)."""
    params = rules_of(request, PlanningParams)
    found = computed(request, ctx, "flows",
                     lambda: _compute_flows(ctx, params, by, to, period, product, start, end),
                     by, to, period, product, start, end, params.model_dump_json(),
                     reads=ORIGIN_READS)
    return {**found, "rows": list(found["rows"])}


def _compute_flows(ctx: RequestContext, params: PlanningParams, by: str, to: str, period: str,
                   product: str | None, start: dt.date | None, end: dt.date | None) -> dict:
    window = flows_mod.data_window(ctx.con, ctx.lake, ctx.scope)
    days = flows_mod.flow_window(ctx.con, ctx.lake, ctx.scope, start, end)
    rows: list[dict] = []
    if days:
        start, end = days
        rows = flows_mod.flow_records(ctx.db, ctx.con, ctx.lake, ctx.scope, by=by, to=to,
                                      period=period, product=product or None, start=start,
                                      end=end)
    elif window is None:
        start = end = None
    peaks = flows_mod.scope_peak_windows(ctx.con, ctx.lake, ctx.scope, params)
    return {"rows": rows, "start": start, "end": end, "window": window,
            "peaks": [w.as_row() for w in peaks]}


def flow_columns(t, period: str) -> tuple[Column, ...]:
    """The lanes table of /flows as a file (the period column when flows are by period)."""
    return ((Column("period", "Period", "date"),) if period != "all" else ()) + (
        Column("origin", "Origin"), Column("dest", "Destination"),
        Column("product", "Product", value=lambda r: t(r["product"]) if r["product"] else ""),
        Column("parcels", "Parcels", "int"), Column("daily_parcels", "Per day", "dec"),
        Column("revenue", "Revenue", "money"), Column("weight_kg", "Weight (kg)", "dec"),
        Column("line_share", "On a line", "pct"))


def peak_columns(t) -> tuple[Column, ...]:
    return (Column("name", "Window", value=lambda w: t(w["name"])),
            Column("start", "From", "date"), Column("end", "To", "date"),
            Column("peak_parcels", "Peak day parcels", "int"),
            Column("peak_ratio", "× median", "dec"))


FlowPaging = paging(per_page=25)
PeakPaging = paging(per_page=10, param="peaks_page", size_param="peaks_per_page")


@router.get("/flows", include_in_schema=False)
def flows_page(request: Request, ctx: Context, paging: FlowPaging, peak_paging: PeakPaging,
               download: Download,
               by: OriginBy = "market", to: DestLevel = "city",
               product: ProductName | Literal[""] = "", period: Period = "all",
               sort: FlowSort = "parcels",
               order: Literal["asc", "desc"] = "desc"):
    """The lanes (25 a page: a phone reads one screen at a time) and the peak windows (10),
    paged, and every table as CSV or XLSX (``?format=csv&table=lanes|peaks``, every row with the page's filters)."""
    found = _flows(request, ctx, by, to, period, product)
    rows = found["rows"]
    rows.sort(key=lambda r: r[sort], reverse=order == "desc")
    if download:
        table = download.table or "lanes"
        if table == "peaks":
            return download_response(found["peaks"], peak_columns(ctx.t), "flows-peaks",
                                     download, ctx.locale)
        if table != "lanes":
            raise not_found(ctx)
        return download_response(rows, flow_columns(ctx.t, period), "flows", download,
                                 ctx.locale)
    origins = flows_mod.origins(ctx.db, by)
    geo = []
    for r in rows[:60]:
        o, d = origins.get(r["origin_id"]), division(r["dest_code"])
        if o and o.lon is not None and d:
            geo.append({"from": [o.lon, o.lat], "to": [d.lon, d.lat], "name": f"{r['origin']} → "
                        f"{r['dest']}", "value": r["daily_parcels"]})
    return render(request, "flows.html", {
        "paged": paginate(rows, paging), "total": len(rows), "map": {"lines": geo},
        "peaks": paginate(found["peaks"], peak_paging), "window": found["window"],
        "start": found["start"], "end": found["end"],
        "filters": {"by": by, "to": to, "product": product, "period": period, "sort": sort,
                    "order": order}})


@router.get("/api/flows", response_model=FlowsOut, tags=["planning"])
def api_flows(request: Request, ctx: Context, by: OriginBy = "market", to: DestLevel = "city",
              period: Period = "all", product: ProductName | None = None,
              start: DateQuery = None, end: DateQuery = None,
              sort: FlowSort = "parcels", order: Literal["asc", "desc"] = "desc",
              limit: Annotated[int, Query(ge=1, le=10_000)] = 500) -> FlowsOut:
    """Parcels by origin (market or outlet) × destination (province or city), by period and
    product, over the trailing year unless ``start``/``end`` say otherwise; and the peak
    windows. Same figures as ``/flows`` and ``jiqun flows``."""
    found = _flows(request, ctx, by, to, period, product, start, end)
    rows = found["rows"]
    rows.sort(key=lambda r: r[sort], reverse=order == "desc")
    return FlowsOut(start=found["start"], end=found["end"], by=by, to=to, period=period,
                    product=product or None, total=len(rows),
                    flows=[FlowOut(**r) for r in rows[:limit]],
                    peaks=[PeakOut(**w) for w in found["peaks"]])


# -- dedicated lines 专线 -------------------------------------------------------------------------


def _line_plan(request: Request, ctx: RequestContext, by: str = "market"):
    """The lines plan of ``jiqun plan lines``: its economics computed once per version of the
    lake, the origins and the centres (per scope, origin level, parameters and language)."""
    params = rules_of(request, PlanningParams)
    economics = computed(
        request, ctx, "line_economics",
        lambda: lines_mod.lane_economics(ctx.db, ctx.con, ctx.lake, ctx.scope, params, by=by,
                                         t=ctx.t, locale=ctx.locale),
        by, params.model_dump_json(), ctx.locale, reads=ORIGIN_READS)
    return lines_mod.with_recorded_lines(ctx.db, economics, by)


def _lane_out(p: lines_mod.LaneProposal) -> LaneOut:
    return LaneOut(**p.as_json(), proposed=p.proposed, offered=p.offered)


def _pool_out(p: lines_mod.PooledLine) -> PooledLineOut:
    row = p.as_row()
    row.update(members=list(p.members), member_ids=list(p.member_ids))
    return PooledLineOut(**row, offered=p.offered)


def lane_columns(t) -> tuple[Column, ...]:
    """The lanes table of /lines as a file: the decision, or the line that serves the lane."""
    return (
        Column("origin", "Origin"), Column("dest", "Destination"),
        Column("decision", "Decision", value=lambda p: t(p.decision)),
        Column("line_code", "Line"),
        Column("existing_line", "Status", value=lambda p: t(
            line_steps.STATUS_LABELS[p.existing_line]) if p.existing_line else ""),
        Column("mean_daily", "Per day", "dec"), Column("break_even", "Break-even per day", "dec"),
        Column("days_above", "Days above", "int"), Column("days", "Days", "int"),
        Column("saving_per_year", "Saving a year", "money"),
        Column("hours_saved", "Hours saved", "dec"), Column("truck", "Truck"),
        Column("road_km", "Road km", "dec"))


def pool_columns(t) -> tuple[Column, ...]:
    return (
        Column("point", "Consolidation point"), Column("dest", "Destination"),
        Column("members", "Origins", value=lambda p: " + ".join(p.members)),
        Column("line_code", "Line"),
        Column("existing_line", "Status", value=lambda p: t(
            line_steps.STATUS_LABELS[p.existing_line]) if p.existing_line else ""),
        Column("parcels_per_day", "Per day", "dec"),
        Column("trucks_per_day", "Trucks a day", "int"),
        Column("saving_per_year", "Saving a year", "money"), Column("gap", "Gap", "pct"))


LANES_PER_PAGE = 25
LanePaging = paging(per_page=LANES_PER_PAGE)


@router.get("/lines", include_in_schema=False)
def lines_page(request: Request, ctx: Context, paging: LanePaging, download: Download,
               show: Literal["proposed", "all"] = "proposed", by: OriginBy = "market"):
    """The lanes, paged, each with its decision or the line that serves it; the pooled
    lines; both downloadable (``?format=csv&table=lanes|pools``)."""
    plan = _line_plan(request, ctx, by)
    lanes = plan.lanes if show == "all" else plan.proposals
    if download:
        table = download.table or "lanes"
        if table not in ("lanes", "pools"):
            raise not_found(ctx)
        rows, columns = (lanes, lane_columns(ctx.t)) if table == "lanes" \
            else (plan.pools, pool_columns(ctx.t))
        return download_response(rows, columns, f"lines-{by}-{table}", download, ctx.locale)
    geo = [{"from": [p.origin_lon, p.origin_lat], "to": [p.dest_lon, p.dest_lat],
            "name": f"{p.origin} → {p.dest}", "value": round(p.mean_daily, 1),
            "decision": p.decision} for p in plan.proposals]
    return render(request, "lines.html", {
        "plan": plan, "paged": paginate(lanes, paging), "show": show, "by": by,
        "map": {"lines": geo}, "status_labels": line_steps.STATUS_LABELS,
        "accepted": request.query_params.get("accepted")})


@router.get("/api/lines", response_model=LinesOut, tags=["planning"])
def api_lines(request: Request, ctx: Context, by: OriginBy = "market",
              show: Literal["proposed", "all"] = "proposed") -> LinesOut:
    """Dedicated-line proposals with their economics (break-even, days above it, saving a
    year, hours saved, the reasons) and the pooled lines (拼线) with the solve's bound and gap.
    A lane or pooled line already recorded as a line carries that line (``existing_line``,
    ``line_code``) and is not ``offered`` again. Same figures as ``/lines`` and
    ``jiqun plan lines``."""
    plan = _line_plan(request, ctx, by)
    lanes = plan.lanes if show == "all" else plan.proposals
    return LinesOut(as_of=plan.as_of, by=by, lanes=[_lane_out(p) for p in lanes],
                    pools=[_pool_out(p) for p in plan.pools],
                    peaks=[PeakOut(**w.as_row()) for w in plan.peaks])


def _accept(request: Request, ctx: RequestContext,
            body: AcceptIn) -> tuple[lines_mod.AcceptedLine, lines_mod.LinePlan]:
    """Find the proposal in the caller's own plan and record it; 404 when it is not there
    (another subtree's lanes are never planned for this user), 409 when an approved or
    running line serves it already."""
    plan = _line_plan(request, ctx, body.by)
    try:
        if body.kind == "lane":
            lane = lines_mod.find_lane(plan, body.by, body.origin_id, body.dest_code) \
                if body.origin_id is not None else None
            if lane is None:
                raise lines_mod.ProposalNotFound(body.dest_code)
            accepted = lines_mod.accept_lane(ctx.db, lane)
        else:
            pool = lines_mod.find_pool(plan, body.point_kind or "", body.point_id,
                                       body.dest_code) if body.point_id is not None else None
            if pool is None:
                raise lines_mod.ProposalNotFound(body.dest_code)
            accepted = lines_mod.accept_pool(ctx.db, pool)
    except lines_mod.ProposalNotFound:
        ctx.db.rollback()
        raise not_found(ctx, "Proposal not found") from None
    ctx.db.commit()
    return accepted, plan


@router.post("/lines/accept", include_in_schema=False, dependencies=[allow(Action.LINE_ACCEPT)])
def accept_line(request: Request, ctx: Context,
                dest_code: Annotated[str, Form(min_length=6, max_length=12)],
                kind: Annotated[Literal["lane", "pooled"], Form()] = "lane",
                by: Annotated[OriginBy, Form()] = "market",
                origin_id: Annotated[int | None, Form(ge=1, le=MAX_ID)] = None,
                point_kind: Annotated[PointKind | None, Form()] = None,
                point_id: Annotated[int | None, Form(ge=1, le=MAX_ID)] = None):
    """Record the planner's proposal as a draft line, with its numbers."""
    body = AcceptIn(kind=kind, by=by, dest_code=dest_code, origin_id=origin_id,
                    point_kind=point_kind, point_id=point_id)
    accepted, plan = _accept(request, ctx, body)
    # Back to the page of the lanes that holds the accepted one: its row shows the new draft
    # (accepting changes no lane's place in the plan's order).
    at = next((i for i, p in enumerate(plan.proposals) if p.origin_id == origin_id
               and p.dest_code == dest_code), 0) if kind == "lane" else 0
    page = at // LANES_PER_PAGE + 1
    return RedirectResponse(f"/lines?by={by}&page={page}&accepted={accepted.line.code}",
                            status_code=303)


def _accepted_out(accepted: lines_mod.AcceptedLine) -> AcceptedOut:
    line = accepted.line
    return AcceptedOut(id=line.id, code=line.code, status=line.status.value,
                       version=line.version, created=accepted.created,
                       origin_market_id=line.origin_market_id,
                       origin_facility_id=line.origin_facility_id, dest_adcode=line.dest_adcode,
                       truck_type=line.truck_type, trips_per_day=line.trips_per_day,
                       proposal=line.proposal or {})


@router.post("/api/lines/accept", response_model=AcceptedOut, status_code=201,
             tags=["planning"], dependencies=[allow(Action.LINE_ACCEPT)],
             responses={200: {"description": "Already recorded as a draft"},
                        403: {"description": "The user's role may not accept lines"},
                        404: {"description": "No such proposal in scope"},
                        409: {"description": "An approved or running line serves it already"}})
def api_accept_line(request: Request, response: Response, ctx: Context,
                    body: AcceptIn) -> AcceptedOut:
    """Record a proposal as a draft dedicated line (audited). Idempotent: accepting it again
    refreshes the draft's numbers and answers 200 instead of 201; a proposal whose line is
    approved or running already is a 409."""
    accepted, _plan = _accept(request, ctx, body)
    if not accepted.created:
        response.status_code = 200
    return _accepted_out(accepted)


# -- the lines' lifecycle 专线生命周期 ------------------------------------------------------------
LineStatusName = Literal["draft", "approved", "active", "peak_only", "closed"]
OpenMode = Literal["active", "peak_only"]

LineRowOut = model_of(
    line_steps.LineRow, "LineRowOut",
    "A recorded dedicated line and its place in the lifecycle (draft → approved → running → "
    "closed); ``steps`` are the ones the caller may take now.",
    {"status": LineStatusName,
     "steps": Annotated[list[Literal["approve", "open", "close"]], Field(
         description="Steps the caller may take now, each with its own POST.")]})


class LineRegistryOut(BaseModel):
    status: LineStatusName | None
    total: int
    lines: list[LineRowOut]


class StepIn(BaseModel):
    """One step of a line: the ``version`` of the line the user saw (a stale one is a 409)."""

    version: int = Field(ge=1, le=MAX_ID)
    mode: OpenMode | None = Field(None, description="Opening: all year (active) or the peaks "
                                                    "only; as proposed by default.")
    on: PlausibleDate | None = Field(None, description="Opening or closing day; today by "
                                                       "default.")


STEP_ERRORS = {403: {"description": "The user's role or level may not take this step"},
               404: {"description": "No such line in the user's area"},
               409: {"description": "The line changed since it was seen, or took the step"}}

REGISTRY_COLUMNS = (
    Column("code", "Line"), Column("origin", "Origin"), Column("dest", "Destination"),
    Column("status", "Status"), Column("truck", "Truck"),
    Column("trips_per_day", "Trips a day", "dec"),
    Column("saving_per_year", "Saving a year", "money"),
    Column("proposed_by", "Accepted by"), Column("approved_by", "Approved by"),
    Column("opened_on", "Opened", "date"), Column("closed_on", "Closed", "date"))


def _registry(ctx: RequestContext, status: str | None) -> list[line_steps.LineRow]:
    return line_steps.line_registry(ctx.db, LineStatus(status) if status else None)


@router.get("/lines/registry", include_in_schema=False)
def line_registry_page(request: Request, ctx: Context, paging: Paging, download: Download,
                       status: LineStatusName | Literal[""] = ""):
    rows = _registry(ctx, status or None)
    if download:
        labels = {k: ctx.t(v) for k, v in line_steps.STATUS_LABELS.items()}
        columns = tuple(Column(c.key, c.header, c.kind, value=lambda r: labels[r.status])
                        if c.key == "status" else c for c in REGISTRY_COLUMNS)
        return download_response(rows, columns, "lines-registry", download, ctx.locale)
    return render(request, "line_registry.html", {
        "paged": paginate(rows, paging), "status": status,
        "status_labels": line_steps.STATUS_LABELS, "steps": line_steps.STEPS,
        "done": request.query_params.get("done")})


@router.get("/api/lines/registry", response_model=LineRegistryOut, tags=["planning"])
def api_line_registry(ctx: Context, status: LineStatusName | None = None) -> LineRegistryOut:
    """Every recorded dedicated line in the caller's area with its lifecycle status, who
    accepted and approved it, when it opened or closed, and the steps the caller may take.
    Same rows as ``/lines/registry`` and ``jiqun plan lines registry``."""
    rows = _registry(ctx, status)
    return LineRegistryOut(status=status, total=len(rows),
                           lines=[LineRowOut(**dataclasses.asdict(r)) for r in rows])


def _line_row(ctx: RequestContext, line) -> LineRowOut:
    row = next(r for r in line_steps.line_registry(ctx.db) if r.id == line.id)
    return LineRowOut(**dataclasses.asdict(row))


def _step_page(ctx: RequestContext, line_id: int, step: str, version: int,
               mode: str | None) -> RedirectResponse:
    line = line_steps.take_step(ctx.db, line_id, step, version=version, mode=mode or None)
    ctx.db.commit()
    return RedirectResponse(f"/lines/registry?done={line.code}", status_code=303)


VersionForm = Annotated[int, Form(ge=1, le=MAX_ID)]
ModeForm = Annotated[OpenMode | Literal[""], Form()]


@router.post("/lines/{line_id}/approve", include_in_schema=False,
             dependencies=[allow(Action.LINE_APPROVE)])
def approve_line_form(ctx: Context, line_id: IdPath, version: VersionForm):
    return _step_page(ctx, line_id, "approve", version, None)


@router.post("/lines/{line_id}/open", include_in_schema=False,
             dependencies=[allow(Action.LINE_OPEN)])
def open_line_form(ctx: Context, line_id: IdPath, version: VersionForm, mode: ModeForm = ""):
    return _step_page(ctx, line_id, "open", version, mode)


@router.post("/lines/{line_id}/close", include_in_schema=False,
             dependencies=[allow(Action.LINE_CLOSE)])
def close_line_form(ctx: Context, line_id: IdPath, version: VersionForm):
    return _step_page(ctx, line_id, "close", version, None)


def _step_api(ctx: RequestContext, line_id: int, step: str, body: StepIn) -> LineRowOut:
    line = line_steps.take_step(ctx.db, line_id, step, version=body.version, mode=body.mode,
                                on=body.on)
    ctx.db.commit()
    return _line_row(ctx, line)


@router.post("/api/lines/{line_id}/approve", response_model=LineRowOut, tags=["planning"],
             dependencies=[allow(Action.LINE_APPROVE)], responses=STEP_ERRORS)
def api_approve_line(ctx: Context, line_id: IdPath, body: StepIn) -> LineRowOut:
    """Approve a draft line (审批专线): someone whose unit is above the level of the one who
    accepted it; ``version`` is the line's version as the caller saw it."""
    return _step_api(ctx, line_id, "approve", body)


@router.post("/api/lines/{line_id}/open", response_model=LineRowOut, tags=["planning"],
             dependencies=[allow(Action.LINE_OPEN)], responses=STEP_ERRORS)
def api_open_line(ctx: Context, line_id: IdPath, body: StepIn) -> LineRowOut:
    """Put an approved line into service from ``on``: all year or in the peaks only."""
    return _step_api(ctx, line_id, "open", body)


@router.post("/api/lines/{line_id}/close", response_model=LineRowOut, tags=["planning"],
             dependencies=[allow(Action.LINE_CLOSE)], responses=STEP_ERRORS)
def api_close_line(ctx: Context, line_id: IdPath, body: StepIn) -> LineRowOut:
    """Close a running line from ``on``, or withdraw a draft or approved line."""
    return _step_api(ctx, line_id, "close", body)


# -- consolidation centres 集包中心 ---------------------------------------------------------------
def _number(text: str | None, kind=float, low: float = 0, high: float = math.inf):
    """A form's number, or None when empty or out of range (the model's default applies)."""
    try:
        value = kind(str(text).strip().replace(",", ".")) if text not in (None, "") else None
    except ValueError:
        return None
    return value if value is not None and low <= value <= high else None


def _added_sites(ctx: RequestContext, site: list[str], name: str = "", lon: str = "",
                 lat: str = "", place: str = "") -> tuple[list[hubs_mod.Site], list[str]]:
    """The sites a user added (kept ones, a picked place, a typed one), one per name."""
    texts = list(site)
    if place:
        texts.append(place)
    errors: list[str] = []
    if name.strip() or lon.strip() or lat.strip():
        texts.append(f"{name},{lon},{lat}")
    added: dict[str, hubs_mod.Site] = {}
    for text in texts:
        try:
            s = hubs_mod.parse_site(text)
        except hubs_mod.SiteError as exc:
            errors.append(ctx.t(str(exc)))
            continue
        added[s.name] = s
    if len(added) > MAX_ADDED_SITES:
        errors.append(ctx.t("At most {n} added sites", n=MAX_ADDED_SITES))
    return list(added.values())[:MAX_ADDED_SITES], errors


def _hub_province(ctx: RequestContext, province: str | None) -> tuple[str | None, list]:
    """The province a what-if is narrowed to (None: every province of the scope) and the
    provinces to choose from; one outside them is Invalid."""
    provinces = hubs_mod.scope_provinces(ctx.db)
    if province and province not in dict(provinces):
        raise Invalid({"province": "No merchants of this province in scope"})
    return province or None, provinces


def _hub_whatif(request: Request, ctx: RequestContext, model: str, p: int | None,
                radius: float | None, capacity: float | None, added: list[hubs_mod.Site],
                closable: list[str], province: str | None = None) -> dict:
    """Solve one what-if (the page and the API): centres, coverage, bound and gap, over the
    whole scope or one ``province`` of it; once per what-if and version of the lake, the
    merchants and the sites (the same what-if gives the same centres on every reload)."""
    params = rules_of(request, PlanningParams)
    what_if = (model, p, radius, capacity, tuple(hubs_mod.site_text(s) for s in added),
               tuple(sorted(set(closable))), province, params.model_dump_json())
    return computed(request, ctx, "hub_whatif",
                    lambda: _solve_whatif(ctx, params, model, p, radius, capacity, added,
                                          closable, province),
                    *what_if, reads=HUB_READS)


# A what-if reads the merchants' places and the sites besides the lake's volumes.
HUB_READS = Reads(tables=("customers", "facilities", "org_units"))


def _solve_whatif(ctx: RequestContext, params: PlanningParams, model: str, p: int | None,
                  radius: float | None, capacity: float | None, added: list[hubs_mod.Site],
                  closable: list[str], province: str | None) -> dict:
    merchants = hubs_mod.merchant_demand(ctx.db, ctx.con, ctx.lake, ctx.scope, province=province)
    sites = hubs_mod.candidate_sites(ctx.db, added, province=province)
    may_close = {key for key in closable if any(s.existing and s.key == key for s in sites)}
    plan = None
    if merchants.ids.size and sites:  # more centres than sites: Invalid (422, or said on the page)
        plan = hubs_mod.plan_hubs(merchants, sites, params, model, p=p, radius=radius,
                                  capacity=capacity, closable=may_close)
    radius_min = radius or params.cover_radius_minutes
    return {"plan": plan, "sites": sites, "closable": may_close, "added": added,
            "radius_min": radius_min,
            "radius_km": radius_min / 60 * params.pickup_speed_kmh / params.pickup_detour_factor}


@router.get("/hubs", include_in_schema=False)
def hubs_page(request: Request, ctx: Context, model: str = "cover", p: str = "",
              radius: str = "", capacity: str = "",
              site: Annotated[list[str], Query()] = (),
              closable: Annotated[list[str], Query()] = (),
              site_name: str = "", site_lon: str = "", site_lat: str = "", place: str = "",
              province: str = ""):
    model = model if model in hubs_mod.MODELS else "cover"
    p_n = _number(p, int, 1, 100)
    radius_n = _number(radius, float, 1, 600)
    capacity_n = _number(capacity, float, 1, MAX_CAPACITY)
    added, errors = _added_sites(ctx, list(site), site_name, site_lon, site_lat, place)
    try:
        province_n, provinces = _hub_province(ctx, province.strip())
    except Invalid as exc:  # a province outside the scope: said on the page, all provinces
        errors += list(exc.translated(ctx.t).values())
        province_n, provinces = _hub_province(ctx, None)
    try:
        found = _hub_whatif(request, ctx, model, p_n, radius_n, capacity_n, added,
                            list(closable), province_n)
    except Invalid as exc:  # e.g. more centres than sites: the form says so, with the default
        errors += list(exc.translated(ctx.t).values())
        p_n = None
        found = _hub_whatif(request, ctx, model, None, radius_n, capacity_n, added,
                            list(closable), province_n)
    plan = found["plan"]
    existing = [s for s in found["sites"] if s.existing]
    context = {
        "plan": plan, "models": hubs_mod.MODELS, "model_names": MODEL_NAMES,
        "sites": found["sites"], "existing": existing, "closable": found["closable"],
        "added": [(s, hubs_mod.site_text(s)) for s in added], "errors": errors,
        "places": [(s, hubs_mod.site_text(s)) for s in hubs_mod.place_choices(ctx.db)],
        "form": {"model": model, "p": p_n or "", "radius": radius_n or found["radius_min"],
                 "capacity": capacity_n or "", "province": province_n or ""},
        "provinces": provinces,
        "map": {"points": plan.points if plan else [], "centres": plan.centres if plan else [],
                "added": [{"name": s.name, "lon": s.lon, "lat": s.lat} for s in added],
                "radius_km": found["radius_km"]}}
    template = "_hubs_result.html" if request.headers.get("HX-Request") == "true" \
        else "hubs.html"
    return render(request, template, context)


@router.get("/api/hubs", response_model=HubsOut, tags=["planning"],
            responses={422: {"description": "A bad parameter, or more centres than sites"}})
def api_hubs(request: Request, ctx: Context, model: HubModel = "cover",
             p: Annotated[int | None, Query(ge=1, le=100)] = None,
             radius: Annotated[float | None, Query(gt=0, le=600, description="Minutes.")] = None,
             capacity: Annotated[float | None, Query(gt=0, le=MAX_CAPACITY)] = None,
             site: Annotated[list[str], Query(description="Added site: NAME,LON,LAT",
                                              max_length=100)] = (),
             closable: Annotated[list[str], Query(
                 description="Code of an existing centre that may close",
                 max_length=1000)] = (),
             province: Annotated[str | None, Query(
                 pattern=r"^\d{2}0000$",
                 description="Adcode of one province of the scope (default: all)")] = None,
             ) -> HubsOut:
    """Where consolidation centres should be (N3) for one what-if: the model (cover, mclp,
    pmedian, cflp), centres p, radius in minutes, capacity, added sites, the existing
    centres that may close (the others stay open) and the province (a scope of several, as
    HQ's, solves them all unless one is named). Same figures as ``/hubs`` and
    ``jiqun plan hubs``."""
    added, errors = _added_sites(ctx, list(site))
    province, provinces = _hub_province(ctx, province)
    found = _hub_whatif(request, ctx, model, p, radius, capacity, added, list(closable),
                        province)
    plan = found["plan"]
    sites = [SiteOut(name=s.name, code=s.code, kind=s.kind, lon=s.lon, lat=s.lat,
                     existing=s.existing, closable=s.key in found["closable"])
             for s in found["sites"]]
    where = {"province": province,
             "provinces": [ProvinceOut(adcode=code, name=name) for code, name in provinces]}
    if plan is None:
        return HubsOut(model=model, p=None, objective=None, bound=None, gap=None, status=None,
                       seconds=None, centres=[], coverage=None, sites=sites, errors=errors,
                       **where)
    coverage = CoverageOut(
        radius_min=plan.radius, radius_km=round(found["radius_km"], 3), merchants=plan.merchants,
        parcels_per_day=round(plan.parcels, 2),
        covered_parcels_per_day=round(plan.covered_parcels, 2),
        covered_share=round(plan.covered_parcels / plan.parcels, 4) if plan.parcels else None,
        unreachable=plan.unreachable)
    return HubsOut(model=model, p=plan.p, objective=_finite(plan.objective),
                   bound=_finite(plan.bound), gap=_finite(plan.gap), status=plan.status,
                   seconds=round(plan.seconds, 3), centres=[CentreOut(**c) for c in plan.centres],
                   coverage=coverage, sites=sites, errors=errors,
                   points=[MerchantPointOut(**pt) for pt in plan.points], **where)
