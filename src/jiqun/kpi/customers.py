"""Customer KPIs (客户指标): active, activated, new effective and churned customers, and the
development rate (开发率) of each grid."""

from __future__ import annotations

import datetime as dt

import ibis
import pyarrow as pa
from ibis.expr.types import Table

from jiqun.kpi.dimensions import BY_COLUMN
from jiqun.kpi.frame import between
from jiqun.kpi.rules import KpiRules

ARCHIVE = pa.schema([("customer_id", pa.int64()), ("grid_id", pa.int32()),
                     ("market_id", pa.int32())])
_GROUP_KEYS = ("market_id", "grid_id", "team_id", "owner_id")


def customer_days(frame: Table) -> Table:
    """One row per customer and shipping day, with the day's parcels and where it shipped."""
    rows = frame.filter(frame.customer_id.notnull())
    return rows.group_by(["customer_id", "day"]).aggregate(
        parcels=rows.parcels.sum().cast("int64"),
        **{k: rows[k].max() for k in _GROUP_KEYS},
    )


def customer_status(frame: Table, start: dt.date, end: dt.date, rules: KpiRules) -> Table:
    """Per customer, as of ``end``: ``active`` (shipped in the last ``active_days``),
    ``activated`` (a first shipment, or a first after ``silent_days`` of silence, within
    ``start``–``end``), ``new_effective`` (activated, and averaging at least
    ``new_effective_daily_parcels`` a day from activation to ``end``) and ``churned`` (fell silent
    for ``active_days`` within the period), with the market/grid/team/owner of its last day."""
    days = customer_days(between(frame, end - dt.timedelta(days=800), end))
    # LAG ignores the frame, but the default one (… UNBOUNDED FOLLOWING) costs time: bound it.
    w = ibis.window(group_by="customer_id", order_by="day", preceding=None, following=0)
    days = days.mutate(prev_day=days.day.lag().over(w))
    gap = days.day.epoch_days() - days.prev_day.epoch_days()
    days = days.mutate(is_start=days.prev_day.isnull() | (gap >= rules.silent_days))
    days = days.mutate(starts_in_period=days.is_start & (days.day >= start) & (days.day <= end))
    starts = days.filter(days.is_start)
    last_start = starts.group_by("customer_id").aggregate(activated_on=starts.day.max())
    per = days.group_by("customer_id").aggregate(
        last_day=days.day.max(),
        activated=days.starts_in_period.any(),
        **{k: days[k].argmax(days.day) for k in _GROUP_KEYS},
    )
    per = per.inner_join(last_start, "customer_id")
    parcels_since = days.inner_join(last_start, "customer_id")
    parcels_since = parcels_since.filter(parcels_since.day >= parcels_since.activated_on)
    parcels_since = parcels_since.group_by("customer_id").aggregate(
        parcels_since=parcels_since.parcels.sum().cast("int64")
    )
    per = per.inner_join(parcels_since, "customer_id")
    span = _epoch(end) - per.activated_on.epoch_days() + 1  # days from activation to end
    silent_since = per.last_day.epoch_days() + rules.active_days  # first day counted inactive
    start_n, end_n = _epoch(start), _epoch(end)
    return per.mutate(
        active=per.last_day.epoch_days() > end_n - rules.active_days,
        new_effective=per.activated
        & (per.parcels_since / span >= rules.new_effective_daily_parcels),
        churned=(silent_since >= start_n) & (silent_since <= end_n),
    )


def _epoch(day: dt.date) -> int:
    return (day - dt.date(1970, 1, 1)).days


def customer_counts(
    frame: Table, by: str, start: dt.date, end: dt.date, rules: KpiRules
) -> Table:
    """Counts of active, activated, new effective and churned customers per ``by``."""
    key = BY_COLUMN[by]
    status = customer_status(frame, start, end, rules)
    return status.group_by(status[key]).aggregate(
        active_customers=status.active.sum().cast("int64"),
        activated_customers=status.activated.sum().cast("int64"),
        new_effective_customers=status.new_effective.sum().cast("int64"),
        churned_customers=status.churned.sum().cast("int64"),
    ).order_by(key)


def development_rate(frame: Table, archive: pa.Table, as_of: dt.date, rules: KpiRules) -> Table:
    """Development rate (开发率) per grid = cooperating / archived customers.

    Archived: every customer of the grid in the archive (the store). Cooperating: those that
    shipped with us within the last ``active_days`` — measured from the waybills, not from a
    stage someone has to remember to update. ``meets_target`` compares with the 60% bar.
    """
    recent = between(frame, as_of - dt.timedelta(days=rules.active_days - 1), as_of)
    shippers = recent.filter(recent.customer_id.notnull()).select("customer_id").distinct()
    shippers = shippers.mutate(cooperating=ibis.literal(1))
    arch = ibis.memtable(archive.cast(ARCHIVE))
    arch = arch.filter(arch.grid_id.notnull())
    joined = arch.left_join(shippers, arch.customer_id == shippers.customer_id)
    per = joined.group_by("grid_id").aggregate(
        archived=joined.customer_id.count().cast("int64"),
        cooperating=joined.cooperating.fill_null(0).sum().cast("int64"),
    )
    rate = (per.cooperating / per.archived).cast("float64")
    return per.mutate(
        development_rate=rate, meets_target=rate >= rules.development_rate_target
    ).order_by("grid_id")
