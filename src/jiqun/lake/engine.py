"""Ibis connection factory and the lake's tables as Ibis expressions.

DuckDB by default; PySpark (local mode or a cluster) when ``JIQUN_ENGINE=pyspark``. Analytics are
written once against these expressions and run on either engine. Store dimensions reach the
engine as in-memory Arrow tables (DuckDB's sqlite/postgres scanners download at run time).
"""

from __future__ import annotations

import types
from pathlib import Path

import ibis
import pyarrow as pa
from ibis.expr.types import Table

from jiqun.config import Settings, get_settings
from jiqun.lake.aggregates import DAILY_DATASET, LANES_DATASET
from jiqun.lake.schemas import EVENT_DATASET, WAYBILL_DATASET, Dataset
from jiqun.lake.writer import dataset_files
from jiqun.store.scope import Scope


def connect(settings: Settings | None = None, engine: str | None = None) -> ibis.BaseBackend:
    """A new Ibis backend for the configured engine."""
    settings = settings or get_settings()
    engine = engine or settings.engine
    if engine == "duckdb":
        return ibis.duckdb.connect()
    if engine == "pyspark":
        from pyspark.sql import SparkSession

        spark = (
            SparkSession.builder.master("local[*]")
            .appName("jiqun")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.ui.enabled", "false")
            .getOrCreate()
        )
        con = ibis.pyspark.connect(spark)
        # Ibis hands in-memory tables to Spark through pandas, which turns a nullable integer
        # column into floats and loses values; Spark 4 takes Arrow tables as they are.
        con._register_in_memory_table = types.MethodType(_register_arrow_table, con)
        return con
    raise ValueError(f"unknown engine {engine!r}")


def _register_arrow_table(con, op) -> None:
    arrow = op.data.to_pyarrow(op.schema)
    con._session.createDataFrame(arrow).createOrReplaceTempView(op.name)


def _empty(dataset: Dataset) -> pa.Table:
    return dataset.schema.empty_table()


def dataset_table(
    con: ibis.BaseBackend, lake: Path, dataset: Dataset, scope: Scope | None = None
) -> Table:
    """The whole dataset as an Ibis table, limited to ``scope``'s org units."""
    files = dataset_files(Path(lake), dataset)
    if files:
        table = con.read_parquet([str(f) for f in files], table_name=f"{dataset.name}_lake")
    else:
        table = ibis.memtable(_empty(dataset))
    table = table.select(*dataset.schema.names)  # the schema's columns, not the partition key
    if scope is not None:
        table = table.filter(table.org_unit_id.isin(sorted(scope.org_ids)))
    return table


def waybills(con: ibis.BaseBackend, lake: Path | None = None, scope: Scope | None = None) -> Table:
    return dataset_table(con, lake or get_settings().lake_path, WAYBILL_DATASET, scope)


def events(con: ibis.BaseBackend, lake: Path | None = None, scope: Scope | None = None) -> Table:
    return dataset_table(con, lake or get_settings().lake_path, EVENT_DATASET, scope)


def daily(con: ibis.BaseBackend, lake: Path | None = None, scope: Scope | None = None) -> Table:
    """Daily waybill aggregates (:mod:`jiqun.lake.aggregates`): what pages and KPIs read."""
    return dataset_table(con, lake or get_settings().lake_path, DAILY_DATASET, scope)


def lanes(con: ibis.BaseBackend, lake: Path | None = None, scope: Scope | None = None) -> Table:
    """Daily flows by origin and destination (:mod:`jiqun.lake.aggregates`)."""
    return dataset_table(con, lake or get_settings().lake_path, LANES_DATASET, scope)


def memtable(rows: list[dict] | pa.Table, schema: pa.Schema | None = None) -> Table:
    """A store dimension (markets, customers, grids …) as an in-memory engine table."""
    if isinstance(rows, pa.Table):
        return ibis.memtable(rows)
    return ibis.memtable(pa.Table.from_pylist(rows, schema=schema))
