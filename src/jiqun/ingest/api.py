"""``import_file``: check a whole file, then apply every good row at once, or nothing.

Store kinds (markets, customers) commit in one store transaction; lake kinds (waybills, events)
in one atomic, idempotent :func:`jiqun.lake.append`. Rejected rows go to the reject report.

Who imports is asked here, in the service, so the CLI and the Python API give one answer:
waybills, events and markets need ``data.import``; customers ``customer.archive``
(:mod:`jiqun.permissions`). The acting user's subtree limits what the file may refer to.
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Callable
from pathlib import Path

import duckdb

from jiqun.i18n import normalise_locale
from jiqun.ingest import at_once, lake_kinds, source
from jiqun.ingest.checks import bad_sql, reject_lines_sql
from jiqun.ingest.columns import FORMATS
from jiqun.ingest.kinds import IMPORT_KINDS, ImportKind
from jiqun.ingest.report import (
    ImportChanged,
    ImportFileError,
    ImportReport,
    Reject,
    count_reasons,
    default_rejects_path,
    outcome_fingerprint,
    write_rejects,
)
from jiqun.ingest.store_kinds import apply_rows, outside_scope
from jiqun.ingest.workdir import import_folder
from jiqun.lake.writer import StagedAppend, lake_keys_sql, staged_append
from jiqun.permissions import Action, Actor, require
from jiqun.store.db import Store
from jiqun.store.scope import Scope

Progress = Callable[[str, int, int], None]  # (stage, done, total)
LAKE_KINDS = tuple(k.name for k in IMPORT_KINDS.values() if k.to_lake)
# The action each kind of import takes (customers are archived merchants: jiqun.sales.archive).
ACTIONS: dict[str, Action] = {k.name: k.action for k in IMPORT_KINDS.values()}
__all__ = ["ACTIONS", "FORMATS", "LAKE_KINDS", "Progress", "import_file"]
# Bounded memory for a file of any size (docs/formats.md, "Large files"): DuckDB holds at most
# MEMORY_LIMIT and spills the rest to the import's temporary folder; a lake import streams the
# file through one query that checks every row and writes the good ones into Parquet.
MEMORY_LIMIT = "1GB"
PARTITION_FLUSH_ROWS = 122_880  # DuckDB's row group
_REJECT_BATCH = 50_000


def import_file(
    kind: str,
    path: str | Path,
    store: Store,
    lake_path: str | Path,
    *,
    dry_run: bool = False,
    rejects: str | Path | None = None,
    locale: str | None = None,
    progress: Progress | None = None,
    actor: Actor | None = None,
    scope: Scope | None = None,
    now: dt.datetime | None = None,
    expect: str | None = None,
    max_rows: int | None = None,
    report_file: bool = True,
) -> ImportReport:
    """Import one CSV/XLSX file of ``kind`` (markets, customers, waybills, events).

    ``actor`` (default: the system account) must be allowed the kind's action (:data:`ACTIONS`),
    else :class:`~jiqun.errors.NotAllowed` before the file is read; ``scope`` may narrow the
    actor's subtree. ``now`` (default: the clock) is the import time: later times are implausible.

    A dry run (``dry_run=True``) checks everything and counts what would be inserted, updated,
    left alone and rejected, and writes nothing; its report carries a ``fingerprint`` of that
    outcome. An import given ``expect=<that fingerprint>`` applies the file only if it would
    still do exactly that — else :class:`~jiqun.ingest.report.ImportChanged` (a ``Conflict``,
    409) with the fresh dry run, and nothing is applied. ``max_rows`` refuses a longer file
    (uploads); ``report_file=False`` leaves the reject lines in ``report.reject_lines`` only.

    Raises :class:`ImportFileError` for a file-level problem (unknown or missing columns, an
    unreadable file): nothing is applied. Otherwise returns an :class:`ImportReport`; its
    ``exit_code`` is 1 when some rows were rejected (the good ones are committed anyway).
    """
    spec = IMPORT_KINDS.get(kind)
    if spec is None:
        raise ImportFileError("unknown import kind {kind}", kind=kind)
    if actor is not None:
        require(actor, spec.action)
    opened = _Sessions(store, actor, scope)
    path = Path(path)
    locale = normalise_locale(locale)
    report = ImportReport(kind=kind, path=path, dry_run=dry_run)
    step = progress or (lambda *_: None)
    plan = _Plan(path if path.is_file() else None, expect)
    with import_folder() as work:  # and the folders of killed imports removed
        step("reading", 0, 4)
        if not (spec.to_lake and not dry_run and _at_once(
                spec, path, Path(work), opened, Path(lake_path), report, step, now, plan,
                max_rows)):
            con = _connect(Path(work))
            try:
                groups = spec.target.groups if spec.to_lake else source.Groups()
                src = source.load(con, path, spec.format, Path(work), groups)
                _check_length(src, max_rows)
                if spec.to_lake:
                    _import_lake(spec, con, src, opened, Path(lake_path), report, step, now, plan)
                else:
                    _import_store(spec, con, src, opened, report, step, plan)
            finally:
                con.close()
    if report.reject_lines and report_file:
        report.rejects_path = Path(rejects) if rejects else default_rejects_path(path)
        write_rejects(report.rejects_path, report.reject_lines, locale)
    step("done", 4, 4)
    return report


def _connect(work: Path) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection of its own for an import, within its memory limit."""
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    con.execute(f"SET temp_directory = '{work}'")
    con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
    # A write by month flushes each thread's rows of a month once they fill a row group, not at
    # DuckDB's 524,288: held that long, 30M rows overran the limit and spilled (1.3x the time).
    con.execute(f"SET partitioned_write_flush_threshold = {PARTITION_FLUSH_ROWS}")
    # DuckDB guesses a CSV holds a few dozen rows and would build its hash joins on the
    # file's side: the file beyond its memory limit, spilled. The joins are written with
    # the small side (a store dimension, a vocabulary) on the right: keep them so.
    con.execute("SET disabled_optimizers = 'join_order,build_side_probe_side,filter_pushdown'")
    return con


def _at_once(spec: ImportKind, path: Path, work: Path, sessions: _Sessions, lake: Path,
             report: ImportReport, step, now: dt.datetime | None, plan: _Plan,
             max_rows: int | None) -> bool:
    """A plain CSV of a kind that allows it, written in one read and committed when every row
    was good (:mod:`jiqun.ingest.at_once`); False: nothing applied, import it the usual way."""
    if spec.target.at_once is None:
        return False
    con = _connect(work)
    try:
        src = source.stream(con, path, spec.format)
        if src is None:
            return False
        step("validating", 1, 4)
        with sessions() as session:
            validated = spec.target.at_once(con, src, session, now)

        def settle(done: ImportReport) -> None:
            _check_length(src, max_rows)  # the rows are known once written (nothing committed)
            _settle_rows(done, src, [])
            plan.settle(done)  # a changed outcome commits nothing
            _drop_tables(con)  # the commit refreshes the aggregates: give it DuckDB's memory

        return at_once.import_at_once(con, src, validated, lake, report, step, settle)
    finally:
        con.close()


class _Plan:
    """What the caller expects of the import (the fingerprint of its dry run), and the check."""

    def __init__(self, path: Path | None, expect: str | None):
        self.path, self.expect = path, expect

    def settle(self, report: ImportReport) -> None:
        """Fingerprint the outcome counted so far; refuse when it is not the expected one.
        The file's digest comes from the scan that decided how to read it, when it was read
        as it is (a CSV in UTF-8); otherwise it is read for it now."""
        digest = source.file_digest(self.path) if self.path else ""
        report.fingerprint = outcome_fingerprint(report, digest)
        if self.expect is not None and report.fingerprint != self.expect:
            report.dry_run = True  # what the caller is shown instead: nothing was applied
            raise ImportChanged(report, self.expect)


def _check_length(src: source.Source, max_rows: int | None) -> None:
    rows = src.total + len(src.unreadable)
    if max_rows is not None and rows > max_rows:
        raise ImportFileError("the file has {rows} rows, more than the {limit} an upload may "
                              "have: split it, or import it with jiqun import",
                              rows=rows, limit=max_rows)


class _Sessions:
    """Store sessions of the acting user, in their (possibly narrowed) subtree."""

    def __init__(self, store: Store, actor: Actor | None, scope: Scope | None):
        self.store, self.actor, self.scope = store, actor, scope

    def __call__(self):
        return self.store.session(scope=self.scope, source="import", actor=self.actor)


def _by_row(line: tuple) -> int:
    return line[0]


def _settle_rows(report: ImportReport, src: source.Source, lines: list) -> None:
    """Totals and reject lines of the whole file (``lines`` in row order): rows that could not
    be split into cells are rejected rows of the file too."""
    report.rejected += len(src.unreadable)
    for reason, n in count_reasons(src.unreadable).items():
        report.reasons[reason] = report.reasons.get(reason, 0) + n
    unreadable = [(r.row, r.column, r.value, r.reason) for r in src.unreadable]
    report.reject_lines = list(heapq.merge(lines, unreadable, key=_by_row))
    report.total = src.total + len(src.unreadable)
    report.accepted = report.total - report.rejected


def _import_lake(spec: ImportKind, con, src, sessions: _Sessions, lake: Path,
                 report: ImportReport, step, now: dt.datetime | None, plan: _Plan) -> None:
    """Check the whole file and stage its new rows in one streamed pass; commit them at once.

    The file is read, checked and written by DuckDB (``COPY … TO parquet`` into the writer's
    staging folder, :func:`_check_rows`), so memory stays bounded whatever the file's size. The
    counts and reject lines are complete only after that pass: then the outcome is settled
    (:class:`_Plan`) and, on a real import, every staged file is committed with one journal
    (:func:`jiqun.lake.writer.staged_append`). A refusal or a crash before that applies
    nothing. The lake's keys are read under the write lock, so two imports of one file at once
    end as one."""
    step("validating", 1, 4)
    with sessions() as session:
        validated = spec.target.validate(con, src, session, lake, now)
    if report.dry_run:
        _check_rows(con, src, validated, lake, report, step, None)
        _settle_lake(con, src, validated, report, plan)
        return
    with staged_append(lake, validated.dataset) as stage:
        _check_rows(con, src, validated, lake, report, step, stage)
        _settle_lake(con, src, validated, report, plan)  # a changed outcome stages nothing in
        _drop_tables(con)  # the commit refreshes the aggregates: give it DuckDB's memory
        stage.commit()
    report.written = report.inserted


def _drop_tables(con) -> None:
    for (name,) in con.execute("SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall():
        con.execute(f'DROP TABLE "{name}" CASCADE')


def _register_lake_keys(con, src, lake: Path, dataset) -> bool:
    """``lake_keys``: the keys already in the lake of the waybills this file names (its first
    key column, the waybill number, is a column of the file); False when none is."""
    existing = lake_keys_sql(lake, dataset)
    if existing is None:
        return False
    first = dataset.key[0]
    con.execute(f"CREATE OR REPLACE TEMP TABLE lake_keys AS SELECT DISTINCT e.* FROM ({existing}) e "
                f"SEMI JOIN (SELECT DISTINCT {first} FROM src_stream) f USING ({first})")
    return con.execute("SELECT count(*) FROM lake_keys").fetchall()[0][0] > 0


def _check_rows(con, src, validated: lake_kinds.Validated, lake: Path, report: ImportReport,
                step, stage: StagedAppend | None) -> None:
    """Count (and stage) the file's new good rows in one pass; keep its bad rows in ``bad_rows``.

    One query parses, looks up and checks every row and writes the new good ones straight into
    Parquet (``COPY``, :meth:`StagedAppend.part`): DuckDB streams the file through it, in
    parallel, within its memory limit. The bad rows are looked for only when some rows were not
    written; their row numbers only when some are bad (a second read, in file order)."""
    dataset = validated.dataset
    in_lake = _register_lake_keys(con, src, lake, dataset)
    bad = bad_sql(validated.checks)
    rows = "parsed" if validated.numbered else "parsed_stream"
    fresh = _fresh_sql(con, validated, rows, bad, in_lake)
    step("writing" if stage else "validating", 0, 1)
    if stage is None:
        new = con.execute(f"SELECT count(*) FROM ({fresh})").fetchall()[0][0]
    else:
        new = stage.part(con, fresh)
    rejected = 0
    if new < src.total:  # bad rows, or rows already in the lake (or repeated): which?
        rejected = con.execute(f"SELECT count(*) FROM {rows} WHERE {bad}").fetchall()[0][0]
    where = bad if rejected else "false"
    con.execute(f"CREATE OR REPLACE TEMP TABLE bad_rows AS SELECT * FROM parsed WHERE {where}")
    step("writing" if stage else "validating", 1, 1)
    report.inserted, report.duplicates = new, src.total - rejected - new


def _fresh_sql(con, validated: lake_kinds.Validated, rows: str, bad: str, in_lake: bool) -> str:
    """SQL of the good rows of ``rows`` to append: the dataset's columns, without those whose
    key is in the lake already (``lake_keys``) and, for a kind whose good rows may repeat a key
    (events), without any but the first row of a key.

    Those repeats are found by the hash of their key, in parallel; only the rows of a repeated
    hash are then read in file order and kept first by row (a window over those rows alone)."""
    dataset = validated.dataset

    def good(view: str, where: str = "") -> str:
        checked = validated.output.format(rows=f"(SELECT *, {bad} AS _bad FROM {view})")
        sql = f"SELECT * FROM ({checked}) AS o WHERE NOT _bad{where}"
        if in_lake:
            same = " AND ".join(f"k.{k} = o.{k}" for k in dataset.key)
            sql += f" AND NOT EXISTS (SELECT 1 FROM lake_keys k WHERE {same})"
        return sql

    if validated.unique:
        return f"SELECT * EXCLUDE (_row, _bad) FROM ({good(rows)})"
    key = ", ".join(dataset.key)
    con.execute(f"CREATE OR REPLACE TEMP TABLE key_repeats AS SELECT hash({key}) AS _key "
                f"FROM ({good(rows)}) GROUP BY 1 HAVING count(*) > 1")
    if not con.execute("SELECT count(*) FROM key_repeats").fetchall()[0][0]:
        return f"SELECT * EXCLUDE (_row, _bad) FROM ({good(rows)})"
    repeated = f"hash({key}) IN (SELECT _key FROM key_repeats)"
    return (f"SELECT * EXCLUDE (_row, _bad) FROM ({good(rows, f' AND NOT {repeated}')}) "
            f"UNION ALL SELECT * EXCLUDE (_row, _bad) FROM ({good('parsed', f' AND {repeated}')}) "
            f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY _row) = 1")


def _settle_lake(con, src, validated: lake_kinds.Validated, report: ImportReport,
                 plan: _Plan) -> None:
    """The rejected rows, their reasons and reject lines (read in batches, in row order), and
    the fingerprint of the whole outcome."""
    report.rejected = con.execute("SELECT count(*) FROM bad_rows").fetchall()[0][0]
    lines: list = []
    report.reasons = {}
    if report.rejected:
        cursor = con.execute(reject_lines_sql(validated.checks, src.headers))
        while batch := cursor.fetchmany(_REJECT_BATCH):
            lines.extend(batch)
        for _row, _column, _value, reason in lines:
            report.reasons[reason] = report.reasons.get(reason, 0) + 1
    _settle_rows(report, src, lines)
    plan.settle(report)


def _import_store(spec: ImportKind, con, src, sessions: _Sessions, report: ImportReport, step,
                  plan: _Plan) -> None:
    target = spec.target
    cursor = con.execute("SELECT * FROM src ORDER BY _row")
    names = [d[0] for d in cursor.description]
    rows = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
    step("validating", 1, 4)
    with sessions() as session:
        try:
            planned, rejects = target.plan(session, rows, src.headers, step)
            planned, foreign = outside_scope(session, target.model, planned, src.headers)
            rejects += foreign
            if target.apply is None:
                outcome = apply_rows(session, target.model, planned, report.dry_run, step)
            else:
                outcome = target.apply(session, planned, report.dry_run, rejects)
            report.rejected = len({r.row for r in rejects})
            report.reasons = count_reasons(rejects)
            report.inserted, report.updated = outcome.inserted, outcome.updated
            report.duplicates = outcome.unchanged
            _settle_rows(report, src, [(r.row, r.column, r.value, r.reason)
                                       for r in sorted(rejects, key=_reject_order)])
            plan.settle(report)  # before the commit: a changed outcome applies nothing
        except BaseException:
            session.rollback()
            raise
        if report.dry_run:
            session.rollback()
        else:
            session.commit()  # every good row, or (on error above) none
    report.written = 0 if report.dry_run else outcome.inserted + outcome.updated


def _reject_order(r: Reject) -> int:
    return r.row
