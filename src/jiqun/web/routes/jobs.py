"""Jobs (定时任务): ``/jobs`` — every scheduled job with its schedule, last run and outcome,
next run, the latest failures with their error, and "run now" — and its twin ``/api/jobs``.

Everything is :mod:`jiqun.service.jobs` (the registry, ``job_board``, ``run_job``); the routes
parse, call and render. Runs belong to the whole organisation: everyone signed in sees when the
jobs ran and how; the counts and errors are shown to those who may run jobs (``job.run``). A
run now is synchronous: the page comes back with its outcome.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field

from jiqun import formats
from jiqun.errors import NotFound
from jiqun.permissions import Action
from jiqun.service import jobs
from jiqun.web import labels
from jiqun.web.deps import Context, RequestContext, allow
from jiqun.web.params import IdQuery
from jiqun.web.templating import render
from jiqun.web.warmup import WarmupStatus

router = APIRouter()

JobName = Annotated[str, PathParam(min_length=1, max_length=32, pattern=r"^[a-z_]+$",
                                   description="The job's name (GET /api/jobs lists them).")]

OUTCOME_LABELS = {"ok": "OK", "failed": "Failed", "skipped": "Skipped", "running": "Running"}
TRIGGER_LABELS = {"schedule": "On schedule", "manual": "Run now", "demo": "Demo build"}
# What the jobs' counts are called on the page (unknown keys are shown as they are).
SUMMARY_LABELS = {
    "months": "Months recomputed", "changed": "Customers changed", "as_of": "As of",
    "to_stage": "New stage", "at_risk_set": "Flagged at risk", "at_risk_cleared": "At risk cleared",
    "returned": "Returned to the pool", "created": "Reminders sent",
    "existing": "Already sent before", "week": "Week", "folder": "Folder",
    "written": "Files written", "detection": "Detection", "cases": "Cases",
    "deadlines": "Deadlines", "found": "Found now", "new": "New", "cleared": "Cleared now",
    "overdue": "Overdue", "escalated": "Escalated", "overdue_at_hq": "Overdue at HQ",
    "exceptions": "Exceptions", "opened": "Cases opened", "joined": "Joined to a case",
    "checked": "Checked", "warned": "Warned",
    "lease_holder": "Held by", "ran_already": "Ran already",
}


def _when(moment: dt.datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else "—"


def summary_lines(summary: dict[str, Any] | None, t, locale: str) -> list[tuple[str, str]]:
    """A run's counts as (label, value) lines, nested counts as "Cases · Opened"."""
    lines: list[tuple[str, str]] = []

    def walk(value: Any, path: list[str], key: str | None) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, path + [_label(k, key, t)], k)
            return
        if isinstance(value, bool):
            text = t("yes") if value else t("no")
        elif isinstance(value, int | float):
            text = formats.number(value, locale=locale)
        elif isinstance(value, list):
            text = ", ".join(str(v) for v in value) or "—"
        else:
            text = "—" if value is None else str(value)
        lines.append((" · ".join(path), text))

    for k, v in (summary or {}).items():
        walk(v, [_label(k, None, t)], k)
    return lines


def _label(key: str, parent: str | None, t) -> str:
    if parent == "to_stage" and key in labels.STAGES:
        return t(labels.STAGES[key])
    return t(SUMMARY_LABELS[key]) if key in SUMMARY_LABELS else key


# -- the page -----------------------------------------------------------------------------------
def _run_dict(run: jobs.RunView | None, ctx: RequestContext) -> dict | None:
    if run is None:
        return None
    t = ctx.t
    return {"id": run.id, "job": run.job, "started": _when(run.started_at),
            "finished": _when(run.finished_at), "outcome": run.outcome,
            "outcome_label": t(OUTCOME_LABELS.get(run.outcome, run.outcome)),
            "trigger": t(TRIGGER_LABELS.get(run.trigger, run.trigger)), "by": run.by,
            "lines": summary_lines(run.summary, t, ctx.locale), "error": run.error}


def _page(request: Request, ctx: RequestContext, ran: int | None = None):
    t = ctx.t
    board = jobs.job_board(ctx.db, ctx.user.actor)
    rows = [{"name": s.job.name, "description": t(s.job.description),
             "schedule": s.job.schedule.describe(t), "cron": s.job.schedule.cron,
             "last": _run_dict(s.last, ctx), "next": _when(s.next_run),
             "missed": _when(s.missed) if s.missed else None, "may_run": s.may_run}
            for s in board.jobs]
    notice = None
    if ran is not None:
        try:
            notice = _run_dict(jobs.recorded_run(ctx.db, ran, ctx.user.actor), ctx)
        except NotFound:  # a run id of someone's old link, gone since
            notice = None
    warm = warmup_status(request)
    return render(request, "jobs.html", {
        "jobs": rows, "failures": [_run_dict(r, ctx) for r in board.failures],
        "details": board.details, "notice": notice,
        "warmup": warm and {**asdict(warm), "started": _when(warm.started_at),
                            "finished": _when(warm.finished_at), "running": warm.running},
    })


def warmup_status(request: Request) -> WarmupStatus | None:
    """This server process's latest warm-up of the pages (None: warm-up off, or none yet)."""
    warmer = getattr(request.app.state, "warmer", None)
    if warmer is None or warmer.status.started_at is None:
        return None
    return warmer.status


@router.get("/jobs", include_in_schema=False)
def jobs_page(request: Request, ctx: Context, ran: IdQuery = None):
    return _page(request, ctx, ran)


@router.post("/jobs/{name}/run", include_in_schema=False, dependencies=[allow(Action.JOB_RUN)])
def run_now(request: Request, ctx: Context, name: JobName):
    """Run the job now as the signed-in person; back to the page with the run's outcome."""
    run = jobs.run_job(ctx.store, request.app.state.settings, name, trigger="manual",
                       actor=ctx.user.actor)
    target = f"/jobs?ran={run.id}" if run.id else "/jobs"
    return RedirectResponse(target, status_code=303)


# -- the JSON twin ------------------------------------------------------------------------------
class RunOut(BaseModel):
    """One recorded run of a job."""

    id: int
    job: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    outcome: str = Field(description="ok, failed, skipped (another process held the job's "
                         "lease) or running.")
    trigger: str = Field(description="schedule, manual (run now) or demo.")
    by: str | None = Field(description="Who ran it now; null: the scheduler (system account).")
    summary: dict[str, Any] | None = Field(
        description="Counts of what it did; null unless the caller may run jobs.")
    error: str | None = Field(description="Why it failed; null unless the caller may run jobs.")


class JobOut(BaseModel):
    name: str
    description: str = Field(description="What it does, in the caller's language.")
    schedule: str = Field(description="When it runs, in words (the server's local time).")
    cron: str = Field(description="The same as crontab fields: minute hour day month weekday.")
    last_run: RunOut | None = Field(description="The latest run that did something.")
    next_run: dt.datetime
    missed: dt.datetime | None = Field(
        description="A slot of the schedule with no run since (no scheduler running?).")
    may_run: bool = Field(description="Whether the caller may run it now.")


class WarmupOut(BaseModel):
    """This server process's latest warm-up of the pages after a data change."""

    started_at: dt.datetime
    finished_at: dt.datetime | None = Field(description="null while it runs.")
    viewers: int = Field(description="Recent viewers (one per org unit and role) warmed as.")
    pages: int = Field(description="Pages loaded (answered below 500).")
    failed: int = Field(description="Loads answered 5xx or not at all.")
    seconds: float


class JobsOut(BaseModel):
    jobs: list[JobOut]
    failures: list[RunOut] = Field(description="The latest failed runs, newest first.")
    warmup: WarmupOut | None = Field(
        None, description="The latest warm-up of this server process; null when it is off "
        "or has not run (jiqun.web.warmup).")


def _run_out(run: jobs.RunView | None) -> RunOut | None:
    if run is None:
        return None
    return RunOut(id=run.id, job=run.job, started_at=run.started_at,
                  finished_at=run.finished_at, outcome=run.outcome, trigger=run.trigger,
                  by=run.by, summary=run.summary, error=run.error)


@router.get("/api/jobs", response_model=JobsOut, tags=["jobs"])
def api_jobs(request: Request, ctx: Context) -> JobsOut:
    """Every scheduled job: schedule, last run and outcome, next run; the latest failures; the
    latest warm-up of the pages."""
    board = jobs.job_board(ctx.db, ctx.user.actor)
    t = ctx.t
    warm = warmup_status(request)
    return JobsOut(
        jobs=[JobOut(name=s.job.name, description=t(s.job.description),
                     schedule=s.job.schedule.describe(t), cron=s.job.schedule.cron,
                     last_run=_run_out(s.last), next_run=s.next_run, missed=s.missed,
                     may_run=s.may_run) for s in board.jobs],
        failures=[_run_out(r) for r in board.failures],
        warmup=warm and WarmupOut(**asdict(warm)))


@router.post("/api/jobs/{name}/run", response_model=RunOut, tags=["jobs"],
             dependencies=[allow(Action.JOB_RUN)],
             responses={404: {"description": "No job of this name"}})
def api_run_job(request: Request, ctx: Context, name: JobName) -> RunOut:
    """Run the job now as the caller (their role must also allow the job's own actions) and
    answer its recorded run: ok, failed (with the error) or skipped (another process runs
    it)."""
    run = jobs.run_job(ctx.store, request.app.state.settings, name, trigger="manual",
                       actor=ctx.user.actor)
    view = jobs.run_view(run, {run.by_id: ctx.user.display_name} if run.by_id else {},
                         ctx.user.may(Action.JOB_RUN))
    return _run_out(view)
