"""/prices in a real browser at phone and desktop width: the city manager sees Shangqiu's rate
cards with their versions in force and the contract below the floor waiting for approval; a
card page shows the draft, the version in force and the superseded one; the quote form answers
a price with its rule; the bundles page shows each segment's merchants and parcels. On the
desktop the city puts the draft in force — below Shaogang's cost per parcel, it waits for the
province, which approves it — and approves the county's contract below the floor. ``JIQUN_E2E_SHOTS=
/tmp/shots/prices`` saves screenshots."""

from __future__ import annotations

import re

import pytest

from tests.e2e.server import (
    CHROMIUM,
    DESKTOP,
    PHONE,
    browser_context,
    build_tiny_demo,
    overflow,
    serving,
    shoot,
    sign_in,
)

PASSWORD = "jiqun-demo"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium (/usr/bin/chromium) absent"),
]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e-prices")
    build_tiny_demo(tmp)
    with serving(tmp) as url:
        yield url



def _fits(page, what: str) -> None:
    assert overflow(page) <= 0, f"{what} overflows by {overflow(page)}px"


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_city_manager_reads_and_approves_prices(base, browser, viewport):
    width = "phone" if viewport is PHONE else "desktop"
    page = browser_context(browser, viewport).new_page()
    sign_in(page, base, "demo-city", PASSWORD)
    page.goto(f"{base}/prices")
    rows = page.locator("[data-testid=cards] tbody tr")
    assert rows.count() >= 9  # three products for each of Shangqiu's markets
    assert page.locator("[data-testid=cards]", has_text="HA-SG-parcel").count() == 1
    approvals = page.locator("[data-testid=approvals] li")
    _fits(page, "/prices")
    shoot(page, f"{width}-prices")

    page.goto(f"{base}/prices/quote?market=HA-SG&to=440100&weight=1.01&product=parcel")
    price = page.locator("[data-testid=price]").inner_text()
    assert re.search(r"\d+\.\d\d", price)
    assert "v2" in page.locator("[data-testid=quote]").inner_text()
    _fits(page, "/prices/quote")
    shoot(page, f"{width}-prices-quote")

    page.goto(f"{base}/prices/bundles")
    bundles = page.locator("[data-testid=bundles] li.bundle")
    assert bundles.count() == 3  # 淘系, 拼系, 直播 of Henan
    _fits(page, "/prices/bundles")
    shoot(page, f"{width}-prices-bundles")

    page.goto(f"{base}/prices")
    page.locator("[data-testid=cards] a", has_text="快包").filter(has_text="稍岗").first.click()
    statuses = page.locator("[data-testid=status]")
    assert statuses.count() == 3
    _fits(page, "card page")
    shoot(page, f"{width}-prices-card")
    if viewport is DESKTOP:  # the phone run reads the pages as they were
        # The draft's cheapest parcel is below Shaogang's cost per parcel: it waits for the
        # province (the city proposed it), and the county's contract waits for the city.
        page.get_by_role("button", name=re.compile("生效")).click()
        page.wait_for_load_state()
        assert "待审批" in page.locator("[data-version='3'] [data-testid=status]").inner_text()
        page.goto(f"{base}/prices")
        assert approvals.count() == 2
        assert approvals.get_by_role("button").count() == 1  # the contract's, not its own card
        approvals.get_by_role("button").click()
        page.wait_for_url(re.compile(r"/prices\?done="))
        assert approvals.count() == 1
        shoot(page, f"{width}-prices-approved")
        province = browser_context(browser, viewport).new_page()
        sign_in(province, base, "demo-province", PASSWORD)
        province.goto(f"{base}/prices")
        province.locator("[data-testid=approvals]").get_by_role("button").click()
        province.wait_for_load_state()
        assert "生效中" in province.locator("[data-version='3'] [data-testid=status]").inner_text()
        assert "已替代" in province.locator("[data-version='2'] [data-testid=status]").inner_text()
        shoot(province, f"{width}-prices-card-approved")


def test_marketer_quotes_but_may_not_approve(base, browser):
    page = browser_context(browser, PHONE).new_page()
    sign_in(page, base, "demo-marketer", PASSWORD)
    page.goto(f"{base}/prices")
    assert page.locator("[data-testid=approvals] button").count() == 0
    page.goto(f"{base}/prices/quote?market=HA-YJ&to=410100&weight=0.5")
    assert page.locator("[data-testid=price]").count() == 1
    _fits(page, "/prices/quote (marketer)")
    shoot(page, "phone-marketer-quote")
