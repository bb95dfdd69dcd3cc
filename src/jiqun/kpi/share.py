"""Market share (市场占有率): our parcels against the market's estimated total, and named
competitors' estimated shares, per market and period."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Protocol

import ibis
import pyarrow as pa
from ibis.expr.types import Table

from jiqun.kpi.frame import Period, between, period_of
from jiqun.store.estimates import in_force
from jiqun.store.models import ALL_CARRIERS

# The share trend's windows, in weeks ending with the data date's week. The page and /api/share
# show half a year; the weekly bulletin draws the last quarter of the same series.
TREND_WEEKS = 26
BULLETIN_WEEKS = 12
ESTIMATES = pa.schema([("market_id", pa.int32()), ("carrier", pa.string()),
                       ("valid_from", pa.date32()), ("daily_volume", pa.float64())])
CALENDAR = pa.schema([("market_id", pa.int32()), ("carrier", pa.string()), ("day", pa.date32()),
                      ("daily_volume", pa.float64())])


def estimate_calendar(estimates: pa.Table, start: dt.date, end: dt.date) -> pa.Table:
    """The estimate in effect on each day (the latest ``valid_from`` on or before it), per
    market and carrier. Days before a market's first estimate have none."""
    series: dict[tuple[int, str], list[tuple[dt.date, float]]] = defaultdict(list)
    for row in estimates.to_pylist():
        series[(row["market_id"], row["carrier"])].append((row["valid_from"], row["daily_volume"]))
    days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    rows = []
    for (market, carrier), points in series.items():
        points.sort()
        for day in days:
            volume = in_force(points, day)
            if volume is not None:
                rows.append({"market_id": market, "carrier": carrier, "day": day,
                             "daily_volume": volume})
    return pa.Table.from_pylist(rows, CALENDAR)


def market_share(
    frame: Table, estimates: pa.Table, period: Period, start: dt.date, end: dt.date
) -> Table:
    """Per market and period: ``parcels`` (ours), ``market_total`` (the estimated parcels of
    all carriers over the period's days), ``share`` = parcels / market_total (null without an
    estimate), and ``days`` with an estimate."""
    cal = ibis.memtable(estimate_calendar(estimates, start, end))
    totals = cal.filter(cal.carrier == ALL_CARRIERS)
    totals = totals.group_by(
        [totals.market_id, period_of(totals.day, period).name("period")]
    ).aggregate(market_total=totals.daily_volume.sum(), days=totals.day.count().cast("int64"))
    ours = between(frame, start, end)
    ours = ours.filter(ours.market_id.notnull())
    ours = ours.group_by(
        [ours.market_id, period_of(ours.day, period).name("period")]
    ).aggregate(parcels=ours.parcels.sum().cast("int64"))
    out = totals.outer_join(
        ours, (totals.market_id == ours.market_id) & (totals.period == ours.period)
    )
    out = out.select(
        market_id=ibis.coalesce(out.market_id, out.market_id_right),
        period=ibis.coalesce(out.period, out.period_right),
        parcels=out.parcels.fill_null(0),
        market_total=out.market_total,
        days=out.days.fill_null(0),
    )
    share = ibis.ifelse(out.market_total > 0, out.parcels / out.market_total, ibis.null())
    return out.mutate(share=share.cast("float64")).order_by(["market_id", "period"])


def competitor_share(estimates: pa.Table, period: Period, start: dt.date, end: dt.date) -> Table:
    """Per market, period and named competitor: its estimated parcels and share of the total."""
    cal = ibis.memtable(estimate_calendar(estimates, start, end))
    cal = cal.mutate(period=period_of(cal.day, period))
    sums = cal.group_by(["market_id", "carrier", "period"]).aggregate(
        parcels=cal.daily_volume.sum()
    )
    total = sums.filter(sums.carrier == ALL_CARRIERS).select(
        "market_id", "period", market_total="parcels"
    )
    rivals = sums.filter(sums.carrier != ALL_CARRIERS)
    out = rivals.inner_join(
        total, (rivals.market_id == total.market_id) & (rivals.period == total.period)
    ).select("market_id", "carrier", "period", "parcels", "market_total")
    share = ibis.ifelse(out.market_total > 0, out.parcels / out.market_total, ibis.null())
    return out.mutate(share=share.cast("float64")).order_by(["market_id", "period", "carrier"])


class _Shares(Protocol):  # OperatingPicture (a protocol: the picture imports this module)
    def share(self, period: Period, start: dt.date, end: dt.date) -> list[dict]: ...


def trend_weeks(as_of: dt.date, weeks: int = TREND_WEEKS) -> list[dt.date]:
    """Mondays of the ``weeks`` weeks that end with ``as_of``'s week (which may be partial)."""
    monday = as_of - dt.timedelta(days=as_of.weekday())
    return [monday - dt.timedelta(weeks=weeks - 1 - i) for i in range(weeks)]


def default_start(period: Period, as_of: dt.date) -> dt.date:
    """Where a share listing starts when no start is given: by week, the trend's first Monday
    (the page's and ``/api/share``'s 26 weeks); by day or month, 90 days back."""
    if period == "week":
        return trend_weeks(as_of)[0]
    return as_of - dt.timedelta(days=89)


def weekly_trend(picture: _Shares, as_of: dt.date, weeks: int = TREND_WEEKS
                 ) -> tuple[list[dt.date], dict[int, list[dict]]]:
    """The share trend (市场占有率走势): its weeks (Mondays) and, per market with any figure in
    them, one point per week (``period``, ``parcels``, ``market_total``, ``share``; a week
    without parcels or estimate has 0 and None). Counted up to ``as_of``, so a week is the same
    in every window that shows it: the page's 26 weeks and the bulletin's last 12."""
    mondays = trend_weeks(as_of, weeks)
    found: dict[int, dict[dt.date, dict]] = defaultdict(dict)
    for r in picture.share("week", mondays[0], as_of):
        found[r["market_id"]][r["period"]] = r

    def point(market: int, week: dt.date) -> dict:
        r = found[market].get(week)
        if r is None:
            return {"period": week, "parcels": 0, "market_total": None, "share": None}
        return {"period": week, "parcels": r["parcels"], "market_total": r["market_total"],
                "share": r["share"]}

    return mondays, {m: [point(m, w) for w in mondays] for m in list(found)}
