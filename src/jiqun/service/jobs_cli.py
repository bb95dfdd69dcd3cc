"""``jiqun jobs list|run`` and ``jiqun worker``: the scheduled jobs from the command line.

``jobs run NAME`` acts as ``--user`` (``system``: the whole organisation) and is refused, exit
code 2, unless their role may run jobs (``job.run``) and take the job's own actions. ``worker``
runs the scheduler in the foreground until interrupted (docs/deployment.md says when to).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Annotated

import typer

from jiqun.cli_actor import UserOpt, acting, refusals
from jiqun.config import get_settings
from jiqun.i18n import translator
from jiqun.output import Format, emit
from jiqun.permissions import SYSTEM
from jiqun.service.jobs import JOBS, JobBoard, job_board, run_job
from jiqun.store import Store
from jiqun.store.models import JobOutcome

app = typer.Typer(no_args_is_help=True, help="Scheduled jobs: list them with their last and "
                  "next run, run one now.")

FormatOpt = Annotated[Format, typer.Option("--format")]


def board_rows(board: JobBoard, t) -> list[dict]:
    """One flat record per job (the JSON of ``jobs list``)."""
    rows = []
    for status in board.jobs:
        last = status.last
        rows.append({
            "job": status.job.name, "schedule": status.job.schedule.describe(t),
            "cron": status.job.schedule.cron,
            "last_run": last.started_at if last else None,
            "outcome": last.outcome if last else None,
            "trigger": last.trigger if last else None,
            "next_run": status.next_run, "missed": status.missed,
            "summary": last.summary if last else None, "error": last.error if last else None,
        })
    return rows


@app.command("list")
def list_cmd(user: UserOpt = None, fmt: FormatOpt = Format.TABLE) -> None:
    """Every job: its schedule, last run and outcome, next run (``--user``: default system)."""
    settings = get_settings()
    store = Store.from_settings(settings)
    actor = acting(user, store=store).actor if user else SYSTEM
    with refusals(), store.session(actor=actor, source="cli") as session:
        board = job_board(session, actor)
    rows = board_rows(board, translator(settings.locale))
    if fmt is Format.TABLE:
        rows = [{k: r[k] for k in ("job", "schedule", "last_run", "outcome", "next_run",
                                   "missed")} for r in rows]
    emit(rows, fmt, "jobs")


def _job_name(name: str) -> str:
    if name not in JOBS:
        raise typer.BadParameter(f"no job {name!r}; one of: {', '.join(JOBS)}",
                                 param_hint="NAME")
    return name


@app.command("run")
def run_cmd(
    name: Annotated[str, typer.Argument(metavar="NAME", help=f"One of: {', '.join(JOBS)}.",
                                        callback=_job_name)],
    user: UserOpt = None,
    now: Annotated[dt.datetime | None, typer.Option(
        "--now", formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M"],
        help="Run as of this moment (default: now); the job's day is its date.")] = None,
) -> None:
    """Run one job now, recorded like a scheduled run (outcome, counts, error)."""
    settings = get_settings()
    who = acting(user)
    with refusals():
        run = run_job(who.store, settings, name, trigger="manual", now=now,
                      actor=None if who.actor.system else who.actor)
    outcome = JobOutcome(run.outcome)
    emit([{"job": run.job, "outcome": outcome.value, "started_at": run.started_at,
           "finished_at": run.finished_at, "summary": run.summary, "error": run.error}],
         Format.JSON, None)
    if outcome is JobOutcome.FAILED:
        raise typer.Exit(1)


def worker() -> None:
    """Run the scheduled jobs in the foreground until interrupted (Ctrl-C); safe beside
    ``jiqun serve`` processes that run them too (each slot runs once)."""
    from jiqun.config import settings_or_exit
    from jiqun.service.scheduler import run_in_foreground

    settings = settings_or_exit()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    t = translator(settings.locale)
    for job in JOBS.values():
        typer.echo(f"{job.name:<11} {job.schedule.describe(t)}")
    run_in_foreground(Store.from_settings(settings), settings)
