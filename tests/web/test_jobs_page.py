"""The jobs page (/jobs) and its twin (/api/jobs): every job with schedule, last run, outcome and
next run; run now (POST, job.run, CSRF) back to the page with the run's outcome; counts and
errors for those who may run jobs only."""

from __future__ import annotations

import re
import sys

import pytest

from jiqun.service.jobs import JOBS
from jiqun.store.models import JobOutcome, JobRun
from jiqun.web.app import create_app
from tests.web.conftest import bearer, csrf_of, fresh_world, signed_in


@pytest.fixture
def site(tmp_path):
    world = fresh_world(tmp_path)
    app = create_app(world.settings)
    yield world, app
    world.store.engine.dispose()


def _job_item(html: str, name: str) -> str:
    start = html.index(f'data-testid="job-{name}"')
    return html[start:html.index("</li>", start)]


def test_the_page_lists_every_job_with_its_schedule_and_no_run_yet(site):
    world, app = site
    page = signed_in(app, "zj-prov").get("/jobs")
    assert page.status_code == 200
    html = page.text
    assert re.findall(r'data-testid="job-(\w+)"', html) == list(JOBS)
    assert "每天 07:00" in _job_item(html, "reminders")  # Every day at 07:00
    assert "每周一 08:00" in _job_item(html, "bulletin")
    assert "每小时第 10 分" in _job_item(html, "exceptions")
    assert "从未运行" in _job_item(html, "pool")  # Never
    assert 'data-testid="run-pool"' in html  # a provincial manager may run every job
    assert "最近没有失败的任务" in html


def test_run_now_runs_the_job_and_shows_its_outcome(site):
    world, app = site
    client = signed_in(app, "zj-prov")
    r = client.post("/jobs/lifecycle/run", data={"csrf_token": csrf_of(client, "/jobs")},
                    follow_redirects=False)
    assert r.status_code == 303 and re.fullmatch(r"/jobs\?ran=\d+", r.headers["location"])
    html = client.get(r.headers["location"]).text
    notice = html[html.index('data-testid="notice"'):html.index("</section>",
                                                              html.index('data-testid="notice"'))]
    assert "成功" in notice and "浙江经理" in notice  # OK, by the provincial manager
    assert "变动客户" in notice and "截至" in notice and "2024-06-15" in notice
    item = _job_item(html, "lifecycle")
    assert "成功" in item and "立即运行" in item and 'data-testid="counts"' in item
    with world.store.session() as s:
        run = s.query(JobRun).one()
        assert run.outcome == JobOutcome.OK and run.trigger == "manual"
        assert run.by_id == world.ids["zj-prov"]


def test_run_now_wants_the_csrf_token_and_the_permission(site):
    world, app = site
    client = signed_in(app, "zj-prov")
    assert client.post("/jobs/pool/run", data={}).status_code == 403  # no CSRF token
    marketer = signed_in(app, "zl-marketer")
    refused = marketer.post("/jobs/pool/run", data={"csrf_token": csrf_of(marketer, "/jobs")})
    assert refused.status_code == 403
    page = marketer.get("/jobs").text
    assert 'data-testid="run-' not in page  # no button for who may not
    with world.store.session() as s:
        assert s.query(JobRun).count() == 0
    unknown = client.post("/jobs/nope/run", data={"csrf_token": csrf_of(client, "/jobs")})
    assert unknown.status_code == 404


def test_the_api_twin_lists_jobs_and_runs_one(site):
    world, app = site
    client = signed_in(app, "zj-prov")
    headers = bearer(client, "zj-prov")
    ran = client.post("/api/jobs/pool/run", headers=headers)
    assert ran.status_code == 200, ran.text
    body = ran.json()
    assert body["job"] == "pool" and body["outcome"] == "ok" and body["trigger"] == "manual"
    assert body["by"] == "浙江经理" and body["summary"] == {"returned": 0}
    listing = client.get("/api/jobs", headers=headers).json()
    assert [j["name"] for j in listing["jobs"]] == list(JOBS)
    pool = next(j for j in listing["jobs"] if j["name"] == "pool")
    assert pool["cron"] == "0 5 * * *" and pool["schedule"] == "每天 05:00"
    assert pool["last_run"]["id"] == body["id"] and pool["may_run"] is True
    assert listing["failures"] == []
    assert client.post("/api/jobs/nope/run", headers=headers).status_code == 404


def test_counts_and_errors_are_for_operators_only(site, monkeypatch):
    import jiqun.service

    world, app = site
    # the exceptions job fails as where a service helper's module is missing
    monkeypatch.delattr(jiqun.service, "cases", raising=False)
    monkeypatch.setitem(sys.modules, "jiqun.service.cases", None)
    client = signed_in(app, "zj-prov")
    headers = bearer(client, "zj-prov")
    assert client.post("/api/jobs/exceptions/run", headers=headers).json()["outcome"] == "failed"
    client.post("/api/jobs/pool/run", headers=headers)
    marketer = signed_in(app, "zl-marketer")
    seen = marketer.get("/api/jobs", headers=bearer(marketer, "zl-marketer")).json()
    pool = next(j for j in seen["jobs"] if j["name"] == "pool")
    assert pool["last_run"]["outcome"] == "ok" and pool["last_run"]["summary"] is None
    assert pool["may_run"] is False
    assert [f["job"] for f in seen["failures"]] == ["exceptions"]
    assert seen["failures"][0]["error"] is None
    html = marketer.get("/jobs").text
    assert 'data-testid="failure"' in html and "ModuleNotFoundError" not in html
    operator = client.get("/jobs").text
    assert "ModuleNotFoundError" in operator


def test_the_page_speaks_english_on_request(site):
    world, app = site
    html = signed_in(app, "zj-prov").get("/jobs?lang=en").text
    assert "Every day at 07:00" in html and "Run now" in html and "Never" in html


def test_the_app_runs_the_scheduler_only_when_its_settings_say_so(site):
    import datetime as dt

    from fastapi.testclient import TestClient

    world, app = site
    with TestClient(app):
        assert app.state.scheduler is None  # the tests' apps: JIQUN_SERVE_JOBS=false
    now = dt.datetime.now().replace(microsecond=0)
    with world.store.transaction() as s:  # every slot covered: nothing runs at start
        s.add_all([JobRun(job=name, started_at=now, finished_at=now, outcome=JobOutcome.OK,
                          trigger="schedule") for name in JOBS])
    serving = create_app(world.settings.model_copy(update={"serve_jobs": True}))
    with TestClient(serving):
        scheduler = serving.state.scheduler
        assert scheduler.running
        planned = {job.id: job.next_run_time.replace(tzinfo=None) for job in scheduler.get_jobs()}
        assert set(planned) == set(JOBS) and all(t > now for t in planned.values())
    assert not scheduler.running  # stopped with the app
