"""The consolidation-centre what-if in a real browser: the city user adds a site of their own,
lets an existing centre close and solves; HTMX swaps the answer in with the map's coverage
rings, the bound and the gap, at phone and desktop width. ``JIQUN_E2E_SHOTS=/tmp/shots`` saves
screenshots."""

from __future__ import annotations

import pytest

from tests.e2e.server import CHROMIUM, DESKTOP, PHONE, overflow, serving_demo, shoot, sign_in

CITY_USER, PASSWORD = "demo-city", "jiqun-demo"
SITE = ("试点集包站", "115.75", "34.35")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium (/usr/bin/chromium) absent"),
]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    with serving_demo(tmp_path_factory.mktemp("e2e-planning")) as url:
        yield url


def _rings_drawn(page) -> int:
    """Dashed coverage rings ECharts drew on the hub map (SVG paths with a dash array)."""
    page.wait_for_selector("#hub-map[data-drawn=true] svg path", state="attached",
                           timeout=15_000)
    return page.eval_on_selector_all(
        "#hub-map svg path", "ps => ps.filter(p => p.getAttribute('stroke-dasharray')).length")


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_hubs_what_if_with_an_added_site(base, browser, viewport):
    phone = viewport is PHONE
    context = browser.new_context(viewport=viewport, device_scale_factor=2 if phone else 1,
                                  is_mobile=phone, has_touch=phone)
    page = context.new_page()
    sign_in(page, base, CITY_USER, PASSWORD)
    page.goto(f"{base}/hubs")
    assert page.locator("[data-testid=hub-summary]").count() == 1
    assert _rings_drawn(page) >= 1
    before = page.locator("[data-testid=centres] tbody tr").count()

    page.select_option("select[name=model]", "pmedian")
    page.fill("input[name=p]", str(before + 1))
    page.fill("input[name=site_name]", SITE[0])
    page.fill("input[name=site_lon]", SITE[1])
    page.fill("input[name=site_lat]", SITE[2])
    page.locator("[data-testid=existing-centres] input[type=checkbox]").first.check()
    with page.expect_response(lambda r: "/hubs?" in r.url and r.request.headers.get(
            "hx-request") == "true"):
        page.click("#hubs-form button[type=submit]")
    kept = page.locator(f"[data-testid=added-sites] input[name=site][value^='{SITE[0]},']")
    kept.wait_for(timeout=15_000)
    assert kept.is_checked()
    assert "model=pmedian" in page.url and "site_name=" in page.url  # the what-if is linkable
    summary = page.locator("[data-testid=hub-summary]").inner_text()
    assert "下界" in summary and "间隙" in summary
    assert page.locator("[data-testid=centres] tbody tr").count() == before + 1
    assert _rings_drawn(page) == before + 1
    assert page.locator("[data-testid=existing-centres] input:checked").count() == 1
    overflow_px = overflow(page)
    assert overflow_px <= 0, f"/hubs overflows by {overflow_px}px"
    shoot(page, f"{'phone' if phone else 'desktop'}-hubs-whatif")
    context.close()
