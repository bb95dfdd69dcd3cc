"""Volume and revenue (业务量 / 收入) by dimension and period, with MoM (环比) and YoY (同比)."""

from __future__ import annotations

import datetime as dt

import ibis
from ibis.expr.types import Table

from jiqun.kpi.dimensions import BY_COLUMN
from jiqun.kpi.frame import Dimension, Period, between, period_of, revenue_sum

# Last year's period of the same kind: weeks go back 52 weeks so they still start on Monday;
# days and months go back a calendar year (29 Feb compares with 28 Feb).
_LAST_YEAR = {
    "day": ibis.interval(years=1),
    "week": ibis.interval(weeks=52),
    "month": ibis.interval(years=1),
}
_PREVIOUS = {
    "day": ibis.interval(days=1),
    "week": ibis.interval(weeks=1),
    "month": ibis.interval(months=1),
}


def _growth(now, before):
    return ibis.ifelse(before > 0, (now - before) / before, ibis.null()).cast("float64")


def _totals(frame: Table, key: str, period: Period) -> Table:
    return frame.group_by(
        [frame[key].name("key"), period_of(frame.day, period).name("period")]
    ).aggregate(parcels=frame.parcels.sum().cast("int64"), revenue=revenue_sum(frame.revenue))


def volume(frame: Table, by: Dimension, period: Period, start: dt.date, end: dt.date) -> Table:
    """Parcels and revenue per ``by`` and ``period`` for days ``start``–``end``.

    Columns: ``<by>_id`` (or ``product`` / ``dest_province``), ``period`` (first day),
    ``parcels``, ``revenue``, the previous period's and last year's values (``*_prev``,
    ``*_ly``), and growth ratios ``mom`` and ``yoy`` of parcels (null where the base is 0).
    Partial periods at either end hold only their days inside the range; the bases (previous
    period, last year) are always whole periods, so compare complete periods for growth.
    """
    key = BY_COLUMN[by]
    current = _totals(between(frame, start, end), key, period)
    reach = start - dt.timedelta(days=400)  # last year's and the previous period's days
    history = _totals(between(frame, reach, end), key, period)
    prev = history.rename(parcels_prev="parcels", revenue_prev="revenue", prev_period="period")
    last = history.rename(parcels_ly="parcels", revenue_ly="revenue", ly_period="period")
    out = current.left_join(
        prev,
        (current.key == prev.key) & ((current.period - _PREVIOUS[period]).cast("date") == prev.prev_period),
    ).select(*current.columns, "parcels_prev", "revenue_prev")
    out = out.left_join(
        last,
        (out.key == last.key) & ((out.period - _LAST_YEAR[period]).cast("date") == last.ly_period),
    ).select(*out.columns, "parcels_ly", "revenue_ly")
    out = out.mutate(
        parcels_prev=out.parcels_prev.fill_null(0),
        revenue_prev=out.revenue_prev.fill_null(0.0),
        parcels_ly=out.parcels_ly.fill_null(0),
        revenue_ly=out.revenue_ly.fill_null(0.0),
    )
    out = out.mutate(mom=_growth(out.parcels, out.parcels_prev), yoy=_growth(out.parcels, out.parcels_ly))
    return out.rename({key: "key"}).order_by(["period", key])
