"""Atomic, idempotent appends to the Parquet lake, partitioned by month.

Layout: ``<lake>/<dataset>/month=YYYY-MM/part-<batch>.parquet``.

* Idempotent: rows whose key (waybill number; for events waybill + time + code) is already in the
  lake, or repeated in the batch, are dropped, so importing the same file twice changes nothing.
* Atomic: every new file is written under a temporary name first; a journal lists the renames
  and the months whose aggregates (:mod:`jiqun.lake.aggregates`) must be recomputed. Writing
  the journal is the commit point; then the files are renamed into place, the aggregates of
  those months refreshed, and only then is the journal removed. A crash before the journal
  leaves the lake as it was; a crash after it (during the renames or the aggregate refresh) is
  rolled forward by the next writer *and by the next reader*: :func:`dataset_files`, through
  which every reader lists the lake (waybills, events, ``daily``, ``lanes``), first finishes a
  pending journal (:func:`settle`). So no reader ever sees the waybills of a file without its
  aggregates, or half of a file.
* One writer at a time per lake (an exclusive file lock), which a reader takes only to finish
  an interrupted commit.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import threading
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
STAGING = "_staging"  # aggregate files being recomputed (jiqun.lake.aggregates.refresh)
_held = threading.local()  # lakes whose lock this thread holds (the lock is not re-entrant)


@dataclass(frozen=True)
class AppendResult:
    added: int
    duplicates: int
    months: tuple[str, ...]


def _held_lakes() -> set[str]:
    if not hasattr(_held, "lakes"):
        _held.lakes = set()
    return _held.lakes


@contextmanager
def _locked(lake: Path) -> Iterator[None]:
    lake.mkdir(parents=True, exist_ok=True)
    key = str(lake.resolve())
    with open(lake / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _held_lakes().add(key)
        try:
            yield
        finally:
            _held_lakes().discard(key)
            fcntl.flock(lock, fcntl.LOCK_UN)


def _pending(lake: Path) -> bool:
    """Whether a committed append has not finished (its journal is still there)."""
    try:
        return any(e.name.endswith(".json") for e in os.scandir(lake / JOURNAL))
    except (FileNotFoundError, NotADirectoryError):
        return False


def settle(lake: Path) -> None:
    """Before reading: finish an append that was interrupted after its commit point.

    Costs one directory listing when nothing is pending. When something is, waits for the
    writer that holds the lock (it is finishing that very commit) or, if it was killed, rolls the
    append forward itself. A lake this process may not write is read as it stands.
    """
    lake = Path(lake)
    if not _pending(lake) or str(lake.resolve()) in _held_lakes():
        return
    try:
        with _locked(lake):
            recover(lake)
    except OSError as exc:
        if not isinstance(exc, PermissionError) and exc.errno != errno.EROFS:
            raise


def recover(lake: Path) -> None:
    """Finish the renames and aggregate refresh of every append whose journal was written,
    and discard what an append left before its journal (call under the write lock)."""
    journal_dir = lake / JOURNAL
    for journal in sorted(journal_dir.glob("*.json")):
        entry = json.loads(journal.read_text())
        for tmp, final in entry["renames"]:
            if (lake / tmp).exists():  # relative to the lake (absolute in older journals)
                os.replace(lake / tmp, lake / final)
        if entry["dataset"] == WAYBILL_DATASET.name:
            aggregates.refresh(lake, entry["months"])
        journal.unlink()
    for uncommitted in journal_dir.glob("*.pending"):
        uncommitted.unlink()
    for orphan in lake.glob("*/month=*/.*.tmp"):  # written before a journal existed: discard
        orphan.unlink()
    shutil.rmtree(lake / STAGING, ignore_errors=True)  # a refresh cut short; redone above


def dataset_files(lake: Path, dataset: Dataset) -> list[Path]:
    """The dataset's Parquet files, after finishing any interrupted append (:func:`settle`)."""
    settle(lake)
    return sorted((Path(lake) / dataset.name).glob("month=*/*.parquet"))


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
            # Relative to the lake, so that a copied or restored lake finishes its own append.
            renames.append((str(tmp.relative_to(lake)),
                            str((folder / f"part-{batch}.parquet").relative_to(lake))))
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
