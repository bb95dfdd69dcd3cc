"""Daily aggregates of waybills, kept up to date on every append.

Pages and KPIs read these instead of scanning raw waybills. Two grains, because a destination
column multiplies the rows of a customer's day by the number of places it ships to:

* ``daily`` — one row per day × customer × product × platform (with the ids that scope and group
  them): parcels, revenue, weight, and the parcels that stayed in the origin province
  (省内件) or rode a dedicated line (专线). Every customer, grid, team and market KPI reads this.
* ``lanes`` — one row per day × market × outlet × product × destination city × line: the flows
  (流量流向) by origin and destination.

Stored like the waybills, one file per month (``<lake>/<name>/month=YYYY-MM/<name>.parquet``),
recomputed for exactly the months an append touched and replaced atomically.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import duckdb
import pyarrow as pa

from jiqun.lake.schemas import WAYBILL_DATASET, WAYBILLS, Dataset

_SUMS = [
    pa.field("parcels", pa.int64(), nullable=False),
    pa.field("revenue", pa.float64(), nullable=False),
    pa.field("weight_kg", pa.float64(), nullable=False),
]
_DAY = pa.field("day", pa.date32(), nullable=False)
_ORIGIN = pa.field("origin_province", pa.string())

_DAILY_KEYS = ("org_unit_id", "customer_id", "market_id", "grid_id", "outlet_id", "product",
               "platform")
DAILY = pa.schema(
    [_DAY, *(WAYBILLS.field(k) for k in _DAILY_KEYS), *_SUMS,
     pa.field("in_province_parcels", pa.int64(), nullable=False),
     pa.field("line_parcels", pa.int64(), nullable=False)]
)
_LANE_KEYS = ("org_unit_id", "market_id", "outlet_id", "product", "dest_province", "dest_city",
              "line_id")
LANES = pa.schema([_DAY, _ORIGIN, *(WAYBILLS.field(k) for k in _LANE_KEYS), *_SUMS])

# The aggregates are datasets of the lake too (read by :func:`jiqun.lake.engine.dataset_table`).
DAILY_DATASET = Dataset("daily", DAILY, "day", ("day",))
LANES_DATASET = Dataset("lanes", LANES, "day", ("day",))

_ORIGIN_PROVINCE = "left(origin_adcode, 2) || '0000'"
_SUM_SQL = ("CAST(count(*) AS BIGINT) AS parcels, sum(fee) AS revenue, "
            "CAST(sum(weight_kg) AS DOUBLE) AS weight_kg")
_QUERIES = {
    DAILY_DATASET: (
        f"SELECT CAST(ship_time AS DATE) AS day, {', '.join(_DAILY_KEYS)}, {_SUM_SQL}, "
        f"CAST(count(*) FILTER (WHERE dest_province = {_ORIGIN_PROVINCE}) AS BIGINT) "
        "AS in_province_parcels, "
        "CAST(count(*) FILTER (WHERE line_id IS NOT NULL) AS BIGINT) AS line_parcels "
        "FROM {source} GROUP BY ALL"
    ),
    LANES_DATASET: (
        f"SELECT CAST(ship_time AS DATE) AS day, {_ORIGIN_PROVINCE} AS origin_province, "
        f"{', '.join(_LANE_KEYS)}, {_SUM_SQL} FROM {{source}} GROUP BY ALL"
    ),
}


def refresh(lake: Path, months: list[str] | tuple[str, ...]) -> None:
    """Recompute both aggregates of each of ``months`` (``YYYY-MM``) from the waybills.

    One partitioned query per aggregate writes every month into a staging folder; each month's
    file then replaces the old one with a rename. Called by :func:`jiqun.lake.writer.append`
    (through its journal) under the write lock.
    """
    if not months:
        return
    files = [f for m in months
             for f in sorted((lake / WAYBILL_DATASET.name / f"month={m}").glob("*.parquet"))]
    staging = lake / "_staging" / uuid.uuid4().hex[:12]  # jiqun.lake.writer.STAGING
    staging.mkdir(parents=True)
    con = duckdb.connect()
    try:
        for dataset, query in _QUERIES.items():
            if files:
                source = "read_parquet([" + ", ".join(f"'{f}'" for f in files) + "])"
                con.execute(
                    f"COPY (SELECT *, strftime(day, '%Y-%m') AS month "
                    f"FROM ({query.format(source=source)})) TO '{staging / dataset.name}' "
                    f"(FORMAT parquet, COMPRESSION zstd, PARTITION_BY (month), "
                    f"FILENAME_PATTERN '{dataset.name}')"
                )
            for month in months:
                _replace_month(lake, dataset, staging / dataset.name / f"month={month}", month)
    finally:
        con.close()
        shutil.rmtree(staging, ignore_errors=True)


def _replace_month(lake: Path, dataset: Dataset, staged: Path, month: str) -> None:
    target = lake / dataset.name / f"month={month}" / f"{dataset.name}.parquet"
    new = sorted(staged.glob("*.parquet")) if staged.is_dir() else []
    if not new:
        target.unlink(missing_ok=True)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(new[0], target)


def _months(folder: Path) -> set[str]:
    return {p.name.split("=", 1)[1] for p in folder.glob("month=*")}


def rebuild(lake: Path) -> None:
    """Recompute every month's aggregates (after a restore, or a change of this module).

    Months that have aggregates but no longer any waybills are recomputed too, which removes
    them: a rebuild leaves nothing of an earlier lake behind."""
    lake = Path(lake)
    months = _months(lake / WAYBILL_DATASET.name)
    for dataset in _QUERIES:
        months |= _months(lake / dataset.name)
    refresh(lake, sorted(months))
