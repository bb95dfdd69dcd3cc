"""Tiered operation (M2, 分级运营): a province's TOP-N markets by potential (潜力) and the
key-city targets (重点产粮区: one 10M-yuan and two 5M-yuan markets per key city).

Potential (潜力), parcels a day (formula in ``docs/markets.md``):

* the latest estimate of all carriers' daily volume (市场总量, ``MarketVolumeEstimate`` with
  carrier ``*``) valid on the data date, when the market has one;
* otherwise the merchants' volume: the archived merchants' own estimates
  (``Customer.est_daily_volume``) plus, for each merchant without one, the typical merchant
  (the median estimate of the market's merchants; of the scope's merchants when the market has
  none).

Our volume and share come from the KPI facade (:class:`~jiqun.kpi.service.OperatingPicture`
``volume`` and ``share``) over the 30 days up to the data date; the gap is potential − our daily
parcels. The ranking functions are pure and take plain records; the loaders read the scoped store
and the facade.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from jiqun.kpi.rules import KpiRules
from jiqun.kpi.service import OperatingPicture
from jiqun.store.estimates import market_volumes
from jiqun.store.models import Customer, Market, OrgLevel, OrgUnit
from jiqun.store.org import ancestors

WINDOW_DAYS = 30  # the window of our volume and share, as on the market pages
RankBy = Literal["potential", "gap"]


# -- potential ----------------------------------------------------------------------------------
@dataclass
class MarketFacts:
    """What the ranking needs of one market."""

    market_id: int
    code: str
    name: str
    city: str
    key_area: bool
    tier: str | None
    estimate_daily: float | None  # all carriers, parcels a day
    merchant_volumes: list[float | None] = field(default_factory=list)  # each merchant's estimate
    our_parcels: int = 0  # in the window
    window_days: int = WINDOW_DAYS
    market_total: float | None = None  # estimated parcels of all carriers over the window


@dataclass
class MarketPotential:
    rank: int
    market_id: int
    code: str
    name: str
    city: str
    key_area: bool
    tier: str | None
    merchants: int
    estimate_daily: float | None
    merchant_daily: float
    potential_daily: float
    potential_source: str  # "estimate" | "merchants"
    our_daily: float
    share: float | None
    gap_daily: float


def typical_merchant_volume(volumes: list[float | None], fallback: float) -> float:
    """The median of the known merchant estimates (典型商家日均量); ``fallback`` without any."""
    known = [v for v in volumes if v is not None]
    return float(statistics.median(known)) if known else fallback


def merchant_daily_volume(volumes: list[float | None], typical: float) -> float:
    """Known estimates added up, plus the typical merchant for each merchant without one."""
    return sum(v for v in volumes if v is not None) + typical * sum(v is None for v in volumes)


def rank_by_potential(facts: list[MarketFacts], top: int | None = None,
                      by: RankBy = "potential") -> list[MarketPotential]:
    """Markets ranked by potential (or by the gap), largest first, ties by code."""
    everyone = [v for f in facts for v in f.merchant_volumes]
    scope_typical = typical_merchant_volume(everyone, 0.0)
    rows = []
    for f in facts:
        merchants = merchant_daily_volume(
            f.merchant_volumes, typical_merchant_volume(f.merchant_volumes, scope_typical))
        potential = f.estimate_daily if f.estimate_daily is not None else merchants
        our_daily = f.our_parcels / f.window_days if f.window_days else 0.0
        rows.append(MarketPotential(
            rank=0, market_id=f.market_id, code=f.code, name=f.name, city=f.city,
            key_area=f.key_area, tier=f.tier, merchants=len(f.merchant_volumes),
            estimate_daily=f.estimate_daily, merchant_daily=round(merchants, 2),
            potential_daily=round(potential, 2),
            potential_source="estimate" if f.estimate_daily is not None else "merchants",
            our_daily=round(our_daily, 2),
            share=f.our_parcels / f.market_total if f.market_total else None,
            gap_daily=round(potential - our_daily, 2),
        ))
    metric = "potential_daily" if by == "potential" else "gap_daily"
    rows.sort(key=lambda r: (-getattr(r, metric), r.code))
    for i, row in enumerate(rows, start=1):
        row.rank = i
    return rows[:top] if top else rows


# -- loading --------------------------------------------------------------------------------------
def _cities(session: Session, unit_ids: set[int]) -> dict[int, OrgUnit | None]:
    """The city (or the unit itself above city level) of each org unit."""
    out = {}
    for unit_id in unit_ids:
        unit = session.get(OrgUnit, unit_id)
        chain = ancestors(session, unit)
        out[unit_id] = next((u for u in chain if u.level == OrgLevel.CITY), None)
    return out


def window(as_of: dt.date | None, days: int = WINDOW_DAYS) -> tuple[dt.date, dt.date] | None:
    return None if as_of is None else (as_of - dt.timedelta(days=days - 1), as_of)


def load_facts(session: Session, picture: OperatingPicture) -> tuple[list[MarketFacts],
                                                                      dt.date | None]:
    """Every market of the session's scope with its estimate, merchants and our figures."""
    markets = list(session.scalars(select(Market).order_by(Market.code)))
    cities = _cities(session, {m.org_unit_id for m in markets})
    merchants: dict[int, list[float | None]] = defaultdict(list)
    for market_id, volume in session.execute(
            select(Customer.market_id, Customer.est_daily_volume)
            .where(Customer.market_id.is_not(None))):
        merchants[market_id].append(volume)
    as_of = picture.data_date()
    estimates = market_volumes(session, as_of or dt.date.today())
    ours: dict[int, int] = defaultdict(int)
    totals: dict[int, float] = defaultdict(float)
    span = window(as_of)
    if span is not None:
        for row in picture.volume("market", "month", *span):
            if row.get("market_id") is not None:
                ours[row["market_id"]] += int(row["parcels"])
        for row in picture.share("month", *span):
            if row["market_total"]:
                totals[row["market_id"]] += row["market_total"]
    facts = []
    for m in markets:
        city = cities.get(m.org_unit_id)
        facts.append(MarketFacts(
            market_id=m.id, code=m.code, name=m.name, city=city.name if city else "",
            key_area=bool(m.key_area), tier=m.tier, estimate_daily=estimates.get(m.id),
            merchant_volumes=merchants.get(m.id, []), our_parcels=ours.get(m.id, 0),
            market_total=totals.get(m.id),
        ))
    return facts, as_of


def top_markets(session: Session, picture: OperatingPicture, top: int | None = 10,
                by: RankBy = "potential") -> tuple[list[MarketPotential], dt.date | None]:
    """The scope's TOP-N markets by potential (or gap) and the data date they were read at."""
    facts, as_of = load_facts(session, picture)
    return rank_by_potential(facts, top, by), as_of


# -- key-city targets -------------------------------------------------------------------------------
@dataclass
class KeyMarket:
    market_id: int
    code: str
    name: str
    yearly_revenue_target: float | None
    slot: float | None  # the plan's threshold this market fills (None: fills none)
    revenue_ytd: float = 0.0
    expected_ytd: float | None = None  # the target prorated to the day of the year
    progress: float | None = None  # revenue_ytd / expected_ytd


@dataclass
class PlanSlot:
    threshold: float
    planned: int
    filled: int

    @property
    def met(self) -> bool:
        return self.filled >= self.planned


@dataclass
class KeyCity:
    city_id: int
    code: str
    name: str
    slots: list[PlanSlot]
    markets: list[KeyMarket]

    @property
    def met(self) -> bool:
        return all(s.met for s in self.slots)

    def record(self) -> dict:
        """One flat row (the CLI's table): markets per threshold against the plan."""
        row = {"city": self.name, "code": self.code, "markets": len(self.markets)}
        for n, s in enumerate(self.slots, 1):  # highest target first
            row[f"threshold_{n}"] = s.threshold
            row[f"planned_{n}"] = s.planned
            row[f"filled_{n}"] = s.filled
        row["met"] = self.met
        return row

    def as_dict(self) -> dict:
        return {**asdict(self), "met": self.met,
                "slots": [{**asdict(s), "met": s.met} for s in self.slots]}


def fill_slots(targets: list[tuple[str, float | None]], plan: tuple[tuple[float, int], ...]
               ) -> tuple[list[PlanSlot], dict[str, float]]:
    """Fill the plan's slots from the highest target down: a market fills the highest slot
    whose threshold its yearly target reaches and that is still open, else the next lower one
    (a second 10M market counts for a 5M slot). Returns the slots and code → threshold."""
    slots = [PlanSlot(threshold, planned, 0) for threshold, planned in
             sorted(plan, key=lambda p: -p[0])]
    chosen: dict[str, float] = {}
    for code, target in sorted(targets, key=lambda t: (-(t[1] or 0), t[0])):
        for slot in slots:
            if target is not None and target >= slot.threshold and not slot.met:
                slot.filled += 1
                chosen[code] = slot.threshold
                break
    return slots, chosen


def year_fraction(as_of: dt.date) -> float:
    """Share of the year elapsed up to and including ``as_of``."""
    start = dt.date(as_of.year, 1, 1)
    days = (dt.date(as_of.year + 1, 1, 1) - start).days
    return ((as_of - start).days + 1) / days


def key_city_targets(session: Session, picture: OperatingPicture | None = None,
                     plan: tuple[tuple[float, int], ...] | None = None) -> list[KeyCity]:
    """Per key city (a city with a key-area market, 重点产粮区): its markets' yearly revenue
    targets against the plan (the rule ``key_city_plan`` of the picture's KPI rules), and, with
    ``picture``, each market's revenue this year so far."""
    if plan is None:
        plan = (picture.rules if picture is not None else KpiRules()).key_city_slots()
    markets = list(session.scalars(select(Market).order_by(Market.code)))
    cities = _cities(session, {m.org_unit_id for m in markets})
    by_city: dict[int, list[Market]] = defaultdict(list)
    for m in markets:
        city = cities.get(m.org_unit_id)
        if city is not None:
            by_city[city.id].append(m)
    revenue, as_of = {}, picture.data_date() if picture is not None else None
    if as_of is not None:
        for row in picture.volume("market", "month", dt.date(as_of.year, 1, 1), as_of):
            if row.get("market_id") is not None:
                revenue[row["market_id"]] = revenue.get(row["market_id"], 0.0) + row["revenue"]
    out = []
    for city_id, own in by_city.items():
        if not any(m.key_area for m in own):
            continue
        city = session.get(OrgUnit, city_id)
        slots, chosen = fill_slots([(m.code, m.yearly_revenue_target) for m in own], plan)
        rows = []
        for m in sorted(own, key=lambda m: (-(m.yearly_revenue_target or 0), m.code)):
            expected = (m.yearly_revenue_target * year_fraction(as_of)
                        if as_of is not None and m.yearly_revenue_target else None)
            got = revenue.get(m.id, 0.0)
            rows.append(KeyMarket(m.id, m.code, m.name, m.yearly_revenue_target,
                                  chosen.get(m.code), round(got, 2),
                                  round(expected, 2) if expected else None,
                                  got / expected if expected else None))
        out.append(KeyCity(city.id, city.code, city.name, slots, rows))
    return sorted(out, key=lambda c: c.code)
