"""Daily aggregates of waybills, kept up to date on every append.

Pages and KPIs read these instead of scanning raw waybills: one row per
day × customer × product × platform × destination city × line (and the ids that scope and
group them), with parcel count, revenue and weight. Stored like the waybills, one file per month
(``<lake>/daily/month=YYYY-MM/daily.parquet``), recomputed for exactly the months an append
touched and replaced atomically.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from jiqun.lake.schemas import WAYBILL_DATASET, WAYBILLS, Dataset

_GROUP_COLUMNS = (
    "org_unit_id", "customer_id", "market_id", "grid_id", "outlet_id", "product", "platform",
)
_DESTINATION_COLUMNS = ("dest_province", "dest_city", "line_id")
DAILY = pa.schema(
    [pa.field("day", pa.date32(), nullable=False)]
    + [WAYBILLS.field(name) for name in _GROUP_COLUMNS]
    + [pa.field("origin_province", pa.string())]
    + [WAYBILLS.field(name) for name in _DESTINATION_COLUMNS]
    + [
        pa.field("parcels", pa.int64(), nullable=False),
        pa.field("revenue", pa.float64(), nullable=False),
        pa.field("weight_kg", pa.float64(), nullable=False),
    ]
)
# The daily table is a dataset of the lake too (read by :func:`jiqun.lake.engine.dataset_table`).
DAILY_DATASET = Dataset("daily", DAILY, "day", ("day",))

_KEYS = [*_GROUP_COLUMNS, *_DESTINATION_COLUMNS]


def _month_query(files: list[Path]) -> str:
    listing = ", ".join(f"'{f}'" for f in files)
    keys = ", ".join(_KEYS)
    return (
        f"SELECT CAST(ship_time AS DATE) AS day, {keys}, "
        "left(origin_adcode, 2) || '0000' AS origin_province, "
        "CAST(count(*) AS BIGINT) AS parcels, sum(fee) AS revenue, "
        "CAST(sum(weight_kg) AS DOUBLE) AS weight_kg "
        f"FROM read_parquet([{listing}]) GROUP BY ALL ORDER BY day, {keys}"
    )


def refresh(lake: Path, months: list[str] | tuple[str, ...], source: Dataset = WAYBILL_DATASET) -> None:
    """Recompute the daily aggregate of each of ``months`` (``YYYY-MM``) from the waybills.

    Called by :func:`jiqun.lake.writer.append` under the lake's write lock.
    """
    con = duckdb.connect()
    try:
        for month in months:
            files = sorted((lake / source.name / f"month={month}").glob("*.parquet"))
            folder = lake / DAILY_DATASET.name / f"month={month}"
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / "daily.parquet"
            if not files:
                target.unlink(missing_ok=True)
                continue
            table = con.sql(_month_query(files)).to_arrow_table().select(DAILY.names).cast(DAILY)
            tmp = folder / ".daily.parquet.tmp"
            pq.write_table(table, tmp, compression="zstd")
            os.replace(tmp, target)
    finally:
        con.close()


def rebuild(lake: Path) -> None:
    """Recompute every month's aggregate (after a restore, or a change of this module)."""
    months = sorted(p.name.split("=", 1)[1] for p in (lake / WAYBILL_DATASET.name).glob("month=*"))
    refresh(lake, months)
