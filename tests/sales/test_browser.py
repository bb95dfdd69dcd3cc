"""In a real browser at phone size: the demo marketer logs a visit in a few taps and sees it.

Uses Debian's Chromium through Playwright (see tests/e2e/test_browser.py). ``JIQUN_E2E_SHOTS``
saves screenshots of the field sales pages.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.e2e.server import CHROMIUM, CHROMIUM_ARGS, PHONE, serving_demo

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium (/usr/bin/chromium) absent"),
]
MARKETER, PASSWORD = "demo-marketer", "jiqun-demo"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with serving_demo(tmp_path_factory.mktemp("sales-e2e")) as url:
        yield url


def _shoot(page, name: str) -> None:
    folder = os.environ.get("JIQUN_E2E_SHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=f"{folder}/{name}.png", full_page=True)


def _fits(page) -> None:
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{page.url} overflows the phone screen by {overflow}px"


def test_marketer_logs_a_visit_on_a_phone(site):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True,
                                      has_touch=True)
        page = context.new_page()
        page.goto(f"{site}/visits")
        page.fill("input[name=username]", MARKETER)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{site}/visits")
        _fits(page)
        _shoot(page, "phone-visits")

        page.tap("[data-testid=new-visit]")  # tap 1: log a visit
        page.wait_for_url("**/visits/new")
        _fits(page)
        first = page.locator("a.row-link").first
        name = first.locator("strong").inner_text()
        first.tap()  # tap 2: the customer
        page.wait_for_url("**/visits/new?customer_id=*")
        _fits(page)
        for chip in ("地毯式走访", "有意向", "3 天后", "极兔"):  # taps 3–6: method, outcome,
            page.locator("label.chip", has_text=chip).first.tap()  # next visit, competitor
        page.fill("input[name=competitor_price]", "2.3")
        _shoot(page, "phone-visit-form")
        page.tap("[data-testid=save-visit]")  # tap 7: save
        page.wait_for_url("**/visits?saved=*")
        assert page.locator("[data-testid=saved]").is_visible()
        today = page.locator("[data-testid=today]")
        assert name in today.inner_text()
        assert "地毯式走访" in today.inner_text() and "极兔 ¥2.30" in today.inner_text()
        _fits(page)
        _shoot(page, "phone-visits-saved")

        for path in ("/pool", "/funnel"):
            page.goto(f"{site}{path}")
            page.wait_for_load_state("load")
            _fits(page)
            _shoot(page, f"phone-{path.strip('/')}")
        page.wait_for_selector("#funnel-chart[data-drawn=true] svg path", state="attached")
        context.close()
        browser.close()


def _sign_in(page, site: str, username: str, path: str) -> None:
    page.goto(f"{site}{path}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{site}{path}")


def _fits_width(page) -> None:
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{page.url} overflows the screen by {overflow}px"


@pytest.mark.parametrize("size", ["phone", "desktop"])
@pytest.mark.parametrize("username", ["demo-city", "demo-marketer"])
def test_field_sales_pages_for_a_manager_and_a_marketer(site, username, size):
    """Issue 13 at 390 and 1366 px: the city manager picks a marketer's plan and sees the
    team's visits; the marketer sees their own; the pool is paged (a phone screen a few
    thousand px long, not 11–15k) and never shows negative days; the funnel shows time in
    stage."""
    from playwright.sync_api import sync_playwright

    from tests.e2e.server import DESKTOP

    viewport = PHONE if size == "phone" else DESKTOP
    manager = username == "demo-city"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport=viewport, is_mobile=size == "phone",
                                      has_touch=size == "phone")
        page = context.new_page()
        _sign_in(page, site, username, "/visit-plan")
        page.wait_for_selector("[data-testid=plan-stops]")
        assert page.locator("[data-testid=plan-stops] li.visit-item").count() > 0
        assert page.locator("[data-testid=pick-marketer]").count() == (1 if manager else 0)
        if manager:  # the choice travels in the URL
            options = page.locator("[data-testid=pick-marketer] option")
            second = options.nth(1).get_attribute("value")
            page.select_option("[data-testid=pick-marketer]", second)
            page.wait_for_url(f"**/visit-plan?marketer={second}*")
            assert page.locator("[data-testid=pick-marketer]").input_value() == second
        _fits_width(page)
        _shoot(page, f"{size}-{username}-visit-plan")

        page.goto(f"{site}/visits")
        heading = page.locator("h1").inner_text()
        assert heading == ("团队走访" if manager else "我的走访")
        assert page.locator("[data-testid=visit-rows] li.visit-item").count() > 0
        assert page.locator("[data-testid=filter-marketer]").count() == (1 if manager else 0)
        _fits_width(page)
        _shoot(page, f"{size}-{username}-visits")

        page.goto(f"{site}/pool")
        clock = page.locator("[data-testid=pool-clock]").inner_text()
        assert "天" in clock and not re.search(r"-\d+ ?天", clock)  # never "-10 days left"
        assert page.locator("[data-testid=pool-clock] > li").count() <= 20
        height = page.evaluate("() => document.documentElement.scrollHeight")
        assert height < 8000, f"/pool is {height}px long"
        _fits_width(page)
        _shoot(page, f"{size}-{username}-pool")

        page.goto(f"{site}/funnel")
        page.wait_for_selector("#funnel-chart[data-drawn=true] svg path", state="attached")
        stages = page.locator("[data-testid=time-in-stage] tbody tr")
        assert stages.count() >= 3
        assert page.locator("[data-testid=time-in-stage] tr[data-stage=nurturing] td").nth(
            2).inner_text() not in ("", "—")
        assert "jiqun" not in page.locator("main").inner_text()  # no "use the CLI"
        _fits_width(page)
        _shoot(page, f"{size}-{username}-funnel")
        context.close()
        browser.close()
