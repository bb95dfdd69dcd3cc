"""Waybills and tracking events of the demo, one month at a time, vectorised with numpy.

Each merchant's expected daily parcels (:meth:`Timeline.our_rates`) are sampled as Poisson
counts; every other attribute is drawn for the whole month at once: intraday time, platform,
product, destination (gravity model + strong directions), weight by industry, fee by the rate
card, dedicated line, transit time, status. Events exist for the last days only (cheap).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from jiqun.demo.calendar import HOUR_WEIGHTS
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

PLATFORMS = ("taobao", "pdd", "live")
STANDARD_SHARE = 0.02  # 标快: a little of everything
EXCEPTION_RATE = 0.012  # 异常: lost, damaged, address unknown
RETURN_RATE = 0.006  # 退回
EVENT_DAYS = 30  # tracking events are kept for the last 30 days only
EXCEPTION_NOTES = ("地址不详", "包装破损", "收件人拒收", "联系不上收件人")
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
) -> tuple[pa.Table, pa.Table]:
    """The waybills of one month and their tracking events (only in the last ``EVENT_DAYS``)."""
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
    fees = fee(keys.first_kg[cust, product, zone], keys.extra_kg[cust, product, zone], weight)

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
    recent = day >= np.datetime64(tl.until, "D") - (EVENT_DAYS - 1)
    events = _events(rng, keys, numbers, org, market, ship, delivered, status, city, county,
                     has_county, end, recent)
    return waybills, events


def s_origin(spec) -> str:
    from jiqun.demo.merchants import spec_adcode

    return spec_adcode(spec)


def _events(rng, keys, numbers, org, market, ship, delivered, status, city, county, has_county,
            end, recent) -> pa.Table:
    """Tracking events (揽收, 发出, 到达, 派送, 妥投, 异常, 退回) of the recent waybills."""
    idx = np.flatnonzero(recent)
    if len(idx) == 0:
        return EVENTS.empty_table()
    ship, delivered, status, market = ship[idx], delivered[idx], status[idx], market[idx]
    n = len(idx)
    cities = destination_cities()
    dest = np.where(has_county[idx], cities.counties[county[idx]], cities.adcode[city[idx]])
    origin = np.array([s_origin(s) for s in MARKETS])[market]
    departed = ship + rng.integers(2 * 3600, 8 * 3600, n)
    arrived = np.where(
        status == 2,
        np.maximum(delivered - rng.integers(6 * 3600, 20 * 3600, n), departed + 3600),
        ship + ((delivered - ship) * 0.7).astype("int64"),
    )
    out = np.maximum(delivered - rng.integers(3600, 5 * 3600, n), arrived + 600)
    problem = ship + rng.integers(20 * 3600, 60 * 3600, n)
    back = problem + rng.integers(24 * 3600, 72 * 3600, n)
    note = rng.integers(len(EXCEPTION_NOTES), size=n)
    # (code, time, happened, location, facility)
    kinds = [
        ("picked_up", ship, status != 0, origin, keys.outlet_facility_ids[market]),
        ("departed", departed, (status != 0) & (departed <= end), origin,
         keys.departure_facility_ids[market]),
        ("arrived", arrived, (status != 0) & (status != 4) & (arrived <= end), dest, None),
        ("out_for_delivery", out, (status == 2) & (out <= end), dest, None),
        ("delivered", delivered, status == 2, dest, None),
        ("exception", problem, (status >= 3) & (problem <= end), dest, None),
        ("returned", back, (status == 4) & (back <= end), origin, None),
    ]
    tables = []
    for code, when, happened, where, facility in kinds:
        rows = np.flatnonzero(happened)
        if len(rows) == 0:
            continue
        notes = (
            _strings(EXCEPTION_NOTES, note[rows]) if code == "exception"
            else pa.nulls(len(rows), pa.string())
        )
        tables.append(pa.Table.from_arrays(
            [
                numbers.take(pa.array(idx[rows])),
                pa.array(org[idx[rows]], pa.int32()),
                _times(when[rows]),
                pa.repeat(pa.scalar(code, pa.string()), len(rows)),
                pa.array(where[rows], pa.string()),
                pa.array(facility[rows], pa.int32()) if facility is not None
                else pa.nulls(len(rows), pa.int32()),
                notes,
            ],
            schema=EVENTS,
        ))
    return pa.concat_tables(tables) if tables else EVENTS.empty_table()
