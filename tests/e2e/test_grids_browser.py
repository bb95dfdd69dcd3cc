"""The grid pages in a real browser, at phone (390 px) and desktop (1366 px) width, as the demo
city manager and the demo marketer: ``/grids`` shows each grid's plan progress, month-to-date
parcels, development rate and active customers (as cards on a phone), every grid links to its
page, and the page shows the grid's KPIs, team, merchants and their map drawn by ECharts. A grid
of another city is 404. ``JIQUN_E2E_SHOTS=/tmp/shots/grids`` saves the screenshots."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from jiqun.store import Store
from jiqun.store.models import Grid, OrgUnit, User
from tests.e2e.server import (
    CHROMIUM,
    DESKTOP,
    PHONE,
    build_tiny_demo,
    overflow,
    serving,
    shoot,
    sign_in,
)

PASSWORD = "jiqun-demo"
USERS = ("demo-city", "demo-marketer")
PHONE_FIGURES = ("k-progress", "k-parcels", "k-development", "k-active")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium (/usr/bin/chromium) absent"),
]


def _grids_of(s, username: str) -> set[int]:
    user = s.scalars(select(User).where(User.username == username)).one()
    unit = s.get(OrgUnit, user.org_unit_id)
    units = select(OrgUnit.id).where(OrgUnit.path.startswith(unit.path))
    return set(s.scalars(select(Grid.id).where(Grid.org_unit_id.in_(units))))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The served demo province, each user's grid ids, and a grid outside the city."""
    tmp = tmp_path_factory.mktemp("e2e-grids")
    build_tiny_demo(tmp)
    store = Store(f"sqlite:///{tmp}/store.db")
    with store.session() as s:
        own = {u: _grids_of(s, u) for u in USERS}
        foreign = min(set(s.scalars(select(Grid.id))) - own["demo-city"])
    store.engine.dispose()
    with serving(tmp) as base:
        yield base, own, foreign


def _map_drawn(page) -> None:
    page.wait_for_selector("#grid-map[data-drawn=true] svg path", state="attached",
                           timeout=15_000)
    points = page.locator("#grid-map svg path").count()
    assert points > 20, f"the merchant map has {points} shapes"


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
@pytest.mark.parametrize("username", USERS)
def test_grid_list_and_page(site, browser, username, viewport):
    base, own, foreign = site
    width = "phone" if viewport is PHONE else "desktop"
    context = browser.new_context(viewport=viewport, is_mobile=viewport is PHONE)
    page = context.new_page()
    sign_in(page, base, username, PASSWORD)

    page.goto(f"{base}/grids")
    rows = page.locator("[data-testid=grid-kpis-table] tbody tr")
    listed = {int(v) for v in rows.evaluate_all("rs => rs.map(r => r.dataset.gridId)")}
    assert listed and listed <= own[username], "the list shows a grid outside the user's area"
    links = page.locator("[data-testid=grid-link]")
    assert links.count() == rows.count()
    first = rows.first
    for figure in PHONE_FIGURES:  # the manager's four figures, at every width
        cell = first.locator(f"td.{figure}")
        assert cell.is_visible() and cell.inner_text().strip(), figure
    hidden = first.locator("td.wide-only").first
    assert hidden.is_visible() == (viewport is DESKTOP)
    assert overflow(page) <= 0, f"/grids overflows by {overflow(page)}px"
    shoot(page, f"grids-{username}-{width}")

    href = links.first.get_attribute("href")
    links.first.click()
    page.wait_for_url(f"{base}{href}")
    assert page.locator("[data-testid=grid-kpis] .kpi").count() >= 4
    assert page.locator("[data-testid=grid-merchants] tbody tr").count() > 0
    assert page.locator("[data-testid=grid-team] a").count() == 1
    _map_drawn(page)
    assert overflow(page) <= 0, f"{href} overflows by {overflow(page)}px"
    api = page.evaluate("async url => (await fetch(url)).json()", f"{base}/api{href}")
    assert page.locator("[data-testid=kpi-parcels]").inner_text().replace(",", "") == \
        str(api["kpis"]["parcels"])
    shoot(page, f"grid-{username}-{width}")

    response = page.goto(f"{base}/grids/{foreign}")
    assert response.status == 404
    context.close()
