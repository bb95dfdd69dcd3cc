"""Problems (R2) in a real browser on the tiny demo, at phone (390 px) and desktop (1366 px)
widths: the provincial manager sees problems by level and age, escalates and solves one and
merges two; the city raises one on the phone; HQ sees the common problem of three provinces.
``JIQUN_E2E_SHOTS=/tmp/shots/problems`` also saves screenshots."""

from __future__ import annotations

import re

import pytest

from jiqun.demo.places import DEMO_PASSWORD
from tests.e2e.server import CHROMIUM, DESKTOP, PHONE, overflow, serving_demo, shoot, sign_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium (/usr/bin/chromium) absent"),
]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with serving_demo(tmp_path_factory.mktemp("e2e-problems")) as base:
        yield base


def _levels(page) -> list[str]:
    return [re.sub(r"^level level-", "", c) for c in page.locator(
        "[data-testid=problem-table] tbody tr td:nth-child(3) .level").evaluate_all(
        "els => els.map(e => e.className)")]


def test_the_province_sees_problems_by_level_escalates_and_solves_one(site, browser):
    for viewport, name in ((DESKTOP, "desktop"), (PHONE, "phone")):
        page = browser.new_page(viewport=viewport)
        sign_in(page, site, "demo-province", DEMO_PASSWORD)
        page.goto(f"{site}/problems")
        levels = _levels(page)
        order = ["hq", "province", "city"]
        assert set(levels) == set(order)  # the province sees every level …
        assert [order.index(x) for x in levels] == sorted(order.index(x) for x in levels)
        assert overflow(page) <= 0, f"/problems scrolls sideways at {viewport['width']} px"
        assert page.locator("[data-testid=overdue]").count() >= 1
        shoot(page, f"problems-province-{name}")
        page.close()
    page = browser.new_page(viewport=DESKTOP)
    sign_in(page, site, "demo-province", DEMO_PASSWORD)
    page.goto(f"{site}/problems")
    page.click("text=夏邑快递价格战")
    page.fill("input[name=note]", "请省公司协调价格政策")
    page.click("[data-testid=escalate]")
    page.wait_for_selector("[data-testid=problem-level] .level-province")
    page.fill("[data-testid=solution-text]", "省分公司批准淘宝村小件协议价下调0.2元")
    page.click("[data-testid=solve]")
    page.wait_for_selector("[data-testid=solved-by]")
    assert "已解决" in page.inner_text("[data-testid=problem-status]")
    history = page.inner_text("[data-testid=history]")
    assert "请省公司协调价格政策" in history and "省分公司批准" in history
    shoot(page, "problem-solved-desktop")
    page.close()


def test_the_city_raises_a_problem_on_the_phone(site, browser):
    page = browser.new_page(viewport=PHONE)
    sign_in(page, site, "demo-city", DEMO_PASSWORD)
    page.goto(f"{site}/problems")
    assert overflow(page) <= 0
    shoot(page, "problems-city-phone")
    page.click("[data-testid=raise-problem]")
    page.fill("[data-testid=title]", "闫集童装旺季集包笼不足")
    page.fill("textarea[name=description]", "双12预售期间每日缺笼约200个")
    assert overflow(page) <= 0
    shoot(page, "problem-form-phone")
    page.click("[data-testid=raise]")
    page.wait_for_url(re.compile(r".*/problems/\d+$"))
    assert "闫集童装旺季集包笼不足" in page.inner_text("h1")
    assert page.locator("[data-testid=problem-level] .level-city").count() == 1
    assert overflow(page) <= 0
    shoot(page, "problem-city-phone")
    page.close()


def test_hq_sees_the_common_problem_of_three_provinces(site, browser):
    page = browser.new_page(viewport=DESKTOP)
    sign_in(page, site, "demo-hq", DEMO_PASSWORD)
    page.goto(f"{site}/problems?common=true")
    assert "× 3" in page.inner_text("[data-testid=problem-table]")
    page.click("text=直播电商退货集中, 逆向物流成本高")
    members = page.inner_text("[data-testid=members]")
    for city in ("商丘市分公司", "湖州市分公司", "广州市分公司"):
        assert city in members
    shoot(page, "problem-common-desktop")
    page.close()


def test_the_province_merges_two_problems_from_the_list_on_the_phone(site, browser):
    page = browser.new_page(viewport=PHONE)
    sign_in(page, site, "demo-province", DEMO_PASSWORD)
    page.goto(f"{site}/problems?level=city")
    boxes = page.locator("[data-testid=problem-table] input[name=problem_ids]")
    assert boxes.count() >= 2
    boxes.nth(0).check()
    boxes.nth(1).check()
    page.fill("[data-testid=merge-title]", "商丘两县揽收共性问题")
    page.click("[data-testid=merge]")
    page.wait_for_url(re.compile(r".*/problems/\d+$"))
    assert "共性问题" in page.inner_text("h1")
    assert page.locator("[data-testid=members] tbody tr").count() == 2
    assert overflow(page) <= 0
    shoot(page, "problem-merged-phone")
    page.close()
