"""The service queue in a real browser, as a customer-service agent on a phone (390×844) and at a
desk (1366×900): the queue with one's own cases first, a case with its parcels, a contact
logged from a template, the clock paused; the pages fit the screen.
``JIQUN_E2E_SHOTS=/tmp/shots/service`` saves screenshots."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from jiqun.service import cases
from jiqun.service.rules import ServiceRules
from jiqun.store import Store
from jiqun.store.models import CaseStatus, ExceptionKind, ServiceCase
from tests.e2e.server import CHROMIUM, DESKTOP, PHONE, overflow, serving, shoot, sign_in
from tests.service.cases_world import PASSWORD, build_world

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium (/usr/bin/chromium) absent"),
]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e-service")
    store = Store(f"sqlite:///{tmp}/store.db")
    store.upgrade()
    world = build_world(store)
    now = dt.datetime.now().replace(microsecond=0)
    world.exception("Z1", ExceptionKind.LATE, reason="held_at_hub", detected_at=now)
    world.exception("Z1", ExceptionKind.STALLED, detected_at=now)
    world.exception("Z2", ExceptionKind.LOST, bag="F1>330500@2026-11-30T14", detected_at=now)
    world.exception("Z3", ExceptionKind.LOST, bag="F1>330500@2026-11-30T14", detected_at=now)
    world.exception("Z3", ExceptionKind.FAILED_DELIVERY, reason="unreachable",
                    detected_at=now - dt.timedelta(days=3))
    with store.transaction() as s:
        cases.open_cases(s, now - dt.timedelta(days=3), ServiceRules())
        cases.open_cases(s, now, ServiceRules())
    store.engine.dispose()
    with serving(tmp) as base:
        yield base, store, world


def _fits(page, path: str) -> None:
    extra = overflow(page)
    assert extra <= 0, f"{path} overflows the screen by {extra}px"


def test_an_agent_works_a_case_on_a_phone(site, browser):
    base, store, world = site
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True,
                                  has_touch=True)
    page = context.new_page()
    sign_in(page, base, "hz-cs1", PASSWORD)
    page.goto(f"{base}/service")
    _fits(page, "/service")
    items = page.locator("[data-testid=case-list] > li")
    assert items.count() == 3  # Huzhou's three cases (one per merchant, one for the bag)
    assert "mine" in items.first.get_attribute("class").split()  # own cases first
    shoot(page, "phone-service-queue")

    with store.session() as s:
        case = s.scalar(select(ServiceCase).where(
            ServiceCase.customer_id == world.customers["Z1"]))
    page.click(f"[data-testid=case-{case.code}] a")
    page.wait_for_url(f"{base}/service/cases/{case.id}")
    _fits(page, "/service/cases/{id}")
    assert page.locator("[data-testid=case-parcels] a[href^='/parcels/']").count() == 2
    message = page.locator("#contact-message")
    assert "商户Z1您好" in message.input_value()
    page.select_option("select[name=template]", "progress")  # service.js swaps the message
    assert "正在处理中" in message.input_value()
    shoot(page, "phone-service-case")
    page.select_option("select[name=channel]", "wechat")
    page.click("[data-testid=contact-form] button[type=submit]")
    page.wait_for_selector("[data-testid=done]")
    assert "微信" in page.inner_text("[data-testid=case-log]")
    page.fill("[data-testid=wait-form] input[name=note]", "等商家确认收件地址")
    page.click("[data-testid=wait-form] button[type=submit]")
    page.wait_for_selector("[data-testid=resume-form]")
    _fits(page, "/service/cases/{id} (waiting)")
    shoot(page, "phone-service-case-waiting")
    with store.session() as s:
        worked = s.get(ServiceCase, case.id)
        assert worked.status == CaseStatus.WAITING and worked.first_response_at is not None

    page.goto(f"{base}/service/exceptions")
    _fits(page, "/service/exceptions")
    shoot(page, "phone-service-exceptions")
    context.close()


def test_desktop_screenshots(site, browser):
    base, _, _ = site
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    sign_in(page, base, "zj-manager", PASSWORD)
    shoot(page, "desktop-dashboard")
    assert page.locator("[data-testid=service-tiles] tr[data-testid^=service-city-]").count() == 1
    for path, name in (("/service", "desktop-service-queue"),
                       ("/service?breach=yes", "desktop-service-breached"),
                       ("/service/exceptions", "desktop-service-exceptions")):
        page.goto(f"{base}{path}")
        _fits(page, path)
        shoot(page, name)
    page.goto(f"{base}/service")
    page.click("[data-testid=case-list] > li:first-child a")
    page.wait_for_selector("[data-testid=case-facts]")
    _fits(page, "/service/cases/{id}")
    shoot(page, "desktop-service-case")
    context.close()
