"""Paged tables in a real browser (Debian's Chromium through Playwright against `jiqun serve` on
the tiny demo): at phone width (390×844) /tiers is a short page, no table page scrolls sideways,
the page links move through the rows, and a download link gives the table as a CSV file.
``JIQUN_E2E_SHOTS=/tmp/shots/tables`` also saves screenshots at phone and desktop width.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from tests.e2e.server import CHROMIUM, DESKTOP, PHONE, overflow, serving_demo, shoot, sign_in

USER, PASSWORD = "demo-city", "jiqun-demo"
# /tiers listed 200 customers and 200 proposed changes: 36,399 px at 390 px on the tiny demo.
# Paged by 10 it is 2,847 px; the bound leaves room for longer names, not for long tables.
SHORT_PAGE_PX = 4000
PAGES = ["/", "/tiers", "/level", "/share", "/markets", "/customers"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium (/usr/bin/chromium) absent"),
]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    with serving_demo(tmp_path_factory.mktemp("tables")) as url:
        yield url


def _height(page) -> int:
    return page.evaluate("() => document.documentElement.scrollHeight")


def _signed_in(browser, base: str, viewport: dict, **options):
    context = browser.new_context(viewport=viewport, **options)
    page = context.new_page()
    sign_in(page, base, USER, PASSWORD)
    return context, page


def test_tiers_is_short_on_a_phone_and_pages_through_its_rows(base, browser):
    context, page = _signed_in(browser, base, PHONE, is_mobile=True)
    page.goto(f"{base}/tiers")
    assert _height(page) < SHORT_PAGE_PX
    assert overflow(page) <= 0
    table = page.locator("#tier-table")
    first = table.locator("tbody tr").first.inner_text()
    table.locator("a[rel=next]").click()
    page.wait_for_url("**page=2**")
    assert page.locator("#tier-table .pager-current").inner_text() == "2"
    assert page.locator("#tier-table tbody tr").first.inner_text() != first
    context.close()


def test_a_download_link_gives_every_row_as_csv(base, browser):
    context, page = _signed_in(browser, base, DESKTOP, accept_downloads=True)
    page.goto(f"{base}/customers")
    total = page.locator(".pager-count").inner_text()
    with page.expect_download() as info:
        page.locator("#customer-table .downloads a", has_text="CSV").click()
    download = info.value
    assert download.suggested_filename == "customers.csv"
    text = Path(download.path()).read_bytes().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:2] == ["编码", "客户"]
    assert f"{len(rows) - 1:,}" in total  # "第 1–20 行，共 3,960 行": every customer
    context.close()


@pytest.mark.parametrize("width", ["phone", "desktop"])
def test_table_pages_fit_the_width(base, browser, width):
    viewport = PHONE if width == "phone" else DESKTOP
    context, page = _signed_in(browser, base, viewport, is_mobile=width == "phone")
    for path in PAGES:
        page.goto(f"{base}{path}")
        page.wait_for_load_state("networkidle")
        assert overflow(page) <= 0, f"{path} scrolls sideways at {width} width"
        shoot(page, f"{width}{path.replace('/', '-') or '-dashboard'}")
    page.goto(f"{base}/markets")
    first_market = page.locator("#market-table tbody a").first.get_attribute("href")
    page.goto(f"{base}/customers")
    first_customer = page.locator("#customer-table tbody a").first.get_attribute("href")
    for path in (first_market, first_customer):
        page.goto(f"{base}{path}")
        page.wait_for_load_state("networkidle")
        assert overflow(page) <= 0, f"{path} scrolls sideways at {width} width"
        shoot(page, f"{width}-{path.split('/')[1]}-one")
    context.close()
