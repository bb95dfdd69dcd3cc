"""Paged tables and their downloads on the KPI, market and customer pages (web/tables.py): each
page shows one page of rows with page links, and its CSV/XLSX has every row of the page's scope
and filters, the same rows in the same order as the page's JSON twin."""

from __future__ import annotations

import csv
import io
import re

import openpyxl
import pytest

from jiqun.sales.customer_search import CustomerSearch, count_customers, find_customers
from jiqun.sales.ownership import Person
from jiqun.sales.tier_issues import issues_of
from jiqun.store import Store
from jiqun.store.models import CustomerTier, User
from jiqun.store.scope import Scope
from tests.web.conftest import signed_in

CUSTOMER_CELL = re.compile(r'<a href="/customers/(\d+)">')


@pytest.fixture
def city(app):
    return signed_in(app, "hz-city")


def csv_rows(response) -> list[list[str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.content.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


def xlsx_rows(response) -> list[list]:
    assert response.status_code == 200, response.text
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    return [list(r) for r in sheet.iter_rows(values_only=True)]


# -- /tiers -------------------------------------------------------------------------------------
def test_tiers_page_shows_one_page_of_customers_mismatches_first(city):
    everyone = city.get("/api/tiers").json()["rows"]
    assert len(everyone) >= 3 and everyone[0]["issues"]
    first = city.get("/tiers?per_page=1").text
    table = first[first.index('id="tier-table"'):]
    assert CUSTOMER_CELL.findall(table) == [str(everyone[0]["customer_id"])]
    assert 'rel="next"' in table and f"共 {len(everyone)} 行" in table
    last = city.get("/tiers?per_page=1&page=99").text  # past the end: the last page
    table = last[last.index('id="tier-table"'):]
    assert CUSTOMER_CELL.findall(table) == [str(everyone[-1]["customer_id"])]
    assert 'rel="next"' not in table


def test_tiers_download_has_every_row_in_the_apis_order_with_chinese_headers(city):
    everyone = city.get("/api/tiers").json()["rows"]
    rows = csv_rows(city.get("/tiers?format=csv&per_page=1&page=2"))
    assert rows[0][:4] == ["编码", "客户", "日均件量", "计算分级"]
    assert [r[0] for r in rows[1:]] == [r["code"] for r in everyone]
    issues = {r["code"]: r["issues"] for r in everyone}
    for row in rows[1:]:
        assert bool(row[-1]) == bool(issues[row[0]])  # the issues, in words, where any


def test_tier_changes_download_lists_every_proposed_change(city):
    changes = city.get("/api/tiers/changes").json()["changes"]
    assert changes
    got = xlsx_rows(city.get("/tiers?format=xlsx&table=changes"))
    approvable_first = sorted(changes, key=lambda c: not c["approvable"])
    assert [r[0] for r in got[1:]] == [c["code"] for c in approvable_first]
    assert city.get("/tiers?format=csv&table=nope").status_code == 404


def test_tier_issues_name_what_is_wrong():
    person = Person(1, "x", "marketer")
    assert issues_of("first", CustomerTier.FIRST, 1, person, "marketer") == ()
    assert issues_of("first", CustomerTier.THIRD, 1, person, "city_manager") == (
        "tier", "owner_role")
    assert issues_of("first", None, None, None, "marketer") == ("tier", "no_owner")


# -- /customers ---------------------------------------------------------------------------------
def test_customer_list_pages_and_downloads_every_match_of_the_filters(city, world):
    api = city.get("/api/customers?page_size=200").json()["items"]
    codes = [c["code"] for c in api]
    page = city.get("/customers?per_page=2&page=2").text
    shown = [m for m in CUSTOMER_CELL.findall(page)]
    assert shown == [str(c["id"]) for c in api[2:4]]
    assert city.get("/customers?per_page=2&page=50").text.count('aria-current="page">2<') == 1
    rows = csv_rows(city.get("/customers?format=csv&page=2&per_page=1"))
    assert rows[0][:3] == ["编码", "客户", "市场"]
    assert [r[0] for r in rows[1:]] == codes
    only = csv_rows(city.get("/customers?format=csv&q=童"))
    assert [r[0] for r in only[1:]] == [c["code"] for c in api if "童" in c["name"]]
    foreign = city.get(f"/customers?format=csv&market_id={world.ids['xihu']}")
    assert foreign.status_code == 404


def test_customer_search_is_one_service_that_the_api_calls(city, world):
    store = Store(world.settings.store_url)
    with store.session() as s:
        scope = Scope.for_unit(s, s.get(User, world.ids["hz-city"]).org_unit_id)
    with store.session(scope=scope) as s:
        found = find_customers(s, CustomerSearch(q="童"))
        assert count_customers(s, CustomerSearch(q="童")) == len(found)
        second = find_customers(s, CustomerSearch(), offset=1, limit=1)
    store.engine.dispose()
    api = city.get("/api/customers?q=童").json()["items"]
    assert [c.code for c in found] == [c["code"] for c in api]
    assert [c.code for c in second] == [city.get("/api/customers?page=2&page_size=1")
                                        .json()["items"][0]["code"]]


def test_a_page_past_the_end_of_the_api_is_its_last_page(city):
    data = city.get("/api/customers?page=99&page_size=3").json()
    assert data["page"] == data["pages"] == 2 and len(data["items"]) == data["total"] - 3


def test_customer_page_downloads_visits_carriers_and_months(city, world):
    path = f"/customers/{world.ids['zl_big']}"
    page = city.get(path)
    assert "¥2.80" in page.text  # the first-kg price, through jiqun.formats
    visits = csv_rows(city.get(f"{path}?format=csv&table=visits"))
    assert visits[0][:2] == ["日期", "走访人"] and visits[1][:2] == ["2024-05-03", "织里营销员"]
    carriers = xlsx_rows(city.get(f"{path}?format=xlsx&table=carriers"))
    assert carriers[1] == ["中通", 0.6, 2.8]
    months = csv_rows(city.get(f"{path}?format=csv&table=monthly"))
    api = city.get(f"/api/customers/{world.ids['zl_big']}").json()["monthly"]
    assert [int(r[1]) for r in months[1:]] == [m["parcels"] for m in api]
    assert city.get(f"{path}?format=csv&table=orders").status_code == 404


# -- markets ------------------------------------------------------------------------------------
def test_market_list_downloads_the_filtered_sorted_markets(city):
    api = city.get("/api/markets?sort=parcels&order=asc").json()["items"]
    got = xlsx_rows(city.get("/markets?sort=parcels&order=asc&format=xlsx"))
    assert got[0][:2] == ["编码", "市场"]
    assert [r[0] for r in got[1:]] == [m["code"] for m in api]
    assert [r[5] for r in got[1:]] == [m["parcels"] for m in api]
    one = city.get("/markets?per_page=1&page=2").text
    assert api[0]["name"] in one and api[1]["name"] not in one


def test_market_page_downloads_its_grids_customers_and_estimates(city, world):
    path = f"/markets/{world.ids['zhili']}"
    api = city.get(f"/api{path}").json()
    grids = csv_rows(city.get(f"{path}?format=csv"))
    assert [r[0] for r in grids[1:]] == [g["code"] for g in api["grids"]]
    top = csv_rows(city.get(f"{path}?format=csv&table=top_customers"))
    assert [r[0] for r in top[1:]] == [c["code"] for c in api["top_customers"]]
    estimates = xlsx_rows(city.get(f"{path}?format=xlsx&table=estimates"))
    assert estimates[1][0] == "全市场" and estimates[1][1] == 50.0
    assert city.get(f"/markets/{world.ids['xihu']}?format=csv").status_code == 404


# -- level, share, dashboard --------------------------------------------------------------------
def test_level_page_downloads_every_row_with_its_level(city):
    api = city.get("/api/levels").json()["rows"]
    rows = csv_rows(city.get("/level?format=csv"))
    assert rows[0][:3] == ["层级", "编码", "名称"]
    assert sorted(r[1] for r in rows[1:]) == sorted(r["code"] for r in api)
    assert {r[0] for r in rows[1:]} == {"市场", "网格"}
    grid_row = next(i for i, r in enumerate(rows) if r[0] == "网格")
    assert rows[grid_row - 1][0] == "市场"  # a grid follows its market


def test_share_downloads_all_weeks_of_every_market_and_the_competitors(city, world):
    api = city.get("/api/share").json()
    weekly = csv_rows(city.get("/share?format=csv&table=weekly"))
    assert len(weekly) - 1 == sum(len(m["points"]) for m in api["markets"])
    rivals = csv_rows(city.get(f"/share?format=csv&table=competitors"
                               f"&market_id={world.ids['zhili']}"))
    assert [r[0] for r in rivals[1:]] == [c["carrier"] for c in api["competitors"]]


def test_dashboard_card_shows_the_level_figures(city):
    api = city.get("/api/levels").json()["rows"]
    page = city.get("/").text
    card = page[page.index('data-testid="levels"'):]
    card = card[:card.index("</section>")]
    for row in (r for r in api if r["level"] != "grid"):
        assert row["name"] in card
    assert 'href="/level"' in card and "<table" in card


@pytest.mark.parametrize("path", ["/tiers?page=0", "/tiers?changes_per_page=501",
                                  "/customers?format=pdf", "/level?per_page=x",
                                  "/share?table=A", "/markets?page=100001"])
def test_bad_paging_and_download_queries_are_422(city, path):
    assert city.get(path).status_code == 422
