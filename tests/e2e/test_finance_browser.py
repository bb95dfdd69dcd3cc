"""/finance, /finance/cost and /finance/parameters in a real browser at phone and desktop
width: the provincial manager sees the month's ledger with Xuchang's loss covered by Henan on
both sides, opens a row of cost per parcel to read its drivers, and sets a rate from a later
month on the parameters page. ``JIQUN_E2E_SHOTS=/tmp/shots/finance`` saves screenshots."""

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
    tmp = tmp_path_factory.mktemp("e2e-finance")
    build_tiny_demo(tmp)
    with serving(tmp) as url:
        yield url



def _fits(page, what: str) -> None:
    assert overflow(page) <= 0, f"{what} overflows by {overflow(page)}px"


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_province_reads_the_ledger_and_the_cost_and_sets_a_rate(base, browser, viewport):
    width = "phone" if viewport is PHONE else "desktop"
    page = browser_context(browser, viewport).new_page()
    sign_in(page, base, "demo-province", PASSWORD)
    page.goto(f"{base}/finance")
    ledger = page.locator("[data-testid=ledger]")
    assert ledger.locator("tr[data-code=HA-XC]").count() == 1
    cover = ledger.locator("tr[data-code=HA-XC] [data-testid=cover]").inner_text()
    assert cover.strip() not in ("", "—")
    transfers = page.locator("[data-testid=transfers] tbody tr")
    assert transfers.count() == 1 and "HA-XC" in transfers.inner_text()
    _fits(page, "/finance")
    shoot(page, f"{width}-finance")

    page.goto(f"{base}/finance/cost?by=market")
    rows = page.locator("[data-testid=cost-row]")
    assert rows.count() >= 3
    rows.first.locator("summary").click()
    assert rows.first.locator("tbody tr").count() >= 9  # every pool's drivers
    _fits(page, "/finance/cost")
    shoot(page, f"{width}-finance-cost")

    page.goto(f"{base}/finance/parameters")
    assert page.locator("[data-testid=parameters] tbody tr.in-force").count() == 15  # HA 11, SQ 1, XC 3
    _fits(page, "/finance/parameters")
    if viewport is DESKTOP:
        form = page.locator("[data-testid=cost-form]")
        form.locator("select[name=org_code]").select_option("HA-XC")
        form.locator("select[name=pool]").select_option("processing")
        form.locator("select[name=driver]").select_option("pieces")
        form.locator("input[name=rate]").fill("0.45")
        form.locator("input[name=valid_from]").fill("2027-01")
        form.locator("button[type=submit]").click()
        page.wait_for_url("**/finance/parameters?done=1")
        assert page.locator("[data-testid=parameters]", has_text="2027-01").count() == 1
    shoot(page, f"{width}-finance-parameters")
