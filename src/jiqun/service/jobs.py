"""Jobs that run by themselves (定时任务): the registry :data:`JOBS` and :func:`run_job`.

Each job is a function of a :class:`JobContext` (the store, the settings, the time it runs as
of, a lake connection on demand) that returns counts of what it did. Every job is idempotent:
run twice on the same day, the second run changes nothing (reminders are keyed by customer ×
recipient × due day, a returned prospect has no owner left to return, a lifecycle move happens
once, the aggregates of a month are recomputed only when its waybills are newer, a week's
bulletin file is written once).

:func:`run_job` is the one way a job runs — from the scheduler (:mod:`jiqun.service.scheduler`,
inside ``jiqun serve`` or ``jiqun worker``), the jobs page, ``jiqun jobs run`` or the demo:

* it takes the job's **lease** (a :class:`~jiqun.store.models.JobLease` row, taken with one
  conditional UPDATE or INSERT), so two servers, or a server and a worker, never run a job at
  once: a live lease of another holder makes the run *skipped*;
* a scheduled run also skips (unrecorded) when the job already ran well since the slot it was
  fired for, so several processes with a scheduler each run every slot once between them;
* it records a :class:`~jiqun.store.models.JobRun`: started, finished, outcome (ok, failed,
  skipped), the counts the job returned and, on failure, the error — a failed job rolls back
  the step it failed in and leaves the error for the jobs page;
* scheduled runs act as the system account (:data:`jiqun.permissions.SYSTEM`, the whole
  organisation); a person's run now acts as that person — their role must allow
  ``job.run`` and every action the job takes, and the job works in their subtree.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
import os
import socket
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from tzlocal import get_localzone

from jiqun.config import Settings
from jiqun.errors import NotFound
from jiqun.permissions import Action, Actor, allowed, require
from jiqun.store import Scope, Store
from jiqun.store.models import JobLease, JobOutcome, JobRun

if TYPE_CHECKING:
    import ibis

log = logging.getLogger("jiqun.jobs")

SOURCE = "job"  # the audit log's source of what a job writes
LOOKBACK = dt.timedelta(days=8)  # the longest period of a schedule (weekly) and a day more
INTERRUPTED = "interrupted: the process ended before the run finished"


# -- schedules ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Schedule:
    """When a job runs: cron fields in the server's local time (``TZ``; Asia/Shanghai in China).

    ``hour="*"`` runs every hour at ``minute``; ``day_of_week="mon"`` once a week."""

    minute: int = 0
    hour: int | str = "*"
    day_of_week: str = "*"

    @property
    def cron(self) -> str:
        """The crontab line's five fields (for scripts: ``jiqun jobs list --format json``)."""
        return f"{self.minute} {self.hour} * * {self.day_of_week}"

    @cached_property
    def trigger(self) -> CronTrigger:
        return CronTrigger(minute=self.minute, hour=self.hour, day_of_week=self.day_of_week,
                           timezone=get_localzone())

    def describe(self, t: Callable[..., str]) -> str:
        """In words, in the reader's language."""
        if self.hour == "*":
            return t("Every hour at minute {minute}", minute=f"{self.minute:02d}")
        time = f"{int(self.hour):02d}:{self.minute:02d}"
        if self.day_of_week == "mon":
            return t("Mondays at {time}", time=time)
        return t("Every day at {time}", time=time)

    def next_run(self, after: dt.datetime) -> dt.datetime:
        """The first run strictly after ``after`` (naive local time, like the store's times)."""
        fire = self.trigger.get_next_fire_time(None, _aware(after) + dt.timedelta(seconds=1))
        return _naive(fire)

    def last_due(self, at: dt.datetime) -> dt.datetime | None:
        """The latest run at or before ``at`` (``None``: none in the last eight days)."""
        fire = self.trigger.get_next_fire_time(None, _aware(at - LOOKBACK))
        last = None
        while fire is not None and fire <= _aware(at):
            last = fire
            fire = self.trigger.get_next_fire_time(fire, fire + dt.timedelta(seconds=1))
        return _naive(last) if last is not None else None


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(get_localzone()) if moment.tzinfo is None else moment


def _naive(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(get_localzone()).replace(tzinfo=None)


def _clock() -> dt.datetime:
    return dt.datetime.now().replace(microsecond=0)


# -- the context a job runs in ------------------------------------------------------------------
@dataclass
class JobContext:
    """What a job gets: the store and settings of the deployment, the moment it runs as of,
    and who acts (``None``: the system account). Sessions and the lake connection are opened
    on demand; :func:`run_job` closes them."""

    store: Store
    settings: Settings
    now: dt.datetime
    actor: Actor | None = None
    summary: dict[str, Any] = field(default_factory=dict)  # counts, kept even when a step fails
    _con: Any = field(default=None, repr=False)

    @property
    def today(self) -> dt.date:
        return self.now.date()

    @property
    def lake_path(self) -> Path:
        return Path(self.settings.lake_path)

    def session(self) -> Session:
        """A session of the acting account (the system's: the whole organisation)."""
        return self.store.session(actor=self.actor, source=SOURCE)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with self.session() as session, session.begin():
            yield session

    @cached_property
    def scope(self) -> Scope:
        with self.session() as session:
            return session.info["scope"]

    def lake(self) -> ibis.BaseBackend:
        """The lake's engine connection, opened at first use (most jobs never read the lake)."""
        if self._con is None:
            from jiqun.lake import connect

            self._con = connect(self.settings)
        return self._con

    def close(self) -> None:
        if self._con is not None:
            self._con.disconnect()
            self._con = None


# -- the registry -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Job:
    """One job of the registry: what it does (a msgid), when, and the actions it takes (a
    person who runs it now must be allowed them as well as ``job.run``)."""

    name: str
    description: str
    schedule: Schedule
    run: Callable[[JobContext], dict[str, Any] | None]
    actions: tuple[Action, ...] = ()
    lease: dt.timedelta = dt.timedelta(hours=1)  # longer than a run can take

    def may_run(self, actor: Actor) -> bool:
        return all(allowed(actor, a) for a in (Action.JOB_RUN, *self.actions))


def _sales_rules(ctx: JobContext):
    from jiqun.sales.rules import SalesRules

    return SalesRules.configured(ctx.settings)


def run_reminders(ctx: JobContext) -> dict[str, Any]:
    """The day's pool reminders in the inboxes (站内信箱), each sent once."""
    from jiqun.sales.reminders import send_pool_reminders

    with ctx.transaction() as session:
        result = send_pool_reminders(session, ctx.today, _sales_rules(ctx))
    return {"created": result.created, "existing": result.existing}


def run_pool(ctx: JobContext) -> dict[str, Any]:
    """Prospects past the pool clock back to the public pool (公海)."""
    from jiqun.sales import pool

    with ctx.transaction() as session:
        returned = pool.return_to_pool(session, pool.pool_clock(session, ctx.today,
                                                                _sales_rules(ctx)))
    return {"returned": returned}


def run_lifecycle(ctx: JobContext) -> dict[str, Any]:
    """Customers along the lifecycle from their waybills, as of the data date (not after
    the run's day): first waybills → cooperating, falling → at risk, silent → churned.

    The rules move a customer one step at a time (trial → cooperating, then → growing), so
    they are applied until nothing moves: a second run of the day then finds nothing to do."""
    from jiqun.kpi.rules import KpiRules
    from jiqun.kpi.service import OperatingPicture
    from jiqun.sales import lifecycle
    from jiqun.store.models import LifecycleStage

    rules = _sales_rules(ctx)
    with OperatingPicture(ctx.store, ctx.lake_path, ctx.scope, con=ctx.lake(),
                          rules=KpiRules.configured(ctx.settings)) as picture, \
            ctx.transaction() as session:
        data_date = picture.data_date()
        if data_date is None:
            return {"changed": 0, "as_of": None}
        as_of = min(data_date, ctx.today)
        changes: list = []
        for _ in LifecycleStage:  # a customer takes at most one step per stage
            step = lifecycle.promote_from_waybills(session, picture, as_of, rules)
            if not step:
                break
            changes += step
    moved: dict[str, int] = {}
    for change in changes:
        if change.changes_stage:
            moved[change.to_stage] = moved.get(change.to_stage, 0) + 1
    return {"changed": len(changes), "as_of": as_of.isoformat(), "to_stage": moved,
            "at_risk_set": sum(c.at_risk is True for c in changes),
            "at_risk_cleared": sum(c.at_risk is False for c in changes)}


def run_exceptions(ctx: JobContext) -> dict[str, Any]:
    """Parcel exceptions detected, grouped into service cases, their deadlines checked; each
    step in its own transaction, so a failing step keeps what the ones before it did."""
    from jiqun.service import cases, exceptions  # the service helpers' modules

    with ctx.transaction() as session:
        ctx.summary["detection"] = exceptions.run_detection(session, ctx.lake(), ctx.lake_path,
                                                            ctx.now)
    with ctx.transaction() as session:
        ctx.summary["cases"] = cases.open_cases(session, ctx.now)
    with ctx.transaction() as session:
        ctx.summary["deadlines"] = cases.check_deadlines(session, ctx.now)
    return None


def run_problems(ctx: JobContext) -> dict[str, Any]:
    """Problems whose level's clock ran out, one level up (问题有人盯)."""
    from jiqun.service import problems

    with ctx.transaction() as session:
        return problems.escalate_overdue(session, ctx.now)


def run_aggregates(ctx: JobContext) -> dict[str, Any]:
    """The lake's daily aggregates recomputed for the months whose waybills changed since
    (an append keeps them current; this catches a restore or files copied in by hand)."""
    from jiqun.lake import aggregates, writer

    lake = ctx.lake_path
    if not lake.is_dir():
        return {"months": []}
    writer.settle(lake)  # an append cut short is finished first (it refreshes its months)
    with writer._locked(lake):  # the writers' lock: no append changes a month meanwhile
        months = stale_months(lake)
        aggregates.refresh(lake, months)
    return {"months": months}


def stale_months(lake: Path) -> list[str]:
    """Months whose aggregates are missing or older than their waybills, and aggregate months
    whose waybills are gone."""
    from jiqun.lake.aggregates import DAILY_DATASET, LANES_DATASET
    from jiqun.lake.schemas import WAYBILL_DATASET

    def newest(folder: Path) -> dict[str, float]:
        out: dict[str, float] = {}
        for file in folder.glob("month=*/*.parquet"):
            month = file.parent.name.split("=", 1)[1]
            out[month] = max(out.get(month, 0.0), file.stat().st_mtime)
        return out

    waybills = newest(lake / WAYBILL_DATASET.name)
    stale = set()
    for dataset in (DAILY_DATASET, LANES_DATASET):
        made = newest(lake / dataset.name)
        stale |= {m for m, t in waybills.items() if made.get(m, -1.0) < t}
        stale |= set(made) - set(waybills)
    return sorted(stale)


BULLETIN_FORMATS = ("html", "xlsx", "pdf")


def bulletin_folder(settings: Settings) -> Path:
    """Where the Monday bulletins go: ``bulletins/`` beside the lake (in ``var/``)."""
    return Path(settings.lake_path).resolve().parent / "bulletins"


def run_bulletin(ctx: JobContext) -> dict[str, Any]:
    """The weekly bulletin (一周通报) of the last complete week, as HTML, XLSX and PDF files in
    :func:`bulletin_folder` (``<week>/bulletin-<scope>-<week>.<format>``); files already
    written for the week are left as they are."""
    from jiqun.kpi.rules import KpiRules
    from jiqun.kpi.service import OperatingPicture
    from jiqun.kpi.weeks import IsoWeek
    from jiqun.reports.weekly import weekly_bulletin

    locale = ctx.settings.locale
    with ctx.session() as session, OperatingPicture(
            ctx.store, ctx.lake_path, ctx.scope, con=ctx.lake(), session=session,
            rules=KpiRules.configured(ctx.settings)) as picture:
        data_date = picture.data_date()
        if data_date is None:
            return {"week": None, "written": []}
        week = IsoWeek.last_complete_by(min(data_date, ctx.today - dt.timedelta(days=1)))
        folder = bulletin_folder(ctx.settings) / str(week)
        name = f"bulletin-{_scope_code(session, ctx.scope)}-{week}"
        missing = [f for f in BULLETIN_FORMATS if not (folder / f"{name}.{f}").exists()]
        ctx.summary.update(week=str(week), folder=str(folder), written=[])
        if missing:
            _write_bulletin(weekly_bulletin(picture, week, locale), folder, name, missing,
                            locale, ctx.summary["written"])
    return None


def _scope_code(session: Session, scope: Scope) -> str:
    from jiqun.store.models import OrgUnit

    if scope.root_id is None:
        return "all"
    return session.scalar(select(OrgUnit.code).where(OrgUnit.id == scope.root_id)) or "all"


def _write_bulletin(bulletin, folder: Path, name: str, formats: list[str], locale: str,
                    written: list[str]) -> None:
    """Each file under a temporary name, renamed into place: a file that exists is whole."""
    from jiqun.reports.html import bulletin_html

    folder.mkdir(parents=True, exist_ok=True)
    html = bulletin_html(bulletin, locale)
    for fmt in formats:
        target = folder / f"{name}.{fmt}"
        partial = folder / f".{name}.{uuid.uuid4().hex[:8]}.{fmt}"
        try:
            if fmt == "html":
                partial.write_text(html, encoding="utf-8")
            elif fmt == "xlsx":
                from jiqun.reports.xlsx import bulletin_xlsx

                bulletin_xlsx(bulletin, partial, locale)
            else:
                from jiqun.reports.pdf import html_to_pdf

                source = folder / f".{name}.{uuid.uuid4().hex[:8]}.html"
                source.write_text(html, encoding="utf-8")
                try:
                    html_to_pdf(source, partial)  # PdfError without a browser: the run fails
                finally:
                    source.unlink(missing_ok=True)
            os.replace(partial, target)
            written.append(fmt)
        finally:
            partial.unlink(missing_ok=True)


JOBS: dict[str, Job] = {job.name: job for job in (  # in the order a day runs them
    Job("aggregates", "Recompute the lake's daily aggregates of the months that changed",
        Schedule(minute=30, hour=3), run_aggregates),
    Job("lifecycle", "Move customers along the lifecycle from their waybills",
        Schedule(minute=0, hour=4), run_lifecycle, (Action.LIFECYCLE_RUN,)),
    Job("pool", "Return prospects without follow-up to the public pool",
        Schedule(minute=0, hour=5), run_pool, (Action.REMINDERS_RUN,)),
    Job("reminders", "Send the day's follow-up reminders to the inboxes",
        Schedule(minute=0, hour=7), run_reminders, (Action.REMINDERS_RUN,)),
    Job("exceptions", "Detect parcel exceptions, open their service cases, check deadlines",
        Schedule(minute=10), run_exceptions, (Action.EXCEPTIONS_RUN,)),
    Job("problems", "Escalate problems whose level's deadline ran out",
        Schedule(minute=40), run_problems, (Action.PROBLEM_ESCALATE,)),
    Job("bulletin", "Write the weekly bulletin as HTML, XLSX and PDF files",
        Schedule(minute=0, hour=8, day_of_week="mon"), run_bulletin,
        lease=dt.timedelta(hours=2)),
)}


def job_of(name: str) -> Job:
    try:
        return JOBS[name]
    except KeyError:
        raise NotFound(name) from None


# -- running one job ----------------------------------------------------------------------------
def run_job(store: Store, settings: Settings, name: str, trigger: str = "manual",
            now: dt.datetime | None = None, *, actor: Actor | None = None) -> JobRun:
    """Run the job ``name`` once and return its recorded run (see the module doc).

    ``trigger``: ``schedule``, ``manual``, ``demo``; ``now``: the moment the job runs as of
    (default: the clock; the demo passes the day after its data). ``actor``: the person who
    runs it now (``None``: the system account); refused (``NotAllowed``) unless their role
    may run it. The run's own times are always the clock's."""
    job = job_of(name)
    if actor is not None and not actor.system:
        for action in (Action.JOB_RUN, *job.actions):
            require(actor, action)
    clock = _clock()
    holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    by_id = actor.user_id if actor is not None else None
    other = _take_lease(store, job, holder, clock)
    if other is not None:
        return _record(store, JobRun(job=name, started_at=clock, finished_at=clock,
                                     outcome=JobOutcome.SKIPPED, trigger=trigger, by_id=by_id,
                                     summary={"lease_holder": other}))
    try:
        if trigger == "schedule" and _ran_since_slot(store, job, clock):
            return JobRun(job=name, started_at=clock, finished_at=clock, trigger=trigger,
                          outcome=JobOutcome.SKIPPED, summary={"ran_already": True})
        run = _record(store, JobRun(job=name, started_at=clock, trigger=trigger, by_id=by_id,
                                    outcome=JobOutcome.RUNNING))
        ctx = JobContext(store, settings, now or clock, actor)
        outcome, error = JobOutcome.OK, None
        try:
            ctx.summary.update(job.run(ctx) or {})
        except Exception as exc:  # recorded for the jobs page: the job failed, not the caller
            log.exception("job %s failed", name)
            outcome, error = JobOutcome.FAILED, _error_text(exc)
        finally:
            ctx.close()
        return _finish(store, run.id, outcome, ctx.summary, error)
    finally:
        _release_lease(store, name, holder)


def _error_text(exc: Exception) -> str:
    from jiqun.errors import NotAllowed
    from jiqun.i18n import translator

    message = exc.translated(translator("en")) if isinstance(exc, NotAllowed) else str(exc)
    return f"{type(exc).__name__}: {message}"[:4000]


def _take_lease(store: Store, job: Job, holder: str, clock: dt.datetime) -> str | None:
    """Take the job's lease; ``None`` when taken, else the holder of the live lease. Stale
    runs of the job (their process died while running) are marked failed meanwhile."""
    until = clock + job.lease
    with store.transaction(source=SOURCE) as s:
        taken = s.execute(update(JobLease).where(JobLease.job == job.name,
                                                 JobLease.until <= clock)
                          .values(holder=holder, until=until)).rowcount == 1
        current = None if taken else s.get(JobLease, job.name)
    if not taken and current is not None:
        return current.holder
    if not taken:
        try:
            with store.transaction(source=SOURCE) as s:
                s.add(JobLease(job=job.name, holder=holder, until=until))
        except IntegrityError:  # another process inserted it first: theirs
            with store.session(source=SOURCE) as s:
                row = s.get(JobLease, job.name)
                return row.holder if row is not None else "?"
    with store.transaction(source=SOURCE) as s:
        s.execute(update(JobRun).where(JobRun.job == job.name,
                                       JobRun.outcome == JobOutcome.RUNNING)
                  .values(outcome=JobOutcome.FAILED, finished_at=clock, error=INTERRUPTED))
    return None


def _release_lease(store: Store, name: str, holder: str) -> None:
    with store.transaction(source=SOURCE) as s:
        s.execute(update(JobLease).where(JobLease.job == name, JobLease.holder == holder)
                  .values(until=_clock()))


def _ran_since_slot(store: Store, job: Job, clock: dt.datetime) -> bool:
    """Whether the job ran well since the slot of its schedule that is due now."""
    slot = job.schedule.last_due(clock)
    if slot is None:
        return False
    with store.session(source=SOURCE) as s:
        return s.scalar(select(JobRun.id).where(
            JobRun.job == job.name, JobRun.outcome == JobOutcome.OK,
            JobRun.started_at >= slot).limit(1)) is not None


def _record(store: Store, run: JobRun) -> JobRun:
    with store.transaction(source=SOURCE) as s:
        s.add(run)
    return run


def _finish(store: Store, run_id: int, outcome: JobOutcome, summary: dict[str, Any],
            error: str | None) -> JobRun:
    with store.transaction(source=SOURCE) as s:
        run = s.get(JobRun, run_id)
        run.finished_at, run.outcome, run.error = _clock(), outcome, error
        run.summary = _plain(summary)
    return run


def _plain(value: Any) -> Any:
    """The summary as JSON: dates as ISO text, dataclasses and tuples as dicts and lists."""
    from dataclasses import asdict, is_dataclass

    if is_dataclass(value) and not isinstance(value, type):
        value = asdict(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_plain(v) for v in value]
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    return value


# -- what the jobs page shows -------------------------------------------------------------------
MISSED_GRACE = dt.timedelta(minutes=15)  # a run may start late: a busy process, a slow lease


@dataclass(frozen=True)
class RunView:
    """One recorded run, as the jobs page and ``/api/jobs`` show it."""

    id: int
    job: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    outcome: str
    trigger: str
    by: str | None  # the person's name; None: the system account
    summary: dict[str, Any] | None  # None unless the viewer may run jobs
    error: str | None  # likewise


@dataclass(frozen=True)
class JobStatus:
    job: Job
    last: RunView | None  # the latest run that did something (skipped runs did nothing)
    next_run: dt.datetime
    missed: dt.datetime | None  # a slot of the schedule with no run since (none: None)
    may_run: bool  # the viewer may run it now


@dataclass(frozen=True)
class JobBoard:
    jobs: list[JobStatus]
    failures: list[RunView]  # the latest failed runs, newest first
    details: bool  # summaries and errors shown: the viewer may run jobs (job.run)


def job_board(session: Session, actor: Actor, now: dt.datetime | None = None,
              failures: int = 10) -> JobBoard:
    """Every job with its schedule, last run, next run and missed slot, and the latest
    failures. Runs belong to the whole organisation, so their counts and errors are shown
    only to those who may run jobs (the operators); everyone sees when jobs ran and how."""
    from jiqun.sales.people import names_of

    now = now or _clock()
    details = allowed(actor, Action.JOB_RUN)
    latest = {}
    for name in JOBS:
        latest[name] = session.scalars(
            select(JobRun).where(JobRun.job == name, JobRun.outcome != JobOutcome.SKIPPED)
            .order_by(JobRun.started_at.desc(), JobRun.id.desc()).limit(1)).first()
    failed = list(session.scalars(select(JobRun).where(JobRun.outcome == JobOutcome.FAILED)
                                  .order_by(JobRun.started_at.desc(), JobRun.id.desc())
                                  .limit(failures)))
    names = names_of(session, {r.by_id for r in [*latest.values(), *failed] if r is not None})

    def view(run: JobRun | None) -> RunView | None:
        return None if run is None else run_view(run, names, details)

    statuses = []
    for name, job in JOBS.items():
        last = latest[name]
        slot = job.schedule.last_due(now - MISSED_GRACE)
        missed = slot if slot is not None and (last is None or last.started_at < slot) else None
        statuses.append(JobStatus(job, view(last), job.schedule.next_run(now), missed,
                                  job.may_run(actor)))
    return JobBoard(statuses, [view(r) for r in failed], details)


def run_view(run: JobRun, names: dict[int, str], details: bool) -> RunView:
    return RunView(run.id, run.job, run.started_at, run.finished_at, JobOutcome(run.outcome).value,
                   run.trigger, names.get(run.by_id) if run.by_id else None,
                   run.summary if details else None, run.error if details else None)


def recorded_run(session: Session, run_id: int, actor: Actor) -> RunView:
    """One run by id (the jobs page's notice after "run now")."""
    from jiqun.sales.people import names_of

    run = session.get(JobRun, run_id)
    if run is None:
        raise NotFound(str(run_id))
    return run_view(run, names_of(session, [run.by_id]), allowed(actor, Action.JOB_RUN))
