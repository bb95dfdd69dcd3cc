"""A user sees only their org subtree: foreign records are 404 by page and by JSON."""

from __future__ import annotations

import pytest

from tests.web.conftest import DATA_DATE, FEE, bearer, signed_in


@pytest.fixture
def huzhou(app):
    return signed_in(app, "hz-city")


@pytest.mark.parametrize("kind,key", [("markets", "xihu"), ("customers", "xh_live")])
def test_foreign_records_are_not_found_by_page_and_json(huzhou, world, kind, key):
    foreign = world.ids[key]
    page = huzhou.get(f"/{kind}/{foreign}")
    assert page.status_code == 404
    assert "西湖" not in page.text
    api = huzhou.get(f"/api/{kind}/{foreign}")
    assert api.status_code == 404
    assert "西湖" not in api.text


@pytest.mark.parametrize("kind,key", [("markets", "zhili"), ("customers", "zl_big")])
def test_own_records_are_found(huzhou, world, kind, key):
    assert huzhou.get(f"/{kind}/{world.ids[key]}").status_code == 200
    assert huzhou.get(f"/api/{kind}/{world.ids[key]}").json()[kind[:-1]]["id"] == world.ids[key]


def test_bearer_user_is_scoped_the_same_way(client, world):
    headers = bearer(client, "hgz-city")
    assert client.get(f"/api/markets/{world.ids['zhili']}", headers=headers).status_code == 404
    assert client.get(f"/api/markets/{world.ids['xihu']}", headers=headers).status_code == 200


def test_lists_never_include_foreign_rows(huzhou, world):
    markets = huzhou.get("/api/markets").json()["items"]
    assert sorted(m["code"] for m in markets) == ["M-HZP", "M-ZL"]
    customers = huzhou.get("/api/customers?page_size=200").json()
    assert sorted(c["code"] for c in customers["items"]) == ["C-HZ-1", "C-ZL-1", "C-ZL-2", "C-ZL-3"]
    assert customers["total"] == 4
    # Searching for a foreign customer's name, phone or market finds nothing.
    for query in ("q=西湖", "q=13900000009"):
        assert huzhou.get(f"/api/customers?{query}").json()["total"] == 0
    # A filter naming a foreign market is not found (an empty page would not say either way).
    assert huzhou.get(f"/api/customers?market_id={world.ids['xihu']}").status_code == 404
    page = huzhou.get("/customers?q=主播")
    assert "西湖主播甄选" not in page.text


def test_marketer_sees_only_the_outlet_subtree(app):
    marketer = signed_in(app, "zl-marketer")
    codes = [c["code"] for c in marketer.get("/api/customers").json()["items"]]
    assert sorted(codes) == ["C-ZL-1", "C-ZL-2", "C-ZL-3"]
    # The Zhili market belongs to the county above the outlet: not the marketer's to see.
    assert marketer.get("/api/markets").json()["items"] == []


def test_dashboard_figures_count_only_the_scope(huzhou, app, world):
    kpis = huzhou.get("/api/dashboard").json()["kpis"]
    june_day = world.parcels(world.huzhou_customers, DATA_DATE, DATA_DATE)
    assert kpis["as_of"] == DATA_DATE.isoformat()
    assert kpis["parcels_day"] == june_day == (3 + 1 + 2) * 3
    assert kpis["revenue_day"] == pytest.approx(june_day * FEE)
    assert kpis["parcels_month"] == 15 * june_day
    assert kpis["parcels_prev_month"] == 15 * (3 + 1 + 2) * 2
    assert kpis["parcels_mom"] == pytest.approx(0.5)

    province = signed_in(app, "zj-prov").get("/api/dashboard").json()
    assert province["kpis"]["parcels_day"] == (3 + 1 + 2 + 5) * 3
    assert len(province["trend"]) == 90
    assert sum(p["parcels"] for p in province["trend"]) == world.parcels(
        world.huzhou_customers + world.hangzhou_customers,
        DATA_DATE.replace(month=3, day=18), DATA_DATE)
