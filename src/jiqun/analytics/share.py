"""Market share (市场占有率): our parcels against the market's estimated total, and named
competitors' estimated shares, per market and period."""

from __future__ import annotations

import bisect
import datetime as dt
from collections import defaultdict

import ibis
import pyarrow as pa
from ibis.expr.types import Table

from jiqun.analytics.frame import Period, between, period_of

ALL_CARRIERS = "*"
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
        starts = [p[0] for p in points]
        for day in days:
            i = bisect.bisect_right(starts, day) - 1
            if i >= 0:
                rows.append({"market_id": market, "carrier": carrier, "day": day,
                             "daily_volume": points[i][1]})
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
