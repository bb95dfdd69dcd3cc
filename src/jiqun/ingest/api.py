"""``import_file``: check a whole file, then apply every good row at once, or nothing.

Store kinds (markets, customers) commit in one store transaction; lake kinds (waybills, events)
in one atomic, idempotent :func:`jiqun.lake.append`. Rejected rows go to the reject report.

Who imports is asked here, in the service, so the CLI and the Python API give one answer:
waybills, events and markets need ``data.import``; customers ``customer.archive``
(:mod:`jiqun.permissions`). The acting user's subtree limits what the file may refer to.
"""

from __future__ import annotations

import datetime as dt
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
from jiqun.permissions import Action, Actor, require
from jiqun.store.db import Store
from jiqun.store.scope import Scope

Progress = Callable[[str, int, int], None]  # (stage, done, total)
LAKE_KINDS = ("waybills", "events")
# The action each kind of import takes (customers are archived merchants: jiqun.sales.archive).
ACTIONS = {"waybills": Action.DATA_IMPORT, "events": Action.DATA_IMPORT,
           "markets": Action.DATA_IMPORT, "customers": Action.CUSTOMER_ARCHIVE}


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
) -> ImportReport:
    """Import one CSV/XLSX file of ``kind`` (markets, customers, waybills, events).

    ``actor`` (default: the system account) must be allowed the kind's action (:data:`ACTIONS`),
    else :class:`~jiqun.errors.NotAllowed` before the file is read; ``scope`` may narrow the
    actor's subtree. ``now`` (default: the clock) is the import time: later times are implausible.

    Raises :class:`ImportFileError` for a file-level problem (unknown or missing columns, an
    unreadable file): nothing is applied. Otherwise returns an :class:`ImportReport`; its
    ``exit_code`` is 1 when some rows were rejected (the good ones are committed anyway).
    """
    if kind not in FORMATS:
        raise ImportFileError("unknown import kind {kind}", kind=kind)
    if actor is not None:
        require(actor, ACTIONS[kind])
    opened = _Sessions(store, actor, scope)
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
            if kind in LAKE_KINDS:
                reject_rows = _import_lake(kind, con, src, opened, Path(lake_path), report, step,
                                           now)
            else:
                reject_rows = _import_store(kind, con, src, opened, report, step)
        finally:
            con.close()
    _count_unreadable(report, src.unreadable)
    reject_rows = sorted(reject_rows + [(r.row, r.column, r.value, r.reason)
                                        for r in src.unreadable], key=_by_row)
    report.total = src.total + len(src.unreadable)
    report.accepted = report.total - report.rejected
    if reject_rows:
        report.rejects_path = Path(rejects) if rejects else default_rejects_path(path)
        write_rejects(report.rejects_path, reject_rows, locale)
    step("done", 4, 4)
    return report


class _Sessions:
    """Store sessions of the acting user, in their (possibly narrowed) subtree."""

    def __init__(self, store: Store, actor: Actor | None, scope: Scope | None):
        self.store, self.actor, self.scope = store, actor, scope

    def __call__(self):
        return self.store.session(scope=self.scope, source="import", actor=self.actor)


def _by_row(line: tuple) -> int:
    return line[0]


def _count_unreadable(report: ImportReport, unreadable: list[Reject]) -> None:
    """Rows that could not be split into cells are rejected rows of the file too."""
    report.rejected += len(unreadable)
    for reason, n in count_reasons(unreadable).items():
        report.reasons[reason] = report.reasons.get(reason, 0) + n


def _import_lake(kind, con, src, sessions: _Sessions, lake: Path, report: ImportReport, step,
                 now: dt.datetime | None) -> list:
    step("validating", 1, 4)
    with sessions() as session:
        if kind == "waybills":
            validated = lake_kinds.validate_waybills(con, src, session, now)
        else:
            validated = lake_kinds.validate_events(con, src, session, lake, now)
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


def _import_store(kind, con, src, sessions: _Sessions, report: ImportReport, step) -> list:
    spec = STORE_KINDS[kind]
    cursor = con.execute("SELECT * FROM src ORDER BY _row")
    names = [d[0] for d in cursor.description]
    rows = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
    step("validating", 1, 4)
    with sessions() as session:
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
