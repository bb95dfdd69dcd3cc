"""The scheduled jobs (jiqun.service.jobs): each run recorded with its outcome, the lease that
keeps two processes from running a job at once, each job idempotent, the schedules' next runs,
who may run a job now.

The world is the web tests' two cities (tests/web/conftest.py: waybills 2024-04-01 … 06-15),
with two owned prospects on the pool clock: one silent for 76 days (returns to the pool) and
one for 28 days (its owner and manager are reminded: 2 days left).
"""

from __future__ import annotations

import datetime as dt
import os
import sys

import pytest
from sqlalchemy import func, select

from jiqun.accounts import add_user
from jiqun.errors import NotAllowed, NotFound
from jiqun.permissions import Action
from jiqun.service import jobs
from jiqun.service.jobs import JOBS, Schedule, bulletin_folder, run_job, stale_months
from jiqun.service.scheduler import _missed_slot, configure
from jiqun.store.models import (
    Customer,
    JobLease,
    JobOutcome,
    JobRun,
    LifecycleStage,
    Notification,
    OrgUnit,
    Role,
)
from tests.web.conftest import PASSWORD, fresh_world

NOW = dt.datetime(2024, 6, 16, 7, 0)  # the morning after the data date


@pytest.fixture
def world(tmp_path):
    world = fresh_world(tmp_path)
    with world.store.transaction() as s:
        outlet = s.scalar(select(OrgUnit).where(OrgUnit.code == "ZJ-HUZ-WX-ZL"))
        hq = s.scalar(select(OrgUnit).where(OrgUnit.code == "HQ"))
        world.ids["hq-biz"] = add_user(s, "hq-biz", PASSWORD, hq, Role.HQ_BUSINESS, "总部业务").id
        for key, code, since in (("silent", "C-ZL-8", dt.date(2024, 4, 1)),
                                 ("soon", "C-ZL-9", dt.date(2024, 5, 19))):
            customer = Customer(code=code, name=f"意向{code}", org_unit_id=outlet.id,
                                market_id=world.ids["zhili"], archived_on=since,
                                lifecycle_stage=LifecycleStage.NURTURING,
                                owner_id=world.ids["zl-marketer"], owned_since=since)
            s.add(customer)
            s.flush()
            world.ids[key] = customer.id
    yield world
    world.store.engine.dispose()


def fail_exceptions(monkeypatch) -> None:
    """The exceptions job as it runs where a service helper's module is missing (or broken)."""
    import jiqun.service

    monkeypatch.delattr(jiqun.service, "cases", raising=False)
    monkeypatch.setitem(sys.modules, "jiqun.service.cases", None)


def run(world, name, **kwargs) -> JobRun:
    return run_job(world.store, world.settings, name, now=kwargs.pop("now", NOW), **kwargs)


def count(world, model, *where) -> int:
    with world.store.session() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def owner_of(world, key) -> int | None:
    with world.store.session() as s:
        return s.get(Customer, world.ids[key]).owner_id


# -- recording: ok, failed, skipped -------------------------------------------------------------
def test_a_run_is_recorded_with_its_outcome_and_counts(world):
    done = run(world, "pool")
    assert done.outcome == JobOutcome.OK and done.summary == {"returned": 1}
    assert done.trigger == "manual" and done.by_id is None and done.error is None
    with world.store.session() as s:
        stored = s.get(JobRun, done.id)
        assert stored.outcome == JobOutcome.OK and stored.summary == {"returned": 1}
        assert stored.started_at <= stored.finished_at
        lease = s.get(JobLease, "pool")
        assert lease.until <= dt.datetime.now()  # released: the next run may take it at once


def test_a_failing_job_is_recorded_failed_with_its_error(world, monkeypatch):
    # The exceptions job imports the service helpers' modules when it runs: one missing (or
    # broken) makes the run fail, recorded, without raising into the scheduler or the page.
    fail_exceptions(monkeypatch)
    failed = run(world, "exceptions")
    assert failed.outcome == JobOutcome.FAILED
    assert failed.error.startswith("ModuleNotFoundError: import of jiqun.service.cases")
    assert failed.finished_at is not None
    assert count(world, JobRun, JobRun.outcome == JobOutcome.FAILED) == 1


def test_a_failing_step_rolls_back_and_keeps_the_steps_before(world, monkeypatch):
    def broken(session, today, rules):
        session.add(Notification(user_id=world.ids["zl-marketer"], kind="pool_owner",
                                 due_on=today, sent_on=today, org_unit_id=1))
        session.flush()
        raise RuntimeError("the store went away")

    monkeypatch.setattr("jiqun.sales.reminders.send_pool_reminders", broken)
    failed = run(world, "reminders")
    assert failed.outcome == JobOutcome.FAILED and failed.error == \
        "RuntimeError: the store went away"
    assert count(world, Notification) == 0


def test_a_live_lease_of_another_process_skips_the_run(world):
    with world.store.transaction() as s:
        s.add(JobLease(job="pool", holder="other-host:4711:abc",
                       until=dt.datetime.now() + dt.timedelta(minutes=30)))
    skipped = run(world, "pool")
    assert skipped.outcome == JobOutcome.SKIPPED
    assert skipped.summary == {"lease_holder": "other-host:4711:abc"}
    assert owner_of(world, "silent") is not None  # nothing ran
    with world.store.session() as s:
        assert s.get(JobLease, "pool").holder == "other-host:4711:abc"  # theirs still


def test_an_expired_lease_is_taken_and_a_run_it_left_running_marked_interrupted(world):
    long_ago = dt.datetime.now() - dt.timedelta(hours=3)
    with world.store.transaction() as s:
        s.add(JobLease(job="pool", holder="crashed:1:x", until=long_ago))
        s.add(JobRun(job="pool", started_at=long_ago, outcome=JobOutcome.RUNNING,
                     trigger="schedule"))
    assert run(world, "pool").outcome == JobOutcome.OK
    with world.store.session() as s:
        left = s.scalars(select(JobRun).where(JobRun.started_at == long_ago)).one()
        assert left.outcome == JobOutcome.FAILED and left.error == jobs.INTERRUPTED


def test_a_scheduled_run_skips_a_slot_that_ran_already(world):
    first = run(world, "aggregates", trigger="schedule")
    again = run(world, "aggregates", trigger="schedule")
    assert first.outcome == JobOutcome.OK and first.id is not None
    assert again.outcome == JobOutcome.SKIPPED and again.id is None  # not recorded: nothing ran
    assert run(world, "aggregates").outcome == JobOutcome.OK  # a run now always runs
    assert count(world, JobRun) == 2


def test_an_unknown_job_is_not_found(world):
    with pytest.raises(NotFound):
        run(world, "launch_rockets")


# -- idempotence of each job --------------------------------------------------------------------
def test_pool_returns_the_silent_prospect_once(world):
    assert run(world, "pool").summary == {"returned": 1}
    assert owner_of(world, "silent") is None and owner_of(world, "soon") is not None
    assert run(world, "pool").summary == {"returned": 0}
    assert owner_of(world, "soon") == world.ids["zl-marketer"]


def test_reminders_are_sent_once(world):
    first = run(world, "reminders").summary
    assert first["created"] >= 1 and first["existing"] == 0
    sent = count(world, Notification)
    assert count(world, Notification, Notification.customer_id == world.ids["soon"],
                 Notification.user_id == world.ids["zl-marketer"]) == 1
    assert run(world, "reminders").summary == {"created": 0, "existing": first["created"]}
    assert count(world, Notification) == sent


def test_lifecycle_moves_each_customer_once(world):
    first = run(world, "lifecycle").summary
    assert first["as_of"] == "2024-06-15"  # the data date, not NOW
    # 小熊童装 ships: trial → cooperating → growing (a step at a time, both in one run); 园区优选
    # ships three times April's parcels in June: cooperating → growing.
    assert first["to_stage"] == {"cooperating": 1, "growing": 2}
    with world.store.session() as s:
        stages = dict(s.execute(select(Customer.id, Customer.lifecycle_stage)).all())
    second = run(world, "lifecycle").summary
    assert second["changed"] == 0 and second["to_stage"] == {}
    with world.store.session() as s:
        assert dict(s.execute(select(Customer.id, Customer.lifecycle_stage)).all()) == stages


def test_aggregates_recompute_only_the_months_that_changed(world):
    lake = world.settings.lake_path
    assert stale_months(lake) == []  # every append refreshed its months
    assert run(world, "aggregates").summary == {"months": []}
    may = next((lake / "waybills" / "month=2024-05").glob("*.parquet"))
    earlier = may.stat().st_mtime - 60  # waybills restored or copied in after the aggregates
    for dataset in ("daily", "lanes"):
        os.utime(lake / dataset / "month=2024-05" / f"{dataset}.parquet", (earlier, earlier))
    (lake / "daily" / "month=2024-04" / "daily.parquet").unlink()
    assert run(world, "aggregates").summary == {"months": ["2024-04", "2024-05"]}
    assert (lake / "daily" / "month=2024-04" / "daily.parquet").is_file()
    assert run(world, "aggregates").summary == {"months": []}


def test_the_bulletin_is_written_once_a_week(world):
    first = run(world, "bulletin", now=dt.datetime(2024, 6, 17, 8, 0))  # a Monday
    # The data end on Saturday 06-15: the last complete week is W23 (06-03 … 06-09).
    folder = bulletin_folder(world.settings) / "2024-W23"
    assert first.outcome == JobOutcome.OK, first.error
    assert first.summary["week"] == "2024-W23" and first.summary["written"] == [
        "html", "xlsx", "pdf"]
    files = sorted(folder.iterdir())
    assert [f.name for f in files] == [f"bulletin-all-2024-W23.{x}" for x in ("html", "pdf",
                                                                                "xlsx")]
    assert "06-03" in files[0].read_text(encoding="utf-8")  # the week's Monday
    stamps = [f.stat().st_mtime_ns for f in files]
    again = run(world, "bulletin", now=dt.datetime(2024, 6, 17, 9, 0))
    assert again.summary["written"] == []
    assert [f.stat().st_mtime_ns for f in sorted(folder.iterdir())] == stamps


# -- schedules ----------------------------------------------------------------------------------
def test_the_next_run_follows_each_schedule():
    tuesday = dt.datetime(2026, 12, 1, 6, 59)
    assert Schedule(minute=0, hour=7).next_run(tuesday) == dt.datetime(2026, 12, 1, 7, 0)
    assert Schedule(minute=0, hour=7).next_run(dt.datetime(2026, 12, 1, 7, 0)) == \
        dt.datetime(2026, 12, 2, 7, 0)  # strictly after
    assert Schedule(minute=10).next_run(tuesday) == dt.datetime(2026, 12, 1, 7, 10)
    assert Schedule(minute=0, hour=8, day_of_week="mon").next_run(tuesday) == \
        dt.datetime(2026, 12, 7, 8, 0)
    assert Schedule(minute=10).last_due(tuesday) == dt.datetime(2026, 12, 1, 6, 10)
    assert Schedule(minute=0, hour=8, day_of_week="mon").last_due(tuesday) == \
        dt.datetime(2026, 11, 30, 8, 0)
    assert JOBS["reminders"].schedule.cron == "0 7 * * *"
    assert JOBS["bulletin"].schedule.cron == "0 8 * * mon"


def test_every_job_is_scheduled_and_a_missed_slot_runs_at_start(world):
    from apscheduler.schedulers.background import BackgroundScheduler

    run(world, "pool")  # ran just now: its slot is covered
    scheduler = configure(BackgroundScheduler(), world.store, world.settings)
    planned = {job.id: job for job in scheduler.get_jobs()}
    assert set(planned) == set(JOBS)
    assert not _missed_slot(world.store, JOBS["pool"], dt.datetime.now())
    assert _missed_slot(world.store, JOBS["reminders"], dt.datetime.now())


def test_jobs_list_the_actions_they_take():
    assert JOBS["reminders"].actions == (Action.REMINDERS_RUN,)
    assert JOBS["lifecycle"].actions == (Action.LIFECYCLE_RUN,)
    assert JOBS["exceptions"].actions == (Action.EXCEPTIONS_RUN,)
    assert JOBS["problems"].actions == (Action.PROBLEM_ESCALATE,)
    assert list(JOBS) == ["aggregates", "lifecycle", "pool", "reminders", "exceptions",
                          "problems", "bulletin"]


# -- who may run a job now ----------------------------------------------------------------------
def test_a_person_runs_a_job_in_their_own_subtree(world):
    province = world.store.actor("zj-prov")
    done = run(world, "pool", actor=province)
    assert done.outcome == JobOutcome.OK and done.by_id == world.ids["zj-prov"]
    assert done.summary == {"returned": 1}
    hangzhou = world.store.actor("hgz-city")  # a city manager: may not run jobs
    with pytest.raises(NotAllowed):
        run(world, "pool", actor=hangzhou)


def test_a_role_that_may_run_jobs_but_not_the_jobs_action_is_refused(world):
    hq = world.store.actor("hq-biz")  # job.run yes, reminders.run no
    with pytest.raises(NotAllowed):
        run(world, "reminders", actor=hq)
    assert count(world, JobRun) == 0  # refused before anything was recorded
    assert run(world, "aggregates", actor=hq).outcome == JobOutcome.OK
    with pytest.raises(NotAllowed):
        run(world, "aggregates", actor=world.store.actor("zl-marketer"))


def test_the_board_shows_counts_and_errors_to_operators_only(world, monkeypatch):
    fail_exceptions(monkeypatch)
    run(world, "exceptions")
    run(world, "pool", actor=world.store.actor("zj-prov"))
    for user, details in (("zj-prov", True), ("zl-marketer", False)):
        actor = world.store.actor(user)
        with world.store.session(actor=actor) as s:
            board = jobs.job_board(s, actor, now=dt.datetime(2026, 12, 1, 6, 59))
        assert board.details is details
        by_name = {status.job.name: status for status in board.jobs}
        pool = by_name["pool"]
        assert pool.last.outcome == "ok" and pool.last.by == "浙江经理"
        assert pool.last.summary == ({"returned": 1} if details else None)
        assert pool.next_run == dt.datetime(2026, 12, 1, 5, 0) + dt.timedelta(days=1)
        assert by_name["reminders"].last is None and by_name["reminders"].missed is not None
        assert [f.job for f in board.failures] == ["exceptions"]
        assert (board.failures[0].error is not None) is details
        assert pool.may_run is details


# -- the command line ---------------------------------------------------------------------------
@pytest.fixture
def cli(world, monkeypatch):
    from typer.testing import CliRunner

    from jiqun.cli import app
    from jiqun.config import get_settings

    monkeypatch.setenv("JIQUN_STORE_URL", world.store.url)
    monkeypatch.setenv("JIQUN_LAKE_PATH", str(world.settings.lake_path))
    monkeypatch.setenv("JIQUN_LOCALE", "en")
    get_settings.cache_clear()
    yield lambda *args: CliRunner().invoke(app, list(args))
    get_settings.cache_clear()


def test_jobs_run_and_list_on_the_command_line(world, cli):
    import json

    ran = cli("jobs", "run", "pool", "--user", "zj-prov", "--now", "2024-06-16")
    assert ran.exit_code == 0, ran.output
    assert json.loads(ran.stdout)[0] | {"started_at": None, "finished_at": None} == {
        "job": "pool", "outcome": "ok", "summary": {"returned": 1}, "error": None,
        "started_at": None, "finished_at": None}
    listed = cli("jobs", "list", "--format", "json")
    assert listed.exit_code == 0, listed.output
    rows = {r["job"]: r for r in json.loads(listed.stdout)}
    assert list(rows) == list(JOBS)
    assert rows["pool"]["outcome"] == "ok" and rows["pool"]["trigger"] == "manual"
    assert rows["pool"]["schedule"] == "Every day at 05:00" and rows["pool"]["cron"] == "0 5 * * *"
    assert rows["reminders"]["last_run"] is None and rows["reminders"]["next_run"]
    refused = cli("jobs", "run", "pool", "--user", "zl-marketer")
    assert refused.exit_code == 2 and "Your role may not do this" in refused.output
    unknown = cli("jobs", "run", "nope", "--user", "system")
    assert unknown.exit_code == 2 and "aggregates, lifecycle" in unknown.output
