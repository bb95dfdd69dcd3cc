"""In a real browser at phone width (390 px): the city user registers a market on the form and
finds it in the market list. ``JIQUN_E2E_SHOTS=/tmp/shots`` also saves screenshots."""

from __future__ import annotations

import pytest

from jiqun.store import Store
from tests.e2e.server import CHROMIUM, PHONE, serving, shoot
from tests.web.conftest import PASSWORD, build_world

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium (/usr/bin/chromium) absent"),
]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e-registry")
    store = Store(f"sqlite:///{tmp}/store.db")
    store.upgrade()
    build_world(store, tmp / "lake")
    store.engine.dispose()
    with serving(tmp) as base:
        yield base


def test_phone_user_registers_a_market_and_sees_it_in_the_list(site, browser):
    page = browser.new_page(viewport=PHONE)
    page.goto(f"{site}/markets/new")
    page.fill("input[name=username]", "hz-city")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{site}/markets/new")
    wide = page.evaluate("document.documentElement.scrollWidth")
    assert wide <= PHONE["width"], f"the form is {wide}px wide at phone width"
    page.fill("input[name=name]", "南浔家具城")
    page.fill("input[name=code]", "M-NX")
    page.select_option("select[name=type]", "wholesale_market")
    page.fill("input[name=industry]", "家具")
    page.select_option("select[name=org_unit_id]", label="湖州市分公司 (市)")
    page.check("input[name=key_area]")
    page.fill("input[name=yearly_revenue_target]", "5,000,000")
    shoot(page, "market-form-phone")
    page.click("[data-testid=save-market]")
    page.wait_for_url(f"{site}/markets/*")
    assert "南浔家具城" in page.inner_text("h1")
    page.goto(f"{site}/markets")
    assert page.locator("text=南浔家具城").count() == 1
    shoot(page, "market-list-phone")
    page.close()
