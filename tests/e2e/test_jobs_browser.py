"""The jobs page in a real browser on a phone (390×844) and a desktop (1366×900), over the tiny
demo built as ``jiqun demo build`` builds it (every job run once at the end): each job shows a
run, "run now" comes back with the outcome, and what the jobs did is there for the people it
concerns — the pool holds the recycled prospects, the marketer's inbox their reminders.
``JIQUN_E2E_SHOTS=/tmp/shots`` saves screenshots."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.e2e.server import (
    CHROMIUM,
    DESKTOP,
    PHONE,
    browser_context,
    overflow,
    serving,
    shoot,
    sign_in,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium (/usr/bin/chromium) absent"),
]

PASSWORD = "jiqun-demo"
MINE = ("aggregates", "lifecycle", "pool", "reminders", "bulletin")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from jiqun.config import Settings
    from jiqun.demo import build_demo
    from jiqun.demo.cli import run_demo_jobs
    from jiqun.demo.scale import write_demo_settings
    from jiqun.store import Store

    folder = tmp_path_factory.mktemp("e2e-jobs")
    settings = Settings(store_url=f"sqlite:///{folder}/store.db", lake_path=folder / "lake",
                        rules_file=folder / "var/kpi-rules.toml",
                        planning_file=folder / "var/planning.toml", environment="test")
    store = Store(settings.store_url)
    store.upgrade()
    summary = build_demo(store, settings.lake_path, scale="tiny", seed=7, progress=False)
    write_demo_settings(settings.rules_file, settings.planning_file, summary.volume_factor)
    runs = run_demo_jobs(store, settings, summary.until + dt.timedelta(days=1))
    store.engine.dispose()
    with serving(folder) as base:
        yield base, {r.job: r for r in runs}



def _fits(page, what: str) -> None:
    extra = overflow(page)
    assert extra <= 0, f"{what} overflows the screen by {extra}px"


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_the_jobs_page_shows_the_demos_runs_and_runs_one_now(site, browser, viewport):
    base, runs = site
    assert all(runs[name].outcome.value == "ok" for name in MINE), \
        {n: (r.outcome, r.error) for n, r in runs.items()}
    width = viewport["width"]
    context = browser_context(browser, viewport)
    page = context.new_page()
    sign_in(page, base, "demo-province", PASSWORD)
    page.goto(f"{base}/jobs")
    assert page.locator("[data-testid^=job-]").count() == 7
    for name in MINE:
        last = page.inner_text(f"[data-testid=job-{name}] [data-testid=last-run]")
        assert "成功" in last, (name, last)  # OK
        # run at the build (reminders may have been run now by the other width's test)
        assert name == "reminders" or "演示数据构建" in last, (name, last)
    pool_counts = page.inner_text("[data-testid=job-pool] [data-testid=counts]")
    assert "退回公海" in pool_counts
    _fits(page, "/jobs")
    shoot(page, f"jobs-{width}")

    page.click("[data-testid=run-reminders]")
    page.wait_for_selector("[data-testid=notice]")
    notice = page.inner_text("[data-testid=notice]")
    assert "成功" in notice  # OK
    counts = {line.split("\n")[0].strip(): line.split("\n")[-1].strip() for line in
              page.locator("[data-testid=notice] [data-testid=counts] > div").all_inner_texts()}
    assert counts["已发提醒"] == "0" and int(counts["此前已发"]) > 0  # sent at the build already
    _fits(page, "/jobs after run now")
    shoot(page, f"jobs-{width}-ran")
    context.close()


def test_the_pool_and_the_marketers_inbox_hold_what_the_jobs_did(site, browser):
    base, runs = site
    assert runs["pool"].summary["returned"] > 0 and runs["reminders"].summary["created"] > 0
    context = browser_context(browser, PHONE)
    page = context.new_page()
    sign_in(page, base, "demo-marketer", PASSWORD)
    page.goto(f"{base}/inbox")
    assert page.locator("[data-testid=notification]").count() > 0
    shoot(page, "jobs-390-marketer-inbox")
    page.goto(f"{base}/pool")
    assert page.locator("[data-testid=pool-list] li.pool-item").count() > 0
    shoot(page, "jobs-390-marketer-pool")
    context.close()
