"""Dedicated lines 专线 (N2, N4): which lanes pay for a point-to-point truck, when, and by how much.

For each lane — an origin (market or outlet) × a destination city, express (特快) and parcel
(快包) mixed on one line — the planner compares the hub route (every parcel pays sorting and a
share of the trunk trucks, by zone) with a dedicated truck (a cost per trip, parcels pay only
bagging and destination sorting):

* break-even daily volume (够量直运标准) = trip cost / saving per parcel, when one truck holds it;
* each day of the trailing year: the best number of trucks and its saving; days above break-even;
* the decision with the biggest yearly saving: open all year, open in the peak windows only,
  or not yet;
* hours saved: the hub route's dwell and detour against the direct drive.

Neighbouring origins that cannot fill a truck alone may share one through a consolidation point
(拼线): a fixed-charge network design MIP per destination (:func:`pool_lines`), solved exactly by
:func:`jiqun.network.location.solve_fixed_charge_flow`.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from jiqun import formats
from jiqun.errors import Conflict
from jiqun.geo import division, haversine_km, zone_of
from jiqun.i18n import DEFAULT_LOCALE
from jiqun.lake import lanes
from jiqun.network.flows import (
    ORIGIN_COLUMN,
    Origin,
    OriginKind,
    PeakWindow,
    origins,
    scope_peak_windows,
)
from jiqun.network.line_lifecycle import LineRef
from jiqun.network.location import FixedChargeFlowProblem, SolveOptions, solve_fixed_charge_flow
from jiqun.network.params import PlanningParams, TruckType
from jiqun.permissions import Action, require
from jiqun.store.models import DedicatedLine, Facility, FacilityKind, LineStatus, Market
from jiqun.store.scope import Scope

OPEN_ALL_YEAR = "open_all_year"  # 全年开通
PEAK_ONLY = "peak_only"  # 旺季开通
NOT_YET = "not_yet"  # 暂不开通


# --- the economics of one truck on one lane -------------------------------------------------

def trip_cost(truck: TruckType, road_km: float, params: PlanningParams) -> float:
    """Cost of one trip (单趟成本): fixed cost, the loaded leg, the part of the return leg that
    no return load pays for, and a second driver on long legs."""
    legs = 1.0 + (1.0 - params.backhaul_share)
    second = params.second_driver_cost_per_trip if road_km > params.second_driver_above_km else 0
    return truck.fixed_cost_per_trip + truck.cost_per_km * road_km * legs + second


def saving_per_parcel(zone: str, params: PlanningParams) -> float:
    """What a parcel saves on the line: its hub route cost less the line's own handling."""
    return params.zone_cost(zone) - params.direct_handling_per_parcel


def break_even_volume(cost_per_trip: float, unit_saving: float, capacity: float) -> float:
    """Daily parcels at which one truck pays for itself (盈亏平衡日均量); infinite when even a
    full truck does not."""
    if unit_saving <= 0 or capacity * unit_saving < cost_per_trip:
        return math.inf
    return cost_per_trip / unit_saving


def day_saving(volume: np.ndarray, capacity: float, unit_saving: float, cost_per_trip: float,
               at_least_one: bool = True) -> np.ndarray:
    """Saving of each day with the best number of trucks: every full truck, plus one for the
    remainder when it pays; parcels left over go by the hub route. A line that runs that day
    (``at_least_one``) sends one truck even when it loses money."""
    volume = np.asarray(volume, dtype=np.float64)
    full = np.floor(volume / capacity)
    rest = volume - full * capacity
    saving = full * (capacity * unit_saving - cost_per_trip) + np.maximum(
        0.0, rest * unit_saving - cost_per_trip)
    if at_least_one:
        saving = np.where(full >= 1, saving, volume * unit_saving - cost_per_trip)
    return saving


def transit_hours(road_km: float, params: PlanningParams) -> tuple[float, float]:
    """(via hub, direct) hours from pickup to the destination centre (时效)."""
    via_hub = params.hub_dwell_hours + road_km * params.hub_detour_factor / params.truck_speed_kmh
    direct = params.direct_dwell_hours + road_km / params.truck_speed_kmh
    return via_hub, direct


# --- lanes ----------------------------------------------------------------------------------

@dataclass
class LaneProposal:
    """A lane's economics and the planner's decision, in the numbers a manager checks."""

    origin_id: int
    origin: str
    origin_kind: str
    dest_code: str
    dest: str
    zone: str
    road_km: float
    truck: str
    capacity: float  # parcels per trip for this lane's goods
    trip_cost: float
    unit_saving: float
    break_even: float  # parcels a day
    mean_daily: float
    express_share: float  # 特快 in the mix (N4)
    days: int
    days_above: int
    peak_days: int
    peak_days_above: int
    saving_all_year: float
    saving_peak_only: float
    decision: str
    saving_per_year: float
    hours_via_hub: float
    hours_direct: float
    hours_saved: float
    existing_line: str | None = None  # status of the line already recorded for the lane
    line_id: int | None = None  # … and its id and code
    line_code: str | None = None
    origin_lon: float | None = None
    origin_lat: float | None = None
    dest_lon: float | None = None
    dest_lat: float | None = None
    reasons: list[str] = field(default_factory=list)

    @property
    def proposed(self) -> bool:
        return self.decision != NOT_YET

    @property
    def offered(self) -> bool:
        """Whether the page offers to accept it: proposed, and no line recorded for it yet (a
        draft, an approved or a running line is shown instead)."""
        return self.proposed and self.existing_line is None

    def record(self, ref: LineRef | None) -> None:
        self.existing_line = ref.status if ref else None
        self.line_id = ref.id if ref else None
        self.line_code = ref.code if ref else None

    def as_json(self) -> dict:
        """Every field, rounded for reading; an infinite break-even is None (JSON-safe)."""
        row = asdict(self)
        row["break_even"] = None if math.isinf(self.break_even) else round(self.break_even, 2)
        for key in ("road_km", "capacity", "trip_cost", "unit_saving", "mean_daily",
                    "saving_all_year", "saving_peak_only", "saving_per_year", "hours_via_hub",
                    "hours_direct", "hours_saved", "express_share"):
            row[key] = round(row[key], 3 if key in ("unit_saving", "express_share") else 2)
        return row

    def as_row(self) -> dict:
        """The columns of ``jiqun plan lines``: no reasons, no coordinates."""
        row = self.as_json()
        for key in ("reasons", "origin_lon", "origin_lat", "dest_lon", "dest_lat"):
            row.pop(key)
        return row

    def proposal_json(self) -> dict:
        """What accepting the proposal records on the :class:`DedicatedLine` (JSON-safe)."""
        row = self.as_row()
        row["reasons"] = list(self.reasons)
        return row


def lane_days(con, lake: Path, scope: Scope | None, by: OriginKind,
              end: dt.date, days: int) -> pd.DataFrame:
    """Parcels, weight and express parcels per day × origin × destination city."""
    t = lanes(con, lake, scope)
    start = end - dt.timedelta(days=days - 1)
    t = t.filter((t.day >= start) & (t.day <= end) & t[ORIGIN_COLUMN[by]].notnull()
                 & t.dest_city.notnull())
    g = t.group_by([t.day, t[ORIGIN_COLUMN[by]].name("origin_id"), t.dest_city]).aggregate(
        parcels=t.parcels.sum().cast("int64"), weight_kg=t.weight_kg.sum(),
        express=t.parcels.sum(where=t["product"] == "express").cast("int64"))
    df = g.to_pyarrow().to_pandas()
    df["express"] = df["express"].fillna(0)
    return df


def _best_truck(params: PlanningParams, mean_kg: float, density: float, km: float,
                zone: str):
    """Each truck's (capacity, trip cost, break-even) for the lane; the caller picks."""
    u = saving_per_parcel(zone, params)
    for truck in params.trucks:
        cap = truck.capacity_parcels(mean_kg, density, params.fill_rate, params.min_parcel_m3)
        cost = trip_cost(truck, km, params)
        yield truck, cap, cost, u, break_even_volume(cost, u, cap)


def lane_road_km(origin: Origin, dest_code: str, params: PlanningParams) -> float:
    dest = division(dest_code)
    return float(haversine_km(origin.lon, origin.lat, dest.lon, dest.lat)) * params.detour_factor


def peak_mask(day_index: pd.DatetimeIndex, peaks: list[PeakWindow]) -> np.ndarray:
    days = day_index.date
    mask = np.zeros(len(days), bool)
    for w in peaks:
        mask |= (days >= w.start) & (days <= w.end)
    return mask


def evaluate_lane(origin: Origin, dest_code: str, daily: np.ndarray, in_peak: np.ndarray,
                  mean_kg: float, express_share: float, params: PlanningParams) -> LaneProposal:
    """Economics and decision of one lane from its parcels on every day of the year
    (``in_peak`` marks the days inside a peak window)."""
    dest = division(dest_code)
    km = lane_road_km(origin, dest_code, params)
    zone = zone_of(origin.adcode or "", dest_code).value if origin.adcode else "far"
    best = None
    for truck, cap, cost, u, be in _best_truck(
            params, mean_kg, params.density(origin.industry), km, zone):
        every_day = day_saving(daily, cap, u, cost)
        all_year = float(every_day.sum())
        peak_only = float(every_day[in_peak].sum())
        value = max(all_year, peak_only, 0.0)
        key = (value, -be)
        if best is None or key > best[0]:
            best = (key, truck, cap, cost, u, be, all_year, peak_only)
    _, truck, cap, cost, u, be, all_year, peak_only = best
    decision, saving = _decide(all_year, peak_only)
    via_hub, direct = transit_hours(km, params)
    return LaneProposal(
        origin_id=origin.id, origin=origin.name, origin_kind=origin.kind, dest_code=dest_code,
        dest=dest.name, zone=zone, road_km=km, truck=truck.name, capacity=cap, trip_cost=cost,
        unit_saving=u, break_even=be, mean_daily=float(daily.mean()),
        express_share=express_share, days=int(daily.size),
        days_above=int((daily >= be).sum()), peak_days=int(in_peak.sum()),
        peak_days_above=int((daily[in_peak] >= be).sum()), saving_all_year=all_year,
        saving_peak_only=peak_only, decision=decision, saving_per_year=saving,
        hours_via_hub=via_hub, hours_direct=direct, hours_saved=via_hub - direct,
        origin_lon=origin.lon, origin_lat=origin.lat, dest_lon=dest.lon, dest_lat=dest.lat,
    )


def _decide(all_year: float, peak_only: float) -> tuple[str, float]:
    """The option with the biggest yearly saving; nothing when neither saves."""
    if all_year > 0 and all_year >= peak_only:
        return OPEN_ALL_YEAR, all_year
    if peak_only > 0:
        return PEAK_ONLY, peak_only
    return NOT_YET, 0.0


def explain(p: LaneProposal, t=lambda msg, **kw: msg.format(**kw),
            locale: str = DEFAULT_LOCALE) -> list[str]:
    """Why (为什么): the numbers behind the decision, in the reader's language; money and
    numbers written by :mod:`jiqun.formats` in the reader's locale."""
    def money(x):
        return formats.money(x, locale)

    def num(x, digits=0):
        return formats.number(x, digits, locale)

    be = "∞" if math.isinf(p.break_even) else num(p.break_even, 1)
    out = [t("One {truck} trip costs {cost} over {km} km; each parcel saves {u} against the "
             "hub route, so the line breaks even at {be} parcels a day.",
             truck=p.truck, cost=money(p.trip_cost), km=num(p.road_km), u=money(p.unit_saving),
             be=be),
           t("The lane averages {mean} parcels a day ({express} express); {above} of {days} "
             "days reach break-even, {peak_above} of {peak} peak days.",
             mean=num(p.mean_daily, 1), express=formats.percent(p.express_share, 0, locale=locale),
             above=p.days_above, days=p.days, peak_above=p.peak_days_above, peak=p.peak_days)]
    if p.decision == OPEN_ALL_YEAR:
        out.append(t("Running every day saves {s} a year.", s=money(p.saving_all_year)))
    elif p.decision == PEAK_ONLY:
        out.append(t("Running only in the peak windows saves {s} a year; all year it would be "
                     "{a}.", s=money(p.saving_peak_only), a=money(p.saving_all_year)))
    else:
        out.append(t("Neither all year ({a}) nor in the peaks ({s}) does a line save money yet.",
                     a=money(p.saving_all_year), s=money(p.saving_peak_only)))
    out.append(t("Direct: {d} h instead of {h} h via the hubs ({saved} h saved).",
                 d=num(p.hours_direct, 1), h=num(p.hours_via_hub, 1),
                 saved=num(p.hours_saved, 1)))
    return out


def existing_lines(session: Session, kind: OriginKind,
                   found: dict[int, Origin]) -> dict[tuple[int, str], LineRef]:
    """(origin id, destination city) → the line already in the store for that lane (not
    closed: a closed lane may be proposed again); the furthest along when there are two."""
    out: dict[tuple[int, str], LineRef] = {}
    lines = session.scalars(select(DedicatedLine).where(DedicatedLine.status != LineStatus.CLOSED)
                            .order_by(DedicatedLine.id))
    by_unit = {o.org_unit_id: o.id for o in found.values()}
    for line in lines:
        if kind == "market":
            origin_id = line.origin_market_id
        elif line.origin_facility_id is not None:
            # A line from a facility belongs to that outlet only (a centre's line is pooled).
            origin_id = line.origin_facility_id if line.origin_facility_id in found else None
        else:
            origin_id = by_unit.get(line.org_unit_id)
        if origin_id is None:
            continue
        key = (origin_id, line.dest_adcode[:4] + "00")
        ref = LineRef.of(line)
        if key not in out or (ref.serving and not out[key].serving):
            out[key] = ref
    return out


@dataclass
class LinePlan:
    """Everything ``jiqun plan lines`` and the lines page show."""

    as_of: dt.date | None
    lanes: list[LaneProposal]
    pools: list[PooledLine]
    peaks: list[PeakWindow]

    @property
    def proposals(self) -> list[LaneProposal]:
        return [p for p in self.lanes if p.proposed]


def plan_lines(session: Session, con, lake: Path, scope: Scope | None,
               params: PlanningParams, by: OriginKind = "market", pooling: bool = True,
               t=None, locale: str = DEFAULT_LOCALE) -> LinePlan:
    """Evaluate every lane of the trailing year in scope, best saving first, and pool; each
    lane carries the line already recorded for it (:attr:`LaneProposal.existing_line`)."""
    economics = lane_economics(session, con, lake, scope, params, by, pooling, t, locale)
    return with_recorded_lines(session, economics, by)


def lane_economics(session: Session, con, lake: Path, scope: Scope | None,
                   params: PlanningParams, by: OriginKind = "market", pooling: bool = True,
                   t=None, locale: str = DEFAULT_LOCALE) -> LinePlan:
    """The plan of :func:`plan_lines` before the recorded lines are applied: what the lake's
    lanes, the origins and the consolidation centres give (the long part, which a page keeps
    per version of those inputs; recording or accepting a line changes none of it)."""
    from jiqun.network.flows import data_window

    window = data_window(con, lake, scope)
    if window is None:
        return LinePlan(None, [], [], [])
    end = window[1]
    days = min(params.days_per_year, (end - window[0]).days + 1)
    df = lane_days(con, lake, scope, by, end, days)
    peaks = scope_peak_windows(con, lake, scope, params)
    found = origins(session, by)
    day_index = pd.date_range(end - dt.timedelta(days=days - 1), end, freq="D")
    in_peak = peak_mask(day_index, peaks)
    sums = df.groupby(["origin_id", "dest_city"])[["parcels", "weight_kg", "express"]].sum()
    big = sums[sums["parcels"] >= params.min_lane_daily_parcels * days]
    df = df.set_index(["origin_id", "dest_city"]).loc[big.index].reset_index()
    proposals = []
    for (origin_id, dest), g in df.groupby(["origin_id", "dest_city"]):
        origin = found.get(int(origin_id))
        if origin is None or origin.lon is None or division(dest) is None:
            continue
        if lane_road_km(origin, dest, params) < params.min_line_km:
            continue
        daily = np.zeros(days)
        daily[(pd.to_datetime(g["day"]) - day_index[0]).dt.days.to_numpy()] = g["parcels"]
        total = float(daily.sum())
        p = evaluate_lane(origin, dest, daily, in_peak, float(g["weight_kg"].sum()) / total,
                          float(g["express"].sum()) / total, params)
        p.reasons = explain(p, t, locale) if t else explain(p, locale=locale)
        proposals.append(p)
    proposals.sort(key=lambda p: (-p.saving_per_year, p.break_even, -p.mean_daily))
    pools = pool_lines(session, proposals, found, params) if pooling else []
    return LinePlan(end, proposals, pools, peaks)


def with_recorded_lines(session: Session, economics: LinePlan, by: OriginKind) -> LinePlan:
    """A copy of ``economics`` (left unchanged: a cache may share it) whose lanes and pooled
    lines carry the lines recorded in the store now (draft, approved, running)."""
    lanes_ = [replace(p) for p in economics.lanes]
    pools = [replace(p) for p in economics.pools]
    existing = existing_lines(session, by, origins(session, by))
    for p in lanes_:
        p.record(existing.get((p.origin_id, p.dest_code)))
    mark_pooled_drafts(session, pools)
    return LinePlan(economics.as_of, lanes_, pools, economics.peaks)


# --- pooling 拼线 ----------------------------------------------------------------------------

@dataclass
class PooledLine:
    """A line from a consolidation point fed by several origins that cannot fill it alone."""

    dest_code: str
    dest: str
    point: str
    point_lon: float
    point_lat: float
    members: list[str]
    parcels_per_day: float
    trucks_per_day: int
    cost_per_day: float
    hub_cost_per_day: float
    saving_per_year: float
    bound: float
    gap: float
    status: str
    point_kind: str = "market"  # market / outlet (an origin's own site) / consolidation_centre
    point_id: int | None = None  # the market's or facility's id
    member_ids: list[int] = field(default_factory=list)  # origin ids of the members
    truck: str = ""
    existing_line: str | None = None  # status of the draft or line already recorded for it
    line_id: int | None = None  # … and its id and code
    line_code: str | None = None

    @property
    def offered(self) -> bool:
        """Whether the page offers to accept it: no line recorded for it yet."""
        return self.point_id is not None and self.existing_line is None

    def record(self, ref: LineRef | None) -> None:
        self.existing_line = ref.status if ref else None
        self.line_id = ref.id if ref else None
        self.line_code = ref.code if ref else None

    def as_row(self) -> dict:
        row = asdict(self)
        row["members"] = " + ".join(self.members)
        row["member_ids"] = " + ".join(str(i) for i in self.member_ids)
        for key in ("parcels_per_day", "cost_per_day", "hub_cost_per_day", "saving_per_year",
                    "bound", "point_lon", "point_lat"):
            row[key] = round(row[key], 2)
        row["gap"] = round(self.gap, 6)
        return row


@dataclass(frozen=True)
class _Point:
    name: str
    lon: float
    lat: float
    kind: str = "consolidation_centre"
    id: int | None = None


def pool_lines(session: Session, lanes_: list[LaneProposal], found: dict[int, Origin],
               params: PlanningParams) -> list[PooledLine]:
    """Per destination with a lane too small for a line of its own: the fixed-charge network
    design over all its origins, their sites and the consolidation centres in scope; the lines
    fed by two origins or more are the pooled proposals."""
    centres = [_Point(f.name, f.lon, f.lat, f.kind.value, f.id) for f in session.scalars(
        select(Facility).where(Facility.kind == FacilityKind.CONSOLIDATION_CENTRE))
        if f.lon is not None]
    by_dest: dict[str, list[LaneProposal]] = {}
    for p in lanes_:
        by_dest.setdefault(p.dest_code, []).append(p)
    pooled = []
    for dest, group in by_dest.items():
        # Lanes that open alone take part too: a neighbour may fill their trucks.
        if len(group) < 2 or all(p.proposed for p in group):
            continue
        pooled.extend(line for line in _pool_destination(dest, group, centres, params)
                      if len(line.members) >= 2)
    pooled.sort(key=lambda p: -p.saving_per_year)
    return pooled


def _pool_destination(dest_code: str, members: list[LaneProposal], centres: list[_Point],
                      params: PlanningParams) -> list[PooledLine]:
    sites = [_Point(p.origin, p.origin_lon, p.origin_lat, p.origin_kind, p.origin_id)
             for p in members]
    points = sites + centres
    o_lon = np.array([s.lon for s in sites])
    o_lat = np.array([s.lat for s in sites])
    feeder_km = haversine_km(o_lon[:, None], o_lat[:, None], np.array([c.lon for c in points]),
                             np.array([c.lat for c in points])) * params.detour_factor
    reach = feeder_km <= params.pooling_radius_km
    useful = [j for j in range(len(points)) if reach[:, j].sum() >= 2]
    if not useful:
        return []
    supply = np.array([p.mean_daily for p in members])
    dest = division(dest_code)
    # Nodes: origins 0..n-1, points n..n+k-1, the hub route H, the destination D.
    n, k = len(members), len(useful)
    hub, sink = n + k, n + k + 1
    tail, head, fixed, unit, cap = [], [], [], [], []

    def arc(a, b, f, u, c):
        tail.append(a), head.append(b), fixed.append(f), unit.append(u), cap.append(c)

    total = float(supply.sum())
    for i, p in enumerate(members):
        arc(i, hub, 0.0, params.zone_cost(p.zone), total)
    for jj, j in enumerate(useful):
        for i in np.flatnonzero(reach[:, j]):
            own = j < n and j == i
            arc(i, n + jj, 0.0 if own else params.feeder_fixed_per_day,
                params.feeder_cost_per_parcel_km * feeder_km[i, j], total)
    arc(hub, sink, 0.0, 0.0, total)
    line_arcs: dict[int, tuple[int, list[int]]] = {}
    for jj, j in enumerate(useful):
        pt = points[j]
        km = float(haversine_km(pt.lon, pt.lat, dest.lon, dest.lat)) * params.detour_factor
        truck = max(params.trucks, key=lambda t: t.payload_kg)
        capacity = min(p.capacity for p in members)  # the bulkiest goods set the truck's fill
        cost = trip_cost(truck, km, params)
        trucks = max(1, math.ceil(total / capacity))
        ids = []
        for _ in range(trucks):
            ids.append(len(tail))
            arc(n + jj, sink, cost, params.direct_handling_per_parcel, capacity)
        line_arcs[jj] = (j, ids)
    demand = np.zeros(n + k + 2)
    demand[:n] = -supply
    demand[sink] = total
    problem = FixedChargeFlowProblem(demand, np.array(tail), np.array(head), np.array(fixed),
                                     np.array(unit), np.array(cap, dtype=np.float64))
    result = solve_fixed_charge_flow(problem, SolveOptions(time_limit=params.solver_time_limit))
    if not math.isfinite(result.objective):
        return []
    flows = result.shares[0]
    hub_cost = float(sum(params.zone_cost(p.zone) * v for p, v in zip(members, supply, strict=False)))
    if hub_cost - result.objective <= 1e-9:
        return []
    out = []
    for jj, (j, ids) in line_arcs.items():
        used = [a for a in ids if flows[a] > 1e-9]
        if not used:
            continue
        fed_by = [members[int(tail[a])] for a in range(len(tail))
                  if head[a] == n + jj and flows[a] > 1e-9]
        fed = [p.origin for p in fed_by]
        out.append(PooledLine(
            dest_code=dest_code, dest=dest.name, point=points[j].name, point_lon=points[j].lon,
            point_lat=points[j].lat, members=fed, parcels_per_day=float(flows[used].sum()),
            trucks_per_day=len(used), cost_per_day=float(result.objective),
            hub_cost_per_day=hub_cost,
            saving_per_year=(hub_cost - float(result.objective)) * params.days_per_year,
            bound=float(result.bound), gap=float(result.gap), status=str(result.status),
            point_kind=points[j].kind, point_id=points[j].id, truck=truck.name,
            member_ids=[p.origin_id for p in fed_by]))
    return out


# --- accepting a proposal 采纳建议 -------------------------------------------------------------

class ProposalNotFound(LookupError):
    """No such proposal in the caller's scope (answered 404, as if it did not exist)."""


@dataclass
class AcceptedLine:
    """The draft line a proposal was recorded as; ``created`` is false when it already was."""

    line: DedicatedLine
    created: bool


def find_lane(plan: LinePlan, origin_kind: str, origin_id: int,
              dest_code: str) -> LaneProposal | None:
    """The proposed lane (not a 'not yet' one) from that origin to that city, if planned."""
    return next((p for p in plan.proposals if p.origin_kind == origin_kind
                 and p.origin_id == origin_id and p.dest_code == dest_code), None)


def find_pool(plan: LinePlan, point_kind: str, point_id: int,
              dest_code: str) -> PooledLine | None:
    """The pooled line through that consolidation point to that city, if planned."""
    return next((p for p in plan.pools if p.point_kind == point_kind
                 and p.point_id == point_id and p.dest_code == dest_code), None)


def _origin_record(session: Session, kind: str, origin_id: int | None) -> Market | Facility:
    """The market or facility a line starts from, read through the (scoped) session."""
    model = Market if kind == "market" else Facility
    found = session.get(model, origin_id) if origin_id is not None else None
    if found is None:
        raise ProposalNotFound(kind)
    return found


def draft_line_code(prefix: str, origin: Market | Facility, dest_code: str) -> str:
    """Code of the draft line a proposal becomes: ``P-`` a market's lane, ``PO-`` an outlet's,
    ``PL-`` a pooled line; the origin's id stands in when its code makes it too long."""
    code = f"{prefix}-{origin.code}-{dest_code}"
    if len(code) > 32:
        code = f"{prefix}-{'M' if isinstance(origin, Market) else 'F'}{origin.id}-{dest_code}"
    return code


def _line_by_code(session: Session, code: str) -> DedicatedLine | None:
    return session.scalar(select(DedicatedLine).where(DedicatedLine.code == code))


def _free_code(session: Session, code: str) -> str:
    """The proposal's code, or ``<code>-2``, ``-3``… when closed lines hold it (a lane whose
    line was closed may be proposed again; the closed line keeps its code and history)."""
    n, found = 1, code
    while _line_by_code(session, found) is not None:
        n += 1
        suffix = f"-{n}"
        found = code[:32 - len(suffix)] + suffix
    return found


def base_code(code: str) -> str:
    """The proposal's code of a line, without the ``-2`` of a re-proposed one."""
    return re.sub(r"(-\d{6})-\d{1,2}$", r"\1", code)


def _refresh(session: Session, line: DedicatedLine, numbers: dict) -> AcceptedLine:
    """A draft takes the planner's latest numbers; a line past draft is not proposed again."""
    if line.status != LineStatus.DRAFT:
        raise Conflict("This lane is served by line {code} already",
                       theirs={"code": line.code, "status": line.status.value}, code=line.code)
    for name, value in numbers.items():
        setattr(line, name, value)
    session.flush()
    return AcceptedLine(line, False)


def _record_draft(session: Session, origin: Market | Facility, dest_code: str, code: str,
                  truck: str, trips: float, proposal: dict,
                  recorded: int | None = None) -> AcceptedLine:
    """Insert the draft line, or refresh the numbers of the draft already recorded for the
    proposal (``recorded``: its id, whatever its code; idempotent). A proposal whose line is
    approved or running is a :class:`Conflict`: the page shows that line instead.

    The code is unique, so two accepts at once end as one line: the insert runs in a savepoint,
    and the one that finds the code taken by a parallel accept refreshes that line instead."""
    actor = require(session, Action.LINE_ACCEPT)
    numbers = {"truck_type": truck, "trips_per_day": trips, "proposal": proposal}
    line = session.get(DedicatedLine, recorded) if recorded is not None else None
    if line is None or line.status == LineStatus.CLOSED:
        line = _line_by_code(session, code)
    if line is not None and line.status == LineStatus.CLOSED:
        line, code = None, _free_code(session, code)
    if line is not None:
        return _refresh(session, line, numbers)
    try:
        with session.begin_nested():
            # The numbers go into the INSERT itself: a later UPDATE of our own new row
            # would race (version counter) with the parallel accept's refresh below.
            line = DedicatedLine(code=code, dest_adcode=dest_code,
                                 org_unit_id=origin.org_unit_id, status=LineStatus.DRAFT,
                                 proposed_by_id=actor.user_id,
                                 proposed_level=None if actor.system else actor.level,
                                 **numbers)
            if isinstance(origin, Market):
                line.origin_market_id = origin.id
            else:
                line.origin_facility_id = origin.id
            session.add(line)
            session.flush()
        return AcceptedLine(line, True)
    except IntegrityError:  # recorded by a parallel accept since the look-up above
        line = _line_by_code(session, code)
        if line is None:
            raise
    return _refresh(session, line, numbers)


def accept_lane(session: Session, p: LaneProposal) -> AcceptedLine:
    """Record a lane proposal (a market's or an outlet's) as a draft line with its numbers."""
    require(session, Action.LINE_ACCEPT)
    origin = _origin_record(session, p.origin_kind, p.origin_id)
    prefix = "P" if p.origin_kind == "market" else "PO"
    proposal = {"kind": "lane", **p.proposal_json()}
    return _record_draft(session, origin, p.dest_code, draft_line_code(prefix, origin,
                         p.dest_code), p.truck, max(1.0, round(p.mean_daily / p.capacity, 2)),
                         proposal, recorded=p.line_id)


def accept_pool(session: Session, pool: PooledLine) -> AcceptedLine:
    """Record a pooled line (拼线) as a draft line from its consolidation point, with the
    members that feed it and the solve's numbers."""
    require(session, Action.LINE_ACCEPT)
    kind = "market" if pool.point_kind == "market" else "facility"
    origin = _origin_record(session, kind, pool.point_id)
    proposal = {"kind": "pooled", **pool.as_row(), "members": list(pool.members),
                "member_ids": list(pool.member_ids)}
    return _record_draft(session, origin, pool.dest_code, draft_line_code("PL", origin,
                         pool.dest_code), pool.truck, float(pool.trucks_per_day), proposal,
                         recorded=pool.line_id)


def mark_pooled_drafts(session: Session, pools: list[PooledLine]) -> None:
    """Set ``existing_line`` on each pooled proposal already recorded as a line (not closed;
    a re-proposed one carries a ``-2`` after the proposal's code), or whose point already
    has a line to that city (the neighbours then feed that line: no second truck is offered)."""
    codes = {}
    for pool in pools:
        kind = "market" if pool.point_kind == "market" else "facility"
        try:
            origin = _origin_record(session, kind, pool.point_id)
        except ProposalNotFound:
            continue
        codes[draft_line_code("PL", origin, pool.dest_code)] = pool
    if not codes:
        return
    from_point: dict[tuple[str, int, str], LineRef] = {}
    lines = session.scalars(select(DedicatedLine).where(DedicatedLine.status != LineStatus.CLOSED)
                            .order_by(DedicatedLine.id))
    for line in lines:
        pool = codes.get(base_code(line.code)) if line.code.startswith("PL-") else None
        if pool is not None:
            pool.record(LineRef.of(line))
            continue
        city, ref = line.dest_adcode[:4] + "00", LineRef.of(line)
        for key in (("market", line.origin_market_id, city),
                    ("facility", line.origin_facility_id, city)):
            if key[1] is not None and (key not in from_point or (
                    ref.serving and not from_point[key].serving)):
                from_point[key] = ref
    for pool in codes.values():
        kind = "market" if pool.point_kind == "market" else "facility"
        found = from_point.get((kind, pool.point_id, pool.dest_code[:4] + "00"))
        if pool.existing_line is None and found is not None:
            pool.record(found)
