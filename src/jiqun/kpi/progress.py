"""Plan progress (计划进度): actual against the monthly target prorated to the day, and the
run-rate forecast for month end."""

from __future__ import annotations

import calendar
import datetime as dt

import ibis
import pyarrow as pa
from ibis.expr.types import Table

from jiqun.kpi.dimensions import BY_COLUMN
from jiqun.kpi.frame import between, revenue_sum
from jiqun.kpi.rules import KpiRules

TARGETS = pa.schema([
    ("scope_type", pa.string()), ("scope_id", pa.int64()), ("month", pa.date32()),
    ("volume", pa.float64()), ("revenue", pa.float64()), ("new_customers", pa.int64()),
])
_SCOPE_KEY = {"market": "market_id", "grid": "grid_id", "team": "team_id", "person": "owner_id"}


def _counts(day: dt.date, proration: str) -> bool:
    return proration == "calendar" or day.weekday() < 6  # working days: Monday–Saturday


def month_fraction(as_of: dt.date, proration: str) -> tuple[int, int]:
    """(days elapsed up to and including ``as_of``, days in the month) under the proration."""
    last = calendar.monthrange(as_of.year, as_of.month)[1]
    days = [as_of.replace(day=d) for d in range(1, last + 1)]
    counted = [d for d in days if _counts(d, proration)]
    return sum(1 for d in counted if d <= as_of), len(counted)


def _ratio(num, den):
    return ibis.ifelse(den > 0, num / den, ibis.null()).cast("float64")


def plan_progress(
    frame: Table, targets: pa.Table, scope_type: str, as_of: dt.date, rules: KpiRules
) -> Table:
    """Month-to-date progress of every market / grid / team / person with a target or volume.

    Columns: ``<scope>_id``, targets (``target_parcels``, ``target_revenue``), month-to-date
    actuals (``parcels``, ``revenue``), the prorated expectation (``expected_parcels``,
    ``expected_revenue``), ``progress`` = actual / expected (1.0 = on plan), ``completion`` =
    actual / monthly target, and the run-rate ``forecast_parcels`` / ``forecast_revenue`` with
    ``forecast_completion``. Ratios are null where the target is zero.
    """
    key = BY_COLUMN[scope_type] if scope_type in BY_COLUMN else _SCOPE_KEY[scope_type]
    month = as_of.replace(day=1)
    elapsed, total = month_fraction(as_of, rules.proration)
    done = elapsed / total if total else 0.0

    mtd = between(frame, month, as_of)
    actual = mtd.group_by(mtd[key].name("key")).aggregate(
        parcels=mtd.parcels.sum().cast("int64"), revenue=revenue_sum(mtd.revenue)
    )
    t = ibis.memtable(targets.cast(TARGETS) if targets.schema != TARGETS else targets)
    t = t.filter((t.scope_type == scope_type) & (t.month == month))
    t = t.select(key=t.scope_id.cast(actual.key.type()), target_parcels=t.volume,
                 target_revenue=t.revenue)
    out = actual.outer_join(t, actual.key == t.key)
    out = out.select(
        key=ibis.coalesce(out.key, out.key_right),
        target_parcels=out.target_parcels.fill_null(0.0),
        target_revenue=out.target_revenue.fill_null(0.0),
        parcels=out.parcels.fill_null(0),
        revenue=out.revenue.fill_null(0.0),
    )
    out = out.mutate(
        expected_parcels=out.target_parcels * done,
        expected_revenue=out.target_revenue * done,
        forecast_parcels=(out.parcels * total / elapsed) if elapsed else out.parcels * 0.0,
        forecast_revenue=(out.revenue * total / elapsed) if elapsed else out.revenue * 0.0,
    )
    out = out.mutate(
        progress=_ratio(out.parcels, out.expected_parcels),
        revenue_progress=_ratio(out.revenue, out.expected_revenue),
        completion=_ratio(out.parcels, out.target_parcels),
        forecast_completion=_ratio(out.forecast_parcels, out.target_parcels),
    )
    return out.rename({key: "key"}).order_by(key)
