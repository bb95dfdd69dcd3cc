"""In a real browser at phone size: the demo marketer logs a visit in a few taps and sees it.

Uses Debian's Chromium through Playwright (see tests/e2e/test_browser.py). ``JIQUN_E2E_SHOTS``
saves screenshots of the field sales pages.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jiqun.store import Store
from tests.e2e.server import CHROMIUM, CHROMIUM_ARGS, PHONE, serving

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium (/usr/bin/chromium) absent"),
]
MARKETER, PASSWORD = "demo-marketer", "jiqun-demo"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from jiqun.demo import build_demo

    tmp = tmp_path_factory.mktemp("sales-e2e")
    store = Store(f"sqlite:///{tmp}/store.db")
    store.upgrade()
    build_demo(store, tmp / "lake", scale="tiny", seed=7, progress=False)
    store.engine.dispose()
    with serving(tmp) as base:
        yield base


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
