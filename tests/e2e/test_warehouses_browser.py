"""/warehouses in a real browser at phone and desktop width: the city manager sees Shangqiu's
source warehouses with their utilisation and the ranked candidates with their reasons, each with
an assign form; assigning the first candidate moves it into the warehouse's merchants. The
marketer sees the page without any form. ``JIQUN_E2E_SHOTS=/tmp/shots/warehousing`` saves
screenshots."""

from __future__ import annotations

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
    from jiqun.demo.scale import SCALES, write_demo_settings

    tmp = tmp_path_factory.mktemp("e2e-warehouses")
    build_tiny_demo(tmp)
    # The server runs in the folder: it reads the model's [warehousing] bars from var/.
    write_demo_settings(tmp / "var/kpi-rules.toml", tmp / "var/planning.toml",
                        SCALES["tiny"].volume_factor)
    with serving(tmp) as url:
        yield url



@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_city_manager_sees_and_assigns(base, browser, viewport):
    width = "phone" if viewport is PHONE else "desktop"
    page = browser_context(browser, viewport).new_page()
    sign_in(page, base, "demo-city", PASSWORD)
    page.goto(f"{base}/warehouses")
    houses = page.locator("[data-testid=warehouses] li.warehouse")
    assert houses.count() == 3  # Shaogang, Yanji, Xiayi: all in Shangqiu
    sg = houses.filter(has_text="稍岗五金源头仓")
    assert "%" in sg.locator("[data-testid=utilisation]").inner_text()
    cards = page.locator("[data-testid=candidates] li.candidate")
    assert cards.count() >= 1
    first = cards.first
    assert first.locator(".rank").inner_text() == "1"
    first.locator("details.why summary").click()  # the reasons fold away on the card
    assert "日均" in first.locator(".reasons").inner_text()
    assert first.locator("form.assign").count() == 1
    assert page.evaluate("() => document.documentElement.scrollHeight") < 6000
    assert overflow(page) <= 0, f"/warehouses overflows by {overflow(page)}px"
    shoot(page, f"{width}-city-warehouses")
    if viewport is DESKTOP:  # assign once: the phone run reads the page as it was
        code = first.get_attribute("data-customer")
        # Into the largest warehouse: the nearest one may have no room left for the candidate
        # (the service refuses that, tests/service/test_warehousing.py).
        choice = first.locator("select[name=warehouse_id]")
        choice.select_option(value=choice.locator("option", has_text="稍岗五金源头仓")
                             .get_attribute("value"))
        first.locator("form.assign button").click()
        page.wait_for_url(f"{base}/warehouses?done={code}")
        assert page.locator("[role=status]").count() == 1
        assert page.locator(f"[data-testid=candidates] li[data-customer='{code}']").count() == 0
        assert page.locator(".served li", has_text=code).count() == 1  # now served
        shoot(page, f"{width}-city-warehouses-assigned")


@pytest.mark.parametrize("viewport", [PHONE], ids=["phone"])
def test_marketer_sees_no_forms(base, browser, viewport):
    page = browser_context(browser, viewport).new_page()
    sign_in(page, base, "demo-marketer", PASSWORD)
    page.goto(f"{base}/warehouses")
    assert page.locator("form[action='/warehouses/assign']").count() == 0
    assert overflow(page) <= 0
    shoot(page, "phone-marketer-warehouses")
