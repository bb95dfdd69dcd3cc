"""The scheduler: APScheduler 3 firing :func:`jiqun.service.jobs.run_job` on each job's cron.

Where it runs (docs/deployment.md): inside ``jiqun serve`` by default (``JIQUN_SERVE_JOBS``,
``--no-jobs``), so a one-process deployment gets its jobs without a second service, and in
``jiqun worker`` for deployments of several web processes that turn it off there. Each
process's scheduler is in memory only: what a run did and when is in the store (job runs), and
the job leases and the "ran already since this slot" check of :func:`run_job` make any number of
schedulers together run each slot once.

A process that starts after a slot it missed (it was down at 07:00) runs that job at once,
unless some process ran it since.
"""

from __future__ import annotations

import datetime as dt
import logging

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy import select
from tzlocal import get_localzone

from jiqun.config import Settings
from jiqun.service.jobs import JOBS, Job, run_job
from jiqun.store import Store
from jiqun.store.models import JobOutcome, JobRun

log = logging.getLogger("jiqun.jobs")
MISFIRE_GRACE_S = 3600  # a run fired late (a busy or suspended process) still runs within this


def _fire(store: Store, settings: Settings, name: str) -> None:
    """One scheduled run; never raises into the scheduler (run_job records the job's own
    failures; this logs a store that could not even record them)."""
    try:
        run = run_job(store, settings, name, trigger="schedule")
        log.info("job %s: %s %s", name, JobOutcome(run.outcome).value, run.summary or "")
    except Exception:
        log.exception("job %s could not run", name)


def _missed_slot(store: Store, job: Job, now: dt.datetime) -> bool:
    """Whether the job's latest slot passed with no good run since (the process was down)."""
    slot = job.schedule.last_due(now)
    if slot is None:
        return False
    with store.session(source="job") as s:
        return s.scalar(select(JobRun.id).where(
            JobRun.job == job.name, JobRun.outcome == JobOutcome.OK,
            JobRun.started_at >= slot).limit(1)) is None


def configure(scheduler: BaseScheduler, store: Store, settings: Settings,
              jobs: dict[str, Job] = JOBS, catch_up: bool = True) -> BaseScheduler:
    """Add every job of ``jobs`` on its schedule; with ``catch_up`` a job whose latest slot
    was missed also runs once now."""
    now = dt.datetime.now()
    for job in jobs.values():
        first = {"next_run_time": dt.datetime.now(get_localzone())} \
            if catch_up and _missed_slot(store, job, now) else {}
        scheduler.add_job(_fire, job.schedule.trigger, args=(store, settings, job.name),
                          id=job.name, name=job.name, coalesce=True, max_instances=1,
                          misfire_grace_time=MISFIRE_GRACE_S, **first)
    return scheduler


def background(store: Store, settings: Settings) -> BackgroundScheduler:
    """A started scheduler on its own threads (for ``jiqun serve``); ``shutdown()`` it."""
    scheduler = configure(BackgroundScheduler(timezone=get_localzone()), store, settings)
    scheduler.start()
    log.info("jobs scheduled in this process: %s", ", ".join(JOBS))
    return scheduler


def run_in_foreground(store: Store, settings: Settings) -> None:
    """Run the scheduler in this thread until interrupted (``jiqun worker``)."""
    scheduler = configure(BlockingScheduler(timezone=get_localzone()), store, settings)
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        if scheduler.running:
            scheduler.shutdown(wait=False)
