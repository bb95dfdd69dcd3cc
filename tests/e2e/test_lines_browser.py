"""Dedicated lines and flows in a real browser, as the province and as the city, at phone and
desktop width: a lane served by a running line shows that line (no 全年开通, no Accept); the
registry lists the lines with only the steps the user may take; /flows is paged, so a phone
page stays short. The city accepts a lane (its row then shows the draft), the province approves
it on the registry. ``JIQUN_E2E_SHOTS=/tmp/shots/lines`` saves screenshots."""

from __future__ import annotations

import pytest

from jiqun.store import Store
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

PASSWORD = "jiqun-demo"
USERS = ("demo-province", "demo-city")
PHONE_PAGE_MAX_PX = 6000  # /flows was 8–12k px before paging (issue 13)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium (/usr/bin/chromium) absent"),
]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    from jiqun.demo import build_demo
    from jiqun.demo.scale import write_demo_settings

    tmp = tmp_path_factory.mktemp("e2e-lines")
    store = Store(f"sqlite:///{tmp}/store.db")
    store.upgrade()
    summary = build_demo(store, tmp / "lake", scale="tiny", seed=7, progress=False)
    store.engine.dispose()
    # The server runs in the folder: it reads the model's planning parameters from var/.
    write_demo_settings(tmp / "var/kpi-rules.toml", tmp / "var/planning.toml",
                        summary.volume_factor)
    with serving(tmp) as url:
        yield url



def _height(page) -> int:
    return page.evaluate("() => document.documentElement.scrollHeight")


@pytest.mark.parametrize("user", USERS)
@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_lines_registry_and_flows_pages(base, browser, viewport, user):
    width = "phone" if viewport is PHONE else "desktop"
    context = browser_context(browser, viewport)
    page = context.new_page()
    sign_in(page, base, user, PASSWORD)

    page.goto(f"{base}/lines")
    served = page.locator("[data-testid=lines] tbody tr", has_text="稍岗").filter(
        has_text="广州市")
    assert served.count() == 1
    assert "全年运行 · L-YC-广州" in served.inner_text()
    assert "全年开通" not in served.inner_text()
    assert served.locator("form[action='/lines/accept']").count() == 0
    assert overflow(page) <= 0, f"/lines overflows by {overflow(page)}px"
    shoot(page, f"{width}-{user}-lines")

    page.goto(f"{base}/lines/registry")
    rows = page.locator("[data-testid=line-registry] tbody tr")
    assert rows.count() >= 3
    running = rows.filter(has_text="L-YC-广州")
    assert "全年运行" in running.inner_text()
    # A running line may be closed by both; nobody may approve it again.
    assert running.locator("form[action$='/approve']").count() == 0
    assert running.locator("form[action$='/close']").count() == 1
    assert overflow(page) <= 0, f"/lines/registry overflows by {overflow(page)}px"
    shoot(page, f"{width}-{user}-line-registry")

    page.goto(f"{base}/flows?period=month")
    assert page.locator("[data-testid=lanes] tbody tr").count() <= 25
    assert page.locator("[data-testid=peaks] tbody tr").count() <= 10
    assert page.locator("nav.pager").count() >= 1
    if viewport is PHONE:
        assert _height(page) < PHONE_PAGE_MAX_PX, f"/flows is {_height(page)}px long"
    assert overflow(page) <= 0, f"/flows overflows by {overflow(page)}px"
    shoot(page, f"{width}-{user}-flows")
    context.close()


def test_the_city_accepts_a_lane_and_the_province_approves_it(base, browser):
    context = browser_context(browser, DESKTOP)
    page = context.new_page()
    sign_in(page, base, "demo-city", PASSWORD)
    page.goto(f"{base}/lines")
    offered = page.locator("[data-testid=lines] tbody tr").filter(
        has=page.locator("form[action='/lines/accept']")).first
    lane = offered.locator("td").first.inner_text().split("\n")[0]
    offered.locator("button[type=submit]").click()
    page.wait_for_url("**/lines?*accepted=*")
    code = page.url.split("accepted=")[1]
    row = page.locator("[data-testid=lines] tbody tr", has_text=lane.split(" → ")[0]).filter(
        has_text=lane.split(" → ")[1]).first
    assert f"草案 · {code}" in row.inner_text()
    assert row.locator("form[action='/lines/accept']").count() == 0
    page.goto(f"{base}/lines/registry?status=draft")
    mine = page.locator(f"[data-line='{code}']")
    assert mine.locator("form[action$='/approve']").count() == 0  # not its own approval
    context.close()

    context = browser_context(browser, PHONE)
    page = context.new_page()
    sign_in(page, base, "demo-province", PASSWORD)
    page.goto(f"{base}/lines/registry?status=draft")
    page.locator(f"[data-line='{code}'] form[action$='/approve'] button").click()
    page.wait_for_url(f"**/lines/registry?done={code}")
    approved = page.locator(f"[data-line='{code}']")
    assert "已批准" in approved.inner_text()
    assert approved.locator("form[action$='/open']").count() == 1
    shoot(page, "phone-demo-province-approved")
    context.close()
