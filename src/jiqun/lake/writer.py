"""Atomic, idempotent appends to the Parquet lake, partitioned by month.

Layout: ``<lake>/<dataset>/month=YYYY-MM/part-<batch>.parquet``.

* Idempotent: rows whose key (waybill number; for events waybill + time + code) is already in the
  lake, or repeated in the batch, are dropped, so importing the same file twice changes nothing.
* Atomic: every new file is written under a temporary name first; a journal lists the renames
  (and the months whose daily aggregates must be recomputed, :mod:`jiqun.lake.aggregates`);
  only then are the files renamed into place and the aggregates refreshed. A crash before the journal leaves the lake as it
  was; a crash after it is rolled forward by the next writer (:func:`recover`).
* One writer at a time per lake (an exclusive file lock).
"""

from __future__ import annotations

import fcntl
import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from jiqun.lake import aggregates
from jiqun.lake.schemas import WAYBILL_DATASET, Dataset

JOURNAL = "_journal"


@dataclass(frozen=True)
class AppendResult:
    added: int
    duplicates: int
    months: tuple[str, ...]


@contextmanager
def _locked(lake: Path) -> Iterator[None]:
    lake.mkdir(parents=True, exist_ok=True)
    with open(lake / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def recover(lake: Path) -> None:
    """Finish the renames of an append that was interrupted after its journal was written."""
    journal_dir = lake / JOURNAL
    if not journal_dir.is_dir():
        return
    for journal in sorted(journal_dir.glob("*.json")):
        entry = json.loads(journal.read_text())
        for tmp, final in entry["renames"]:
            if Path(tmp).exists():
                os.replace(tmp, final)
        if entry["dataset"] == WAYBILL_DATASET.name:
            aggregates.refresh(lake, entry["months"])
        journal.unlink()
    for uncommitted in journal_dir.glob("*.pending"):
        uncommitted.unlink()
    for orphan in lake.glob("*/month=*/.*.tmp"):  # written before a journal existed: discard
        orphan.unlink()


def dataset_files(lake: Path, dataset: Dataset) -> list[Path]:
    return sorted((lake / dataset.name).glob("month=*/*.parquet"))


def _conform(table: pa.Table, dataset: Dataset) -> pa.Table:
    """Cast to the dataset's schema, in its column order; missing nullable columns become null."""
    columns = []
    for field in dataset.schema:
        if field.name in table.column_names:
            columns.append(table[field.name].cast(field.type))
        else:
            columns.append(pa.nulls(len(table), field.type))
    return pa.Table.from_arrays(columns, schema=dataset.schema)


def _new_rows(con: duckdb.DuckDBPyConnection, lake: Path, dataset: Dataset) -> pa.Table:
    """Rows of ``incoming`` whose key is neither in the lake nor earlier in the batch."""
    key = ", ".join(dataset.key)
    # The window that keeps the first of repeated keys costs more than the rest of the append
    # on large batches; importers hand over batches without repeats, so check that first.
    unique = con.sql(f"SELECT count(*) = count(DISTINCT ({key})) FROM incoming").fetchall()[0][0]
    if unique:
        first = "SELECT * FROM incoming"
    else:
        first = f"SELECT * FROM incoming QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY _row) = 1"
    files = dataset_files(lake, dataset)
    if files:
        listing = ", ".join(f"'{f}'" for f in files)
        existing = f"SELECT {key} FROM read_parquet([{listing}])"
        query = f"SELECT * FROM ({first}) AS b WHERE NOT EXISTS (SELECT 1 FROM ({existing}) AS e WHERE {' AND '.join(f'e.{k} = b.{k}' for k in dataset.key)})"
    else:
        query = first
    month = f"strftime({dataset.time_column}, '%Y-%m') AS _month"
    # A plain scan keeps insertion order (DuckDB's preserve_insertion_order): no sort needed.
    order = "" if unique and not files else " ORDER BY _row"
    return con.sql(f"SELECT *, {month} FROM ({query}){order}").to_arrow_table()


def append(lake: Path, dataset: Dataset, table: pa.Table) -> AppendResult:
    """Append ``table`` to ``dataset`` in ``lake``: atomically, skipping rows already there."""
    lake = Path(lake)
    incoming = _conform(table, dataset).append_column("_row", pa.array(range(len(table)), pa.int64()))
    with _locked(lake):
        recover(lake)
        con = duckdb.connect()
        con.register("incoming", incoming)
        fresh = _new_rows(con, lake, dataset)
        con.close()
        batch = uuid.uuid4().hex[:12]
        renames: list[tuple[str, str]] = []
        months = sorted(pa.compute.unique(fresh["_month"]).to_pylist()) if len(fresh) else []
        for month in months:
            rows = fresh.filter(pa.compute.equal(fresh["_month"], month)).drop(["_row", "_month"])
            folder = lake / dataset.name / f"month={month}"
            folder.mkdir(parents=True, exist_ok=True)
            tmp = folder / f".part-{batch}.parquet.tmp"
            pq.write_table(rows.cast(dataset.schema), tmp, compression="zstd")
            renames.append((str(tmp), str(folder / f"part-{batch}.parquet")))
        if renames:
            journal_dir = lake / JOURNAL
            journal_dir.mkdir(exist_ok=True)
            journal = journal_dir / f"{batch}.json"
            pending = journal.with_suffix(".pending")
            pending.write_text(
                json.dumps({"dataset": dataset.name, "months": months, "renames": renames})
            )
            os.replace(pending, journal)  # the commit point of the append
            recover(lake)
        return AppendResult(
            added=len(fresh), duplicates=len(table) - len(fresh), months=tuple(months)
        )
