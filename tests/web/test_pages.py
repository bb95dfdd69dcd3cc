"""Pages and their JSON twins: markets, customers, language switch, OpenAPI."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.web.conftest import DATA_DATE, FEE, signed_in


@pytest.fixture
def huzhou(app):
    return signed_in(app, "hz-city")


def test_market_list_has_share_against_the_market_total(huzhou, world):
    items = {m["code"]: m for m in huzhou.get("/api/markets").json()["items"]}
    zhili = items["M-ZL"]
    start = DATA_DATE - dt.timedelta(days=29)
    parcels = world.parcels(("zl_big", "zl_small"), start, DATA_DATE)
    assert zhili["parcels"] == parcels == 15 * 4 * 2 + 15 * 4 * 3
    assert zhili["revenue"] == pytest.approx(parcels * FEE)
    assert zhili["active_customers"] == 2
    # The estimate valid on the data date (50 a day from June), not the later one.
    assert zhili["market_daily_total"] == 50.0
    assert zhili["share"] == pytest.approx(parcels / 30 / 50.0)
    assert items["M-HZP"]["share"] is None  # no estimate recorded


def test_market_list_filters_and_sorts(huzhou):
    def codes(query):
        return [m["code"] for m in huzhou.get(f"/api/markets?{query}").json()["items"]]

    assert codes("sort=parcels&order=desc") == ["M-ZL", "M-HZP"]
    assert codes("sort=parcels&order=asc") == ["M-HZP", "M-ZL"]
    assert codes("key_area=true") == ["M-ZL"]
    assert codes("type=ecommerce_park") == ["M-HZP"]
    assert codes("industry=童装") == ["M-ZL"]
    page = huzhou.get("/markets?key_area=0&type=&industry=")
    assert page.status_code == 200
    assert "湖州电商园" in page.text and "织里童装产业带" not in page.text
    partial = huzhou.get("/markets?sort=name", headers={"HX-Request": "true"})
    assert partial.text.lstrip().startswith('<div id="market-table">')


def test_market_detail_has_trend_grids_and_top_customers(huzhou, world):
    data = huzhou.get(f"/api/markets/{world.ids['zhili']}").json()
    assert len(data["trend"]) == 90
    assert data["trend"][-1] == {"day": "2024-06-15", "parcels": 12, "revenue": 60.0}
    assert [g["code"] for g in data["grids"]] == ["G-ZL-1"]
    assert data["grids"][0]["parcels"] == world.parcels(("zl_big",), DATA_DATE
                                                         - dt.timedelta(days=29), DATA_DATE)
    assert [c["code"] for c in data["top_customers"]] == ["C-ZL-1", "C-ZL-2"]
    # The estimates valid on the data date: the whole market's June figure, then competitors.
    assert [(e["carrier"], e["daily_volume"], e["share"]) for e in data["estimates"]] \
        == [("*", 50.0, 1.0), ("中通", 20.0, 0.4)]
    page = huzhou.get(f"/markets/{world.ids['zhili']}")
    assert "织里一网格" in page.text and 'data-chart="daily"' in page.text


def test_customer_list_search_filters_and_pages(huzhou, world):
    def codes(query):
        return [c["code"] for c in huzhou.get(f"/api/customers?{query}").json()["items"]]

    assert codes("") == ["C-ZL-1", "C-ZL-2", "C-HZ-1", "C-ZL-3"]  # biggest estimate first
    assert codes("q=小熊") == ["C-ZL-2"]
    assert codes("q=c-hz") == ["C-HZ-1"]
    assert codes("q=13800000003") == ["C-HZ-1"]
    assert codes("stage=vip") == ["C-ZL-1"]
    assert codes("tier=third") == ["C-ZL-2"]
    assert codes(f"market_id={world.ids['hzpark']}") == ["C-HZ-1"]
    second = huzhou.get("/api/customers?page=2&page_size=3").json()
    assert (second["total"], second["pages"], [c["code"] for c in second["items"]]) \
        == (4, 2, ["C-ZL-3"])
    assert huzhou.get("/api/customers?page=0").status_code == 422
    page = huzhou.get("/customers?stage=vip&tier=&market_id=")
    assert "童趣服饰" in page.text and "小熊童装" not in page.text


def test_customer_detail_has_archive_carriers_visits_and_monthly_volume(huzhou, world):
    data = huzhou.get(f"/api/customers/{world.ids['zl_big']}").json()
    assert data["customer"]["owner_name"] == "织里营销员"
    assert data["carriers"] == [{"carrier": "中通", "share": 0.6, "price_first_kg": 2.8}]
    assert data["visits"][0]["method"] == "sweep"
    monthly = {m["month"]: m["parcels"] for m in data["monthly"]}
    assert len(monthly) == 12 and min(monthly) == "2023-07-01"
    assert (monthly["2024-03-01"], monthly["2024-04-01"], monthly["2024-05-01"],
            monthly["2024-06-01"]) == (0, 3 * 30, 6 * 31, 9 * 15)
    page = huzhou.get(f"/customers/{world.ids['zl_big']}")
    assert "逐户扫街" in page.text and "中通" in page.text


def test_english_switch_changes_visible_strings_and_is_remembered(huzhou):
    chinese = huzhou.get("/markets").text
    assert "市场" in chinese and "Active customers" not in chinese
    english = huzhou.get("/markets?lang=en")
    assert "Active customers" in english.text and "活跃客户" not in english.text
    assert huzhou.get("/customers").text.count("Customers") >= 1  # the cookie remembers
    assert "客户" not in huzhou.get("/customers").text.split("<main>")[0]
    back = huzhou.get("/?lang=zh-CN")
    assert "活跃客户" in back.text


def test_openapi_describes_the_api_without_secrets(client):
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for path in ("/api/markets", "/api/markets/{market_id}", "/api/customers",
                 "/api/customers/{customer_id}", "/api/dashboard", "/api/me", "/api/token"):
        assert path in paths, path
    assert "post" in paths["/api/token"]
    customer_params = {p["name"] for p in paths["/api/customers"]["get"]["parameters"]}
    assert {"q", "stage", "tier", "market_id", "page", "page_size"} <= customer_params
    assert "password" not in str(spec["components"]["schemas"]["MeOut"])
    assert "/login" not in paths  # pages are not part of the API


def test_customer_search_answers_htmx_with_the_table_only(huzhou):
    partial = huzhou.get("/customers?q=小熊", headers={"HX-Request": "true"})
    assert partial.text.lstrip().startswith('<div id="customer-table">')
    assert "小熊童装" in partial.text and "童趣服饰" not in partial.text


def test_unknown_pages_are_404_pages_and_unknown_api_paths_json(huzhou):
    page = huzhou.get("/no-such-page")
    assert page.status_code == 404 and "未找到" in page.text
    api = huzhou.get("/api/no-such-thing")
    assert api.status_code == 404 and api.json() == {"detail": "Not Found"}


def test_pages_send_security_headers(client):
    response = client.get("/login")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"


def test_openapi_declares_the_bearer_flow(client):
    spec = client.get("/openapi.json").json()
    scheme = spec["components"]["securitySchemes"]["OAuth2PasswordBearer"]
    assert scheme["flows"]["password"]["tokenUrl"] == "/api/token"
