"""Bulk archive in a real browser at phone width (390×844): upload a sweep list, see the
summary, open the review and merge the likely duplicate; the pages fit the screen.
``JIQUN_E2E_SHOTS=/tmp/shots`` saves screenshots."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from jiqun.store import Store
from jiqun.store.models import Customer, DuplicateCandidate, DuplicateStatus
from tests.e2e.server import CHROMIUM, DESKTOP, PHONE, overflow, serving, shoot, sign_in
from tests.web.conftest import PASSWORD, build_world

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium (/usr/bin/chromium) absent"),
]

SWEEP = ("客户名称,联系人,电话,地址,市场编码\n"
         "小熊 童装,周二,13800000055,织里镇9号,M-ZL\n"  # C-ZL-2 is 小熊童装: a likely duplicate
         "新星童鞋,周三,13800000056,织里镇10号,M-ZL\n")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e-sales-ops")
    store = Store(f"sqlite:///{tmp}/store.db")
    store.upgrade()
    build_world(store, tmp / "lake")
    store.engine.dispose()
    sweep = tmp / "扫楼.csv"
    sweep.write_text(SWEEP, encoding="utf-8")
    with serving(tmp) as base:
        yield base, store, sweep


def _fits(page, path: str) -> None:
    extra = overflow(page)
    assert extra <= 0, f"{path} overflows the screen by {extra}px"


def test_upload_and_merge_on_a_phone(site, browser):
    base, store, sweep = site
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True,
                                  has_touch=True)
    page = context.new_page()
    sign_in(page, base, "hz-city", PASSWORD)
    page.goto(f"{base}/archive")
    _fits(page, "/archive")
    page.set_input_files("input[name=file]", str(sweep))
    page.click("[data-testid=archive-form] button[type=submit]")
    page.wait_for_selector("[data-testid=archive-result]")
    assert page.inner_text("[data-testid=inserted]") == "2"
    assert page.inner_text("[data-testid=likely]") == "1"
    _fits(page, "/archive (result)")
    shoot(page, "phone-archive-result")

    page.click("[data-testid=archive-result] a[href='/archive/review']")
    page.wait_for_url(f"{base}/archive/review")
    assert page.locator("[data-testid=pair]").count() == 1
    _fits(page, "/archive/review")
    shoot(page, "phone-archive-review")
    page.click("[data-testid=pair] [data-testid=merge]")
    page.wait_for_selector("[data-testid=done]")
    assert page.locator("[data-testid=pair]").count() == 0

    with store.session() as s:
        pair = s.scalars(select(DuplicateCandidate)).one()
        assert pair.status == DuplicateStatus.MERGED
        assert s.scalars(select(Customer).where(Customer.name == "小熊 童装")).all() == []
    page.goto(f"{base}/campaigns")
    page.fill("input[name=name]", "春季攻坚")
    page.fill("input[name=starts_on]", "2024-05-01")
    page.fill("input[name=ends_on]", "2024-05-31")
    page.select_option("select[name=markets]", "M-ZL")
    page.click("[data-testid=campaign-form] button[type=submit]")
    page.wait_for_selector("[data-testid=effect-table]")
    _fits(page, "/campaigns/{id}")
    shoot(page, "phone-campaign")
    for path in ("/campaigns", "/inbox"):
        page.goto(f"{base}{path}")
        _fits(page, path)
        shoot(page, "phone-" + path.strip("/"))
    context.close()


def test_desktop_screenshots(site, browser):
    base, _store, _sweep = site
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    sign_in(page, base, "hz-city", PASSWORD)
    for path in ("/archive", "/archive/review?status=merged", "/campaigns", "/inbox"):
        response = page.goto(f"{base}{path}")
        assert response.status == 200, path
        shoot(page, "desktop-" + path.strip("/").split("?")[0].replace("/", "-"))
    context.close()
