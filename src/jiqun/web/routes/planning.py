"""Network planning pages: flows (/flows), dedicated lines (/lines), consolidation centres (/hubs).

Every figure comes from :mod:`jiqun.planning` through the request's scoped context; accepting a
line proposal records a draft :class:`~jiqun.store.models.DedicatedLine` (audited by the store).
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import select

from jiqun.geo import division
from jiqun.planning import flows as flows_mod
from jiqun.planning.hubs import MODELS, candidate_sites, merchant_demand, plan_hubs
from jiqun.planning.lines import plan_lines
from jiqun.planning.params import PlanningParams
from jiqun.store.models import DedicatedLine, LineStatus, Market
from jiqun.web.deps import Context, RequestContext, not_found
from jiqun.web.templating import render

router = APIRouter()

MODEL_NAMES = {"cover": "Set covering", "mclp": "Maximal covering", "pmedian": "p-median",
               "cflp": "Capacitated with fixed costs"}

FlowSort = Literal["parcels", "daily_parcels", "revenue", "weight_kg", "origin", "dest"]


def _params(request: Request) -> PlanningParams:
    """The app's planning parameters file, or the defaults when it does not exist."""
    path = request.app.state.settings.planning_file
    return PlanningParams.from_file(path) if path.is_file() else PlanningParams()


@router.get("/flows", include_in_schema=False)
def flows_page(request: Request, ctx: Context, by: Literal["market", "outlet"] = "market",
               to: Literal["province", "city"] = "city", product: str = "",
               sort: FlowSort = "parcels", order: Literal["asc", "desc"] = "desc"):
    window = flows_mod.data_window(ctx.con, ctx.lake, ctx.scope)
    rows, start = [], None
    if window:
        start = max(window[0], window[1] - dt.timedelta(days=364))
        rows = flows_mod.flow_records(ctx.db, ctx.con, ctx.lake, ctx.scope, by=by, to=to,
                                      product=product or None, start=start, end=window[1])
    rows.sort(key=lambda r: r[sort], reverse=order == "desc")
    found = flows_mod.origins(ctx.db, by)
    geo = []
    for r in rows[:60]:
        o, d = found.get(r["origin_id"]), division(r["dest_code"])
        if o and o.lon is not None and d:
            geo.append({"from": [o.lon, o.lat], "to": [d.lon, d.lat], "name": f"{r['origin']} → "
                        f"{r['dest']}", "value": r["daily_parcels"]})
    peaks = flows_mod.scope_peak_windows(ctx.con, ctx.lake, ctx.scope, _params(request))
    return render(request, "flows.html", {
        "rows": rows[:200], "total": len(rows), "map": {"lines": geo},
        "peaks": [w.as_row() for w in peaks], "window": window, "start": start,
        "filters": {"by": by, "to": to, "product": product, "sort": sort, "order": order}})


def _line_plan(request: Request, ctx: RequestContext):
    return plan_lines(ctx.db, ctx.con, ctx.lake, ctx.scope, _params(request), t=ctx.t)


@router.get("/lines", include_in_schema=False)
def lines_page(request: Request, ctx: Context, show: Literal["proposed", "all"] = "proposed"):
    plan = _line_plan(request, ctx)
    lanes = plan.lanes if show == "all" else plan.proposals
    geo = [{"from": [p.origin_lon, p.origin_lat], "to": [p.dest_lon, p.dest_lat],
            "name": f"{p.origin} → {p.dest}", "value": round(p.mean_daily, 1),
            "decision": p.decision} for p in plan.proposals]
    return render(request, "lines.html", {
        "plan": plan, "lanes": lanes[:150], "show": show, "map": {"lines": geo},
        "accepted": request.query_params.get("accepted")})


@router.post("/lines/accept", include_in_schema=False)
def accept_line(request: Request, ctx: Context, origin_id: int = Form(...),
                dest_code: str = Form(...)):
    """Record the planner's proposal for a lane as a draft line, with its numbers."""
    plan = _line_plan(request, ctx)
    found = [p for p in plan.proposals if p.origin_id == origin_id and p.dest_code == dest_code]
    market = ctx.db.get(Market, origin_id)  # scoped: another subtree's market is not found
    if not found or market is None:
        raise not_found(ctx, "Proposal not found")
    p = found[0]
    code = f"P-{market.code}-{dest_code}"
    line = ctx.db.scalar(select(DedicatedLine).where(DedicatedLine.code == code))
    if line is None:
        line = DedicatedLine(code=code, origin_market_id=market.id, dest_adcode=dest_code,
                             org_unit_id=market.org_unit_id, status=LineStatus.DRAFT)
        ctx.db.add(line)
    line.truck_type = p.truck
    line.trips_per_day = max(1.0, round(p.mean_daily / p.capacity, 2))
    line.proposal = p.proposal_json()
    ctx.db.commit()
    return RedirectResponse(f"/lines?accepted={code}", status_code=303)


@router.get("/hubs", include_in_schema=False)
def hubs_page(request: Request, ctx: Context, model: str = "cover", p: int | None = None,
              radius: float | None = None, capacity: float | None = None):
    params = _params(request)
    model = model if model in MODELS else "cover"
    merchants = merchant_demand(ctx.db, ctx.con, ctx.lake, ctx.scope)
    sites = candidate_sites(ctx.db)
    plan = None
    if merchants.ids.size and sites:
        plan = plan_hubs(merchants, sites, params, model, p=p, radius=radius,
                         capacity=capacity)
    context = {"plan": plan, "models": MODELS, "model_names": MODEL_NAMES, "sites": sites,
               "form": {"model": model, "p": p or "", "radius": radius or
                        params.cover_radius_minutes, "capacity": capacity or ""},
               "map": {"points": plan.points if plan else [],
                       "centres": plan.centres if plan else [],
                       "radius_km": (radius or params.cover_radius_minutes) / 60
                       * params.pickup_speed_kmh / params.pickup_detour_factor}}
    template = "_hubs_result.html" if request.headers.get("HX-Request") == "true" \
        else "hubs.html"
    return render(request, template, context)
