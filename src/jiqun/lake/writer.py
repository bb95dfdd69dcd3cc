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

Two ways in: :func:`append` takes an Arrow table (the demo builder, tests, small batches);
:func:`staged_append` lets an importer stream the rows of a DuckDB query of any size into the
staging folder part by part (``COPY … TO … (FORMAT parquet)``) and commit all parts with the
same single journal, so a file of 30M waybills is still one atomic, idempotent append.
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
# Files not yet committed: aggregates being recomputed (jiqun.lake.aggregates.refresh) and the
# parts of a staged append (StagedAppend); the next writer removes what a crash left there.
STAGING = "_staging"
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
        if entry["dataset"] == WAYBILL_DATASET.name:  # only the days the new files hold
            aggregates.refresh(lake, entry["months"], [lake / f for _, f in entry["renames"]])
        journal.unlink()
    for uncommitted in journal_dir.glob("*.pending"):
        uncommitted.unlink()
    for orphan in lake.glob("*/month=*/.*.tmp"):  # written before a journal existed: discard
        orphan.unlink()
    # A refresh cut short (redone above), or the parts of a staged append never committed.
    shutil.rmtree(lake / STAGING, ignore_errors=True)


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
        # The lake's keys that the batch names, first: a semi join streams the lake's keys past
        # the batch's (20x faster than an anti join over a lake of 100M, which hashes them all).
        con.execute(f"CREATE OR REPLACE TEMP TABLE lake_keys AS SELECT DISTINCT e.* FROM "
                    f"(SELECT {key} FROM read_parquet([{listing}])) e SEMI JOIN incoming USING ({key})")
        query = f"SELECT * FROM ({first}) AS b WHERE NOT EXISTS (SELECT 1 FROM lake_keys AS e WHERE {' AND '.join(f'e.{k} = b.{k}' for k in dataset.key)})"
    else:
        query = first
    month = f"strftime({dataset.time_column}, '%Y-%m') AS _month"
    # A plain scan keeps insertion order (DuckDB's preserve_insertion_order): no sort needed.
    order = "" if unique and not files else " ORDER BY _row"
    return con.sql(f"SELECT *, {month} FROM ({query}){order}").to_arrow_table()


def _commit(lake: Path, dataset: Dataset, months: list[str],
            renames: list[tuple[str, str]]) -> None:
    """Write the journal of ``renames`` (the commit point), then carry it out (:func:`recover`)."""
    if not renames:
        return
    journal_dir = lake / JOURNAL
    journal_dir.mkdir(exist_ok=True)
    journal = journal_dir / f"{uuid.uuid4().hex[:12]}.json"
    pending = journal.with_suffix(".pending")
    pending.write_text(json.dumps({"dataset": dataset.name, "months": months, "renames": renames}))
    os.replace(pending, journal)  # the commit point of the append
    recover(lake)


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
        _commit(lake, dataset, months, renames)
        return AppendResult(
            added=len(fresh), duplicates=len(table) - len(fresh), months=tuple(months)
        )


# DuckDB's type for each Arrow type of the lake's schemas (jiqun.lake.schemas).
_DUCKDB_TYPES = {pa.string(): "VARCHAR", pa.int32(): "INTEGER", pa.int64(): "BIGINT",
                 pa.float32(): "FLOAT", pa.float64(): "DOUBLE", pa.timestamp("s"): "TIMESTAMP_S"}


class StagedAppend:
    """An append written in parts by DuckDB straight from a query, committed as one unit.

    Each :meth:`part` is one ``COPY … TO … (FORMAT parquet, PARTITION_BY month)`` into the
    staging folder ``<lake>/_staging/<batch>/``, so no part is ever held in memory whole; only
    :meth:`commit` makes them part of the lake, with one journal for every file of every part.
    Until then readers see none of them, and a crash leaves only staging files, which the next
    writer removes (:func:`recover`). Made by :func:`staged_append`, under the write lock.
    """

    def __init__(self, lake: Path, dataset: Dataset):
        self.lake, self.dataset = lake, dataset
        self.batch = uuid.uuid4().hex[:12]
        self.folder = lake / STAGING / self.batch
        self.parts = 0

    def part(self, con: duckdb.DuckDBPyConnection, query: str) -> int:
        """Stage the rows of ``query`` (the dataset's columns, by name; the caller has dropped
        keys already in the lake or earlier in the batch); returns how many were staged."""
        # An ENUM stays one: DuckDB writes its codes as the Parquet dictionary as they are
        # (a text column costs a hash of every value), and the file holds strings all the same.
        relation = con.sql(query)
        coded = {c for c, t in zip(relation.columns, relation.types, strict=True)
                 if t.id == "enum"}
        columns = ", ".join(
            f'"{f.name}"' if f.name in coded and f.type == pa.string()
            else f'CAST("{f.name}" AS {_DUCKDB_TYPES[f.type]}) AS "{f.name}"'
            for f in self.dataset.schema)
        time = self.dataset.time_column
        # An integer key (202406) partitions markedly faster than the text '2024-06'.
        month = f"year({time}) * 100 + month({time}) AS _month"
        target = str(self.folder / f"part-{self.parts:05d}").replace("'", "''")
        self.parts += 1
        self.folder.mkdir(parents=True, exist_ok=True)
        staged = con.execute(
            f"COPY (SELECT {columns}, {month} FROM ({query})) TO '{target}' (FORMAT parquet, "
            "COMPRESSION zstd, COMPRESSION_LEVEL 1, PARTITION_BY (_month), FILENAME_PATTERN 'rows_{i}', "
            "FILE_EXTENSION 'parquet.tmp')"  # named as every file not committed yet
        ).fetchall()[0][0]
        return int(staged)

    def commit(self) -> tuple[str, ...]:
        """Move every staged file into its month with one journal (the commit point); the
        months touched."""
        renames: list[tuple[str, str]] = []
        months: set[str] = set()
        for n, staged in enumerate(sorted(self.folder.glob("part-*/_month=*/*.parquet.tmp"))):
            key = staged.parent.name.split("=", 1)[1]  # 202406
            month = f"{key[:4]}-{key[4:]}"
            months.add(month)
            folder = self.lake / self.dataset.name / f"month={month}"
            folder.mkdir(parents=True, exist_ok=True)
            final = folder / f"part-{self.batch}-{n:05d}.parquet"
            renames.append((str(staged.relative_to(self.lake)), str(final.relative_to(self.lake))))
        _commit(self.lake, self.dataset, sorted(months), renames)
        return tuple(sorted(months))


@contextmanager
def staged_append(lake: Path, dataset: Dataset) -> Iterator[StagedAppend]:
    """Hold the write lock for an append written in parts (:class:`StagedAppend`); whatever is
    staged and not committed when the block ends (an error, a refusal) is discarded."""
    lake = Path(lake)
    with _locked(lake):
        recover(lake)
        stage = StagedAppend(lake, dataset)
        try:
            yield stage
        finally:
            shutil.rmtree(stage.folder, ignore_errors=True)


def lake_keys_sql(lake: Path, dataset: Dataset) -> str | None:
    """SQL of the key columns of every row of ``dataset`` in the lake (None: no files yet)."""
    files = dataset_files(Path(lake), dataset)
    if not files:
        return None
    listing = ", ".join("'" + str(f).replace("'", "''") + "'" for f in files)
    return f"SELECT {', '.join(dataset.key)} FROM read_parquet([{listing}])"
