"""End to end in a real browser: Debian's Chromium driven by Playwright against `jiqun serve`.

Signs in as the demo city user, sees the dashboard chart drawn, opens a market of its own city,
and checks that another city's market and customer are 404 by page and by JSON; then checks at
phone width (390×844) that no page overflows sideways. ``JIQUN_E2E_SHOTS=/tmp/shots`` also saves
screenshots of every page at phone and desktop width.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from jiqun.store import Store
from jiqun.store.models import Customer, Market, OrgUnit, User
from tests.e2e.server import CHROMIUM, DESKTOP, PHONE, overflow, serving, shoot, sign_in

CITY_USER, PASSWORD = "demo-city", "jiqun-demo"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium (/usr/bin/chromium) absent"),
]


def _build_data(store: Store, lake: Path) -> None:
    from jiqun.demo import build_demo

    build_demo(store, lake, scale="tiny", seed=7, progress=False)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A served demo province: (base URL, own market, foreign market id, foreign customer id)."""
    tmp = tmp_path_factory.mktemp("e2e")
    store = Store(f"sqlite:///{tmp}/store.db")
    store.upgrade()
    _build_data(store, tmp / "lake")
    with store.session() as s:
        user = s.scalars(select(User).where(User.username == CITY_USER)).one()
        city = s.get(OrgUnit, user.org_unit_id)
        own_units = select(OrgUnit.id).where(OrgUnit.path.startswith(city.path))
        own_market = s.scalars(select(Market).where(Market.org_unit_id.in_(own_units))
                               .order_by(Market.id)).first()
        foreign_market = s.scalars(select(Market.id).where(Market.org_unit_id.not_in(own_units))
                                   .order_by(Market.id)).first()
        foreign_customer = s.scalars(select(Customer.id)
                                     .where(Customer.org_unit_id.not_in(own_units))
                                     .order_by(Customer.id)).first()
        own = (own_market.id, own_market.name)
    store.engine.dispose()
    assert foreign_market and foreign_customer, "the demo needs a second city"
    with serving(tmp) as base:
        yield base, own, foreign_market, foreign_customer


def _sign_in(page, base: str) -> None:
    page.goto(f"{base}/")
    assert "/login" in page.url  # a signed-out visitor is sent to the login form
    sign_in(page, base, CITY_USER, PASSWORD)


def _chart_drawn(page, selector: str) -> None:
    """ECharts drew an SVG with a long line path inside the chart element."""
    page.wait_for_selector(f"{selector}[data-drawn=true] svg path", state="attached",
                           timeout=15_000)
    longest = page.eval_on_selector_all(
        f"{selector} svg path", "paths => Math.max(...paths.map(p => (p.getAttribute('d') || '').length))"
    )
    assert longest > 200, f"chart {selector} looks empty (longest path {longest} chars)"


def test_city_user_sees_own_city_and_nothing_else(site, browser):
    base, (own_id, own_name), foreign_market, foreign_customer = site
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    _sign_in(page, base)
    _chart_drawn(page, "#trend-chart")
    shoot(page, "desktop-dashboard")

    page.click(f"a[href='/markets/{own_id}']")
    page.wait_for_url(f"{base}/markets/{own_id}")
    assert page.locator("h1").inner_text().startswith(own_name)
    _chart_drawn(page, "#market-trend-chart")
    shoot(page, "desktop-market")

    for path in (f"/markets/{foreign_market}", f"/customers/{foreign_customer}"):
        response = page.goto(f"{base}{path}")
        assert response.status == 404, path
        status = page.evaluate("async url => (await fetch(url)).status", f"{base}/api{path}")
        assert status == 404, f"/api{path}"
    own = page.evaluate("async url => (await fetch(url)).json()", f"{base}/api/markets/{own_id}")
    assert own["market"]["id"] == own_id
    context.close()


def test_pages_fit_a_phone_screen(site, browser):
    base, (own_id, _name), _m, _c = site
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True,
                                  has_touch=True)
    page = context.new_page()
    _sign_in(page, base)
    _chart_drawn(page, "#trend-chart")
    first_customer = page.evaluate(
        "async url => (await (await fetch(url)).json()).items[0].id", f"{base}/api/customers"
    )
    pages = {"dashboard": "/", "markets": "/markets", "market": f"/markets/{own_id}",
             "customers": "/customers", "customer": f"/customers/{first_customer}"}
    for name, path in pages.items():
        page.goto(f"{base}{path}")
        page.wait_for_load_state("load")
        extra = overflow(page)
        assert extra <= 0, f"{path} overflows the phone screen by {extra}px"
        shoot(page, f"phone-{name}")
    context.close()
