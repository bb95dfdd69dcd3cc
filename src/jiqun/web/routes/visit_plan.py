"""The daily visit plan page (每日走访计划): a marketer's ordered stops and their route on a map.

``/visit-plan`` shows the signed-in user's plan; a manager picks a marketer of their scope
(``?user_id=``). A marketer outside the viewer's scope is 404. The plan itself is computed in the
marketer's own scope (:func:`jiqun.sales.visit_plan.plan_of`): the marketer and their city manager see
the same stops, scored by the same model.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass, field
from typing import Any

from cachetools import LRUCache
from fastapi import APIRouter, Request
from sqlalchemy import select

from jiqun.sales.visit_plan import (
    LoadedPlan,
    PlanRules,
    last_visit_id,
    marketer_scope,
    plan_json,
    plan_of,
)
from jiqun.store.models import Role, User
from jiqun.web.deps import Context, RequestContext, rules_of
from jiqun.web.params import DateQuery, IdQuery
from jiqun.web.templating import render

router = APIRouter()

REASONS = {  # why a stop is on the list (msgids)
    "prospect": "Prospect",
    "follow_up": "Follow-up due",
    "at_risk": "At risk",
    "care": "Care visit",
    "winback": "Win back",
}


def _marketers(ctx: RequestContext) -> list[User]:
    """The marketers a manager may pick (in scope), by name."""
    query = select(User).where(User.role == Role.MARKETER, User.active.is_(True))
    return list(ctx.db.scalars(query.order_by(User.username)))


PLANS_KEPT = 256


@dataclass
class KeptPlans:
    """The day plans of one app, shared by its request threads (hence the lock)."""

    cache: LRUCache = field(default_factory=lambda: LRUCache(maxsize=PLANS_KEPT))
    lock: threading.Lock = field(default_factory=threading.Lock)


def _plan(request: Request, ctx: RequestContext, user_id: int | None,
          day: dt.date | None) -> LoadedPlan:
    """The marketer's plan for the day. A day's plan stays the same on every reload (the route
    search is time-limited, so recomputing could reorder it) until a visit is logged in the
    marketer's scope; whoever opens it (the marketer, a manager above) gets that same plan."""
    marketer, day = user_id or ctx.user.id, day or dt.date.today()
    scope = marketer_scope(ctx.db, marketer)  # 404 outside the viewer's scope
    store = request.app.state.store
    with store.session(scope=scope, actor=ctx.user.actor, source="web") as session:
        key = (marketer, day, last_visit_id(session))
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
def visit_plan_page(request: Request, ctx: Context, user_id: IdQuery = None,
                    date: DateQuery = None):
    loaded = _plan(request, ctx, user_id, date)
    # Only the picker's display: what a viewer may open is decided by the scope (404 above).
    marketers = [] if ctx.user.role == Role.MARKETER.value else _marketers(ctx)
    return render(request, "visit_plan.html", {
        "loaded": loaded, "plan": loaded.plan, "marketers": marketers, "reasons": REASONS,
        "map": route_map(loaded, ctx.t),
    })


@router.get("/api/visit-plan", tags=["sales"],
            responses={404: {"description": "No such marketer in the caller's scope"}})
def api_visit_plan(request: Request, ctx: Context, user_id: IdQuery = None,
                   date: DateQuery = None) -> dict:
    """The plan as JSON (the same object as ``jiqun sales plan --format json``)."""
    return plan_json(_plan(request, ctx, user_id, date))
