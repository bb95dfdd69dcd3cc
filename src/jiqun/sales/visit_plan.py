"""Daily visit plan (每日走访计划): whom a marketer sees today, in what order, and the route.

Two steps:

1. **Score** (:func:`score_candidates`): the expected value of visiting each candidate — the
   merchants the marketer owns, those of the grids (责任田) they manage or work in, and the pool
   prospects (公海) of their grids and outlet. For a prospect: potential daily volume × the
   conversion probability of :mod:`jiqun.sales.conversion`. For a customer already shipping:
   its trailing daily volume × a care rate that grows with the days since the last visit (a
   visit keeps volume, it does not win it), much higher when the customer is at risk (预警).
   A churned customer is a win-back: potential volume × ``winback_rate``. A follow-up due today
   or overdue (``Visit.next_visit_on``) multiplies the score by ``1 + follow_up_boost``.
2. **Route** (:func:`plan_day`, pure): from the outlet and back, within merchant hours and the
   working-day limit, with a service time per visit and scooter travel times (road km at a town
   speed). A prize-collecting vehicle routing problem solved with OR-Tools: every stop may be
   dropped at a penalty equal to its score, so the solver picks the subset and order that
   maximise collected score − travel time. A greedy insertion heuristic answers when OR-Tools
   is absent or finds nothing.

The loader (:func:`load_plan`) does the I/O: it reads the candidates through a session scoped to
the marketer's own org unit, the trailing volumes from the lake's ``daily`` aggregate and trains
the model. A plan is a fact of the marketer: :func:`plan_of` computes it in the marketer's scope
whoever asks (the marketer, or a manager above who may see the marketer), so the same merchants
are scored by the same model and every viewer gets the same plan.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import ClassVar

import ibis
import numpy as np
from cachetools import LRUCache
from pydantic import Field
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from jiqun.config import FileRules
from jiqun.errors import NotAllowed, NotFound
from jiqun.geo import road_km
from jiqun.lake import daily
from jiqun.permissions import MANAGERS, actor_of
from jiqun.sales import conversion
from jiqun.sales.visits import MarketerOption, latest_visits, marketers_in_scope
from jiqun.store.models import (
    Customer,
    Facility,
    FacilityKind,
    Grid,
    LifecycleStage,
    OrgUnit,
    Role,
    TeamMember,
    User,
    Visit,
)
from jiqun.store.scope import Scope

SHIPPING = (LifecycleStage.COOPERATING, LifecycleStage.GROWING, LifecycleStage.VIP)
POINTS = 1000  # the best candidate's score in solver points (OR-Tools works in integers)


class PlanRules(FileRules):
    """Rules of the daily plan: the ``[sales.plan]`` table of the KPI rules file."""

    toml_table: ClassVar[tuple[str, ...]] = ("sales", "plan")
    day_start: str = Field("08:30", description="Leave the outlet at (HH:MM).")
    day_limit_min: int = Field(480, description="Working-day limit: back within this many minutes.")
    opens: str = Field("09:00", description="Merchants receive visits from (HH:MM) …")
    closes: str = Field("18:00", description="… until (HH:MM).")
    service_min: int = Field(15, description="Minutes spent at each merchant.")
    speed_kmh: float = Field(20.0, description="Scooter speed in town (电动车), km/h.")
    stop_overhead_min: int = Field(2, description="Parking and walking in, per leg.")
    points_per_minute: float = Field(
        1.0, description="Travel cost: solver points per minute (the best merchant is 1000).")
    max_candidates: int = Field(40, description="Only the best-scored candidates are routed.")
    solver_seconds: float = Field(2.0, description="OR-Tools search time.")
    horizon_days: int = Field(30, description="Conversion within this many days (the label).")
    care_rate: float = Field(0.05, description="Share of a customer's volume a routine visit keeps…")
    care_interval_days: int = Field(30, description="… reached this many days after the last visit.")
    risk_rate: float = Field(0.5, description="Share of an at-risk customer's volume at stake.")
    winback_rate: float = Field(0.05, description="Chance of winning back a churned customer.")
    follow_up_boost: float = Field(1.0, description="Due follow-up: score × (1 + this).")


def minutes(hhmm: str) -> int:
    """'08:30' → 510 (minutes after midnight)."""
    hours, mins = hhmm.split(":")
    return int(hours) * 60 + int(mins)


def clock(value: int) -> str:
    return f"{value // 60:02d}:{value % 60:02d}"


# -- data -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Candidate:
    """A merchant the marketer could visit today, with its score (expected value, 件/日)."""

    customer_id: int
    code: str
    name: str
    lon: float
    lat: float
    score: float
    stage: str = "archived"
    volume: float = 0.0
    probability: float = 0.0
    reason: str = "prospect"  # prospect / follow_up / at_risk / care / winback
    due_on: dt.date | None = None
    opens: int = 9 * 60  # minutes after midnight
    closes: int = 18 * 60
    service_min: int = 15


@dataclass(frozen=True)
class Depot:
    name: str
    lon: float
    lat: float


@dataclass(frozen=True)
class Stop:
    seq: int
    customer_id: int
    code: str
    name: str
    lon: float
    lat: float
    arrive: str
    leave: str
    score: float
    km_from_previous: float
    reason: str
    stage: str
    probability: float
    volume: float


@dataclass
class DayPlan:
    """The ordered stops of one day, with what the route collects and costs."""

    depot: Depot
    stops: list[Stop] = field(default_factory=list)
    score: float = 0.0
    km: float = 0.0
    leave_at: str = ""
    back_at: str = ""
    candidates: int = 0
    solver: str = "none"
    objective: int = 0  # collected points − travel points (what the solver maximises)

    def as_dict(self) -> dict:
        return asdict(self)


# -- the route --------------------------------------------------------------------------------
def travel_minutes(points: Sequence[tuple[float, float]], rules: PlanRules) -> np.ndarray:
    """Whole minutes between every pair of (lon, lat): road km at scooter speed + parking."""
    n = len(points)
    matrix = np.zeros((n, n), dtype=int)
    for i, j in itertools.permutations(range(n), 2):
        km = float(road_km(points[i][0], points[i][1], points[j][0], points[j][1]))
        matrix[i, j] = math.ceil(km / rules.speed_kmh * 60) + rules.stop_overhead_min
    return matrix


def prize_points(candidates: Sequence[Candidate]) -> list[int]:
    """Scores in integer solver points, the best candidate = :data:`POINTS`."""
    best = max((c.score for c in candidates), default=0.0)
    if best <= 0:
        return [0 for _ in candidates]
    return [int(round(c.score / best * POINTS)) for c in candidates]


def schedule(order: Sequence[int], candidates: Sequence[Candidate], matrix: np.ndarray,
             rules: PlanRules) -> list[int] | None:
    """Arrival minute at each stop of ``order`` (indices into candidates; node = index + 1),
    waiting for a merchant to open; None when a window or the day limit is broken."""
    start = minutes(rules.day_start)
    now, node, arrivals = start, 0, []
    for i in order:
        c = candidates[i]
        now = max(now + int(matrix[node, i + 1]), c.opens)
        if now + c.service_min > c.closes:
            return None
        arrivals.append(now)
        now += c.service_min
        node = i + 1
    if now + int(matrix[node, 0]) > start + rules.day_limit_min:
        return None
    return arrivals


def route_objective(order: Sequence[int], prizes: Sequence[int], matrix: np.ndarray,
                    rules: PlanRules) -> int:
    """Collected points − travel points of a route (depot → order → depot)."""
    nodes = [0, *(i + 1 for i in order), 0]
    travel = sum(int(matrix[a, b]) for a, b in itertools.pairwise(nodes))
    return sum(prizes[i] for i in order) - int(round(travel * rules.points_per_minute))


def _solve_ortools(candidates, prizes, matrix, rules) -> list[int] | None:
    try:
        from ortools.constraint_solver import pywrapcp, routing_enums_pb2
    except ImportError:  # optional at run time: the greedy plan answers
        return None
    n = len(candidates) + 1
    manager = pywrapcp.RoutingIndexManager(n, 1, 0)
    routing = pywrapcp.RoutingModel(manager)
    weight = rules.points_per_minute

    def cost(i, j):
        return int(round(matrix[manager.IndexToNode(i), manager.IndexToNode(j)] * weight))

    def transit(i, j):
        a, b = manager.IndexToNode(i), manager.IndexToNode(j)
        service = candidates[a - 1].service_min if a else 0
        return int(matrix[a, b]) + service

    routing.SetArcCostEvaluatorOfAllVehicles(routing.RegisterTransitCallback(cost))
    time_cb = routing.RegisterTransitCallback(transit)
    start = minutes(rules.day_start)
    routing.AddDimension(time_cb, 24 * 60, 24 * 60, False, "time")  # waiting allowed
    time = routing.GetDimensionOrDie("time")
    time.SetSpanUpperBoundForVehicle(rules.day_limit_min, 0)  # the working-day limit
    time.CumulVar(routing.Start(0)).SetRange(start, start)
    for k, c in enumerate(candidates):
        index = manager.NodeToIndex(k + 1)
        time.CumulVar(index).SetRange(c.opens, c.closes - c.service_min)
        routing.AddDisjunction([index], prizes[k])  # drop penalty = score
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
    params.local_search_metaheuristic = (
        routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH)
    params.time_limit.FromMilliseconds(int(rules.solver_seconds * 1000))
    solution = routing.SolveWithParameters(params)
    if solution is None:
        return None
    order, index = [], solution.Value(routing.NextVar(routing.Start(0)))
    while not routing.IsEnd(index):
        order.append(manager.IndexToNode(index) - 1)
        index = solution.Value(routing.NextVar(index))
    return order


EXACT_MAX_STOPS = 8  # up to here every feasible route is searched (≈ 110k orders at most)


def _solve_exact(candidates, prizes, matrix, rules) -> list[int]:
    """Depth-first search over every feasible order, pruned by the points still collectable.

    OR-Tools' search is time-limited, so on a busy machine a small plan could come out worse
    than the best one; small pools get the proven best route instead."""
    start, limit = minutes(rules.day_start), minutes(rules.day_start) + rules.day_limit_min
    weight = rules.points_per_minute
    best: list = [0, []]  # staying at the outlet scores 0

    def extend(order, node, now, travel, collected, left):
        value = collected - int(round((travel + int(matrix[node, 0])) * weight))
        if value > best[0] and now + int(matrix[node, 0]) <= limit:
            best[0], best[1] = value, list(order)
        if collected + sum(prizes[k] for k in left) - int(round(travel * weight)) <= best[0]:
            return
        for k in sorted(left):
            c = candidates[k]
            arrive = max(now + int(matrix[node, k + 1]), c.opens)
            done = arrive + c.service_min
            if done > c.closes or done > limit:
                continue
            order.append(k)
            extend(order, k + 1, done, travel + int(matrix[node, k + 1]),
                   collected + prizes[k], left - {k})
            order.pop()

    extend([], 0, start, 0, 0, frozenset(range(len(candidates))))
    return best[1]


def _solve_greedy(candidates, prizes, matrix, rules) -> list[int]:
    """Cheapest insertion: add the stop (and position) that gains the most points net of the
    extra travel, while the route stays feasible and something is gained."""
    order: list[int] = []
    left = set(range(len(candidates)))
    while left:
        best = None
        base = route_objective(order, prizes, matrix, rules)
        for k in sorted(left):
            for pos in range(len(order) + 1):
                trial = order[:pos] + [k] + order[pos:]
                if schedule(trial, candidates, matrix, rules) is None:
                    continue
                gain = route_objective(trial, prizes, matrix, rules) - base
                if gain > 0 and (best is None or gain > best[0]):
                    best = (gain, trial, k)
        if best is None:
            break
        order = best[1]
        left.discard(best[2])
    return order


def plan_day(candidates: Sequence[Candidate], depot: Depot, rules: PlanRules | None = None,
             *, solver: str = "ortools") -> DayPlan:
    """The day's route (pure): ordered stops with arrival times, score collected, km.

    ``solver``: ``ortools`` — the proven best route for up to :data:`EXACT_MAX_STOPS` stops,
    else the better of OR-Tools and cheapest insertion — or ``greedy``."""
    rules = rules or PlanRules()
    pool = sorted(candidates, key=lambda c: (-c.score, c.customer_id))[: rules.max_candidates]
    pool = [c for c in pool if c.score > 0]
    plan = DayPlan(depot=depot, candidates=len(candidates), leave_at=rules.day_start,
                   back_at=rules.day_start)
    if not pool:
        return plan
    matrix = travel_minutes([(depot.lon, depot.lat), *((c.lon, c.lat) for c in pool)], rules)
    prizes = prize_points(pool)
    if solver == "ortools" and len(pool) <= EXACT_MAX_STOPS:
        plan.solver = "exact"
        return _described(plan, _solve_exact(pool, prizes, matrix, rules), pool, prizes, matrix,
                          rules)
    routes = {"greedy": _solve_greedy(pool, prizes, matrix, rules)}
    if solver == "ortools":
        order = _solve_ortools(pool, prizes, matrix, rules)
        if order is not None and schedule(order, pool, matrix, rules) is not None:
            routes["ortools"] = order
    # A time-limited search on a busy machine can end worse than cheapest insertion: keep the
    # better route (ties go to OR-Tools).
    plan.solver = max(routes, key=lambda name: (
        route_objective(routes[name], prizes, matrix, rules), name == "ortools"))
    return _described(plan, routes[plan.solver], pool, prizes, matrix, rules)


def _described(plan: DayPlan, order, pool, prizes, matrix, rules) -> DayPlan:
    arrivals = schedule(order, pool, matrix, rules) or []
    previous = (plan.depot.lon, plan.depot.lat)
    km = 0.0
    for seq, (i, arrive) in enumerate(zip(order, arrivals, strict=True), start=1):
        c = pool[i]
        leg = float(road_km(previous[0], previous[1], c.lon, c.lat))
        km += leg
        plan.stops.append(Stop(
            seq, c.customer_id, c.code, c.name, c.lon, c.lat, clock(arrive),
            clock(arrive + c.service_min), round(c.score, 4), round(leg, 2), c.reason, c.stage,
            round(c.probability, 4), round(c.volume, 4)))
        previous = (c.lon, c.lat)
    if order:
        last = order[-1]
        km += float(road_km(previous[0], previous[1], plan.depot.lon, plan.depot.lat))
        plan.back_at = clock(arrivals[-1] + pool[last].service_min + int(matrix[last + 1, 0]))
    plan.km = round(km, 2)
    plan.score = round(sum(pool[i].score for i in order), 4)
    plan.objective = route_objective(order, prizes, matrix, rules)
    return plan


# -- scoring ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class MerchantNow:
    """What the loader knows of one candidate on the plan day."""

    customer: conversion.MerchantFacts
    code: str
    name: str
    lon: float
    lat: float
    stage: LifecycleStage
    at_risk: bool
    trailing_volume: float  # parcels/day over the last 28 days (cooperating customers)
    last_visit: dt.date | None
    due_on: dt.date | None  # the latest visit's next date, when due by the plan day


def score_candidates(merchants: Sequence[MerchantNow], model: conversion.ConversionModel,
                     history: conversion.History, day: dt.date,
                     rules: PlanRules) -> list[Candidate]:
    """Expected value of a visit to each merchant today (see the module docstring)."""
    prospects = [m for m in merchants if conversion.is_prospect(m.customer, day)
                 and m.stage not in (*SHIPPING, LifecycleStage.CHURNED)]
    X = np.array([conversion.features(history, m.customer, day) for m in prospects])
    chance = dict(zip((m.customer.id for m in prospects),
                      model.probability(X) if prospects else [], strict=True))
    out = []
    for m in merchants:
        if m.customer.id in chance:
            volume, p, reason = m.customer.volume, float(chance[m.customer.id]), "prospect"
        elif m.stage in SHIPPING:
            volume = m.trailing_volume or m.customer.volume
            if m.at_risk:
                p, reason = rules.risk_rate, "at_risk"
            else:
                since = (day - m.last_visit).days if m.last_visit else rules.care_interval_days
                p, reason = rules.care_rate * min(1.0, since / rules.care_interval_days), "care"
        elif m.stage == LifecycleStage.CHURNED:
            volume, p, reason = m.customer.volume, rules.winback_rate, "winback"
        else:
            continue  # converted on paper but not yet shipping (e.g. signed today): no model
        score = volume * p
        if m.due_on is not None:
            score, reason = score * (1 + rules.follow_up_boost), "follow_up"
        out.append(Candidate(
            customer_id=m.customer.id, code=m.code, name=m.name, lon=m.lon, lat=m.lat,
            score=score, stage=m.stage.value, volume=volume, probability=p, reason=reason,
            due_on=m.due_on, opens=minutes(rules.opens), closes=minutes(rules.closes),
            service_min=rules.service_min))
    return out


# -- the loader -------------------------------------------------------------------------------
class MarketerNotFound(NotFound):
    """No such user in the caller's scope."""


def marketer_grids(session: Session, user_id: int) -> list[int]:
    """The grids a marketer manages or whose team they belong to (责任田)."""
    teams = select(TeamMember.team_id).where(TeamMember.user_id == user_id)
    query = select(Grid.id).where(Grid.status == "active",
                                  or_(Grid.manager_id == user_id, Grid.team_id.in_(teams)))
    return list(session.scalars(query))


def outlet_depot(session: Session, user: User, fallback: Sequence[tuple[float, float]]) -> Depot:
    """The outlet facility of the user's unit (or of the nearest unit above), else the centre
    of the candidates."""
    unit = session.get(OrgUnit, user.org_unit_id)
    units = [int(i) for i in (unit.path if unit else "").strip("/").split("/") if i]
    for unit_id in reversed(units or [user.org_unit_id]):
        found = session.scalars(
            select(Facility).where(Facility.org_unit_id == unit_id,
                                   Facility.kind == FacilityKind.OUTLET,
                                   Facility.lon.is_not(None)).order_by(Facility.id)).first()
        if found is not None:
            return Depot(found.name, found.lon, found.lat)
    lon = float(np.mean([p[0] for p in fallback])) if fallback else 0.0
    lat = float(np.mean([p[1] for p in fallback])) if fallback else 0.0
    return Depot(unit.name if unit else "", lon, lat)


def trailing_volumes(con, lake: Path, scope: Scope | None, ids: Sequence[int], day: dt.date,
                     days: int = 28) -> dict[int, float]:
    """Parcels per day of each customer over the ``days`` days up to ``day`` (lake ``daily``;
    a fresh deployment without data has an empty one: the estimates answer)."""
    if not ids:
        return {}
    table = daily(con, lake, scope)
    first = day - dt.timedelta(days=days - 1)
    expr = (table.filter(table.day >= ibis.date(first), table.day <= ibis.date(day),
                         table.customer_id.isin(list(ids)))
            .group_by("customer_id").aggregate(parcels=table.parcels.sum()))
    rows = expr.to_pyarrow().to_pylist()
    return {int(r["customer_id"]): float(r["parcels"]) / days for r in rows}


def _candidate_query(user_id: int, grids: list[int], org_unit_id: int):
    pool_here = (Customer.owner_id.is_(None)
                 & (Customer.grid_id.in_(grids) | (Customer.org_unit_id == org_unit_id)))
    return select(Customer).where(
        or_(Customer.owner_id == user_id, Customer.grid_id.in_(grids), pool_here),
        Customer.lon.is_not(None), Customer.lat.is_not(None)).order_by(Customer.id)


def _due_follow_ups(session: Session, ids: set[int], day: dt.date) -> dict[int, tuple]:
    """Customer → (latest visit day, its next date when due by ``day``)."""
    last = latest_visits()
    query = (select(Visit.customer_id, Visit.visited_at, Visit.next_visit_on)
             .join(last, (Visit.customer_id == last.c.customer_id)
                   & (Visit.visited_at == last.c.last)))
    out = {}
    for cid, at, next_on in session.execute(query):
        if cid in ids:
            out[cid] = (at.date(), next_on if next_on is not None and next_on <= day else None)
    return out


@dataclass
class LoadedPlan:
    user_id: int
    username: str
    display_name: str
    day: dt.date
    plan: DayPlan
    model: conversion.ConversionModel


MODELS_KEPT = 16  # trained models kept in process (one per scope × plan day, a few KB each)
_models: LRUCache[tuple, conversion.ConversionModel] = LRUCache(maxsize=MODELS_KEPT)
_models_lock = threading.Lock()


def _history_fingerprint(history: conversion.History) -> tuple[int, int, int]:
    """Merchants, visits and conversions: new data in the scope trains a new model."""
    return (len(history.merchants), sum(len(v) for v in history.visits.values()),
            sum(1 for m in history.merchants.values() if m.converted_on is not None))


def trained_model(history: conversion.History, scope: Scope | None, day: dt.date,
                  horizon: int) -> conversion.ConversionModel:
    """The conversion model of the scope for the plan day, trained once and then reused (the
    fit takes seconds; every marketer of a scope opening the day's plan gets the same model)."""
    key = (scope.root_id if scope else None, day, horizon, _history_fingerprint(history))
    with _models_lock:
        found = _models.get(key)
    if found is not None:
        return found
    model = conversion.train(history, day, horizon=horizon)  # seconds: not under the lock
    with _models_lock:
        return _models.setdefault(key, model)  # a parallel fit of the same key: keep one


def clear_trained_models() -> None:
    with _models_lock:
        _models.clear()


def marketer_scope(session: Session, user_id: int) -> Scope:
    """The scope a marketer's plan lives in: their own org unit's subtree. The marketer must be
    visible to ``session`` (a viewer's scoped session), else :class:`MarketerNotFound`."""
    user = session.get(User, user_id)  # scoped: someone outside the viewer's subtree is None
    if user is None:
        raise MarketerNotFound(user_id)
    return Scope.for_unit(session, user.org_unit_id)


# -- whose plan a viewer sees ------------------------------------------------------------------
class OthersPlanRefused(NotAllowed):
    """A marketer (or any field role) asked for someone else's plan: only managers pick."""

    def __init__(self):
        super().__init__("Only a manager may open another marketer's plan")


@dataclass(frozen=True)
class PlanChoice:
    """Whose plan to show: ``marketer_id`` (``None`` when a manager's subtree has no marketer)
    and the marketers a manager may pick (empty for a field role, who sees only their own)."""

    marketer_id: int | None
    marketers: list[MarketerOption]
    picks: bool  # the viewer is a manager, who picks (else: their own plan)


def picks_marketers(role: Role | str) -> bool:
    """Managers (every role above the field, :data:`jiqun.permissions.MANAGERS`) pick a marketer
    of their subtree; the field roles see only their own plan."""
    return Role(role) in MANAGERS


def has_merchants(session: Session, marketer_id: int) -> bool:
    """Whether the marketer has a merchant to plan for (owned, in their grids or their
    outlet's pool), as the session sees them."""
    user = session.get(User, marketer_id)
    if user is None:
        return False
    query = _candidate_query(user.id, marketer_grids(session, user.id), user.org_unit_id)
    return session.scalar(select(query.limit(1).exists())) or False


def choose_marketer(session: Session, viewer_id: int, role: Role | str,
                    requested: int | None) -> PlanChoice:
    """Whose plan ``viewer_id`` sees (the page, ``/api/visit-plan`` and the CLI ask this).

    A field role sees their own plan; asking for a colleague's is :class:`OthersPlanRefused`
    (403), for someone outside the subtree :class:`MarketerNotFound` (404, nothing revealed).
    A manager sees the requested marketer of their subtree (someone outside it, or who is no
    marketer, is :class:`MarketerNotFound`: 404, as if they did not exist), by default the first
    marketer (by user name) with merchants to visit, else the first marketer."""
    if not picks_marketers(role):
        if requested is not None and requested != viewer_id:
            if session.get(User, requested) is None:  # outside the subtree: as if absent
                raise MarketerNotFound(requested)
            raise OthersPlanRefused()
        return PlanChoice(viewer_id, [], picks=False)
    marketers = marketers_in_scope(session)
    ids = [m.id for m in marketers]
    if requested is not None:
        if requested not in ids:
            raise MarketerNotFound(requested)
        return PlanChoice(requested, marketers, picks=True)
    chosen = next((i for i in ids if has_merchants(session, i)), ids[0] if ids else None)
    return PlanChoice(chosen, marketers, picks=True)


def marketer_id(session: Session, username: str) -> int:
    """The id of the user ``username`` seen through ``session`` (a viewer's scoped session):
    :class:`MarketerNotFound` when unknown or outside the viewer's subtree."""
    found = session.scalar(select(User.id).where(User.username == username))
    if found is None:
        raise MarketerNotFound(username)
    return found


def last_visit_id(session: Session) -> int | None:
    """The newest visit in the session's scope: a plan changes when a visit is logged."""
    return session.scalar(select(func.max(Visit.id)))


def plan_of(store, viewer: Session, con, lake: Path, user_id: int, day: dt.date,
            rules: PlanRules | None = None) -> LoadedPlan:
    """The plan of marketer ``user_id`` as ``viewer`` may see it: computed in the marketer's
    scope (a session narrowed to it for the viewer's actor), so the marketer and the city
    manager above get the same plan; :class:`MarketerNotFound` outside the viewer's scope."""
    scope = marketer_scope(viewer, user_id)
    with store.session(scope=scope, actor=actor_of(viewer),
                       source=viewer.info.get("source", "cli")) as session:
        return load_plan(session, con, lake, scope, user_id, day, rules)


def load_plan(session: Session, con, lake: Path, scope: Scope | None, user_id: int,
              day: dt.date, rules: PlanRules | None = None) -> LoadedPlan:
    """Candidates of ``user_id`` through ``session`` (scoped to the marketer's unit, see
    :func:`plan_of`), scored, then routed."""
    rules = rules or PlanRules.configured()
    user = session.get(User, user_id)
    if user is None:
        raise MarketerNotFound(user_id)
    grids = marketer_grids(session, user.id)
    customers = list(session.scalars(_candidate_query(user.id, grids, user.org_unit_id)))
    history = conversion.load_history(session)
    model = trained_model(history, scope, day, rules.horizon_days)
    last = _due_follow_ups(session, {c.id for c in customers}, day)
    shipping = [c.id for c in customers if c.lifecycle_stage in SHIPPING]
    trailing = trailing_volumes(con, lake, scope, shipping, day - dt.timedelta(days=1))
    merchants = [
        MerchantNow(history.merchants[c.id], c.code, c.name, c.lon, c.lat, c.lifecycle_stage,
                    c.at_risk_since is not None and c.at_risk_since <= day,
                    trailing.get(c.id, 0.0), *last.get(c.id, (None, None)))
        for c in customers if c.id in history.merchants
    ]
    candidates = score_candidates(merchants, model, history, day, rules)
    depot = outlet_depot(session, user, [(c.lon, c.lat) for c in candidates])
    plan = plan_day(candidates, depot, rules)
    return LoadedPlan(user.id, user.username, user.display_name, day, plan, model)


# -- what the page, the API and the command line show -----------------------------------------
def plan_rows(loaded: LoadedPlan) -> list[dict]:
    return [asdict(s) for s in loaded.plan.stops]


def plan_json(loaded: LoadedPlan) -> dict:
    plan = loaded.plan
    return {
        "user": loaded.username, "date": loaded.day.isoformat(), "depot": asdict(plan.depot),
        "leave_at": plan.leave_at, "back_at": plan.back_at, "score": plan.score, "km": plan.km,
        "candidates": plan.candidates, "solver": plan.solver, "objective": plan.objective,
        "model": {"rows": loaded.model.rows, "positives": loaded.model.positives,
                  "horizon_days": loaded.model.horizon},
        "stops": plan_rows(loaded),
    }

