"""``import_file``: check a whole file, then apply every good row at once, or nothing.

Store kinds (markets, customers) commit in one store transaction; lake kinds (waybills, events)
in one atomic, idempotent :func:`jiqun.lake.append`. Rejected rows go to the reject report.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import duckdb
import pyarrow as pa

from jiqun.i18n import normalise_locale
from jiqun.ingest import lake_kinds, source
from jiqun.ingest.columns import FORMATS
from jiqun.ingest.report import (
    ImportFileError,
    ImportReport,
    Reject,
    count_reasons,
    default_rejects_path,
    write_rejects,
)
from jiqun.ingest.store_kinds import STORE_KINDS, apply_rows
from jiqun.lake.writer import append
from jiqun.store.db import Store

Progress = Callable[[str, int, int], None]  # (stage, done, total)
LAKE_KINDS = ("waybills", "events")


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
) -> ImportReport:
    """Import one CSV/XLSX file of ``kind`` (markets, customers, waybills, events).

    Raises :class:`ImportFileError` for a file-level problem (unknown or missing columns, an
    unreadable file): nothing is applied. Otherwise returns an :class:`ImportReport`; its
    ``exit_code`` is 1 when some rows were rejected (the good ones are committed anyway).
    """
    if kind not in FORMATS:
        raise ImportFileError("unknown import kind {kind}", kind=kind)
    path = Path(path)
    locale = normalise_locale(locale)
    report = ImportReport(kind=kind, path=path, dry_run=dry_run)
    step = progress or (lambda *_: None)
    with tempfile.TemporaryDirectory(prefix="jiqun-import-") as work:
        con = duckdb.connect()
        try:
            con.execute("SET enable_progress_bar = false")
            con.execute(f"SET temp_directory = '{work}'")
            step("reading", 0, 4)
            src = source.load(con, path, FORMATS[kind], Path(work))
            report.total = src.total
            if kind in LAKE_KINDS:
                reject_rows = _import_lake(kind, con, src, store, Path(lake_path), report, step)
            else:
                reject_rows = _import_store(kind, con, src, store, report, step)
        finally:
            con.close()
    report.accepted = report.total - report.rejected
    if reject_rows:
        report.rejects_path = Path(rejects) if rejects else default_rejects_path(path)
        write_rejects(report.rejects_path, reject_rows, locale)
    step("done", 4, 4)
    return report


def _import_lake(kind, con, src, store: Store, lake: Path, report: ImportReport, step) -> list:
    step("validating", 1, 4)
    with store.session(source="import") as session:
        if kind == "waybills":
            validated = lake_kinds.validate_waybills(con, src, session)
        else:
            validated = lake_kinds.validate_events(con, src, session, lake)
    rejects: pa.Table = validated.rejects
    report.rejected = len(pa.compute.unique(rejects["row"])) if len(rejects) else 0
    report.reasons = (
        dict(zip(*(c.to_pylist() for c in pa.compute.value_counts(rejects["reason"]).flatten()),
                 strict=True)) if len(rejects) else {}
    )
    step("writing", 2, 4)
    if report.dry_run:
        con.execute(f"CREATE TEMP VIEW good AS {validated.good_sql}")
        report.duplicates = lake_kinds.count_already_in_lake(con, lake, validated.dataset)
    else:
        good = con.sql(validated.good_sql).to_arrow_table()
        for table in ("parsed", "bad_rows", "raw"):  # free DuckDB's copies before the append
            con.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
        result = append(lake, validated.dataset, good)
        report.written = report.inserted = result.added
        report.duplicates = result.duplicates
    return list(zip(*(rejects[c].to_pylist() for c in ("row", "column", "value", "reason")),
                    strict=True)) if len(rejects) else []


def _import_store(kind, con, src, store: Store, report: ImportReport, step) -> list:
    spec = STORE_KINDS[kind]
    cursor = con.execute("SELECT * FROM src ORDER BY _row")
    names = [d[0] for d in cursor.description]
    rows = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
    step("validating", 1, 4)
    with store.session(source="import") as session:
        try:
            planned, rejects = spec.plan(session, rows, src.headers, step)
            outcome = apply_rows(session, spec.model, planned, report.dry_run, step)
        except BaseException:
            session.rollback()
            raise
        if report.dry_run:
            session.rollback()
        else:
            session.commit()  # every good row, or (on error above) none
    report.rejected = len({r.row for r in rejects})
    report.reasons = count_reasons(rejects)
    report.inserted, report.updated = outcome.inserted, outcome.updated
    report.duplicates = outcome.unchanged
    report.written = 0 if report.dry_run else outcome.inserted + outcome.updated
    return [(r.row, r.column, r.value, r.reason) for r in sorted(rejects, key=_reject_order)]


def _reject_order(r: Reject) -> int:
    return r.row
