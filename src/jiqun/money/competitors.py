"""Competitor prices heard in the field (竞争对手价格) as a time series, and our price against
them per market × zone × weight band × carrier: the gap and its trend (P1).

Every observation — a marketer's visit (the visit form asks for the competitor and its price)
or a price survey row — is a :class:`~jiqun.store.models.CompetitorPrice`. Each one is set
against **our** price for the same parcel on the same day (:func:`jiqun.money.rates.quote`: the
same market, destination and weight), so a gap is always like for like; an observation without
a destination is compared at the market's own province (a local parcel, the commonest one).
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from jiqun.errors import NotFound
from jiqun.geo.zones import ZoneKind
from jiqun.money import rates
from jiqun.money.tariff import chargeable_weight, line_price, pick_line, with_surcharges
from jiqun.store.models import CompetitorPrice, Market, Product

WEIGHT_BANDS: tuple[tuple[float, float, str], ...] = (
    (0.0, 1.0, "0-1"), (1.0, 3.0, "1-3"), (3.0, 5.0, "3-5"), (5.0, float("inf"), "5+"),
)
PRODUCT = "parcel"  # what competitors are quoted against: the e-commerce parcel (快包)
TREND_MONTHS = 3  # the trend is the change of the monthly median over this many months


def weight_band(weight_kg: float) -> str:
    return next(label for low, high, label in WEIGHT_BANDS
                if low < weight_kg <= high or (low == 0 and weight_kg == 0))


@dataclass(frozen=True)
class Observation:
    """One competitor price set against ours for the same parcel and day."""

    observed_on: dt.date
    competitor: str
    zone: str
    band: str
    dest: str  # the destination's province
    weight_kg: float
    theirs: float
    ours: float

    @property
    def gap(self) -> float:
        """Our price minus theirs: positive when we are dearer."""
        return round(self.ours - self.theirs, 2)


@dataclass(frozen=True)
class GapRow:
    """Per zone × band × carrier: the latest month's median prices, the gap, and the trend."""

    zone: str
    band: str
    competitor: str
    month: str  # YYYY-MM of the latest observations
    observations: int
    ours: float
    theirs: float
    gap: float
    gap_trend: float | None  # gap now − gap TREND_MONTHS months before (None: no data then)
    their_trend: float | None  # their price now − then


@dataclass(frozen=True)
class SeriesPoint:
    month: str
    zone: str
    band: str
    competitor: str
    observations: int
    ours: float
    theirs: float
    gap: float


def observations(session: Session, market_id: int, since: dt.date | None = None,
                 until: dt.date | None = None) -> list[Observation]:
    """The market's competitor prices (in the session's scope) with our price beside each."""
    market = session.get(Market, market_id)
    if market is None:
        raise NotFound("market")
    query = select(CompetitorPrice).where(CompetitorPrice.market_id == market_id)
    if since:
        query = query.where(CompetitorPrice.observed_on >= since)
    if until:
        query = query.where(CompetitorPrice.observed_on <= until)
    ours = _OurPrices(session, market_id)
    home = ours.origin.province_adcode or market.adcode
    found = []
    for row in session.scalars(query.order_by(CompetitorPrice.observed_on, CompetitorPrice.id)):
        dest = row.dest_province_adcode or home
        price = ours.price(dest, row.weight_kg, row.observed_on)
        if price is None:
            continue  # no card of ours priced that parcel that day: nothing to compare
        found.append(Observation(row.observed_on, row.competitor,
                                 ours.zone(dest), weight_band(row.weight_kg), dest,
                                 row.weight_kg, row.price, price))
    return found


class _OurPrices:
    """Our tariff price of a parcel (the card in force that day, its line and surcharges; no
    customer's contract), memoised: a card version holds for months, a zone for ever."""

    def __init__(self, session: Session, market_id: int) -> None:
        self.session = session
        self.origin = rates.origin_of(session, market_id)
        self.versions: dict[dt.date, rates.CardVersion | None] = {}
        self.lines: dict[int, list] = {}
        self.surcharges: dict[int, list] = {}
        self.zones: dict[str, str] = {}

    def zone(self, dest: str) -> str:
        if dest not in self.zones:
            self.zones[dest] = rates.zone_for(self.session, self.origin, dest)
        return self.zones[dest]

    def card(self, on: dt.date) -> rates.CardVersion | None:
        """The card in force on ``on``: looked up at the month's first and last day, and day by
        day only in a month where the two differ (a version that came in force mid-month)."""
        first = on.replace(day=1)
        last = (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
        for day in (first, last):
            if day not in self.versions:
                self.versions[day] = rates.card_in_force(self.session, self.origin,
                                                         Product(PRODUCT), day)
        a, b = self.versions[first], self.versions[last]
        if (a and a.version_id) == (b and b.version_id):
            return a
        if on not in self.versions:
            self.versions[on] = rates.card_in_force(self.session, self.origin, Product(PRODUCT), on)
        return self.versions[on]

    def price(self, dest: str, weight_kg: float, on: dt.date) -> float | None:
        card = self.card(on)
        if card is None:
            return None
        if card.version_id not in self.lines:
            self.lines[card.version_id] = rates.lines_of(self.session, card.version_id)
            self.surcharges[card.version_id] = rates.surcharges_of(self.session, card.version_id)
        weight = chargeable_weight(weight_kg, None, card.divisor)
        line = pick_line(self.lines[card.version_id], self.zone(dest), weight)
        if line is None:
            return None
        price, _ = with_surcharges(line_price(line, weight), self.surcharges[card.version_id],
                                   dest, on)
        return float(price)


def monthly_series(found: Iterable[Observation]) -> list[SeriesPoint]:
    """Monthly medians per zone × band × carrier (pure)."""
    groups: dict[tuple, list[Observation]] = defaultdict(list)
    for o in found:
        groups[(o.observed_on.strftime("%Y-%m"), o.zone, o.band, o.competitor)].append(o)
    return [
        SeriesPoint(month, zone, band, comp, len(obs),
                    round(statistics.median(o.ours for o in obs), 2),
                    round(statistics.median(o.theirs for o in obs), 2),
                    round(statistics.median(o.gap for o in obs), 2))
        for (month, zone, band, comp), obs in sorted(groups.items())
    ]


def _months_before(month: str, k: int) -> str:
    year, mon = map(int, month.split("-"))
    index = year * 12 + mon - 1 - k
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def gap_table(points: Iterable[SeriesPoint]) -> list[GapRow]:
    """The latest month of each zone × band × carrier, with the trend against
    :data:`TREND_MONTHS` months before (the nearest earlier month with data, if any)."""
    by_key: dict[tuple, list[SeriesPoint]] = defaultdict(list)
    for p in points:
        by_key[(p.zone, p.band, p.competitor)].append(p)
    rows = []
    for (zone, band, comp), series in by_key.items():
        series.sort(key=lambda p: p.month)
        last = series[-1]
        cutoff = _months_before(last.month, TREND_MONTHS)
        earlier = [p for p in series if p.month <= cutoff]
        then = earlier[-1] if earlier else None
        rows.append(GapRow(
            zone, band, comp, last.month, last.observations, last.ours, last.theirs, last.gap,
            round(last.gap - then.gap, 2) if then else None,
            round(last.theirs - then.theirs, 2) if then else None))
    zone_order = {kind.value: i for i, kind in enumerate(ZoneKind)}
    return sorted(rows, key=lambda r: (zone_order.get(r.zone, 9), r.band, r.competitor))


def price_comparison(session: Session, market_id: int, on: dt.date,
                     months: int = 12) -> tuple[list[GapRow], list[SeriesPoint]]:
    """Our price against each competitor's in a market: the gap table (latest month) and the
    monthly series of the last ``months`` months up to ``on``."""
    since = (on.replace(day=1) - dt.timedelta(days=31 * (months - 1))).replace(day=1)
    points = monthly_series(observations(session, market_id, since, on))
    return gap_table(points), points
