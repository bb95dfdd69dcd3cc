"""The daily visit plan page (每日走访计划): a marketer's ordered stops and their route on a map.

``/visit-plan`` shows a marketer their own plan; a manager picks a marketer of their subtree
(``?marketer=<id>``, in the URL so the choice can be shared; by default the first marketer with
merchants) — :func:`jiqun.sales.visit_plan.choose_marketer` decides, for the page, the API and the
CLI alike. A marketer outside the viewer's subtree is 404; a marketer asking for a colleague's plan
is 403. The plan itself is computed in the marketer's own scope
(:func:`jiqun.sales.visit_plan.plan_of`): the marketer and their city manager see the same stops,
scored by the same model.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass, field
from typing import Annotated, Any

from cachetools import LRUCache
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from jiqun.bounds import MAX_ID
from jiqun.sales.visit_plan import (
    LoadedPlan,
    PlanChoice,
    PlanRules,
    choose_marketer,
    last_visit_id,
    marketer_scope,
    plan_json,
    plan_of,
)
from jiqun.web.computed import Reads, version
from jiqun.web.deps import Context, RequestContext, not_found, rules_of
from jiqun.web.params import DateQuery
from jiqun.web.templating import render

router = APIRouter()

REASONS = {  # why a stop is on the list (msgids)
    "prospect": "Prospect",
    "follow_up": "Follow-up due",
    "at_risk": "At risk",
    "care": "Care visit",
    "winback": "Win back",
}


MarketerQuery = Annotated[int | None, Query(
    ge=1, le=MAX_ID, description="Id of a marketer of the caller's subtree (managers); "
    "default: the first marketer with merchants, or the caller's own plan for a marketer.")]


def _choice(ctx: RequestContext, marketer: int | None) -> PlanChoice:
    return choose_marketer(ctx.db, ctx.user.id, ctx.user.role, marketer)  # 404 / 403 from it


PLANS_KEPT = 256


@dataclass
class KeptPlans:
    """The day plans of one app, shared by its request threads (hence the lock)."""

    cache: LRUCache = field(default_factory=lambda: LRUCache(maxsize=PLANS_KEPT))
    lock: threading.Lock = field(default_factory=threading.Lock)


def _plan(request: Request, ctx: RequestContext, marketer: int,
          day: dt.date | None) -> LoadedPlan:
    """The marketer's plan for the day. A day's plan stays the same on every reload (the route
    search is time-limited, so recomputing could reorder it) until a visit is logged in the
    marketer's scope, new waybills reach the lake (the volumes it scores) or the plan's rules
    change; whoever opens it (the marketer, a manager above) gets that same plan."""
    day = day or dt.date.today()
    scope = marketer_scope(ctx.db, marketer)  # 404 outside the viewer's scope
    store = request.app.state.store
    settings = request.app.state.settings
    with store.session(scope=scope, actor=ctx.user.actor, source="web") as session:
        key = (marketer, day, last_visit_id(session),
               version(store.engine, ctx.lake, Reads(), [settings.rules_file]))
    plans: KeptPlans = request.app.state.__dict__.setdefault("visit_plans", KeptPlans())
    with plans.lock:
        found = plans.cache.get(key)
    if found is not None:
        return found
    loaded = plan_of(store, ctx.db, ctx.con, ctx.lake, marketer, day, rules_of(request, PlanRules))
    with plans.lock:  # two first loads at once: both show the plan stored first
        return plans.cache.setdefault(key, loaded)


def route_map(loaded: LoadedPlan, t) -> dict[str, Any]:
    """What static/visit_plan.js draws: the outlet, the stops and the legs on lon/lat."""
    plan = loaded.plan
    path = [[plan.depot.lon, plan.depot.lat], *([s.lon, s.lat] for s in plan.stops),
            [plan.depot.lon, plan.depot.lat]]
    return {
        "depot": {"name": plan.depot.name, "value": [plan.depot.lon, plan.depot.lat]},
        "stops": [{"name": f"{s.seq}. {s.name}", "value": [s.lon, s.lat, s.seq],
                   "reason": s.reason} for s in plan.stops],
        "path": path if plan.stops else [],
        "names": {"outlet": t("Outlet"), "stops": t("Stops"), "route": t("Route")},
    }


@router.get("/visit-plan", include_in_schema=False)
def visit_plan_page(request: Request, ctx: Context, marketer: MarketerQuery = None,
                    date: DateQuery = None):
    choice = _choice(ctx, marketer)
    loaded = _plan(request, ctx, choice.marketer_id, date) if choice.marketer_id else None
    return render(request, "visit_plan.html", {
        "choice": choice, "loaded": loaded, "plan": loaded.plan if loaded else None,
        "day": loaded.day if loaded else (date or dt.date.today()), "reasons": REASONS,
        "map": route_map(loaded, ctx.t) if loaded else None,
    })


class DepotOut(BaseModel):
    name: str
    lon: float
    lat: float


class StopOut(BaseModel):
    seq: int
    customer_id: int
    code: str
    name: str
    lon: float
    lat: float
    arrive: str = Field(description="HH:MM")
    leave: str = Field(description="HH:MM")
    score: float = Field(description="Expected parcels a day the visit is worth.")
    km_from_previous: float
    reason: str = Field(description="|".join(REASONS))
    stage: str
    probability: float
    volume: float


class PlanModelOut(BaseModel):
    rows: int
    positives: int
    horizon_days: int


class VisitPlanOut(BaseModel):
    """A marketer's day plan (the same object as ``jiqun sales plan --format json``)."""

    user: str = Field(description="The marketer's user name.")
    date: dt.date
    depot: DepotOut
    leave_at: str
    back_at: str
    score: float
    km: float
    candidates: int
    solver: str
    objective: int
    model: PlanModelOut
    stops: list[StopOut]


@router.get("/api/visit-plan", tags=["sales"], response_model=VisitPlanOut,
            responses={403: {"description": "A marketer asked for another marketer's plan"},
                       404: {"description": "No such marketer in the caller's scope, or none "
                                            "at all"}})
def api_visit_plan(request: Request, ctx: Context, marketer: MarketerQuery = None,
                   date: DateQuery = None) -> dict:
    """The plan as JSON (the same object as ``jiqun sales plan --format json``), of the same
    marketer the page shows for the same ``marketer`` parameter."""
    choice = _choice(ctx, marketer)
    if choice.marketer_id is None:
        raise not_found(ctx, "No marketer in your area")
    return plan_json(_plan(request, ctx, choice.marketer_id, date))
