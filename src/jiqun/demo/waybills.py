"""Waybills and tracking events of the demo, one month at a time, vectorised with numpy.

Each merchant's expected daily parcels (:meth:`Timeline.our_rates`) are sampled as Poisson
counts; every other attribute is drawn for the whole month at once: intraday time, platform,
product, destination (gravity model + strong directions), weight by industry, fee by the rate
card, dedicated line, transit time, status. Tracking events exist for the last
:data:`EVENT_DAYS` only: for those parcels the journey is drawn leg by leg (:func:`_legs`: the
next truck, the line haul, a delivery wave, failed attempts, lockers), the incidents of
:mod:`jiqun.demo.incidents` are injected into it, and status and delivery time follow the scans.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from jiqun.demo.calendar import HOUR_WEIGHTS
from jiqun.demo.incidents import NONE, Legs, inject
from jiqun.demo.merchants import Merchants
from jiqun.demo.network import (
    LINE_SAVING_HOURS,
    PRODUCTS,
    TRANSIT_HOURS,
    destination_cities,
    destination_probabilities,
    fee,
    zone_table,
)
from jiqun.demo.places import MARKETS
from jiqun.demo.timeline import Timeline
from jiqun.lake.schemas import EVENTS, WAYBILLS
from jiqun.service.promise import PromiseRules

PLATFORMS = ("taobao", "pdd", "live")
STANDARD_SHARE = 0.02  # 标快: a little of everything
EXCEPTION_RATE = 0.012  # 异常: lost, damaged, address unknown
RETURN_RATE = 0.006  # 退回
EVENT_DAYS = 56  # tracking events are kept for the last 8 weeks only (leg times learn from them)
EXCEPTION_NOTES = ("地址不详", "包装破损", "收件人拒收", "联系不上收件人")
STALL_MARKET = "HA-SG"  # whose departure facility stalls (demo.incidents)
STATUSES = ("created", "in_transit", "delivered", "exception", "returned")


@dataclass(frozen=True)
class LineKey:
    """A dedicated line as the generator needs it: which parcels ride it, from when."""

    line_id: int
    market: int
    province: str
    opened_on: np.datetime64


@dataclass
class LakeKeys:
    """Store ids the lake rows refer to, indexed by market or by merchant."""

    market_ids: np.ndarray
    outlet_org_ids: np.ndarray  # per market: the outlet's org unit (the scoping key)
    outlet_facility_ids: np.ndarray  # per market
    departure_facility_ids: np.ndarray  # per market: consolidation centre or the outlet
    customer_ids: np.ndarray  # per merchant
    grid_ids: np.ndarray  # per merchant
    first_kg: np.ndarray  # (merchants, products, zones) yuan
    extra_kg: np.ndarray
    lines: list[LineKey]
    # Our price moves (demo.pricing): the first-weight prices before the move of a market,
    # and per market the first second it no longer holds (the history's start: no move).
    first_kg_before: np.ndarray | None = None
    moved_from: np.ndarray | None = None

    @property
    def stall_facility_id(self) -> int:
        """The facility of the injected stall: Yucheng's consolidation centre (稍岗集包中心)."""
        return int(self.departure_facility_ids[[s.code for s in MARKETS].index(STALL_MARKET)])


def _strings(values, idx: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """A string column as a lookup of small ``values`` (fast, no per-row Python)."""
    out = pa.array(list(values), pa.string()).take(pa.array(idx))
    if valid is not None:
        out = pc.if_else(pa.array(valid), out, pa.scalar(None, pa.string()))
    return out


def _times(seconds: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    mask = None if valid is None else ~valid
    return pa.array(seconds.astype("datetime64[s]"), pa.timestamp("s"), mask=mask)


def _sample_counts(rng, tl: Timeline, merchants: Merchants, span: slice, factor: float):
    """Which merchant ships how many parcels on which day of ``span``."""
    days = tl.days[span]
    custs, dates = [], []
    for m in range(len(MARKETS)):
        rows, rates = tl.our_rates(merchants, m, factor, span)
        counts = rng.poisson(rates)
        r, d = np.nonzero(counts)
        custs.append(np.repeat(rows[r], counts[r, d]))
        dates.append(np.repeat(days[d], counts[r, d]))
    return np.concatenate(custs), np.concatenate(dates)


def _destinations(rng, market: np.ndarray) -> np.ndarray:
    """Destination city index per parcel, from each market's distribution (one searchsorted)."""
    probs = np.array([destination_probabilities(m) for m in range(len(MARKETS))])
    cdf = np.cumsum(probs, axis=1)
    cdf[:, -1] = 1.0
    shifted = (cdf + np.arange(len(MARKETS))[:, None]).ravel()
    flat = np.searchsorted(shifted, market + rng.random(len(market)) * (1 - 1e-12), side="right")
    return flat - market * probs.shape[1]


def _counties(rng, city: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    cities = destination_cities()
    counts = cities.county_counts[city]
    idx = cities.county_offsets[city] + np.floor(rng.random(len(city)) * np.maximum(counts, 1))
    return idx.astype(int), counts > 0


def month_waybills(
    rng: np.random.Generator,
    tl: Timeline,
    merchants: Merchants,
    keys: LakeKeys,
    month: np.datetime64,
    factor: float,
    first_number: int,
) -> tuple[pa.Table, pa.Table, pa.Table]:
    """The waybills of one month, their tracking events (only in the last ``EVENT_DAYS``) and
    the truth of the incidents injected into them (:mod:`jiqun.demo.incidents`)."""
    span = tl.month_slice(month)
    cust, day = _sample_counts(rng, tl, merchants, span, factor)
    n = len(cust)
    hour = rng.choice(24, size=n, p=HOUR_WEIGHTS / HOUR_WEIGHTS.sum())
    ship = day.astype("datetime64[s]").astype("int64") + hour * 3600 + rng.integers(0, 3600, n)
    order = np.lexsort((cust, ship))
    cust, day, ship = cust[order], day[order], ship[order]
    market = merchants.market[cust]

    cum = np.cumsum(merchants.platform_p[cust], axis=1)
    platform = np.minimum((rng.random(n)[:, None] > cum).sum(axis=1), 2)
    express_share = np.array([s.express_share for s in MARKETS])[market]
    u = rng.random(n)
    product = np.where(u < express_share, 0, np.where(u < express_share + STANDARD_SHARE, 2, 1))

    cities = destination_cities()
    city = _destinations(rng, market)
    county, has_county = _counties(rng, city)
    medians = np.array([s.weight_median_kg for s in MARKETS])[market]
    sigmas = np.array([s.weight_sigma for s in MARKETS])[market]
    weight = medians * merchants.weight_mult[cust] * rng.lognormal(0.0, 1.0, n) ** sigmas
    weight = np.round(np.clip(weight, 0.05, 60.0), 2).astype("float32")
    zone = zone_table()[market, city]
    first = keys.first_kg[cust, product, zone]
    if keys.first_kg_before is not None:
        before_move = ship < keys.moved_from[market].astype("int64")
        first = np.where(before_move, keys.first_kg_before[cust, product, zone], first)
    fees = fee(first, keys.extra_kg[cust, product, zone], weight)

    line = np.zeros(n, dtype="int32")
    dest_province = cities.province[city]
    for lk in keys.lines:
        on_line = (market == lk.market) & (dest_province == lk.province) & (day >= lk.opened_on)
        line[on_line] = lk.line_id

    hours = TRANSIT_HOURS[zone] - LINE_SAVING_HOURS * (line > 0)
    delivered = ship + (hours * rng.lognormal(0.0, 0.25, n) * 3600).astype("int64")
    end = (np.datetime64(tl.until, "D") + 1).astype("datetime64[s]").astype("int64")
    u = rng.random(n)
    status = np.where(delivered <= end, 2, np.where(ship > end - 4 * 3600, 0, 1))
    status = np.where(u < EXCEPTION_RATE, 3, np.where(u < EXCEPTION_RATE + RETURN_RATE, 4, status))

    numbers = pc.binary_join_element_wise(
        "9", pc.utf8_lpad(pa.array(np.arange(first_number, first_number + n)).cast(pa.string()), 12, "0"), ""
    )
    org = keys.outlet_org_ids[market]
    recent = np.flatnonzero(day >= np.datetime64(tl.until, "D") - (EVENT_DAYS - 1))
    recent = recent[status[recent] != 0]  # 已下单未揽收: no scans yet
    legs = _legs(rng, keys, market, product, zone, line, ship, status, city, recent)
    truth = inject(rng, legs, numbers.take(pa.array(recent)), end, keys.stall_facility_id,
                   normal=status[recent] <= 2)
    status[recent], delivered[recent] = _recent_status(legs, status[recent], end)
    waybills = pa.Table.from_arrays(
        [
            numbers,
            pa.array(org, pa.int32()),
            pa.array(keys.customer_ids[cust], pa.int64()),
            pa.array(keys.market_ids[market], pa.int32()),
            pa.array(keys.grid_ids[cust], pa.int32()),
            pa.array(keys.outlet_facility_ids[market], pa.int32()),
            _strings(PRODUCTS, product),
            _strings(PLATFORMS, platform),
            _times(ship),
            _strings([s_origin(s) for s in MARKETS], market),
            _strings(cities.province, city),
            _strings(cities.adcode, city),
            _strings(cities.counties, county, has_county),
            pa.array(weight, pa.float32()),
            pa.array(fees, pa.float64()),
            pa.array(line, pa.int32(), mask=line == 0),
            _strings(STATUSES, status),
            _times(delivered, status == 2),
        ],
        schema=WAYBILLS,
    )
    events = _events(rng, keys, numbers, org, market, city, county, has_county, end, recent, legs)
    return waybills, events, truth


def s_origin(spec) -> str:
    from jiqun.demo.merchants import spec_adcode

    return spec_adcode(spec)


# Leg times of the demo network (hours). Trucks leave every DEPARTURE_SLOT hours, at least
# DEPARTURE_HANDLING after pickup; the line haul depends on the zone (express rides faster
# vehicles, a dedicated line skips the sorting centres); destination hubs send couriers out in
# waves, the last mile takes one to five hours.
H = 3600
DEPARTURE_SLOT = 4
DEPARTURE_HANDLING = 2
LINEHAUL_HOURS = np.array([7.0, 16.0, 26.0, 44.0])  # same, neighbour, far, remote
EXPRESS_LINEHAUL = 0.75
LINE_LINEHAUL = 0.7
HUB_HANDLING = 1.5
WAVES = {"express": (8, 11, 14, 17), "standard": (8, 11, 14, 17), "parcel": (8, 14)}
FAILED_ATTEMPT_RATE = 0.04  # 投递失败, tried again the next day
LOCKER_RATE = 0.12  # 入柜 / 驿站, collected some hours later
FAILED_NOTES = ("联系不上收件人", "电话无人接听", "收件人拒收")


def _next_wave(ready: np.ndarray, product: np.ndarray) -> np.ndarray:
    """The first delivery wave of the destination hub at or after ``ready`` (epoch seconds)."""
    day = ready - ready % 86400
    best = np.full(len(ready), np.iinfo("int64").max)
    for p, name in enumerate(PRODUCTS):
        waves = np.array(WAVES[name] + (WAVES[name][0] + 24,)) * H
        mine = product == p
        for w in waves:
            t = day + w
            best = np.where(mine & (t >= ready) & (t < best), t, best)
    return best


def _legs(rng, keys, market, product, zone, line, ship, status, city, idx) -> Legs:
    """Scan times of the recent parcels ``idx``: pickup → departure (the next truck) → arrival
    at the destination hub → out for delivery (a wave) → delivered; some fail once and go out
    the next day, some wait in a locker; 异常 and returns as drawn by ``status``."""
    n = len(idx)
    cities = destination_cities()
    pick = ship[idx]
    prod, zn, on_line = product[idx], zone[idx], line[idx] > 0
    slot = DEPARTURE_SLOT * H
    departed = ((pick + DEPARTURE_HANDLING * H) // slot + 1) * slot + rng.integers(0, 900, n)
    haul = LINEHAUL_HOURS[zn] * np.where(prod == 0, EXPRESS_LINEHAUL, 1.0)
    haul = haul * np.where(on_line, LINE_LINEHAUL, 1.0) * np.clip(rng.lognormal(0, 0.1, n), 0.8, 1.3)
    arrived = departed + (haul * H).astype("int64")
    out = _next_wave(arrived + int(HUB_HANDLING * H), prod) + rng.integers(0, 1200, n)
    first_try = out + rng.integers(1 * H, 5 * H, n)
    u = rng.random(n)
    fails, locks = u < FAILED_ATTEMPT_RATE, (u >= FAILED_ATTEMPT_RATE) & (u < FAILED_ATTEMPT_RATE + LOCKER_RATE)
    out_again = np.where(fails, _next_wave(first_try + 12 * H, prod) + rng.integers(0, 1200, n), NONE)
    locker = np.where(locks, first_try, NONE)
    collected = first_try + (np.clip(rng.lognormal(np.log(8), 0.8, n), 0.5, 40) * H).astype("int64")
    delivered = np.where(fails, out_again + rng.integers(1 * H, 5 * H, n),
                         np.where(locks, collected, first_try))
    st = status[idx]
    problem = np.where(st >= 3, arrived + rng.integers(1 * H, 12 * H, n), NONE)
    returned = np.where(st == 4, problem + rng.integers(24 * H, 72 * H, n), NONE)
    scanned = st <= 2  # 异常 and returns stop at their problem scan
    none = np.full(n, NONE)
    promise = PromiseRules().matrix()[prod, zn]
    line_city = np.where(on_line, cities.adcode[city[idx]], "")
    return Legs(
        picked=pick.copy(), departed=departed, arrived=arrived,
        out=np.where(scanned, out, none), failed=np.where(fails & scanned, first_try, none),
        out_again=np.where(scanned, out_again, none), locker=np.where(scanned, locker, none),
        delivered=np.where(scanned, delivered, none), problem=problem, returned=returned,
        arrival_scanned=np.ones(n, bool),
        departure_facility=keys.departure_facility_ids[market[idx]],
        dest_city=cities.adcode[city[idx]], same_province=zn == 0, line_city=line_city,
        promised=pick + (promise * H).astype("int64"),
    )


def _recent_status(legs: Legs, status: np.ndarray, end: int) -> tuple[np.ndarray, np.ndarray]:
    """Status and delivery time of the recent parcels as their scans say at ``end``."""
    def at(times):
        return (times != NONE) & (times <= end)

    new = np.where(at(legs.delivered), 2, 1)
    new = np.where(status == 3, np.where(at(legs.problem), 3, 1), new)
    new = np.where(status == 4, np.where(at(legs.returned), 4, np.where(at(legs.problem), 3, 1)), new)
    return new, np.where(new == 2, legs.delivered, 0)


def _events(rng, keys, numbers, org, market, city, county, has_county, end, idx, legs) -> pa.Table:
    """Tracking events (揽收, 发出, 到达, 派送, 投递失败, 入柜, 妥投, 异常, 退回) of the recent
    waybills ``idx`` up to ``end``."""
    if len(idx) == 0:
        return EVENTS.empty_table()
    n = len(idx)
    cities = destination_cities()
    dest = np.where(has_county[idx], cities.counties[county[idx]], cities.adcode[city[idx]])
    origin = np.array([s_origin(s) for s in MARKETS])[market[idx]]
    note = rng.integers(len(EXCEPTION_NOTES), size=n)
    failed_note = rng.integers(len(FAILED_NOTES), size=n)
    mkt = market[idx]
    # (code, time, also required, location, facility, notes)
    kinds = [
        ("picked_up", legs.picked, None, origin, keys.outlet_facility_ids[mkt], None),
        ("departed", legs.departed, None, origin, keys.departure_facility_ids[mkt], None),
        ("arrived", legs.arrived, legs.arrival_scanned, dest, None, None),
        ("out_for_delivery", legs.out, None, dest, None, None),
        ("failed_attempt", legs.failed, None, dest, None, (FAILED_NOTES, failed_note)),
        ("out_for_delivery", legs.out_again, None, dest, None, None),
        ("in_locker", legs.locker, None, dest, None, None),
        ("delivered", legs.delivered, None, dest, None, None),
        ("exception", legs.problem, None, dest, None, (EXCEPTION_NOTES, note)),
        ("returned", legs.returned, None, origin, None, None),
    ]
    tables = []
    for code, when, required, where, facility, notes in kinds:
        happened = (when != NONE) & (when <= end)
        if required is not None:
            happened &= required
        rows = np.flatnonzero(happened)
        if len(rows) == 0:
            continue
        tables.append(pa.Table.from_arrays(
            [
                numbers.take(pa.array(idx[rows])),
                pa.array(org[idx[rows]], pa.int32()),
                _times(when[rows]),
                pa.repeat(pa.scalar(code, pa.string()), len(rows)),
                pa.array(where[rows], pa.string()),
                pa.array(facility[rows], pa.int32()) if facility is not None
                else pa.nulls(len(rows), pa.int32()),
                _strings(notes[0], notes[1][rows]) if notes is not None
                else pa.nulls(len(rows), pa.string()),
            ],
            schema=EVENTS,
        ))
    return pa.concat_tables(tables) if tables else EVENTS.empty_table()
