"""``jiqun import {markets,customers,waybills,events} FILE --user NAME [--dry-run] [--expect FP] [--rejects PATH]``.

The import acts as ``--user`` (or ``JIQUN_USER``; ``system`` for operator jobs): waybills, events
and markets need ``data.import``, customers ``customer.archive``, and the file may only refer
to the user's subtree (``--scope`` narrows it).

``--dry-run`` prints what the import would do and its fingerprint; ``--expect FINGERPRINT``
then applies the file only if it still does exactly that (the upload page's guarantee).

Exit codes: 0 every row accepted; 1 some rows rejected (the good ones committed); 2 a file-level
error or a refusal (nothing applied).
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from jiqun.cli_actor import ScopeOpt, UserOpt, acting, refusals
from jiqun.config import get_settings
from jiqun.i18n import translator
from jiqun.ingest.columns import KINDS
from jiqun.ingest.report import REASONS, ImportFileError, ImportReport

console = Console()
err_console = Console(stderr=True)


# One choice per file format (jiqun.ingest.columns: one per registry entry of
# jiqun.ingest.kinds, a test keeps them equal): a new kind is offered here at once, and the
# help lists them without loading DuckDB.
Kind = Enum("Kind", {name: name for name in KINDS}, type=str)


class Locale(str, Enum):
    zh_cn = "zh-CN"
    en = "en"


def _summary(report: ImportReport, t) -> Table:
    table = Table(title=t("Import of {kind}", kind=t(report.kind)) + (t(" (dry run)") if report.dry_run else ""),
                  show_header=False)
    table.add_row(t("rows in file"), str(report.total))
    table.add_row(t("accepted"), str(report.accepted))
    table.add_row(t("rejected"), str(report.rejected))
    if report.dry_run:
        table.add_row(t("would be inserted"), str(report.inserted))
        table.add_row(t("would be updated"), str(report.updated))
    else:
        table.add_row(t("inserted"), str(report.inserted))
        table.add_row(t("updated"), str(report.updated))
    table.add_row(t("unchanged or already imported"), str(report.duplicates))
    table.add_row(t("written"), str(report.written))
    for code, n in sorted(report.reasons.items(), key=lambda kv: -kv[1]):
        table.add_row("  " + t(REASONS.get(code, code)), str(n))
    if report.rejects_path:
        table.add_row(t("reject report"), str(report.rejects_path))
    if report.dry_run:
        table.add_row(t("fingerprint"), report.fingerprint)
    return table


def import_command(
    kind: Kind = typer.Argument(..., help=", ".join(KINDS)),
    file: Path = typer.Argument(..., help="CSV (UTF-8, GBK or UTF-16) or XLSX file"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check and report; write nothing."),
    rejects: Path | None = typer.Option(None, "--rejects", help="Reject report (default <FILE>.rejects.csv)."),
    locale: Locale | None = typer.Option(None, "--locale", help="Language of messages: zh-CN or en."),
    expect: str | None = typer.Option(
        None, "--expect", help="A dry run's fingerprint: apply only if the file still does "
        "exactly what that dry run showed (else exit 2, nothing applied)."),
    user: UserOpt = None,
    scope: ScopeOpt = None,
) -> None:
    """Import a file of markets, customers, waybills or events (导入)."""
    from jiqun.ingest.api import import_file

    settings = get_settings()
    lang = locale.value if locale else settings.locale
    t = translator(lang)
    who = acting(user, scope)
    store = who.store
    with refusals(), Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                  console=err_console, transient=True) as bar:
        task = bar.add_task(t("reading"), total=4)

        def progress(stage: str, done: int, total: int) -> None:
            bar.update(task, description=t(stage), completed=done, total=total)

        try:
            report = import_file(kind.value, file, store, settings.lake_path, dry_run=dry_run,
                                 rejects=rejects, locale=lang, progress=progress,
                                 actor=who.actor, scope=who.scope, expect=expect)
        except ImportFileError as exc:
            err_console.print(f"[red]{t('File not imported')}:[/] {exc.message(lang)}")
            raise typer.Exit(2) from exc
        finally:
            store.engine.dispose()
    console.print(_summary(report, t))
    raise typer.Exit(report.exit_code)

