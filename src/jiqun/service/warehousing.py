"""Warehousing customers 仓配一体 / 源头仓 (S2): warehouses, their load, and who should move in.

A warehouse is a :class:`~jiqun.store.models.Facility` of kind ``warehouse`` with a capacity in
parcels a day; a merchant is served from one through ``Customer.warehouse_id``: its stock sits
in the warehouse, which picks, packs and bags its orders and sends them on with its own
consolidated trucks.

* :func:`warehouses` — each warehouse with its capacity, the merchants it serves, its outbound
  volume (their parcels a day over the trailing window, from the lake) and its utilisation.
* :func:`candidates` — merchants for whom warehousing would pay, ranked by the estimated
  saving a day, each with the reasoning: volume and its steadiness, the road distance to the
  nearest consolidation or processing centre, the share of its parcels going to destinations a
  dedicated line serves, the pickup trips avoided and the later order cut-off.
* :func:`assign` — serve a merchant from a warehouse (or from none), refused when the warehouse
  would go over its capacity; audited by the store like every customer change.

The figures come from the lake through the caller's connection (one aggregate query per fact);
the estimate itself is pure (:func:`estimate`, :func:`qualifies`, :func:`explain`) and takes
its assumptions from :class:`WarehousingParams` and the planning parameters
(:class:`~jiqun.network.params.PlanningParams`: truck, pickup speed and handling figures).

Two facts are read beyond the viewer's subtree, as plain columns: the centres (a merchant's
parcels go to the nearest one whoever owns it) and the lines running from a merchant's market
(whichever unit recorded them), so every viewer sees the same figures for the same merchant.
A warehouse's load counts every merchant it serves, also those outside the viewer's subtree:
its capacity is one number for all who assign to it.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import pyarrow as pa
from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from jiqun import formats
from jiqun.config import FileRules
from jiqun.errors import Conflict, Invalid, NotFound
from jiqun.geo import division, haversine_km
from jiqun.i18n import DEFAULT_LOCALE
from jiqun.lake import daily, memtable, waybills
from jiqun.network.line_lifecycle import SERVING
from jiqun.network.params import PlanningParams
from jiqun.permissions import Action, require
from jiqun.store.models import Customer, DedicatedLine, Facility, FacilityKind, Market
from jiqun.store.scope import Scope

HUB_KINDS = (FacilityKind.PROCESSING_CENTRE, FacilityKind.CONSOLIDATION_CENTRE)


class WarehousingParams(FileRules):
    """The assumptions of the warehousing estimate, real-world defaults; the ``[warehousing]``
    table of the planning file (``JIQUN_PLANNING_FILE``). Counts of parcels and yuan per trip
    are of the real network (a model province scales them, ``jiqun.demo.scale``)."""

    file_setting: ClassVar[str] = "planning_file"
    toml_table: ClassVar[tuple[str, ...]] = ("warehousing",)

    window_days: int = Field(30, ge=7, le=365,
                             description="Trailing days of a merchant's parcels a day.")
    min_daily_parcels: float = Field(
        300.0, ge=0, description="Parcels a day below which stocking a merchant in a warehouse "
        "does not pay for the storage and handling (起仓量).")
    max_cv: float = Field(
        0.6, ge=0, description="Highest day-to-day variation of a merchant's parcels "
        "(coefficient of variation beyond counting noise) a warehouse can plan stock and "
        "staff for (平稳度).")
    van_parcels_per_trip: float = Field(
        500.0, gt=0, description="Parcels a pickup van (4.2 m) brings from a merchant in one "
        "trip.")
    van_cost_per_km: float = Field(1.2, ge=0, description="Pickup van cost per km, yuan.")
    van_fixed_cost_per_trip: float = Field(
        100.0, ge=0, description="The van's stop at the merchant and handover at the centre, "
        "yuan per trip.")
    min_pickups_per_day: int = Field(1, ge=0,
                                     description="Pickups a shipping merchant gets at least.")
    max_pickup_km: float = Field(
        120.0, gt=0, description="Farthest road km a pickup van drives to a centre; a merchant "
        "farther from every centre of its province has none within reach (its outlet sorts).")
    handover_hours: float = Field(
        1.0, ge=0, description="Hours between a merchant's order cut-off and the van leaving "
        "(last orders packed, loading); a warehouse packs to the truck's door.")
    presort_share: float = Field(
        0.5, ge=0, le=1, description="Share of a dedicated line's own handling per parcel "
        "(planning: direct_handling_per_parcel) done in the warehouse's pick and pack: bagging "
        "by destination (分拣前置).")

    def to_table(self) -> dict:
        """The ``[warehousing]`` table of a planning file with these values."""
        return {"warehousing": self.model_dump(mode="json")}


# -- the facts of one merchant and the estimate (pure) ------------------------------------------
@dataclass(frozen=True)
class MerchantFacts:
    """What the estimate reads of one merchant (from the store and the lake)."""

    customer_id: int
    code: str
    name: str
    market: str | None
    daily_parcels: float  # mean over the window, days without parcels counted
    cv: float  # day-to-day variation beyond counting noise
    days_shipped: int
    window_days: int
    mean_kg: float
    line_share: float  # parcels to destinations a dedicated line from its market serves
    hub: str | None  # the nearest consolidation or processing centre
    hub_km: float | None  # road km to it
    lon: float | None = None
    lat: float | None = None


@dataclass(frozen=True)
class Estimate:
    """What serving a merchant from a warehouse saves, a day."""

    pickups_avoided: float  # van trips a day
    pickup_cost: float  # yuan a day of those trips
    shuttle_cost: float  # yuan a day of the warehouse's trucks for the same parcels
    presort_saving: float  # yuan a day of bagging done in the warehouse for line parcels
    saving_per_day: float
    cutoff_hours_later: float  # the merchant's orders may close this much later


def estimate(f: MerchantFacts, params: WarehousingParams, planning: PlanningParams) -> Estimate:
    """The saving of serving ``f`` from a warehouse at its market (pure).

    Without a warehouse a van fetches the merchant's parcels to the nearest centre: as many trips
    as the parcels need (at least ``min_pickups_per_day``), each a fixed cost and the road there
    and back. From the warehouse the same parcels ride its consolidated truck (the smallest truck
    of the planning parameters, full, its return leg paid in part by return loads), and the
    parcels to destinations a line serves are already bagged for it. The order cut-off moves
    later by the drive to the centre and the handover, which the warehouse no longer waits for.
    """
    km = f.hub_km or 0.0
    if f.daily_parcels <= 0:
        return Estimate(0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    trips = max(params.min_pickups_per_day, math.ceil(f.daily_parcels /
                                                      params.van_parcels_per_trip - 1e-9))
    pickup = trips * (params.van_fixed_cost_per_trip + params.van_cost_per_km * 2 * km)
    truck = planning.trucks[0]
    capacity = truck.capacity_parcels(max(f.mean_kg, 0.01), planning.default_density_kg_m3,
                                      planning.fill_rate, planning.min_parcel_m3)
    trip = truck.fixed_cost_per_trip + truck.cost_per_km * km * (2 - planning.backhaul_share)
    shuttle = f.daily_parcels * trip / capacity
    presort = (f.daily_parcels * f.line_share * planning.direct_handling_per_parcel
               * params.presort_share)
    hours = km / planning.pickup_speed_kmh + params.handover_hours if f.hub_km is not None else 0.0
    return Estimate(float(trips), pickup, shuttle, presort, pickup - shuttle + presort, hours)


def qualifies(f: MerchantFacts, e: Estimate, params: WarehousingParams) -> bool:
    """Whether warehousing would pay: enough parcels, steady enough, and a saving."""
    return (f.hub_km is not None and f.daily_parcels >= params.min_daily_parcels
            and f.cv <= params.max_cv and e.saving_per_day > 0)


def steadiness_cv(total: float, squares: float, days: int) -> float:
    """Day-to-day variation of a count beyond counting noise: √max(0, var − mean) / mean over
    ``days`` (days without parcels counted as 0). A real merchant's hundreds of parcels a day
    make the noise term negligible; the 1 : N demo's few parcels a day would otherwise all look
    unsteady (a Poisson count of mean m varies by √m by itself)."""
    if days <= 0 or total <= 0:
        return math.inf
    mean = total / days
    var = max(0.0, squares / days - mean * mean)
    return math.sqrt(max(0.0, var - mean)) / mean


def explain(f: MerchantFacts, e: Estimate, params: WarehousingParams,
            t: Callable[..., str] = lambda msg, **kw: msg.format(**kw),
            locale: str = DEFAULT_LOCALE) -> list[str]:
    """Why (为什么): the numbers behind the estimate, in the reader's language."""
    def num(x, digits=0):
        return formats.number(x, digits, locale)

    def money(x):
        return formats.money(x, locale)

    out = [t("Ships {daily} parcels a day (on {shipped} of {days} days; variation {cv}).",
             daily=num(f.daily_parcels, 1), shipped=f.days_shipped, days=f.window_days,
             cv=num(f.cv, 2) if math.isfinite(f.cv) else "—")]
    if f.hub_km is not None:
        out.append(t("{km} km by road to {hub}: {trips} pickup trips a day cost {cost}; the "
                     "warehouse's truck takes the same parcels for {shuttle}.",
                     km=num(f.hub_km, 1), hub=f.hub, trips=num(e.pickups_avoided),
                     cost=money(e.pickup_cost), shuttle=money(e.shuttle_cost)))
    else:
        out.append(t("No centre of its province within {km} km by road.",
                     km=num(params.max_pickup_km)))
    out.append(t("{share} of its parcels go where a dedicated line runs: bagged in the "
                 "warehouse they save {presort} a day.",
                 share=formats.percent(f.line_share, 0, locale=locale),
                 presort=money(e.presort_saving)))
    out.append(t("Saving {saving} a day; orders may close {hours} h later.",
                 saving=money(e.saving_per_day), hours=num(e.cutoff_hours_later, 1)))
    if f.daily_parcels < params.min_daily_parcels:
        out.append(t("Below {min} parcels a day a warehouse does not pay.",
                     min=num(params.min_daily_parcels, 1)))
    elif f.cv > params.max_cv:
        out.append(t("Too unsteady for planned stock (variation above {max}).",
                     max=num(params.max_cv, 2)))
    return out


# -- reading the facts (store and lake) ---------------------------------------------------------
def data_end(con, lake: Path, scope: Scope) -> dt.date | None:
    """The last day with parcels in ``scope``."""
    t = daily(con, lake, scope)
    return t.day.max().to_pyarrow().as_py()


def _window(con, lake: Path, scope: Scope, as_of: dt.date | None,
            params: WarehousingParams) -> tuple[dt.date, dt.date] | None:
    """The ``window_days`` ending ``as_of``, else the last day with parcels (of the whole lake:
    every viewer's figures read the same days)."""
    end = as_of or data_end(con, lake, scope)
    if end is None:
        return None
    return end - dt.timedelta(days=params.window_days - 1), end


def merchant_volumes(con, lake: Path, scope: Scope, start: dt.date, end: dt.date,
                     customer_ids: list[int] | None = None) -> dict[int, dict]:
    """customer id → parcels, their squares by day, days shipped and kg over ``start…end``
    (from the daily aggregate, in the lake)."""
    t = daily(con, lake, scope)
    t = t.filter((t.day >= start) & (t.day <= end) & t.customer_id.notnull())
    if customer_ids is not None:
        if not customer_ids:
            return {}
        t = t.filter(t.customer_id.isin(customer_ids))
    days = t.group_by(["customer_id", "day"]).aggregate(
        parcels=t.parcels.sum().cast("float64"), kg=t.weight_kg.sum().cast("float64"))
    g = days.group_by("customer_id").aggregate(
        parcels=days.parcels.sum(), squares=(days.parcels * days.parcels).sum(),
        days=days.day.count(), kg=days.kg.sum())
    return {r["customer_id"]: r for r in g.to_pyarrow().to_pylist()}


def served_destinations(session: Session) -> list[tuple[int, str]]:
    """(market id, destination city) of every approved or running dedicated line, read past
    the scope: a line from a merchant's market serves it whoever recorded the line."""
    rows = session.execute(
        select(DedicatedLine.origin_market_id, DedicatedLine.dest_adcode)
        .where(DedicatedLine.status.in_(SERVING), DedicatedLine.origin_market_id.is_not(None)),
        execution_options={"unscoped": True})
    return sorted({(int(m), str(d)[:4] + "00") for m, d in rows if d})


def line_shares(con, lake: Path, scope: Scope, start: dt.date, end: dt.date,
                served: list[tuple[int, str]]) -> dict[int, float]:
    """customer id → share of its parcels over ``start…end`` going to a destination city that
    a dedicated line from its market serves (waybills joined with the served lanes, in the
    lake)."""
    if not served:
        return {}
    t = waybills(con, lake, scope)
    begin = dt.datetime.combine(start, dt.time())
    stop = dt.datetime.combine(end + dt.timedelta(days=1), dt.time())
    t = t.filter((t.ship_time >= begin) & (t.ship_time < stop) & t.customer_id.notnull())
    t = t.mutate(city=t.dest_city.substr(0, 4) + "00")
    lanes = memtable(pa.table({"served_market": pa.array([m for m, _ in served], pa.int32()),
                               "served_city": pa.array([c for _, c in served], pa.string())}))
    j = t.left_join(lanes, (t.market_id == lanes.served_market) & (t.city == lanes.served_city))
    g = j.group_by("customer_id").aggregate(
        parcels=j.count(), covered=j.served_market.notnull().sum())
    return {r["customer_id"]: r["covered"] / r["parcels"]
            for r in g.to_pyarrow().to_pylist() if r["parcels"]}


@dataclass(frozen=True)
class Hub:
    code: str
    name: str
    lon: float
    lat: float
    adcode: str | None

    @property
    def province(self) -> str | None:
        return str(self.adcode)[:2] if self.adcode else None


def hubs(session: Session) -> list[Hub]:
    """Active consolidation and processing centres with a location, read past the scope."""
    rows = session.execute(
        select(Facility.code, Facility.name, Facility.lon, Facility.lat, Facility.adcode)
        .where(Facility.kind.in_(HUB_KINDS), Facility.status == "active",
               Facility.lon.is_not(None), Facility.lat.is_not(None)).order_by(Facility.code),
        execution_options={"unscoped": True})
    return [Hub(*r) for r in rows]


def nearest_hub(lon: np.ndarray, lat: np.ndarray, provinces: list[str | None],
                found: list[Hub], planning: PlanningParams,
                max_km: float = math.inf) -> tuple[np.ndarray, np.ndarray]:
    """Index of each point's nearest hub in its own province (a pickup van drives to its
    province's centres, never across the country) and the local road km to it (great-circle ×
    ``pickup_detour_factor``); -1 and NaN where none lies within ``max_km``."""
    if not found or lon.size == 0:
        return np.full(lon.size, -1), np.full(lon.size, np.nan)
    km = haversine_km(lon[:, None], lat[:, None], np.array([h.lon for h in found]),
                      np.array([h.lat for h in found]))
    same = np.array([[p is not None and h.province == p for h in found] for p in provinces])
    km = np.where(same, km, np.inf)
    best = np.argmin(km, axis=1)
    road = km[np.arange(lon.size), best] * planning.pickup_detour_factor
    ok = road <= max_km
    return np.where(ok, best, -1), np.where(ok, road, np.nan)


# -- candidates -----------------------------------------------------------------------------------
@dataclass
class Candidate:
    """A merchant for whom warehousing would pay, with the estimate and its reasons."""

    rank: int
    customer_id: int
    code: str
    name: str
    market: str | None
    daily_parcels: float
    cv: float | None
    days_shipped: int
    line_share: float
    hub: str | None
    hub_km: float | None
    pickups_avoided: float
    pickup_cost: float
    shuttle_cost: float
    presort_saving: float
    saving_per_day: float
    saving_per_year: float
    cutoff_hours_later: float
    reasons: list[str] = field(default_factory=list)
    # the nearest active warehouse in the viewer's area (the one an assign form offers first)
    warehouse_id: int | None = None
    warehouse: str | None = None


def rank_candidates(facts: list[MerchantFacts], params: WarehousingParams,
                    planning: PlanningParams, t: Callable[..., str] | None = None,
                    locale: str = DEFAULT_LOCALE) -> list[Candidate]:
    """The merchants of ``facts`` for whom warehousing pays, biggest saving first (pure)."""
    t = t or (lambda msg, **kw: msg.format(**kw))
    found = []
    for f in facts:
        e = estimate(f, params, planning)
        if qualifies(f, e, params):
            found.append((f, e))
    found.sort(key=lambda fe: (-fe[1].saving_per_day, fe[0].customer_id))
    return [Candidate(
        rank=k + 1, customer_id=f.customer_id, code=f.code, name=f.name, market=f.market,
        daily_parcels=round(f.daily_parcels, 3), cv=round(f.cv, 3) if math.isfinite(f.cv) else None,
        days_shipped=f.days_shipped, line_share=round(f.line_share, 4), hub=f.hub,
        hub_km=None if f.hub_km is None else round(f.hub_km, 1),
        pickups_avoided=e.pickups_avoided, pickup_cost=round(e.pickup_cost, 2),
        shuttle_cost=round(e.shuttle_cost, 2), presort_saving=round(e.presort_saving, 2),
        saving_per_day=round(e.saving_per_day, 2),
        saving_per_year=round(round(e.saving_per_day, 2) * planning.days_per_year, 2),
        cutoff_hours_later=round(e.cutoff_hours_later, 2),
        reasons=explain(f, e, params, t, locale)) for k, (f, e) in enumerate(found)]


def merchant_facts(session: Session, con, lake: Path, scope: Scope, start: dt.date,
                   end: dt.date, params: WarehousingParams,
                   planning: PlanningParams) -> list[MerchantFacts]:
    """The facts of every merchant in scope with parcels in the window and no warehouse yet."""
    volumes = merchant_volumes(con, lake, scope, start, end)
    if not volumes:
        return []
    rows = session.execute(
        select(Customer.id, Customer.code, Customer.name, Customer.lon, Customer.lat,
               Market.name, Customer.adcode).outerjoin(Market, Market.id == Customer.market_id)
        .where(Customer.warehouse_id.is_(None), Customer.id.in_(sorted(volumes)))
        .order_by(Customer.id)).all()
    if not rows:
        return []
    shares = line_shares(con, lake, scope, start, end, served_destinations(session))
    found = hubs(session)
    located = np.array([r[3] is not None and r[4] is not None for r in rows])
    lon = np.array([r[3] if r[3] is not None else 0.0 for r in rows], dtype=float)
    lat = np.array([r[4] if r[4] is not None else 0.0 for r in rows], dtype=float)
    provinces = [str(r[6])[:2] if r[6] else None for r in rows]
    best, km = nearest_hub(lon, lat, provinces, found, planning, params.max_pickup_km)
    days = (end - start).days + 1
    out = []
    for k, (cid, code, name, _, _, market, _) in enumerate(rows):
        v = volumes[cid]
        has_hub = bool(located[k]) and best[k] >= 0
        out.append(MerchantFacts(
            customer_id=cid, code=code, name=name, market=market,
            daily_parcels=v["parcels"] / days, cv=steadiness_cv(v["parcels"], v["squares"], days),
            days_shipped=int(v["days"]), window_days=days,
            mean_kg=v["kg"] / v["parcels"] if v["parcels"] else 0.0,
            line_share=shares.get(cid, 0.0), hub=found[best[k]].name if has_hub else None,
            hub_km=float(km[k]) if has_hub else None,
            lon=float(lon[k]) if located[k] else None, lat=float(lat[k]) if located[k] else None))
    return out


def candidates(session: Session, con, lake: Path, scope: Scope, as_of: dt.date | None = None,
               *, params: WarehousingParams | None = None,
               planning: PlanningParams | None = None, t: Callable[..., str] | None = None,
               locale: str = DEFAULT_LOCALE) -> list[Candidate]:
    """Merchants in scope for whom warehousing would pay, ranked by the saving a day, with the
    reasons in ``locale`` (``t`` its translator); merchants already served from a warehouse are
    left out. The window is the ``window_days`` ending ``as_of`` (default: the last day with
    parcels)."""
    params = params or WarehousingParams.configured()
    planning = planning or PlanningParams.configured()
    window = _window(con, lake, Scope.WHOLE, as_of, params)
    if window is None:
        return []
    facts = merchant_facts(session, con, lake, scope, *window, params, planning)
    ranked = rank_candidates(facts, params, planning, t, locale)
    _nearest_warehouses(session, ranked, {f.customer_id: f for f in facts})
    return ranked


def _nearest_warehouses(session: Session, ranked: list[Candidate],
                        facts: dict[int, MerchantFacts]) -> None:
    """Name each candidate's nearest active warehouse in scope (great-circle)."""
    found = [w for w in session.scalars(select(Facility).where(
        Facility.kind == FacilityKind.WAREHOUSE, Facility.status == "active")
        .order_by(Facility.code)) if w.lon is not None and w.lat is not None]
    if not found:
        return
    lon = np.array([w.lon for w in found])
    lat = np.array([w.lat for w in found])
    for c in ranked:
        f = facts[c.customer_id]
        if f.lon is None or f.lat is None:
            continue
        best = found[int(np.argmin(haversine_km(f.lon, f.lat, lon, lat)))]
        c.warehouse_id, c.warehouse = best.id, best.name


# -- warehouses ---------------------------------------------------------------------------------
@dataclass
class ServedCustomer:
    customer_id: int
    code: str
    name: str
    daily_parcels: float


@dataclass
class WarehouseRow:
    """A warehouse (源头仓) with its capacity, the merchants it serves and its load."""

    id: int
    code: str
    name: str
    place: str | None
    status: str
    capacity_per_day: float | None
    customer_count: int  # every merchant it serves
    outbound_per_day: float  # their parcels a day over the window
    utilisation: float | None
    headroom_per_day: float | None
    customers: list[ServedCustomer] = field(default_factory=list)  # those the viewer sees


def _loads(session: Session, con, lake: Path, warehouse_ids: list[int],
           window: tuple[dt.date, dt.date] | None) -> tuple[dict[int, list[int]],
                                                            dict[int, float]]:
    """warehouse id → the ids of every merchant it serves (past the scope: plain ids), and
    merchant id → its load in parcels a day (the lake's mean over the window; its estimated
    daily volume while it has not shipped)."""
    if not warehouse_ids:
        return {}, {}
    rows = session.execute(
        select(Customer.id, Customer.warehouse_id, Customer.est_daily_volume)
        .where(Customer.warehouse_id.in_(warehouse_ids)).order_by(Customer.id),
        execution_options={"unscoped": True}).all()
    served: dict[int, list[int]] = {w: [] for w in warehouse_ids}
    for cid, wid, _ in rows:
        served[wid].append(cid)
    volumes = {}
    if window is not None and rows:
        volumes = merchant_volumes(con, lake, Scope.WHOLE, *window, [r[0] for r in rows])
    days = (window[1] - window[0]).days + 1 if window else 1
    load = {cid: (volumes[cid]["parcels"] / days if cid in volumes else float(est or 0.0))
            for cid, _, est in rows}
    return served, load


def warehouses(session: Session, con, lake: Path, scope: Scope, as_of: dt.date | None = None,
               *, params: WarehousingParams | None = None) -> list[WarehouseRow]:
    """Every warehouse in scope: capacity, merchants served, outbound parcels a day over the
    trailing window ending ``as_of`` (default: the last day with parcels) and utilisation."""
    params = params or WarehousingParams.configured()
    found = list(session.scalars(select(Facility).where(Facility.kind == FacilityKind.WAREHOUSE)
                                 .order_by(Facility.code)))
    window = _window(con, lake, Scope.WHOLE, as_of, params)
    served, load = _loads(session, con, lake, [w.id for w in found], window)
    visible = {c.id: c for c in session.scalars(
        select(Customer).where(Customer.warehouse_id.in_([w.id for w in found]))
        .order_by(Customer.id))} if found else {}
    out = []
    for w in found:
        ids = served.get(w.id, [])
        outbound = round(sum(load[c] for c in ids), 3)
        cap = w.capacity_per_day
        place = division(w.adcode) if w.adcode else None
        out.append(WarehouseRow(
            id=w.id, code=w.code, name=w.name, place=place.name if place else None,
            status=w.status, capacity_per_day=cap, customer_count=len(ids),
            outbound_per_day=outbound,
            utilisation=round(outbound / cap, 4) if cap else None,
            headroom_per_day=round(cap - outbound, 3) if cap else None,
            customers=sorted((ServedCustomer(c, visible[c].code, visible[c].name,
                                             round(load[c], 3)) for c in ids if c in visible),
                             key=lambda s: (-s.daily_parcels, s.customer_id))))
    return out


# -- assigning ----------------------------------------------------------------------------------
def assign(session: Session, customer_id: int, warehouse_id: int | None, *, con=None,
           lake: Path | None = None, as_of: dt.date | None = None,
           params: WarehousingParams | None = None) -> Customer:
    """Serve the merchant from ``warehouse_id`` (``None``: from no warehouse); the store's audit
    log records the change. Refused unless the actor may (``warehouse.assign``); a merchant or
    warehouse outside the scope is not found; a warehouse that the merchant's parcels a day
    would take over its capacity is refused (409) with the numbers. The caller commits."""
    require(session, Action.WAREHOUSE_ASSIGN)
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(f"customer {customer_id}")
    if warehouse_id is None:
        customer.warehouse_id = None
        session.flush()
        return customer
    warehouse = session.get(Facility, warehouse_id)
    if warehouse is None or warehouse.kind != FacilityKind.WAREHOUSE:
        raise NotFound(f"warehouse {warehouse_id}")
    if warehouse.status != "active":
        raise Invalid({"warehouse_id": "This warehouse is not in service"})
    if customer.warehouse_id == warehouse.id:
        return customer  # already served from it: nothing changes
    _check_capacity(session, customer, warehouse, con, lake, as_of, params)
    customer.warehouse_id = warehouse.id
    session.flush()
    return customer


def _check_capacity(session: Session, customer: Customer, warehouse: Facility, con, lake,
                    as_of, params) -> None:
    if warehouse.capacity_per_day is None:
        return  # no capacity recorded: nothing to check against
    if con is None or lake is None:
        from jiqun.config import get_settings
        from jiqun.lake import connect

        settings = get_settings()
        con = con if con is not None else connect(settings)
        lake = lake if lake is not None else settings.lake_path
    params = params or WarehousingParams.configured()
    window = _window(con, lake, Scope.WHOLE, as_of, params)
    served, load = _loads(session, con, lake, [warehouse.id], window)
    now = sum(load[c] for c in served[warehouse.id])
    mine = _load_of(con, lake, customer, window)
    if now + mine > warehouse.capacity_per_day + 1e-9:
        raise Conflict(
            "{warehouse} is full: it ships {load} parcels a day of its {capacity}, and this "
            "merchant adds {adds}", warehouse=warehouse.name, load=_round(now),
            capacity=_round(warehouse.capacity_per_day), adds=_round(mine))


def _load_of(con, lake, customer: Customer, window) -> float:
    """The merchant's parcels a day over the window (its estimate while it has not shipped)."""
    volumes = (merchant_volumes(con, lake, Scope.WHOLE, *window, [customer.id])
               if window else {})
    if customer.id in volumes:
        return volumes[customer.id]["parcels"] / ((window[1] - window[0]).days + 1)
    return float(customer.est_daily_volume or 0.0)


def _round(x: float) -> float:
    return round(x, 1) if abs(x) >= 10 else round(x, 3)

