"""Activity-based cost (P3, 分类测算 · 成本计算模型): what a parcel costs us, pool by pool.

Seven cost pools, each counted in its driver (成本动因):

============================  ===================================  ===========================
pool                          driver                               counted from
============================  ===================================  ===========================
marketing 营销                 visits                               the store's visits
pickup 揽收                    stops (a merchant on a day), pieces  waybills
customer service 客服          contacts (service cases)             the store's service cases
processing 处理/分拣            pieces                               waybills
consolidation 集包中心          pieces                               waybills
line haul 干线                 kg·km (hub route) or truck trips     waybills, dedicated lines
                              (dedicated line, spread by weight)
last mile 末端 (落地配结算)      pieces by destination zone            waybills
============================  ===================================  ===========================

Every figure is ``driver quantity × rate`` (the volume-variable part) plus a fixed part a month
spread by a stated key (pieces, weight or revenue) over the parcels its parameter governs. Rates
come from :class:`~jiqun.store.models.CostParameter` rows: a city's row wins over its province's,
the newest ``valid_from`` on or before the month wins.

The pure rules (:func:`in_force`, :func:`resolve`, :func:`fixed_coefficients`) are apart from
the engine; :func:`cost_lines` builds the one table every cost and ledger figure groups, over
the lake (Ibis: DuckDB or PySpark), with the store's facts as in-memory Arrow tables.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import ibis
import pyarrow as pa
from ibis.expr.types import Table
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jiqun.geo.distance import road_km
from jiqun.geo.divisions import all_divisions
from jiqun.geo.zones import ZoneKind, zone_of
from jiqun.lake.engine import memtable, run_prepared, scope_filter, units_filter, waybills
from jiqun.lake.schemas import WAYBILL_DATASET
from jiqun.lake.writer import dataset_files
from jiqun.money.rules import FinanceRules
from jiqun.store.models import (
    ALL_ZONES,
    CostDriver,
    CostParameter,
    CostPool,
    Customer,
    DedicatedLine,
    OrgLevel,
    OrgUnit,
    ServiceCase,
    Visit,
)
from jiqun.store.scope import Scope

POOLS: tuple[CostPool, ...] = tuple(CostPool)
ZONES: tuple[str, ...] = tuple(z.value for z in ZoneKind)
ALLOCATION_KEYS = ("pieces", "weight", "revenue")
# The drivers each pool is counted in; a rate of another driver is refused on entry.
POOL_DRIVERS: dict[CostPool, tuple[CostDriver, ...]] = {
    CostPool.MARKETING: (CostDriver.VISITS,),
    CostPool.PICKUP: (CostDriver.STOPS, CostDriver.PIECES),
    CostPool.CUSTOMER_SERVICE: (CostDriver.CONTACTS,),
    CostPool.PROCESSING: (CostDriver.PIECES,),
    CostPool.CONSOLIDATION: (CostDriver.PIECES,),
    CostPool.LINE_HAUL: (CostDriver.KG_KM, CostDriver.TRIPS),
    CostPool.LAST_MILE: (CostDriver.PIECES,),
}
# The driver quantity column of the cost lines each driver is summed in.
QUANTITY = {CostDriver.VISITS: "visits", CostDriver.STOPS: "stops", CostDriver.PIECES: "parcels",
            CostDriver.CONTACTS: "contacts", CostDriver.TRIPS: "trips",
            CostDriver.KG_KM: "kg_km"}
# The variable cost of each pool and driver, and the fixed part of each pool.
VARIABLES = tuple(f"v_{pool.value}_{d.value}" for pool, ds in POOL_DRIVERS.items() for d in ds)
FIXED = tuple(f"x_{pool.value}" for pool in POOLS)
GRAIN = ("org_unit_id", "city_id", "market_id", "grid_id", "customer_id", "product",
         "dest_province")
QUANTITIES = ("parcels", "revenue", "weight_kg", "stops", "kg_km", "trips", "visits",
              "contacts")


def month_bounds(month: dt.date) -> tuple[dt.date, dt.date]:
    """First day of ``month`` and of the next month."""
    first = month.replace(day=1)
    nxt = (first + dt.timedelta(days=32)).replace(day=1)
    return first, nxt


# -- pure rules ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Param:
    """A cost parameter as plain values (a row of :class:`CostParameter`)."""

    id: int
    org_unit_id: int
    pool: CostPool
    driver: CostDriver
    zone: str
    rate: float
    fixed_per_month: float
    allocation_key: str
    valid_from: dt.date

    @property
    def key(self) -> tuple[CostPool, CostDriver, str]:
        return self.pool, self.driver, self.zone


def in_force(params: Iterable[Param], month: dt.date) -> dict[tuple[int, CostPool, CostDriver,
                                                                    str], Param]:
    """The row in force in ``month`` per (org unit, pool, driver, zone): the newest
    ``valid_from`` on or before the month's first day."""
    first = month.replace(day=1)
    found: dict[tuple, Param] = {}
    for p in params:
        if p.valid_from > first:
            continue
        k = (p.org_unit_id, *p.key)
        if k not in found or p.valid_from > found[k].valid_from:
            found[k] = p
    return found


# The rate slots of one city: a (pool, driver, zone) each; last mile once per zone.
SLOTS: tuple[tuple[CostPool, CostDriver, str], ...] = tuple(
    [(pool, d, ALL_ZONES) for pool, ds in POOL_DRIVERS.items() if pool != CostPool.LAST_MILE
     for d in ds]
    + [(CostPool.LAST_MILE, CostDriver.PIECES, z) for z in ZONES])


def slot_column(slot: tuple[CostPool, CostDriver, str]) -> str:
    pool, driver, zone = slot
    return f"r_{pool.value}_{driver.value}" + ("" if zone == ALL_ZONES else f"_{zone}")


def resolve(forced: dict[tuple, Param], chain: Sequence[int]) -> dict[tuple, Param]:
    """The parameter of each rate slot for a unit whose ancestors are ``chain`` (itself first,
    then up to HQ): the nearest unit's row; a zone's own row before the all-zones row."""
    out: dict[tuple, Param] = {}
    for slot in SLOTS:
        pool, driver, zone = slot
        wanted = [zone] if zone == ALL_ZONES else [zone, ALL_ZONES]
        for unit in chain:
            hit = next((forced[(unit, pool, driver, z)] for z in wanted
                        if (unit, pool, driver, z) in forced), None)
            if hit is not None:
                out[slot] = hit
                break
    return out


@dataclass(frozen=True)
class KeyTotals:
    """What a city's parcels of the month weigh in each allocation key."""

    pieces: float = 0.0
    weight: float = 0.0
    revenue: float = 0.0


def fixed_coefficients(
    resolved: dict[int, dict[tuple, Param]], totals: dict[int, KeyTotals]
) -> dict[int, dict[CostPool, dict[str, float]]]:
    """Yuan of fixed cost per unit of key (piece, kg, yuan of revenue), per city and pool.

    A parameter's fixed part is spread over every parcel of the cities it governs (those that
    resolve to it) by its key: each city carries ``fixed × its key / the cities' key``, i.e.
    ``fixed / Σ key`` per unit. A fixed part whose cities have no parcels stays unallocated
    (:func:`unallocated_fixed`)."""
    governs: dict[int, set[int]] = defaultdict(set)
    params: dict[int, Param] = {}
    for city, slots in resolved.items():
        for p in slots.values():
            governs[p.id].add(city)
            params[p.id] = p
    out: dict[int, dict[CostPool, dict[str, float]]] = {
        c: {pool: dict.fromkeys(ALLOCATION_KEYS, 0.0) for pool in POOLS} for c in resolved}
    for pid, cities in governs.items():
        p = params[pid]
        if not p.fixed_per_month:
            continue
        base = sum(getattr(totals.get(c, KeyTotals()), p.allocation_key) for c in cities)
        if base <= 0:
            continue
        for c in cities:
            out[c][p.pool][p.allocation_key] += p.fixed_per_month / base
    return out


def unallocated_fixed(resolved: dict[int, dict[tuple, Param]],
                      totals: dict[int, KeyTotals]) -> float:
    """Fixed parts a month that no parcel carries (their cities shipped nothing by the key)."""
    seen: dict[int, tuple[Param, set[int]]] = {}
    for city, slots in resolved.items():
        for p in slots.values():
            seen.setdefault(p.id, (p, set()))[1].add(city)
    return sum(p.fixed_per_month for p, cities in seen.values()
               if sum(getattr(totals.get(c, KeyTotals()), p.allocation_key) for c in cities) <= 0)


# -- store facts --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Unit:
    id: int
    parent_id: int | None
    level: OrgLevel
    code: str
    name: str
    adcode: str | None
    path: str


def load_units(session: Session) -> dict[int, Unit]:
    """Every org unit (the org tree is not scoped: who sits above whom is no secret)."""
    rows = session.execute(select(OrgUnit.id, OrgUnit.parent_id, OrgUnit.level, OrgUnit.code,
                                  OrgUnit.name, OrgUnit.adcode, OrgUnit.path)).all()
    return {r[0]: Unit(*r) for r in rows}


def chain_of(units: dict[int, Unit], unit_id: int) -> list[int]:
    """``unit_id`` and its ancestors up to HQ."""
    out, cur = [], units.get(unit_id)
    while cur is not None:
        out.append(cur.id)
        cur = units.get(cur.parent_id) if cur.parent_id else None
    return out


def ancestor_at(units: dict[int, Unit], unit_id: int, level: OrgLevel) -> int | None:
    return next((u for u in chain_of(units, unit_id) if units[u].level == level), None)


def load_params(session: Session, unit_ids: Iterable[int]) -> list[Param]:
    """The cost parameters of ``unit_ids`` as plain values. Read unscoped (columns only): a
    city's costs need its province's rates, which a city user's session does not see."""
    ids = sorted(set(unit_ids))
    if not ids:
        return []
    rows = session.execute(
        select(CostParameter.id, CostParameter.org_unit_id, CostParameter.pool,
               CostParameter.driver, CostParameter.zone, CostParameter.rate,
               CostParameter.fixed_per_month, CostParameter.allocation_key,
               CostParameter.valid_from).where(CostParameter.org_unit_id.in_(ids)),
        execution_options={"unscoped": True}).all()
    return [Param(*r) for r in rows]


LINES = pa.schema([("line_id", pa.int32()), ("trips_per_day", pa.float64())])
UNIT_CITY = pa.schema([("org_unit_id", pa.int32()), ("city_id", pa.int64())])
ACTIVITY = pa.schema([("customer_id", pa.int64()), ("org_unit_id", pa.int32()),
                      ("market_id", pa.int32()), ("grid_id", pa.int32()),
                      ("visits", pa.float64()), ("contacts", pa.float64())])


@dataclass
class CostInputs:
    """The store's facts a month's costs need, read once from a (scoped) session."""

    month: dt.date
    scope: Scope
    units: dict[int, Unit]
    params: list[Param]
    lines: pa.Table
    activity: pa.Table  # visits and service cases per customer in the month
    rules: FinanceRules = field(default_factory=FinanceRules)

    @classmethod
    def load(cls, session: Session, scope: Scope, month: dt.date,
             rules: FinanceRules | None = None) -> CostInputs:
        month = month.replace(day=1)
        units = load_units(session)
        # Every unit's rates and every line: the costs are computed for the whole organisation
        # and limited to the scope afterwards (cost_lines), so every viewer gets one figure.
        lines = session.execute(select(DedicatedLine.id, DedicatedLine.trips_per_day),
                                execution_options={"unscoped": True}).all()
        return cls(
            month=month, scope=scope, units=units, params=load_params(session, units),
            lines=pa.Table.from_pylist([{"line_id": i, "trips_per_day": float(t or 0.0)}
                                        for i, t in lines], LINES),
            activity=_activity(session, month), rules=rules or FinanceRules())

    @cached_property
    def cities(self) -> list[int]:
        """Every city unit (the costs are computed for all, then limited to the scope)."""
        found = {self.city_of[u] for u in self.units}
        return sorted(c for c in found if c is not None)

    @cached_property
    def city_of(self) -> dict[int, int | None]:
        """Each org unit's city (``None`` above the cities), worked out once."""
        return {u: ancestor_at(self.units, u, OrgLevel.CITY) for u in self.units}

    @cached_property
    def resolved(self) -> dict[int, dict[tuple, Param]]:
        forced = in_force(self.params, self.month)
        return {c: resolve(forced, chain_of(self.units, c)) for c in self.cities}

    def engine_key(self, lake, grain: tuple[str, ...]) -> tuple:
        """What the engine query of these inputs' cost lines at ``grain`` depends on: equal
        keys build equal expressions (:func:`jiqun.lake.engine.run_prepared`)."""
        return ("cost_lines", str(Path(lake).absolute()),
                bool(dataset_files(Path(lake), WAYBILL_DATASET)), grain, self.month,
                self.scope, tuple(self.params), tuple(sorted(self.units.items())),
                _digest(self.lines), _digest(self.activity), self.rules.model_dump_json())

    @cached_property
    def allocation_units(self) -> frozenset[int] | None:
        """The org units whose parcels the scope's figures depend on (``None``: every unit).

        A city's fixed parts are spread over all its parcels, and a fixed part set above the
        cities over every city it governs; so: the scope's cities, widened to every city that
        shares a fixed part with one of them, and all their units. Costing just these parcels
        gives each viewer HQ's figure for its units at a fraction of the work."""
        if self.scope.whole:
            return None
        inside = {u for u in self.units if self.scope.allows(u)}
        cities = {self.city_of[u] for u in inside} - {None}
        governed: dict[int, set[int]] = defaultdict(set)
        for city, slots in self.resolved.items():
            for param in slots.values():
                if param.fixed_per_month:
                    governed[param.id].add(city)
        grown = True
        while grown:
            grown = False
            for group in governed.values():
                if group & cities and not group <= cities:
                    cities |= group
                    grown = True
        units = inside | {u for u, c in self.city_of.items() if c in cities}
        return None if len(units) == len(self.units) else frozenset(units)


def _digest(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return hashlib.blake2b(sink.getvalue().to_pybytes(), digest_size=16).digest()


def _activity(session: Session, month: dt.date) -> pa.Table:
    """Visits and service cases (contacts) per customer in the month, with the customer's
    unit, market and grid (the scoped session: only customers in scope)."""
    start, end = month_bounds(month)
    visits = dict(session.execute(
        select(Visit.customer_id, func.count()).where(
            Visit.visited_at >= start, Visit.visited_at < end).group_by(Visit.customer_id)).all())
    cases = dict(session.execute(
        select(ServiceCase.customer_id, func.count()).where(
            ServiceCase.customer_id.is_not(None), ServiceCase.opened_at >= start,
            ServiceCase.opened_at < end).group_by(ServiceCase.customer_id)).all())
    ids = sorted(set(visits) | set(cases))
    rows = []
    for chunk in (ids[i:i + 900] for i in range(0, len(ids), 900)):
        for cid, unit, market, grid in session.execute(
                select(Customer.id, Customer.org_unit_id, Customer.market_id, Customer.grid_id)
                .where(Customer.id.in_(chunk))):
            rows.append({"customer_id": cid, "org_unit_id": unit, "market_id": market,
                         "grid_id": grid, "visits": float(visits.get(cid, 0)),
                         "contacts": float(cases.get(cid, 0))})
    return pa.Table.from_pylist(rows, ACTIVITY)


# -- engine -------------------------------------------------------------------------------------
def _unit_city(inputs: CostInputs) -> pa.Table:
    rows = [{"org_unit_id": u, "city_id": c} for u, c in inputs.city_of.items()]
    return pa.Table.from_pylist(rows, UNIT_CITY)


def _geography(inputs: CostInputs) -> pa.Table:
    """Zone and road km from each city to every destination city and province (the key a
    waybill joins on is its destination city, or its province where the city is missing)."""
    places = [d for d in all_divisions().values() if d.level in ("province", "city")]
    rows = []
    for cid in inputs.cities:
        origin = all_divisions().get(inputs.units[cid].adcode or "")
        if origin is None:
            continue
        for d in places:
            km = float(road_km(origin.lon, origin.lat, d.lon, d.lat,
                               inputs.rules.detour_factor))
            rows.append({"city_id": cid, "dest_key": d.adcode,
                         "zone": zone_of(origin.adcode, d.adcode).value,
                         "km": max(km, inputs.rules.min_haul_km)})
    return pa.Table.from_pylist(rows, pa.schema([("city_id", pa.int64()),
                                                 ("dest_key", pa.string()),
                                                 ("zone", pa.string()), ("km", pa.float64())]))


def _fixed_keys(inputs: CostInputs) -> list[tuple[CostPool, str]]:
    """The (pool, key) pairs of the fixed parts in force anywhere: only they become columns."""
    used = {(p.pool, p.allocation_key) for slots in inputs.resolved.values()
            for p in slots.values() if p.fixed_per_month}
    return [(pool, key) for pool in POOLS for key in ALLOCATION_KEYS if (pool, key) in used]


GOVERNS = pa.schema([("gp_param", pa.int64()), ("gp_city", pa.int64()), ("gp_pool", pa.string()),
                     ("gp_fixed", pa.float64()), ("gp_key", pa.string())])


def _governs(inputs: CostInputs) -> pa.Table:
    """Which city each fixed part is spread over: one row per parameter × city using it."""
    rows = [{"gp_param": p.id, "gp_city": city, "gp_pool": p.pool.value,
             "gp_fixed": p.fixed_per_month, "gp_key": p.allocation_key}
            for city, slots in inputs.resolved.items()
            for p in {q.id: q for q in slots.values()}.values() if p.fixed_per_month]
    return pa.Table.from_pylist(rows, GOVERNS)


def _fixed_per_city(w: Table, inputs: CostInputs, keys) -> Table | None:
    """Yuan of fixed cost per unit of key for each city and (pool, key), in the engine: the
    rule of :func:`fixed_coefficients` (``fixed ÷ Σ key`` over the cities a row governs),
    computed in the same query as the costs instead of a round trip for the bases."""
    if not keys:
        return None
    kg = w.weight_kg.cast("float64")
    base = w.group_by(k_city=w.city_id).aggregate(
        k_pieces=w.count().cast("float64"), k_weight=kg.sum(), k_revenue=w.fee.sum())
    gov = memtable(_governs(inputs))
    joined = gov.inner_join(base, gov.gp_city == base.k_city)
    per_param = joined.group_by("gp_param").aggregate(
        p_base=ibis.cases((joined.gp_key == "pieces", joined.k_pieces),
                          (joined.gp_key == "weight", joined.k_weight),
                          else_=joined.k_revenue).sum())
    g = gov.inner_join(per_param, gov.gp_param == per_param.gp_param)
    rate = ibis.ifelse(g.p_base > 0, g.gp_fixed / g.p_base, 0.0)
    return g.group_by(f_city=g.gp_city).aggregate(**{
        f"f_{pool.value}_{key}": ibis.ifelse((g.gp_pool == pool.value) & (g.gp_key == key),
                                             rate, 0.0).sum()
        for pool, key in keys})


def _unit_rates(inputs: CostInputs) -> pa.Table:
    """One row per org unit: its city and the city's rate of each slot (one join brings a
    waybill everything its unit's city charges per driver)."""
    zero = {slot_column(s): 0.0 for s in SLOTS}
    by_city = {}
    for c, slots in inputs.resolved.items():
        row = dict(zero)
        for slot, param in slots.items():
            row[slot_column(slot)] = param.rate
        by_city[c] = row
    rows = []
    for u, city in inputs.city_of.items():
        rows.append({"u_unit": u, "city_id": city, **by_city.get(city, zero)})
    schema = pa.schema([("u_unit", pa.int32()), ("city_id", pa.int64())]
                       + [(n, pa.float64()) for n in zero])
    return pa.Table.from_pylist(rows, schema)


MONTH_COLUMNS = ("waybill_no", "org_unit_id", "customer_id", "market_id", "grid_id", "product",
                 "dest_province", "dest_city", "weight_kg", "fee", "line_id", "ship_time")


def month_waybills(con: ibis.BaseBackend, lake, scope: Scope, month: dt.date) -> Table:
    """The month's waybills in scope (the columns costs need), with their day."""
    start, end = month_bounds(month)
    w = waybills(con, lake, scope)
    w = w.filter((w.ship_time >= start) & (w.ship_time < end)).select(*MONTH_COLUMNS)
    return w.mutate(day=w.ship_time.date())


def key_totals(con: ibis.BaseBackend, w: Table, inputs: CostInputs) -> dict[int, KeyTotals]:
    """Pieces, kg and revenue of each city's parcels of the month (the allocation bases)."""
    cities = memtable(_unit_city(inputs))
    j = w.inner_join(cities, w.org_unit_id == cities.org_unit_id)
    agg = j.group_by("city_id").aggregate(pieces=j.count().cast("float64"),
                                          weight=j.weight_kg.sum().cast("float64"),
                                          revenue=j.fee.sum())
    return {r["city_id"]: KeyTotals(r["pieces"], r["weight"] or 0.0, r["revenue"] or 0.0)
            for r in con.to_pyarrow(agg).to_pylist() if r["city_id"] is not None}


def _zone_rate(t: Table, zone_col) -> ibis.Value:
    case = ibis.cases(*[(zone_col == z, t[slot_column((CostPool.LAST_MILE, CostDriver.PIECES,
                                                        z))]) for z in ZONES],
                      else_=t[slot_column((CostPool.LAST_MILE, CostDriver.PIECES, ZoneKind.FAR
                                           .value))])
    return case


def _geo_table(inputs: CostInputs) -> Table:
    geo = _geography(inputs)
    return memtable(geo.rename_columns(["g_city", "g_dest", "zone", "km"]))


def cost_lines(con: ibis.BaseBackend, lake, inputs: CostInputs,
               grain: Sequence[str] = GRAIN) -> Table:
    """Cost lines of the month: one row per ``grain`` (by default outlet unit, city, market,
    grid, customer, product, destination province; ``org_unit_id`` is always part of it) with
    parcels, revenue, kg, the driver quantities (stops, kg·km, trips, visits, contacts) and
    each pool's variable cost per driver (``v_<pool>_<driver>``) and fixed part (``x_<pool>``);
    ``cost`` is their sum. Visits and contacts are lines of their customer with no parcels, so
    a key may have several lines: sum them with :func:`grouped`. Every cost and ledger figure
    is a sum of these lines; a caller that needs coarser keys asks for them as the grain, and
    the engine never builds the finer groups. Built as one join chain and one projection: the
    expression stays small, so Ibis compiles it fast."""
    grain = tuple(dict.fromkeys(("org_unit_id", *grain)))
    # A city's fixed parts and a line's trips are spread over all their parcels, whoever
    # looks (one figure for every viewer): the parcels of every unit the scope's figures
    # depend on are costed, then limited to the scope at the end; a line's trips are counted
    # over the whole organisation.
    month = month_waybills(con, lake, Scope.WHOLE, inputs.month)
    trips = _line_trips(month, memtable(inputs.lines))
    closure = inputs.allocation_units
    w = month if closure is None else units_filter(month, closure)
    keys = _fixed_keys(inputs)
    cities = memtable(_unit_city(inputs).rename_columns(["u_unit", "city_id"]))
    rates = memtable(_unit_rates(inputs))
    geo = _geo_table(inputs)
    # A stop is a merchant on a day (mixed collection: every product at once); each of its
    # parcels carries an equal share. A waybill with no customer is a stop of its own.
    w = w.mutate(dest_key=ibis.coalesce(w.dest_city, w.dest_province),
                 stream=_stream(w.product) if not inputs.rules.mixed_collection
                 else ibis.literal("all"))
    # Kept narrow: this table feeds the parcels, the fixed parts' bases and the stops, which
    # the engine reads apart; the many rate columns join the parcels only.
    w = w.left_join(cities, w.org_unit_id == cities.u_unit).drop("u_unit")
    fixed_rates = _fixed_per_city(w, inputs, keys)
    per_stop = w.group_by(s_customer=w.customer_id, s_day=w.day, s_stream=w.stream).aggregate(
        s_parcels=w.count())
    j = (w.left_join(geo, (w.city_id == geo.g_city) & (w.dest_key == geo.g_dest))
         .left_join(trips, w.line_id == trips.l_line)
         .left_join(per_stop, (w.customer_id == per_stop.s_customer) & (w.day == per_stop.s_day)
                    & (w.stream == per_stop.s_stream))
         .left_join(rates, w.org_unit_id == rates.u_unit))
    extra = [slot_column(s) for s in SLOTS]
    if fixed_rates is not None:
        j = j.left_join(fixed_rates, w.city_id == fixed_rates.f_city)
        extra += [c for c in fixed_rates.columns if c != "f_city"]
    j = j.select(*w.columns, "zone", "km", "line_kg", "line_trips", "s_parcels", *extra)
    kg = j.weight_kg.cast("float64")
    on_line = j.line_id.notnull() & (j.line_kg > 0)
    stops = ibis.ifelse(j.customer_id.isnull(), 1.0, 1.0 / j.s_parcels.cast("float64"))
    kg_km = ibis.ifelse(on_line, 0.0, kg * j.km.fill_null(0.0))
    line_trips = ibis.ifelse(on_line, j.line_trips * kg / j.line_kg, 0.0)
    r = _rate
    fixed = {}
    for pool in POOLS:
        terms = [j[f"f_{pool.value}_{key}"] * {"pieces": 1.0, "weight": kg, "revenue": j.fee}[key]
                 for p, key in keys if p == pool]
        if terms:
            fixed[f"x_{pool.value}"] = sum(terms[1:], terms[0]).fill_null(0.0)
    costed = j.select(
        *grain, fee=j.fee, kg=kg, stops=stops, kg_km=kg_km, trips=line_trips,
        v_pickup_stops=r(j, CostPool.PICKUP, CostDriver.STOPS) * stops,
        v_pickup_pieces=r(j, CostPool.PICKUP, CostDriver.PIECES),
        v_processing_pieces=r(j, CostPool.PROCESSING, CostDriver.PIECES),
        v_consolidation_pieces=r(j, CostPool.CONSOLIDATION, CostDriver.PIECES),
        v_line_haul_kg_km=r(j, CostPool.LINE_HAUL, CostDriver.KG_KM) * kg_km,
        v_line_haul_trips=r(j, CostPool.LINE_HAUL, CostDriver.TRIPS) * line_trips,
        v_last_mile_pieces=_zone_rate(j, j.zone).fill_null(0.0),
        **fixed,
    )
    sums = {c: costed[c].sum() for c in (*VARIABLES, *FIXED) if c in costed.columns}
    parcels = costed.group_by(*grain).aggregate(
        parcels=costed.count().cast("float64"), revenue=costed.fee.sum(),
        weight_kg=costed.kg.sum(), stops=costed.stops.sum(), kg_km=costed.kg_km.sum(),
        trips=costed.trips.sum(), **sums)
    zero = ibis.literal(0.0)
    parcels = parcels.select(
        *grain, *QUANTITIES[:6], visits=zero, contacts=zero,
        **{c: (parcels[c] if c in sums else zero) for c in (*VARIABLES, *FIXED)})
    lines_out = parcels.union(_activity_lines(inputs, parcels.schema()))
    total = ibis.literal(0.0)
    for c in (*VARIABLES, *FIXED):
        total = total + lines_out[c]
    return scope_filter(lines_out.mutate(cost=total), inputs.scope)


def _rate(t: Table, pool: CostPool, driver: CostDriver):
    return t[slot_column((pool, driver, ALL_ZONES))].fill_null(0.0)


def _stream(product):
    """特快 travels on its own stream when collection is not mixed; 快包 and 标快 together."""
    return ibis.ifelse(product == "express", "express", "parcel")


def _line_trips(w: Table, lines: Table) -> Table:
    """Trips of each dedicated line in the month (trips a day × days it carried parcels) and
    the kg they carried, which spreads the trips over the line's parcels."""
    on = w.filter(w.line_id.notnull())
    agg = on.group_by("line_id").aggregate(days=on.day.nunique(),
                                           line_kg=on.weight_kg.sum().cast("float64"))
    agg = agg.left_join(lines, agg.line_id == lines.line_id.cast(agg.line_id.type()))
    return agg.select(l_line=agg.line_id, line_kg=agg.line_kg,
                      line_trips=(agg.trips_per_day.fill_null(0.0) * agg.days).cast("float64"))


def _activity_lines(inputs: CostInputs, schema) -> Table:
    """Visits and contacts as cost lines of their customer (no parcels), at the rates of the
    customer's city."""
    def rate(city, pool, driver):
        p = inputs.resolved.get(city, {}).get((pool, driver, ALL_ZONES))
        return p.rate if p else 0.0

    act = inputs.activity.to_pydict()
    cities = [inputs.city_of.get(u) for u in act["org_unit_id"]]
    n = len(cities)
    columns = {name: [0.0] * n for name in schema.names}
    columns.update(
        org_unit_id=act["org_unit_id"], city_id=cities, market_id=act["market_id"],
        grid_id=act["grid_id"], customer_id=act["customer_id"], product=[None] * n,
        dest_province=[None] * n, visits=act["visits"], contacts=act["contacts"],
        v_marketing_visits=[v * rate(c, CostPool.MARKETING, CostDriver.VISITS)
                            for v, c in zip(act["visits"], cities, strict=True)],
        v_customer_service_contacts=[
            v * rate(c, CostPool.CUSTOMER_SERVICE, CostDriver.CONTACTS)
            for v, c in zip(act["contacts"], cities, strict=True)])
    arrow = pa.Table.from_pydict({k: columns[k] for k in schema.names}, schema.to_pyarrow())
    return memtable(arrow)


# -- cost per parcel by dimension ---------------------------------------------------------------
DIMENSIONS = ("customer", "market", "lane", "product", "grid", "city")
_DIMENSION_KEYS = {"customer": ("customer_id",), "market": ("market_id",),
                   "grid": ("grid_id",), "product": ("product",), "city": ("city_id",),
                   "lane": ("city_id", "dest_province")}
SUMS = (*QUANTITIES, *VARIABLES, *FIXED, "cost")


def grouped(lines: Table, keys: Sequence[str]) -> Table:
    """The cost lines summed by ``keys``."""
    return lines.group_by(*keys).aggregate(**{s: lines[s].sum() for s in SUMS})


def cost_table(con: ibis.BaseBackend, lake, inputs: CostInputs,
               keys: Sequence[str]) -> pa.Table:
    """The month's cost lines summed by ``keys``: one row per key, every sum of :data:`SUMS`
    (a month without parcels: no rows, the same columns). What every cost and ledger figure
    reads; the engine query of each grain is compiled once per inputs (a page or a bulletin
    asking again runs the SQL alone)."""
    keys = tuple(keys)
    return run_prepared(con, inputs.engine_key(lake, keys),
                        lambda: grouped(cost_lines(con, lake, inputs, keys), keys))


def cost_totals(con: ibis.BaseBackend, lake, inputs: CostInputs,
                keys: Sequence[str]) -> list[dict]:
    """:func:`cost_table` as records."""
    return cost_table(con, lake, inputs, keys).to_pylist()


@dataclass(frozen=True)
class DriverUse:
    """One driver of a pool in one row: quantity × rate = cost (rate: the effective yuan per
    unit over the row's parcels, the resolved rate where one city's)."""

    driver: str
    quantity: float
    rate: float | None
    cost: float


@dataclass(frozen=True)
class PoolCost:
    pool: str
    variable: float
    fixed: float
    drivers: list[DriverUse]

    @property
    def total(self) -> float:
        return self.variable + self.fixed


@dataclass(frozen=True)
class CostRow:
    """Cost per parcel of one customer, market, lane, product or grid, with its drivers."""

    key: str
    label: str
    parcels: int
    revenue: float
    cost: float
    cost_per_parcel: float | None
    pools: list[PoolCost]


def explain(row: dict) -> list[PoolCost]:
    """Each pool's cost of a grouped row as driver quantity × rate + the fixed part. The rate
    is the variable cost ÷ the quantity: the resolved rate where the row lies in one city, the
    parcels' average over cities of different rates (or zones, for the last mile) otherwise."""
    out = []
    for pool in POOLS:
        drivers = []
        for driver in POOL_DRIVERS[pool]:
            qty = float(row.get(QUANTITY[driver]) or 0.0)
            cost = float(row.get(f"v_{pool.value}_{driver.value}") or 0.0)
            drivers.append(DriverUse(driver.value, qty, cost / qty if qty else None, cost))
        out.append(PoolCost(pool.value, sum(d.cost for d in drivers),
                            float(row.get(f"x_{pool.value}") or 0.0), drivers))
    return out


def dimension_rows(con: ibis.BaseBackend, lake, inputs: CostInputs, by: str) -> list[dict]:
    """The cost lines summed by dimension ``by``."""
    if by not in _DIMENSION_KEYS:
        raise ValueError(f"unknown dimension {by!r}")
    return cost_totals(con, lake, inputs, _DIMENSION_KEYS[by])


def cost_per_parcel(
    con: ibis.BaseBackend, lake, session: Session, scope: Scope, month: dt.date,
    by: str = "market", rules: FinanceRules | None = None,
) -> list[CostRow]:
    """Cost per parcel of the month by ``by`` (customer, market, lane, product, grid, city),
    each row with its pools and drivers; most parcels first."""
    inputs = CostInputs.load(session, scope, month, rules)
    rows = dimension_rows(con, lake, inputs, by)
    labels = _labels(session, inputs, by, rows)
    out = []
    for r in rows:
        key = _key_of(by, r)
        pools = explain(r)
        parcels = int(round(r["parcels"] or 0))
        out.append(CostRow(key=key, label=labels.get(key, key), parcels=parcels,
                           revenue=float(r["revenue"] or 0.0), cost=float(r["cost"] or 0.0),
                           cost_per_parcel=(r["cost"] / parcels) if parcels else None,
                           pools=pools))
    out.sort(key=lambda c: (-c.parcels, c.key))
    return out


def _key_of(by: str, row: dict) -> str:
    if by == "lane":
        return f"{row['city_id']}>{row['dest_province']}"
    value = row[_DIMENSION_KEYS[by][0]]
    return "" if value is None else str(value)


def _labels(session: Session, inputs: CostInputs, by: str, rows: list[dict]) -> dict[str, str]:
    from jiqun.store.models import Grid, Market

    divisions = all_divisions()
    if by == "product":
        return {}
    if by == "city":
        return {str(c): inputs.units[c].name for c in inputs.units}
    if by == "lane":
        out = {}
        for r in rows:
            city = inputs.units.get(r["city_id"])
            dest = divisions.get(r["dest_province"] or "")
            out[_key_of(by, r)] = (f"{city.name if city else '?'} → "
                                   f"{dest.short_name if dest else r['dest_province'] or '?'}")
        return out
    model = {"customer": Customer, "market": Market, "grid": Grid}[by]
    ids = [r[_DIMENSION_KEYS[by][0]] for r in rows if r[_DIMENSION_KEYS[by][0]] is not None]
    out = {}
    for chunk in (ids[i:i + 900] for i in range(0, len(ids), 900)):
        for i, name in session.execute(select(model.id, model.name).where(model.id.in_(chunk))):
            out[str(i)] = name
    return out


# -- mixed collection (N4, 混合收寄) ---------------------------------------------------------------
@dataclass(frozen=True)
class MixedSaving:
    """What picking up and processing 特快 with 快包 together saves in a month, and what
    carrying 特快 on the dedicated lines (够量直运) saves against the hub route.

    ``stops_separate`` − ``stops_mixed`` stops (a merchant shipping both on a day is one stop,
    not two) × the stop rate; express pieces collected mixed × the premium of a separate
    express sorting run; express kg on the lines: hub kg·km cost − its share of the trips."""

    stops_mixed: float
    stops_separate: float
    pickup_saving: float
    express_pieces_mixed: float
    processing_saving: float
    express_on_lines: float
    line_saving: float

    @property
    def total(self) -> float:
        return self.pickup_saving + self.processing_saving + self.line_saving


def mixed_collection_saving(con: ibis.BaseBackend, lake, inputs: CostInputs) -> MixedSaving:
    """The N4 saving of the month in scope (see :class:`MixedSaving`)."""
    w = month_waybills(con, lake, inputs.scope, inputs.month)
    cities = memtable(_unit_city(inputs))
    w = w.left_join(cities, w.org_unit_id == cities.org_unit_id).drop("org_unit_id_right")
    w = w.filter(w.customer_id.notnull())
    express = (w.product == "express").cast("int64")
    days = w.group_by("city_id", "customer_id", "day").aggregate(
        express=express.sum(), other=(1 - express).sum())
    per_city = days.group_by("city_id").aggregate(
        mixed=days.count().cast("float64"),
        separate=((days.express > 0).cast("float64") + (days.other > 0).cast("float64")).sum(),
        express_mixed=ibis.ifelse((days.express > 0) & (days.other > 0), days.express, 0)
        .sum().cast("float64"))
    stops = con.to_pyarrow(per_city).to_pylist()
    mixed = separate = express_mixed = pickup = processing = 0.0
    premium = inputs.rules.separate_express_processing_per_piece
    for r in stops:
        rate = _slot_rate(inputs, r["city_id"], CostPool.PICKUP, CostDriver.STOPS)
        mixed += r["mixed"]
        separate += r["separate"] or 0.0
        express_mixed += r["express_mixed"] or 0.0
        pickup += ((r["separate"] or 0.0) - r["mixed"]) * rate
        processing += (r["express_mixed"] or 0.0) * premium
    line_express, line_saving = _express_line_saving(con, lake, inputs)
    return MixedSaving(mixed, separate, pickup, express_mixed, processing, line_express,
                       line_saving)


def _slot_rate(inputs: CostInputs, city: int, pool: CostPool, driver: CostDriver) -> float:
    p = inputs.resolved.get(city, {}).get((pool, driver, ALL_ZONES))
    return p.rate if p else 0.0


def _express_line_saving(con, lake, inputs: CostInputs) -> tuple[float, float]:
    """Express pieces on dedicated lines and what the line saves them against the hub route
    (kg·km at the hub rate − their share of the trips at the trip rate)."""
    w = month_waybills(con, lake, Scope.WHOLE, inputs.month)
    cities = memtable(_unit_city(inputs))
    w = w.left_join(cities, w.org_unit_id == cities.org_unit_id).drop("org_unit_id_right")
    lines = _line_trips(w, memtable(inputs.lines))  # a line's trips over all its parcels
    w = scope_filter(w, inputs.scope)
    geo = memtable(_geography(inputs))
    w = w.mutate(dest_key=ibis.coalesce(w.dest_city, w.dest_province))
    w = w.left_join(geo, (w.city_id == geo.city_id) & (w.dest_key == geo.dest_key)).drop(
        "city_id_right", "dest_key_right")
    w = w.inner_join(lines, w.line_id == lines.l_line)
    w = w.filter((w.product == "express") & (w.line_kg > 0))
    kg = w.weight_kg.cast("float64")
    agg = w.group_by("city_id").aggregate(pieces=w.count().cast("float64"),
                                          kg_km=(kg * w.km.fill_null(0.0)).sum(),
                                          trips=(w.line_trips * kg / w.line_kg).sum())
    pieces = saving = 0.0
    for r in con.to_pyarrow(agg).to_pylist():
        c = r["city_id"]
        if c not in inputs.resolved:
            continue
        pieces += r["pieces"]
        saving += (r["kg_km"] * _slot_rate(inputs, c, CostPool.LINE_HAUL, CostDriver.KG_KM)
                   - r["trips"] * _slot_rate(inputs, c, CostPool.LINE_HAUL, CostDriver.TRIPS))
    return pieces, saving


# -- editing the parameters (COST_EDIT, audited) ----------------------------------------------------
def set_parameter(session: Session, *, org_unit_id: int, pool: CostPool, driver: CostDriver,
                  valid_from: dt.date, rate: float, fixed_per_month: float = 0.0,
                  zone: str = ALL_ZONES, allocation_key: str = "pieces",
                  note: str | None = None, version: int | None = None) -> CostParameter:
    """Set one driver rate of a pool for an org unit from a month on: a new dated row, or the
    row of that very month changed (``version``: the one the editor saw, else a conflict).
    Older months keep their rates (the history); the audit log records who changed what."""
    from jiqun.errors import Conflict, Invalid
    from jiqun.permissions import Action, require

    require(session, Action.COST_EDIT)
    pool, driver = CostPool(pool), CostDriver(driver)
    if driver not in POOL_DRIVERS[pool]:
        raise Invalid({"driver": "This cost pool is not counted in that driver"})
    if zone != ALL_ZONES and (pool != CostPool.LAST_MILE or zone not in ZONES):
        raise Invalid({"zone": "Only the last mile has rates by zone"})
    if allocation_key not in ALLOCATION_KEYS:
        raise Invalid({"allocation_key": "Allocation key must be pieces, weight or revenue"})
    if not (0 <= rate < 1e9 and 0 <= fixed_per_month < 1e12):  # also refuses NaN
        raise Invalid({"rate": "Rates and fixed parts are amounts of zero or more"})
    unit = session.get(OrgUnit, org_unit_id)
    if unit is None or unit.level not in (OrgLevel.HQ, OrgLevel.PROVINCE, OrgLevel.CITY):
        raise Invalid({"org_unit": "Cost parameters belong to a province or a city"})
    first = valid_from.replace(day=1)
    row = session.scalar(select(CostParameter).where(
        CostParameter.org_unit_id == org_unit_id, CostParameter.pool == pool,
        CostParameter.driver == driver, CostParameter.zone == zone,
        CostParameter.valid_from == first))
    if row is None:
        row = CostParameter(org_unit_id=org_unit_id, pool=pool, driver=driver, zone=zone,
                            valid_from=first, rate=rate, fixed_per_month=fixed_per_month,
                            allocation_key=allocation_key, note=note)
        session.add(row)
    else:
        if version is not None and version != row.version:
            raise Conflict("Someone changed this rate meanwhile",
                           mine={"rate": rate}, theirs={"rate": row.rate})
        row.rate, row.fixed_per_month = rate, fixed_per_month
        row.allocation_key, row.note = allocation_key, note
    session.flush()
    return row


@dataclass(frozen=True)
class ParameterView:
    id: int
    org_code: str
    pool: str
    driver: str
    zone: str
    rate: float
    fixed_per_month: float
    allocation_key: str
    valid_from: dt.date
    in_force: bool
    version: int
    note: str | None


def parameter_list(session: Session, month: dt.date | None = None) -> list[ParameterView]:
    """The cost parameters the session may see (its units' own), newest first within each
    slot; ``in_force`` marks the row each slot uses in ``month`` (default: this month)."""
    month = (month or dt.date.today()).replace(day=1)
    rows = list(session.scalars(select(CostParameter)))
    codes = dict(session.execute(select(OrgUnit.id, OrgUnit.code)).all())
    forced = {p.id for p in in_force([_param(r) for r in rows], month).values()}
    out = [ParameterView(r.id, codes.get(r.org_unit_id, "?"), r.pool.value, r.driver.value,
                         r.zone, r.rate, r.fixed_per_month, r.allocation_key, r.valid_from,
                         r.id in forced, r.version, r.note) for r in rows]
    order = {p.value: i for i, p in enumerate(POOLS)}
    return sorted(out, key=lambda v: (v.org_code, order[v.pool], v.driver, v.zone,
                                      -v.valid_from.toordinal()))


def _param(r: CostParameter) -> Param:
    return Param(r.id, r.org_unit_id, r.pool, r.driver, r.zone, r.rate, r.fixed_per_month,
                 r.allocation_key, r.valid_from)
