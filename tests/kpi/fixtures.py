"""Small daily-aggregate fixtures and a plain-Python reference to check KPIs against."""

from __future__ import annotations

import datetime as dt
import random

import pyarrow as pa

from jiqun.lake.aggregates import DAILY


def random_daily(seed: int, start: dt.date, days: int, customers: int = 6,
                 schema: pa.Schema = DAILY) -> pa.Table:
    """Sparse random daily rows: some customers ship on some days, two products, three grids,
    three destination provinces (as ``DAILY`` or, with ``schema=LANES``, as lanes)."""
    rnd = random.Random(seed)
    rows = []
    for d in range(days):
        day = start + dt.timedelta(days=d)
        for c in range(1, customers + 1):
            if rnd.random() < 0.5:
                continue
            for product in ("parcel", "express"):
                if rnd.random() < 0.3:
                    continue
                parcels = rnd.randint(1, 40)
                rows.append({
                    "day": day, "org_unit_id": 1, "customer_id": c, "market_id": 1 + c % 2,
                    "grid_id": 10 + c % 3, "outlet_id": 5, "product": product, "platform": "taobao",
                    "dest_province": rnd.choice(["440000", "320000", "410000"]),
                    "dest_city": None, "line_id": None, "parcels": parcels,
                    "in_province_parcels": 0, "line_parcels": 0,
                    "revenue": round(parcels * rnd.uniform(2.5, 4.0), 2),
                    "weight_kg": parcels * 0.8,
                })
    return pa.Table.from_pylist(rows, schema)


BASE_ROW = {"org_unit_id": 1, "customer_id": 1, "market_id": 1, "grid_id": None,
            "outlet_id": None, "product": "parcel", "platform": None, "revenue": 1.0,
            "weight_kg": 1.0, "in_province_parcels": 0, "line_parcels": 0}


def daily_table(rows: list[dict]) -> pa.Table:
    """Daily rows from the given fields, the rest from :data:`BASE_ROW`."""
    return pa.Table.from_pylist([{**BASE_ROW, **r} for r in rows], DAILY)


def frame_of(rows: list[dict]):
    """A KPI frame (no store dimensions) over :func:`daily_table` rows."""
    import ibis

    from jiqun.kpi.frame import Dimensions, kpi_frame

    return kpi_frame(ibis.memtable(daily_table(rows)), Dimensions.empty())
