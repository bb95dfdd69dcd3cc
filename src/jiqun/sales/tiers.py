"""Customer tiers (客户分级): 特级 / 一级 / 二级 / 三级 / 小微 from trailing average daily parcels,
with thresholds per province, and the owner role each tier requires."""

from __future__ import annotations

import datetime as dt

import ibis
import pyarrow as pa
from ibis.expr.types import Table

from jiqun.kpi.frame import between
from jiqun.kpi.rules import TIER_ORDER, KpiRules

PROVINCES = pa.schema([("customer_id", pa.int64()), ("province", pa.string())])
_THRESHOLDS = pa.schema([("province", pa.string()), ("special", pa.float64()),
                         ("first", pa.float64()), ("second", pa.float64()),
                         ("third", pa.float64())])


def _threshold_table(rules: KpiRules) -> pa.Table:
    rows = [{"province": p, **t.model_dump()} for p, t in rules.province_tier_thresholds.items()]
    return pa.Table.from_pylist(rows, _THRESHOLDS)


def customer_tiers(
    frame: Table, customers: pa.Table, as_of: dt.date, rules: KpiRules
) -> Table:
    """Per archived customer (``customers``: id and province adcode): ``daily_parcels`` averaged
    over the ``tier_window_days`` up to ``as_of`` (days without parcels count as zero) and the
    ``tier`` it earns under its province's thresholds (the default ones elsewhere)."""
    window = between(frame, as_of - dt.timedelta(days=rules.tier_window_days - 1), as_of)
    volume = window.filter(window.customer_id.notnull()).group_by("customer_id").aggregate(
        parcels=window.parcels.sum().cast("int64")
    )
    archive = ibis.memtable(customers.cast(PROVINCES))
    out = archive.left_join(volume, archive.customer_id == volume.customer_id)
    out = out.select("customer_id", "province", parcels=out.parcels.fill_null(0))
    limits = ibis.memtable(_threshold_table(rules))
    out = out.left_join(limits, out.province == limits.province).drop("province_right")
    default = rules.tier_thresholds
    out = out.mutate(daily_parcels=(out.parcels / rules.tier_window_days).cast("float64"))
    tier = ibis.cases(
        *[
            (out.daily_parcels >= out[t.value].fill_null(getattr(default, t.value)), t.value)
            for t in TIER_ORDER[:-1]
        ],
        else_=TIER_ORDER[-1].value,
    )
    return out.select("customer_id", "province", "parcels", "daily_parcels", tier=tier).order_by(
        "customer_id"
    )
