"""Ibis connection factory and the lake's tables as Ibis expressions.

DuckDB by default; PySpark (local mode or a cluster) when ``JIQUN_ENGINE=pyspark``. Analytics are
written once against these expressions and run on either engine. Store dimensions reach the
engine as in-memory Arrow tables (DuckDB's sqlite/postgres scanners download at run time).
"""

from __future__ import annotations

import threading
import types
from collections import OrderedDict
from collections.abc import Callable, Hashable
from functools import lru_cache
from pathlib import Path

import duckdb
import ibis
import ibis.expr.operations as ops
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

        master = settings.spark_master
        builder = (SparkSession.builder.remote(master) if master.startswith("sc://")
                   else SparkSession.builder.master(master))
        spark = (
            builder.appName("jiqun")
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


def scope_filter(table: Table, scope: Scope) -> Table:
    """``table`` (with ``org_unit_id``) limited to ``scope``: the one lake filter.

    The whole organisation (:data:`Scope.WHOLE`, HQ) adds nothing. Below it, the table is
    semi-joined with the subtree's unit ids, which the store reads once with the scope by org
    path; a semi-join against a small table measured faster on DuckDB than an ``IN`` list of
    literals (10M daily rows, 14,292 units: a province's 461 ids 66 ms against 111–171 ms, HQ's
    14,292 ids 3.0 s against 36 ms unfiltered) and no slower than joining the org units' paths.
    ``None`` is refused: the whole organisation must be asked for by name.
    """
    if not isinstance(scope, Scope):
        raise TypeError("the lake needs a scope; Scope.WHOLE is the whole organisation")
    if scope.whole:
        return table
    return units_filter(table, scope.org_ids)


def units_filter(table: Table, unit_ids: frozenset[int]) -> Table:
    """``table`` (with ``org_unit_id``) limited to the parcels of ``unit_ids``."""
    units = _scope_units(frozenset(unit_ids)).cast(
        {"scope_org_unit_id": table.org_unit_id.type()})
    return table.semi_join(units, table.org_unit_id == units.scope_org_unit_id)


@lru_cache(maxsize=64)
def _scope_units(org_ids: frozenset[int]) -> Table:
    # One memtable per subtree, so a connection registers it once, not on every read.
    return ibis.memtable(pa.table({"scope_org_unit_id": pa.array(sorted(org_ids), pa.int64())}))


def _empty_table(con: ibis.BaseBackend, dataset: Dataset) -> Table:
    """An empty table of the dataset, bound to ``con`` where the engine allows: an expression of
    unbound in-memory tables alone runs on Ibis's one process-wide default connection, which
    every request thread would share (DuckDB refuses a second caller: ``ResourceInUse``)."""
    if con.name == "duckdb":  # a view of the Arrow table, local to this connection
        name = f"{dataset.name}_empty"
        con.con.register(name, _empty(dataset))
        return con.table(name)
    return ibis.memtable(_empty(dataset))


def dataset_table(
    con: ibis.BaseBackend, lake: Path | None, dataset: Dataset, scope: Scope
) -> Table:
    """The whole dataset as an Ibis table, limited to ``scope``'s org units."""
    lake = Path(lake or get_settings().lake_path)
    if dataset_files(lake, dataset):
        table = _read_dataset(con, lake, dataset)
    else:
        table = _empty_table(con, dataset)
    table = table.select(*dataset.schema.names)  # the schema's columns, not the partition key
    return scope_filter(table, scope)


def _read_dataset(con: ibis.BaseBackend, lake: Path, dataset: Dataset) -> Table:
    """The dataset's folder read as one partitioned dataset, not as a list of files: PySpark
    takes a list as one path string, and a cluster reads the folder on shared storage itself.
    The writer's temporaries are hidden files (``.part-….tmp``), which neither engine reads."""
    folder = lake.absolute() / dataset.name
    name = f"{dataset.name}_lake"
    if con.name == "pyspark":  # Spark discovers the month=YYYY-MM partitions
        return con.read_parquet(str(folder), table_name=name)
    return con.read_parquet(str(folder / "month=*" / "*.parquet"), table_name=name)


def waybills(con: ibis.BaseBackend, lake: Path | None, scope: Scope) -> Table:
    """Raw waybills in ``scope`` (``lake`` ``None``: the configured lake)."""
    return dataset_table(con, lake, WAYBILL_DATASET, scope)


def events(con: ibis.BaseBackend, lake: Path | None, scope: Scope) -> Table:
    return dataset_table(con, lake, EVENT_DATASET, scope)


def daily(con: ibis.BaseBackend, lake: Path | None, scope: Scope) -> Table:
    """Daily waybill aggregates (:mod:`jiqun.lake.aggregates`): what pages and KPIs read."""
    return dataset_table(con, lake, DAILY_DATASET, scope)


def lanes(con: ibis.BaseBackend, lake: Path | None, scope: Scope) -> Table:
    """Daily flows by origin and destination (:mod:`jiqun.lake.aggregates`)."""
    return dataset_table(con, lake, LANES_DATASET, scope)


def memtable(rows: list[dict] | pa.Table, schema: pa.Schema | None = None) -> Table:
    """A store dimension (markets, customers, grids …) as an in-memory engine table."""
    if isinstance(rows, pa.Table):
        return ibis.memtable(rows)
    return ibis.memtable(pa.Table.from_pylist(rows, schema=schema))


# -- compiled once, run many --------------------------------------------------------------------
_PREPARED: OrderedDict[Hashable, tuple[str, dict[str, pa.Table]]] = OrderedDict()
_PREPARED_SIZE = 64
_PREPARED_LOCK = threading.Lock()


def run_prepared(con: ibis.BaseBackend, key: Hashable, build: Callable[[], Table]) -> pa.Table:
    """The result of the expression ``build()`` makes, as Arrow.

    On DuckDB the expression is built and compiled once per ``key`` (which must determine it
    fully: every value its in-memory tables hold, the lake, the scope) and its SQL kept with
    those tables; a repeat registers the tables on ``con`` and runs the SQL alone. Building and
    compiling a large expression costs as much CPU as DuckDB running it over a province's
    month. Other engines build and run the expression each time."""
    if con.name != "duckdb":
        return con.to_pyarrow(build())
    with _PREPARED_LOCK:
        entry = _PREPARED.get(key)
        if entry is not None:
            _PREPARED.move_to_end(key)
    if entry is None:
        expr = build()
        tables = {op.name: op.data.to_pyarrow(op.schema)
                  for op in expr.op().find(ops.InMemoryTable)}
        entry = (str(con.compile(expr)), tables)
        with _PREPARED_LOCK:
            _PREPARED[key] = entry
            while len(_PREPARED) > _PREPARED_SIZE:
                _PREPARED.popitem(last=False)
    sql, tables = entry
    raw = con.con
    # Ibis may have registered some of these tables on this connection for other queries and
    # counts on them staying: register (and afterwards drop) only the others.
    present = {row[0] for row in raw.execute(
        "SELECT table_name FROM information_schema.tables").fetchall()}
    tables = {name: table for name, table in tables.items() if name not in present}
    for name, table in tables.items():
        raw.register(name, table)
    try:
        try:
            return raw.sql(sql).to_arrow_table()
        except duckdb.CatalogException:
            # A connection the SQL is new to lacks the lake's views, which building the
            # expression creates (``read_parquet`` binds the dataset's folder as a view).
            build()
            return raw.sql(sql).to_arrow_table()
    finally:
        for name in tables:
            raw.unregister(name)
