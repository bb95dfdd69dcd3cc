"""``jiqun demo build``: the demo province into the configured store and lake."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from jiqun.config import get_settings
from jiqun.demo.places import DEMO_PASSWORD
from jiqun.demo.scale import SCALES, model_ratio, write_demo_settings

if TYPE_CHECKING:  # the builder, the KPIs and the jobs load when the command runs (--help: none)
    from jiqun.demo.build import DemoSummary
    from jiqun.store import Store
    from jiqun.store.models import JobRun

app = typer.Typer(no_args_is_help=True, help="Build the demo province.")
console = Console()


def _parse_day(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter("use YYYY-MM-DD") from None


@app.command("build")
def build(
    scale: str = typer.Option("small", help=f"One of: {', '.join(SCALES)}."),
    seed: int = typer.Option(7, help="Random seed; the same seed gives the same data."),
    until: str = typer.Option(None, help="Last day of the history, YYYY-MM-DD (default yesterday)."),
) -> None:
    """Build the demo province (replaces all data in the store and the lake)."""
    if scale not in SCALES:
        raise typer.BadParameter(f"choose one of {', '.join(SCALES)}", param_hint="--scale")
    from jiqun.demo.build import build_demo
    from jiqun.store import Store

    settings = get_settings()
    store = Store.from_settings(settings)
    summary = build_demo(store, settings.lake_path, scale=scale, seed=seed,
                         until=_parse_day(until), progress=True)
    write_demo_settings(settings.rules_file, settings.planning_file, summary.volume_factor)
    reconcile_demo_tiers(store, settings)
    runs = run_demo_jobs(store, settings, summary.until + dt.timedelta(days=1))
    print_summary(summary)
    print_runs(runs)


def reconcile_demo_tiers(store: Store, settings) -> int:
    """The demo archive's tiers come from each merchant's *expected* parcels under the model's
    rules; recompute them from the lake's sampled parcels (as `jiqun tiers apply` would) so the
    few merchants near a threshold agree too and a fresh demo has nothing pending."""
    from jiqun.kpi.rules import KpiRules
    from jiqun.kpi.service import OperatingPicture
    from jiqun.sales import ownership
    from jiqun.store import Scope

    rules = KpiRules.from_file(settings.rules_file)
    with OperatingPicture(store, settings.lake_path, Scope.WHOLE, rules=rules) as picture:
        as_of = picture.data_date()
        return len(ownership.reconcile(picture, as_of, source="demo")) if as_of else 0


def run_demo_jobs(store: Store, settings, day: dt.date) -> list[JobRun]:
    """Every job of the registry once, as of the start of ``day`` (the day after the data),
    as a running system's jobs would have left it: prospects past the pool clock returned to
    the pool (公海), the day's reminders in the inboxes, exceptions found and their cases
    opened, the last week's bulletin written, and the jobs page with a run of each."""
    from jiqun.service.jobs import JOBS, run_job

    now = dt.datetime.combine(day, dt.time.min)
    return [run_job(store, settings, name, trigger="demo", now=now) for name in JOBS]


def print_runs(runs: list[JobRun]) -> None:
    from jiqun.store.models import JobOutcome

    table = Table(title="jobs run once (jiqun jobs list)")
    for column in ("job", "outcome", "what it did"):
        table.add_column(column)
    for run in runs:
        outcome = JobOutcome(run.outcome)
        said = run.error if outcome is JobOutcome.FAILED else _counts(run.summary or {})
        table.add_row(run.job, outcome.value, said)
    console.print(table)


def _counts(summary: dict, prefix: str = "") -> str:
    parts = []
    for key, value in summary.items():
        if isinstance(value, dict):
            parts.append(_counts(value, f"{prefix}{key}."))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            parts.append(f"{prefix}{key} {value:,}")
        elif isinstance(value, list):
            parts.append(f"{prefix}{key} {', '.join(map(str, value)) or '—'}")
        elif isinstance(value, str) and key != "folder":
            parts.append(f"{prefix}{key} {value}")
    return ", ".join(p for p in parts if p)


def print_summary(summary: DemoSummary) -> None:
    table = Table(title=f"demo province · scale {summary.scale} · seed {summary.seed}")
    table.add_column("what")
    table.add_column("rows", justify="right")
    table.add_row("period", f"{summary.start} … {summary.until}")
    table.add_row("volume factor", f"{summary.volume_factor:g} (1:{model_ratio(summary.volume_factor)})")
    table.add_row("waybills", f"{summary.waybills:,}")
    table.add_row("tracking events", f"{summary.events:,}")
    for name, count in summary.store_rows.items():
        if count:
            table.add_row(name, f"{count:,}")
    table.add_row("seconds", f"{summary.seconds}")
    console.print(table)
    logins = Table(title=f"demo logins (password: {DEMO_PASSWORD})")
    for column in ("username", "role", "org unit"):
        logins.add_column(column)
    for username, role, org in summary.logins:
        logins.add_row(username, role, org)
    console.print(logins)
