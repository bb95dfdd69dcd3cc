"""Product advice (P2): which merchants should ship with the express product (特快), and why.

Two reasons, as the provinces give them: the goods (tea, glasses, medical devices are
time-sensitive: "茶叶、眼镜、医疗器械等时效性要求高的商品"), and the parcels themselves —
lanes where the merchant's current product misses its promise (``jiqun.service.promise``) often
enough that customers notice. Each advice carries the parcels it would move, and what revenue
and margin a month change when those parcels go express (our average express fee and cost per
parcel in the market against theirs now). It is listed for the merchant's owner as an action
and counted per market in the weekly bulletin.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import ibis
import pyarrow as pa
from sqlalchemy import select
from sqlalchemy.orm import Session

from jiqun.geo import zone_of
from jiqun.lake.engine import memtable, waybills
from jiqun.sales.people import names_of
from jiqun.service.promise import PromiseRules
from jiqun.store.models import Customer, Market
from jiqun.store.scope import Scope

# The goods the seed names as needing speed; a category containing one of these words is
# time-sensitive (tea, glasses and lenses, medical devices and medicine, fresh food, flowers).
TIME_SENSITIVE_WORDS = ("茶", "眼镜", "镜片", "医疗", "药", "生鲜", "鲜花")
EXPRESS = "express"
WINDOW_DAYS = 30
LATE_SHARE = 0.10  # a lane whose parcels miss the promise this often deserves express
MIN_LANE_PARCELS = 20  # fewer parcels on a lane say nothing about its lateness
MIN_PARCELS = 30  # merchants shipping less in the window get no advice yet


@dataclass(frozen=True)
class LateLane:
    dest_province: str
    parcels: int
    late: int

    @property
    def late_share(self) -> float:
        return self.late / self.parcels if self.parcels else 0.0


@dataclass
class ProductAdvice:
    """One merchant that should ship express, why, and what it changes a month."""

    customer_id: int
    code: str
    name: str
    market_id: int | None
    market: str | None
    owner_id: int | None
    owner: str | None
    current_product: str  # what most of its parcels go as now
    recommended: str
    reasons: list[str]  # "goods" and/or "late"
    categories: list[str]
    parcels: int  # in the window, all products
    moved_parcels: int  # a month: the parcels that would go express
    late_share: float  # of its non-express parcels in the window
    late_lanes: list[str] = field(default_factory=list)  # destination provinces
    revenue_change: float = 0.0  # a month
    margin_change: float = 0.0  # a month


def time_sensitive(categories: list[str] | None) -> bool:
    return any(word in c for c in categories or () for word in TIME_SENSITIVE_WORDS)


def _promise_table(pairs: list[tuple[str, str]], promise: PromiseRules) -> pa.Table:
    rows = {"origin_province": [], "dest_province": [], "product": [], "promise_hours": []}
    for origin, dest in pairs:
        zone = zone_of(origin, dest).value
        for product in ("express", "parcel", "standard"):
            rows["origin_province"].append(origin)
            rows["dest_province"].append(dest)
            rows["product"].append(product)
            rows["promise_hours"].append(promise.hours(product, zone))
    return pa.table(rows, schema=pa.schema([
        ("origin_province", pa.string()), ("dest_province", pa.string()),
        ("product", pa.string()), ("promise_hours", pa.float64())]))


def _lanes(con: ibis.BaseBackend, lake, scope: Scope, since: dt.date, until: dt.date,
           promise: PromiseRules) -> list[dict]:
    """Per customer × product × destination province in the window: parcels, revenue and
    the parcels delivered later than their product's promise."""
    w = waybills(con, lake, scope)
    w = w.filter((w.ship_time >= since) & (w.ship_time < until + dt.timedelta(days=1))
                 & w.customer_id.notnull())
    w = w.mutate(origin_province=w.origin_adcode.substr(0, 2) + "0000")
    pairs = [(r["origin_province"], r["dest_province"]) for r in
             w.select("origin_province", "dest_province").distinct().to_pyarrow().to_pylist()
             if r["origin_province"] and r["dest_province"]]
    if not pairs:
        return []
    hours = memtable(_promise_table(pairs, promise))
    j = w.left_join(hours, ["origin_province", "dest_province", "product"])
    late = (j.delivered_time.notnull()
            & ((j.delivered_time.epoch_seconds() - j.ship_time.epoch_seconds())
               > j.promise_hours * 3600))
    return (j.group_by([j.customer_id, j.market_id, j.product, j.dest_province])
            .aggregate(parcels=j.count(), revenue=j.fee.sum(),
                       late=late.cast("int64").sum())
            .to_pyarrow().to_pylist())


def _average_fees(rows: list[dict]) -> dict[tuple, float]:
    """Our average fee per parcel per market × product (what a moved parcel would pay)."""
    sums: dict[tuple, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for r in rows:
        s = sums[(r["market_id"], r["product"])]
        s[0] += r["revenue"] or 0.0
        s[1] += r["parcels"]
    return {k: v[0] / v[1] for k, v in sums.items() if v[1]}


def product_advice(session: Session, con: ibis.BaseBackend, lake, scope: Scope,
                   as_of: dt.date, product_costs: dict[str, float] | None = None,
                   promise: PromiseRules | None = None) -> list[ProductAdvice]:
    """Every merchant of the scope that should ship express, most parcels moved first.

    ``product_costs`` is our cost per parcel by product (``jiqun.money.cost``); without it the
    margin change is the revenue change."""
    promise = promise or PromiseRules.configured()
    since = as_of - dt.timedelta(days=WINDOW_DAYS - 1)
    rows = _lanes(con, lake, scope, since, as_of, promise)
    fee = _average_fees(rows)
    by_customer: dict[int, list[dict]] = defaultdict(list)
    for r in rows:
        by_customer[int(r["customer_id"])].append(r)
    customers = {c.id: c for c in session.scalars(
        select(Customer).where(Customer.id.in_(list(by_customer))))}
    markets = dict(session.execute(select(Market.id, Market.code)).all())
    owners = names_of(session, {c.owner_id for c in customers.values()})
    out = []
    for cid, lanes in by_customer.items():
        customer = customers.get(cid)
        if customer is None:
            continue
        advice = _advice_of(customer, lanes, fee, product_costs or {})
        if advice is None:
            continue
        advice.market = markets.get(advice.market_id)
        advice.owner = owners.get(advice.owner_id)
        out.append(advice)
    out.sort(key=lambda a: (-a.moved_parcels, a.code))
    return out


def _advice_of(customer: Customer, lanes: list[dict], fee: dict[tuple, float],
               costs: dict[str, float]) -> ProductAdvice | None:
    """The advice for one merchant from its window's lanes (pure)."""
    parcels = sum(r["parcels"] for r in lanes)
    slow = [r for r in lanes if r["product"] != EXPRESS]
    if parcels < MIN_PARCELS or not slow:
        return None
    per_product: dict[str, int] = defaultdict(int)
    for r in lanes:
        per_product[r["product"]] += r["parcels"]
    current = max(per_product, key=lambda p: (per_product[p], p))
    goods = time_sensitive(customer.categories)
    late_lanes = [LateLane(r["dest_province"], r["parcels"], r["late"] or 0) for r in slow]
    bad = [lane for lane in late_lanes
           if lane.parcels >= MIN_LANE_PARCELS and lane.late_share > LATE_SHARE]
    if not goods and not bad:
        return None
    moved = slow if goods else [r for r in slow if r["dest_province"] in
                                {lane.dest_province for lane in bad}]
    scale = 30 / WINDOW_DAYS
    revenue_change = margin_change = 0.0
    moved_parcels = 0
    for r in moved:
        express_fee = fee.get((r["market_id"], EXPRESS))
        if express_fee is None:
            continue
        now = (r["revenue"] or 0.0) / r["parcels"]
        extra_cost = costs.get(EXPRESS, 0.0) - costs.get(r["product"], 0.0)
        revenue_change += r["parcels"] * (express_fee - now) * scale
        margin_change += r["parcels"] * (express_fee - now - extra_cost) * scale
        moved_parcels += r["parcels"]
    slow_parcels = sum(r["parcels"] for r in slow)
    return ProductAdvice(
        customer.id, customer.code, customer.name, customer.market_id, None, customer.owner_id,
        None, current, EXPRESS, (["goods"] if goods else []) + (["late"] if bad else []),
        list(customer.categories or []), parcels, round(moved_parcels * scale),
        sum(lane.late for lane in late_lanes) / slow_parcels if slow_parcels else 0.0,
        sorted(lane.dest_province for lane in bad), round(revenue_change, 2),
        round(margin_change, 2))


def counts_by_market(advice: list[ProductAdvice],
                     name: Callable[[ProductAdvice], str] = lambda a: a.market or "—",
                     ) -> list[tuple[str, int]]:
    """Merchants with product advice per market (the weekly bulletin's line), most first."""
    counts: dict[str, int] = defaultdict(int)
    for a in advice:
        counts[name(a)] += 1
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def product_costs(session: Session, con: ibis.BaseBackend, lake, scope: Scope,
                  month: dt.date) -> dict[str, float]:
    """Our cost per parcel by product in ``month`` (the cost model), for the margin change."""
    from jiqun.money.cost import cost_per_parcel

    return {r.key: r.cost_per_parcel for r in cost_per_parcel(con, lake, session, scope, month,
                                                               by="product")
            if r.cost_per_parcel is not None}


def advice(session: Session, con: ibis.BaseBackend, lake, scope: Scope, as_of: dt.date,
           owner_id: int | None = None, promise: PromiseRules | None = None
           ) -> list[ProductAdvice]:
    """The product advice of the scope up to ``as_of``, with margins from the last full
    month's costs; only ``owner_id``'s merchants when given (a marketer's own list)."""
    month = (as_of.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    found = product_advice(session, con, lake, scope, as_of,
                           product_costs(session, con, lake, scope, month), promise)
    return [a for a in found if owner_id is None or a.owner_id == owner_id]
