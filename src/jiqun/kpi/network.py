"""Network KPIs of a grid or market (G2): in-province volume (省内件) and its share, and the
daily average volume on dedicated lines (专线日均量)."""

from __future__ import annotations

import datetime as dt

from ibis.expr.types import Table

from jiqun.kpi.dimensions import BY_COLUMN
from jiqun.kpi.frame import between


def in_province_and_lines(frame: Table, by: str, start: dt.date, end: dt.date) -> Table:
    """Per ``by``: ``parcels``, ``in_province_parcels`` (destination in the origin's province),
    ``in_province_share``, ``line_parcels`` (on a dedicated line) and ``line_daily_average``
    over the calendar days ``start``–``end``."""
    key = BY_COLUMN[by]
    days = (end - start).days + 1
    rows = between(frame, start, end)
    out = rows.group_by(rows[key]).aggregate(
        parcels=rows.parcels.sum().cast("int64"),
        in_province_parcels=rows.in_province_parcels.sum().cast("int64"),
        line_parcels=rows.line_parcels.sum().cast("int64"),
    )
    return out.mutate(
        in_province_share=(out.in_province_parcels / out.parcels).cast("float64"),
        line_daily_average=(out.line_parcels / days).cast("float64"),
    ).order_by(key)
