"""Price advice from the data (P1): the merchants' price response fitted on what the user may
see, its check on held-out months, and "if we change our price by ¥x for zone Y in market X"
with parcels, share, revenue and margin per month and an interval.

The panel (merchant × month): parcels with us from the lake's daily aggregates; the merchant's
parcels with all carriers from its archive (``est_daily_volume`` × days), following its
market's monthly survey figure (growth and season); the gap it saw — the
market's median, that month, of our parcel price minus each competitor price heard
(:mod:`jiqun.money.competitors`), carried forward through months without observations. Only
whole months in which the merchant shipped with us both before and after count (a merchant
that started or stopped within the window says nothing about price). The model itself is
:mod:`jiqun.money.response`.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from dataclasses import dataclass

import ibis
import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jiqun.errors import Invalid, NotFound
from jiqun.lake.engine import daily, lanes
from jiqun.money import competitors, response
from jiqun.money.response import Outcome, Panel, ResponseFit, Segment, Validation
from jiqun.store.models import ALL_CARRIERS, Customer, Market, MarketVolumeEstimate
from jiqun.store.scope import Scope

WINDOW_MONTHS = 24
HOLDOUT_MONTHS = 3
MIN_MERCHANT_MONTHS = 3
MAX_CHANGE = 5.0  # yuan: a what-if beyond this is no longer the same market
ADVICE_RANGE = 0.5  # yuan: the advice looks this far either way (a step a market can take)


@dataclass(frozen=True)
class PanelData:
    panel: Panel
    months: list[dt.date]  # index → first day of the month
    merchant_ids: np.ndarray  # index → customer id
    market_gaps: dict[int, list[float | None]]  # market id → gap per month (None: no data)


def _month_starts(last: dt.date, count: int) -> list[dt.date]:
    index = last.year * 12 + last.month - 1
    return [dt.date((index - k) // 12, (index - k) % 12 + 1, 1) for k in range(count - 1, -1, -1)]


def _days_in(month: dt.date) -> int:
    nxt = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return (nxt - month).days


def last_full_month(as_of: dt.date) -> dt.date:
    """The last month that ``as_of`` completes (itself when it is a month's last day)."""
    if (as_of + dt.timedelta(days=1)).day == 1:
        return as_of.replace(day=1)
    return (as_of.replace(day=1) - dt.timedelta(days=1)).replace(day=1)


def market_gaps(session: Session, market_ids: list[int], months: list[dt.date],
                until: dt.date) -> dict[int, list[float | None]]:
    """Per market and month: the gap its merchants saw (first weight), carried forward (and
    back, before the first observation) through months without any observation.

    Each carrier × destination has its own level (one carrier is dearer to Beijing, another
    cheaper locally), and which of them a marketer happens to hear of changes from month to
    month; so the month's gap is the month effect of ``gap = pair level + month`` fitted over
    the market's observations (:func:`month_effects`), not a median whose mix would move."""
    out = {}
    for market_id in market_ids:
        found = [o for o in competitors.observations(session, market_id, months[0], until)
                 if o.band == competitors.WEIGHT_BANDS[0][2]]
        index = {m: k for k, m in enumerate(months)}
        rows = [((o.competitor, o.dest), index[o.observed_on.replace(day=1)], o.gap)
                for o in found if o.observed_on.replace(day=1) in index]
        out[market_id] = _filled(month_effects(rows, len(months)))
    return out


def month_effects(rows: list[tuple[object, int, float]], months: int,
                  sweeps: int = 200) -> list[float | None]:
    """``gap = level[pair] + effect[month]`` by alternating means; returns the month effects
    plus the mean pair level (a gap in yuan), None for months without observations."""
    if not rows:
        return [None] * months
    pairs = {p: k for k, p in enumerate(sorted({p for p, _, _ in rows}, key=str))}
    p = np.array([pairs[r[0]] for r in rows])
    t = np.array([r[1] for r in rows])
    g = np.array([r[2] for r in rows], dtype=float)
    level, effect = np.zeros(len(pairs)), np.zeros(months)
    seen = np.bincount(t, minlength=months) > 0
    for _ in range(sweeps):
        level = _means(g - effect[t], p, len(pairs))
        new = _means(g - level[p], t, months)
        new -= new[seen].mean()
        if np.max(np.abs(new - effect)) < 1e-9:
            effect = new
            break
        effect = new
    base = float(level.mean())
    return [float(base + effect[k]) if seen[k] else None for k in range(months)]


def _means(values: np.ndarray, groups: np.ndarray, size: int) -> np.ndarray:
    counts = np.bincount(groups, minlength=size)
    return np.bincount(groups, weights=values, minlength=size) / np.maximum(counts, 1)


def market_indices(session: Session, market_ids: list[int],
                   months: list[dt.date]) -> dict[int, list[float]]:
    """Per market and month: the market's daily volume of all carriers (the market survey,
    ``MarketVolumeEstimate``) over its mean in the window — how a merchant's parcels with all
    carriers follow its market's growth and season (1 where the survey has no figure)."""
    rows = session.execute(
        select(MarketVolumeEstimate.market_id, MarketVolumeEstimate.valid_from,
               MarketVolumeEstimate.daily_volume)
        .where(MarketVolumeEstimate.market_id.in_(market_ids),
               MarketVolumeEstimate.carrier == ALL_CARRIERS,
               MarketVolumeEstimate.valid_from >= months[0],
               MarketVolumeEstimate.valid_from <= months[-1])).all()
    found: dict[int, dict[dt.date, float]] = defaultdict(dict)
    for market_id, valid_from, volume in rows:
        found[market_id][valid_from.replace(day=1)] = float(volume)
    out = {}
    recent = set(months[-12:])
    for market_id in market_ids:
        values = found.get(market_id, {})
        last_year = [v for m, v in values.items() if m in recent]
        mean = statistics.fmean(last_year) if last_year else 0.0
        out[market_id] = [values[m] / mean if mean and m in values else 1.0 for m in months]
    return out


def _filled(values: list[float | None]) -> list[float | None]:
    known = [v for v in values if v is not None]
    if not known:
        return values
    filled, last = [], known[0]
    for v in values:
        last = v if v is not None else last
        filled.append(last)
    return filled


def build_panel(session: Session, con: ibis.BaseBackend, lake, scope: Scope, as_of: dt.date,
                window: int = WINDOW_MONTHS) -> PanelData:
    """The merchant × month panel of the scope up to the last full month before ``as_of``."""
    months = _month_starts(last_full_month(as_of), window)
    first, end = months[0], _month_end(months[-1])
    t = daily(con, lake, scope)
    t = t.filter((t.day >= first) & (t.day <= end) & t.customer_id.notnull())
    monthly = (t.group_by([t.customer_id, t.market_id, t.day.truncate("M").name("month")])
               .aggregate(parcels=t.parcels.sum()).to_pyarrow().to_pylist())
    volume = dict(session.execute(
        select(Customer.id, Customer.est_daily_volume).where(Customer.est_daily_volume > 0)).all())
    index = {m: k for k, m in enumerate(months)}
    per_merchant: dict[int, dict[int, int]] = defaultdict(dict)
    market_of: dict[int, int] = {}
    for row in monthly:
        cid = int(row["customer_id"])
        if cid in volume and row["market_id"] is not None:
            month = row["month"].date() if isinstance(row["month"], dt.datetime) else row["month"]
            per_merchant[cid][index[month]] = int(row["parcels"])
            market_of[cid] = int(row["market_id"])
    gaps = market_gaps(session, sorted(set(market_of.values())), months, end)
    seasons = market_indices(session, sorted(set(market_of.values())), months)
    cols: dict[str, list] = defaultdict(list)
    ids: list[int] = []
    for cid, counts in per_merchant.items():
        inside = range(min(counts) + 1, max(counts))  # whole months between first and last
        rows = [(k, counts.get(k, 0)) for k in inside if gaps[market_of[cid]][k] is not None]
        if len(rows) < MIN_MERCHANT_MONTHS:
            continue
        merchant = len(ids)
        ids.append(cid)
        for k, ours in rows:
            expected = float(volume[cid]) * _days_in(months[k]) * seasons[market_of[cid]][k]
            total = max(expected, float(ours))
            cols["merchant"].append(merchant)
            cols["month"].append(k)
            cols["gap"].append(gaps[market_of[cid]][k])
            cols["ours"].append(float(ours))
            cols["total"].append(total)
    panel = Panel(*(np.asarray(cols[c], dtype=float if c in ("gap", "ours", "total") else int)
                    for c in ("merchant", "month", "gap", "ours", "total")))
    return PanelData(panel, months, np.asarray(ids, dtype=np.int64), gaps)


def _month_end(month: dt.date) -> dt.date:
    return month + dt.timedelta(days=_days_in(month) - 1)


@dataclass(frozen=True)
class ResponseReport:
    """The fitted response and its check, as pages and commands show it."""

    beta: float
    interval: tuple[float, float]
    odds_per_10_fen_cut: float  # how a ¥0.10 cut multiplies the odds of a parcel coming to us
    merchants: int
    merchant_months: int
    months: int
    first_month: str
    last_month: str
    identified: bool
    validation: Validation | None


def data_date(con, lake, scope: Scope) -> dt.date:
    """The last day with waybills in the scope (what the advice is computed up to)."""
    from jiqun.kpi.overview import data_date as last_day

    day = last_day(con, lake, scope)
    if day is None:
        raise Invalid({"data": "No waybills in your scope yet"})
    return day


def fit_response(session: Session, con, lake, scope: Scope, as_of: dt.date) -> tuple[
        ResponseFit, ResponseReport]:
    data = build_panel(session, con, lake, scope, as_of)
    if len(data.panel) < 3:
        raise Invalid({"data": "Too few merchant-months with prices to fit a response"})
    model = response.fit(data.panel)
    try:
        check = response.validate(data.panel, HOLDOUT_MONTHS) if model.identified else None
    except ValueError:
        check = None
    report = ResponseReport(
        model.beta, model.interval, model.odds_factor(-0.10) if model.identified else 1.0,
        model.merchants, model.rows, model.months, data.months[0].strftime("%Y-%m"),
        data.months[-1].strftime("%Y-%m"), model.identified, check)
    return model, report


@dataclass(frozen=True)
class WhatIf:
    market: str
    zone: str
    month: str  # the month the segment is measured on
    segment: Segment
    outcome: Outcome
    advice: Outcome  # the best change in ±ADVICE_RANGE by 5 fen, never below cost


def segment_of(session: Session, con, lake, scope: Scope, market_id: int, zone: str,
               month: dt.date, cost_per_parcel: float) -> Segment:
    """One month of a market's parcels to a zone: ours (the lake's lanes), the total of all
    carriers (the market's merchants' archived volumes in that month's season, at our mix of
    destinations), our average price and our cost per parcel. The what-if then moves this
    segment's share as one merchant would: an approximation that is exact when the market's
    merchants give us similar shares."""
    market = session.get(Market, market_id)
    if market is None:
        raise NotFound("market")
    origin = competitors.rates.origin_of(session, market_id)
    end = _month_end(month)
    t = lanes(con, lake, scope)
    t = t.filter((t.day >= month) & (t.day <= end) & (t.market_id == market_id))
    rows = (t.group_by(t.dest_province).aggregate(parcels=t.parcels.sum(),
                                                  revenue=t.revenue.sum())
            .to_pyarrow().to_pylist())
    ours = revenue = everything = 0.0
    for r in rows:
        everything += r["parcels"]
        if competitors.rates.zone_for(session, origin, r["dest_province"]) == zone:
            ours += r["parcels"]
            revenue += r["revenue"]
    if ours == 0:
        raise Invalid({"zone": "No parcels of this market to that zone in the month"})
    volume = session.scalar(select(func.sum(Customer.est_daily_volume))
                            .where(Customer.market_id == market_id)) or 0
    season = market_indices(session, [market_id], _month_starts(month, 12))[market_id][-1]
    market_total = max(float(volume) * _days_in(month) * season, everything)
    total = market_total * ours / everything  # the zone's part, at our destination mix
    return Segment(total=total, ours=ours, price=revenue / ours, cost=cost_per_parcel)


def market_cost(session: Session, con, lake, scope: Scope, market_id: int,
                month: dt.date) -> float:
    """Our cost per parcel of the market in the month (the cost model, ``jiqun.money.cost``)."""
    from jiqun.money.cost import cost_per_parcel

    rows = cost_per_parcel(con, lake, session, scope, month, by="market")
    row = next((r for r in rows if r.key == str(market_id)), None)
    if row is None or row.cost_per_parcel is None:
        raise Invalid({"market": "No cost of this market's parcels in the month"})
    return float(row.cost_per_parcel)


def what_if(model: ResponseFit, segment: Segment, change: float, market: str, zone: str,
            month: dt.date) -> WhatIf:
    """The segment's month at ``change`` yuan, and the advised change (never below cost)."""
    if not model.identified:
        raise Invalid({"data": "The data never moved the price gap: no response to build on"})
    best, _ = response.advise(model, segment, widest=ADVICE_RANGE)
    return WhatIf(market, zone, month.strftime("%Y-%m"), segment,
                  response.what_if(model, segment, change), best)


def advise_market(session: Session, con, lake, scope: Scope, model: ResponseFit,
                  as_of: dt.date, market_id: int, zone: str, change: float) -> WhatIf:
    """"If we change our price by ``change`` yuan for ``zone`` in the market": the last full
    month's parcels, share, revenue and margin at that price, with the interval, and the
    change that would earn the most margin."""
    if zone not in {k.value for k in competitors.ZoneKind}:
        raise Invalid({"zone": "Unknown zone"})
    if not -MAX_CHANGE <= change <= MAX_CHANGE:
        raise Invalid({"change": "A change between -5 and 5 yuan"})
    market = session.get(Market, market_id)
    if market is None:
        raise NotFound("market")
    month = last_full_month(as_of)
    segment = segment_of(session, con, lake, scope, market_id, zone, month,
                         market_cost(session, con, lake, scope, market_id, month))
    return what_if(model, segment, change, market.code, zone, month)


def report_record(report: ResponseReport) -> dict:
    """The fit and its check as one flat record (the CLI's and the API's)."""
    check = report.validation
    return {
        "beta": round(report.beta, 4), "beta_low": round(report.interval[0], 4),
        "beta_high": round(report.interval[1], 4),
        "odds_per_10_fen_cut": round(report.odds_per_10_fen_cut, 4),
        "merchants": report.merchants, "merchant_months": report.merchant_months,
        "first_month": report.first_month, "last_month": report.last_month,
        "identified": report.identified,
        "holdout_months": check.holdout_months if check else None,
        "holdout_error": round(check.model_error, 4) if check else None,
        "baseline_error": round(check.baseline_error, 4) if check else None,
        "beats_baseline": check.beats_baseline if check else None,
    }


def what_if_records(found: WhatIf) -> list[dict]:
    """Today, the what-if and the advice as rows with their interval (the CLI's table)."""
    seg = found.segment
    rows = [{"case": "now", "change": 0.0, "price": round(seg.price, 2),
             "parcels": round(seg.ours), "parcels_low": round(seg.ours),
             "parcels_high": round(seg.ours), "share": round(seg.share, 4),
             "revenue": round(seg.ours * seg.price, 2),
             "margin": round(seg.ours * (seg.price - seg.cost), 2), "below_cost": seg.price
             < seg.cost}]
    for case, o in (("what_if", found.outcome), ("advice", found.advice)):
        rows.append({"case": case, "change": round(o.change, 2), "price": round(o.price, 2),
                     "parcels": round(o.parcels[1]), "parcels_low": round(o.parcels[0]),
                     "parcels_high": round(o.parcels[2]), "share": round(o.share[1], 4),
                     "revenue": round(o.revenue[1], 2), "margin": round(o.margin[1], 2),
                     "below_cost": o.below_cost})
    return [{"market": found.market, "zone": found.zone, "month": found.month,
             "cost": round(seg.cost, 2), **r} for r in rows]
