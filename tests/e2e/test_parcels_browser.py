"""Parcel tracking in a real browser at phone and desktop width, as the province: the Service
menu leads to the search, a waybill number typed in goes to its timeline (state, cause, the
scans as a vertical list, the exceptions found), and a customer's page leads to its parcels in
flight. No page scrolls sideways. ``JIQUN_E2E_SHOTS=/tmp/shots/tracking`` saves screenshots."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from jiqun.store import Scope, Store
from jiqun.store.models import User
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
USER = "demo-province"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium (/usr/bin/chromium) absent"),
]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The tiny demo served, a parcel with a failed delivery attempt and a busy customer with
    parcels in flight (found by the service the pages call)."""
    from jiqun.demo import build_demo
    from jiqun.lake import connect, events
    from jiqun.service.tracking import in_flight, timeline

    tmp = tmp_path_factory.mktemp("e2e-parcels")
    store = Store(f"sqlite:///{tmp}/store.db")
    store.upgrade()
    build_demo(store, tmp / "lake", scale="tiny", seed=7, progress=False)
    with store.session() as s:  # the province's subtree (the demo holds other provinces too)
        unit = s.scalars(select(User.org_unit_id).where(User.username == USER)).one()
        scope = Scope.for_unit(s, unit)
    store.engine.dispose()
    con, lake = connect(engine="duckdb"), tmp / "lake"
    scans = events(con, lake, scope)
    failed = scans.filter(scans.event_code == "failed_attempt").order_by("waybill_no")
    number = con.to_pyarrow(failed.select("waybill_no").limit(1)).to_pylist()[0]["waybill_no"]
    parcel = timeline(con, lake, scope, number)
    customer = next(c for c in _busy_customers(con, lake, scope)
                    if in_flight(con, lake, scope, c, limit=1).total)
    with serving(tmp) as url:
        yield {"base": url, "parcel": parcel, "customer": customer}


def _busy_customers(con, lake, scope) -> list[int]:
    from jiqun.lake import waybills

    wb = waybills(con, lake, scope)
    busy = wb.group_by("customer_id").aggregate(n=wb.count()).order_by([wb.count().desc()])
    return [r["customer_id"] for r in con.to_pyarrow(busy.limit(20)).to_pylist()]



@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_search_timeline_and_parcels_in_flight(demo, browser, viewport):
    width = "phone" if viewport is PHONE else "desktop"
    base, parcel = demo["base"], demo["parcel"]
    number = parcel.waybill.waybill_no
    page = browser_context(browser, viewport).new_page()
    sign_in(page, base, USER, PASSWORD)

    page.locator("summary", has_text="服务").click()
    page.locator("a[href='/parcels']").click()
    page.wait_for_url(f"{base}/parcels")
    assert overflow(page) <= 0, f"/parcels overflows by {overflow(page)}px"
    shoot(page, f"{width}-search")

    page.fill("[data-testid=parcel-search]", number)
    page.locator("form.search-box button").click()
    page.wait_for_url(f"{base}/parcels/{number}")
    assert page.locator("[data-testid=waybill-no]").inner_text() == number
    items = page.locator("[data-testid=timeline] li")
    assert items.count() == len(parcel.state.scans)
    assert "投递失败" in page.locator("[data-testid=timeline]").inner_text()
    assert overflow(page) <= 0, f"/parcels/{number} overflows by {overflow(page)}px"
    shoot(page, f"{width}-parcel")

    page.goto(f"{base}/parcels?q=NO-SUCH-PARCEL")
    assert "在您的管辖范围内没有这个运单" in page.locator("[data-testid=parcel-problem]").inner_text()

    page.goto(f"{base}/customers/{demo['customer']}")
    page.locator("[data-testid=parcels-in-flight]").click()
    page.wait_for_url(f"{base}/customers/{demo['customer']}/parcels")
    rows = page.locator("[data-testid=in-flight] tbody tr")
    assert rows.count() >= 1 and rows.first.locator("a[href^='/parcels/']").count() == 1
    assert overflow(page) <= 0, f"parcels in flight overflow by {overflow(page)}px"
    shoot(page, f"{width}-in-flight")
    rows.first.locator("a[href^='/parcels/']").click()
    page.wait_for_url(f"{base}/parcels/**")
    assert page.locator("[data-testid=parcel-state]").is_visible()
