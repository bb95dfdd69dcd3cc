"""A plain waybill CSV in one read: every row written as it is checked, the outcome proved after.

The usual import (:mod:`jiqun.ingest.api`) reads a file twice: once for what needs the whole
file before any row can be judged (the waybill numbers it repeats, its destinations), then to
check and write every row. For the common large file — UTF-8, no quotes, every row good — that
first read costs as much as the second's parse. So such a file is written first and checked
after, and the check decides whether it stands:

* every row of the file is checked as usual, but the destinations are found by the divisions'
  own names (:func:`jiqun.ingest.lake_kinds.validate_waybills_at_once`) and no repeat is known
  yet; the rows are staged (``COPY``) in the writer's staging folder, and the first bad row
  stops the ``COPY`` (DuckDB's ``error()``). Without a quote in the file every record is one
  line, so the rows written are the file's rows of data: blank lines and rows without a value
  are skipped by both imports alike;
* then it holds only if no waybill number occurs twice among the staged rows and none is in
  the lake already — columnar reads of the staged numbers, not of the file.

Then the outcome is the usual one for that file (every row inserted, no reject, no duplicate:
the same report and fingerprint) and is committed with one journal as usual. Otherwise (a bad
row, a destination spelt another way, a repeat, a waybill already in the lake, a file DuckDB
refuses) nothing is kept: the staged files are removed and the usual import runs instead,
which reads the file twice and says which rows and why. Until the commit nothing is visible,
so a killed import leaves the lake as it was either way.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import duckdb
import numpy as np

from jiqun.ingest.checks import bad_sql
from jiqun.ingest.lake_kinds import Validated
from jiqun.ingest.report import ImportReport
from jiqun.ingest.source import Source
from jiqun.lake.writer import StagedAppend, lake_keys_sql, staged_append


def import_at_once(con: duckdb.DuckDBPyConnection, src: Source, validated: Validated, lake: Path,
                   report: ImportReport, step: Callable[[str, int, int], None],
                   settle: Callable[[ImportReport], None]) -> bool:
    """Stage every row of ``src`` and commit them when every one was good (module docstring);
    ``src.total`` becomes the rows written. ``settle`` completes the report and fingerprints it
    (and may refuse it) before the commit. False: nothing was applied, import the file the
    usual way."""
    dataset = validated.dataset
    with staged_append(lake, dataset) as stage:
        step("writing", 0, 1)
        try:
            written = stage.part(con, _good_rows_sql(validated))
        except (duckdb.InvalidInputException, duckdb.ConversionException):
            return False  # a bad row, or a file DuckDB refuses: the usual import says which and why
        if _repeats(con, stage, dataset.key, written) or _in_lake(con, stage, lake, dataset):
            return False
        step("writing", 1, 1)
        src.total = written
        report.inserted, report.duplicates, report.rejected, report.reasons = written, 0, 0, {}
        settle(report)
        stage.commit()
    report.written = report.inserted
    return True


# Raised by the query at the first bad row: DuckDB stops reading the file there.
BAD_ROW = "jiqun: a bad row, the file goes the usual way"


def _good_rows_sql(validated: Validated) -> str:
    checked = validated.output.format(
        rows=f"(SELECT *, {bad_sql(validated.checks)} AS _bad FROM parsed_stream)")
    return (f"SELECT * EXCLUDE (_row, _bad) FROM ({checked}) "
            f"WHERE CASE WHEN _bad THEN error('{BAD_ROW}') ELSE true END")


def _staged_keys(stage: StagedAppend, key: tuple[str, ...]) -> str:
    files = str(stage.folder / "part-*" / "*" / "*.parquet.tmp").replace("'", "''")
    return f"SELECT {', '.join(key)} FROM read_parquet('{files}', hive_partitioning = false)"


# At most this many staged keys are told apart in memory (256 MB of hashes, inside the
# import's bound); a longer file is left to DuckDB's aggregate, which spills to disk.
SORTED_KEYS_MAX = 32_000_000


def _repeats(con: duckdb.DuckDBPyConnection, stage: StagedAppend, key: tuple[str, ...],
             rows: int) -> bool:
    """Whether a key may occur twice among the ``rows`` staged rows (by its 64-bit hash: two
    keys of one hash only send the file the usual way). The hashes are sorted with NumPy and
    neighbours compared: for 10M keys 0.3 s, where DuckDB's hash table of as many groups
    takes 1 s."""
    hashed = f"SELECT hash({', '.join(key)}) AS h FROM ({_staged_keys(stage, key)})"
    if rows > SORTED_KEYS_MAX:
        return con.execute(f"SELECT count(*) > 0 FROM (SELECT h FROM ({hashed}) GROUP BY h "
                           "HAVING count(*) > 1)").fetchall()[0][0]
    hashes, filled = np.empty(rows, dtype=np.uint64), 0
    with con.sql(hashed).to_arrow_reader(batch_size=1 << 20) as reader:
        for batch in reader:
            if filled + batch.num_rows > rows:
                return True  # more rows than were written: not a file to trust at once
            hashes[filled:filled + batch.num_rows] = batch.column(0).to_numpy()
            filled += batch.num_rows
    hashes = hashes[:filled]
    hashes.sort()
    return bool(np.any(hashes[1:] == hashes[:-1]))


def _in_lake(con: duckdb.DuckDBPyConnection, stage: StagedAppend, lake: Path, dataset) -> bool:
    """Whether the lake holds a key of the staged rows (read under the write lock)."""
    existing = lake_keys_sql(lake, dataset)
    if existing is None:
        return False
    key = ", ".join(dataset.key)
    return con.execute(
        f"SELECT EXISTS (SELECT 1 FROM ({existing}) e SEMI JOIN ({_staged_keys(stage, dataset.key)}) "
        f"s USING ({key}))").fetchall()[0][0]

