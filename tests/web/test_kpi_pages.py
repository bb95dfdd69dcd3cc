"""The operating-picture pages (level table, grids, share, tiers, bulletin) and their JSON twins.

Numbers are checked twice: against :class:`OperatingPicture` opened on the same scope, and
against the world's figures worked out by hand (``World.parcels``: base × month factor a day).
"""

from __future__ import annotations

import datetime as dt

import pytest

from jiqun.kpi.service import OperatingPicture
from jiqun.lake import connect
from jiqun.store import Store
from jiqun.store.models import Target, TargetScope, User
from jiqun.store.scope import Scope
from tests.web.conftest import DATA_DATE, FEE, signed_in

JUNE = dt.date(2024, 6, 1)
GRID_TARGET = 300.0  # June target of the Zhili grid
MARKET_TARGET = 900.0  # June target of the Zhili market
FOREIGN = ("西湖", "C-XH-1", "M-XH")  # Hangzhou's names: never on a Huzhou page


@pytest.fixture(scope="module")
def targets(world):
    """June targets for the Zhili grid and market (the shared world has none)."""
    store = Store(world.settings.store_url)
    with store.transaction() as s:
        unit = s.get(User, world.ids["hz-city"]).org_unit_id
        s.add_all([
            Target(scope_type=TargetScope.GRID, scope_id=world.ids["grid"], month=JUNE,
                   volume=GRID_TARGET, revenue=GRID_TARGET * FEE, org_unit_id=unit),
            Target(scope_type=TargetScope.MARKET, scope_id=world.ids["zhili"], month=JUNE,
                   volume=MARKET_TARGET, revenue=MARKET_TARGET * FEE, org_unit_id=unit),
        ])
    yield
    store.engine.dispose()


def picture_of(world, username: str) -> OperatingPicture:
    store = Store(world.settings.store_url)
    with store.session() as s:
        scope = Scope.for_unit(s, s.get(User, world.ids[username]).org_unit_id)
    return OperatingPicture(store, world.settings.lake_path, scope, con=connect(world.settings))


@pytest.fixture
def city(app, targets):
    return signed_in(app, "hz-city")


def june(world, keys) -> int:
    return world.parcels(keys, JUNE, DATA_DATE)


def test_province_level_lists_its_cities_and_they_add_up(app, world, targets):
    client = signed_in(app, "zj-prov")
    data = client.get("/api/levels").json()
    assert data["as_of"] == str(DATA_DATE) and data["level"] == "city"
    rows = {r["name"]: r for r in data["rows"]}
    assert set(rows) == {"湖州市分公司", "杭州市分公司"}
    everyone = world.huzhou_customers + world.hangzhou_customers
    assert sum(r["parcels"] for r in data["rows"]) == june(world, everyone)
    assert rows["湖州市分公司"]["parcels"] == june(world, world.huzhou_customers)
    assert rows["杭州市分公司"]["revenue"] == pytest.approx(june(world, ("xh_live",)) * FEE)
    assert rows["湖州市分公司"]["active_customers"] == 3
    with picture_of(world, "zj-prov") as picture:
        assert data["rows"] == [{**r} for r in _json(picture.by_level(DATA_DATE))]
    page = client.get("/level")
    assert page.status_code == 200 and "湖州市分公司" in page.text and "杭州市分公司" in page.text


def _json(rows: list[dict]) -> list[dict]:
    return [{k: (str(v) if isinstance(v, dt.date) else v) for k, v in r.items()} for r in rows]


def test_city_level_lists_markets_and_grids_with_plan_and_share(city, world):
    data = city.get("/api/levels").json()
    assert data["level"] == "market"
    rows = {(r["level"], r["code"]): r for r in data["rows"]}
    assert set(rows) == {("market", "M-ZL"), ("market", "M-HZP"), ("grid", "G-ZL-1")}
    zhili = rows[("market", "M-ZL")]
    assert zhili["parcels"] == june(world, ("zl_big", "zl_small"))
    assert zhili["target_parcels"] == MARKET_TARGET
    assert zhili["progress"] == pytest.approx(zhili["parcels"] / (MARKET_TARGET * 15 / 30))
    assert zhili["share"] == pytest.approx(zhili["parcels"] / (50.0 * 15))  # June estimate
    grid = rows[("grid", "G-ZL-1")]
    assert grid["parent_id"] == world.ids["zhili"] and grid["parcels"] == june(world, ("zl_big",))
    assert grid["progress"] == pytest.approx(grid["parcels"] / (GRID_TARGET / 2))
    with picture_of(world, "hz-city") as picture:
        assert data["rows"] == _json(picture.by_level(DATA_DATE))


def test_grid_page_and_api_match_the_operating_picture(city, world):
    data = city.get("/api/grids").json()
    assert data["development_rate_target"] == 0.6
    (row,) = data["rows"]
    assert (row["grid"], row["market"], row["rank"]) == ("织里一网格", "织里童装产业带", 1)
    assert row["parcels"] == june(world, ("zl_big",)) == 9 * 15
    assert row["target_parcels"] == GRID_TARGET
    assert row["forecast_parcels"] == pytest.approx(9 * 30)
    assert (row["archived"], row["cooperating"], row["development_rate"]) == (1, 1, 1.0)
    with picture_of(world, "hz-city") as picture:
        (expected,) = picture.grids(DATA_DATE)
    for key in ("target_parcels", "parcels", "progress", "forecast_parcels", "in_province_share",
                "line_daily_average", "active_customers", "activated_customers",
                "development_rate", "meets_target", "rank"):
        assert row[key] == pytest.approx(expected[key]), key
    page = city.get("/grids")
    assert page.status_code == 200 and "织里一网格" in page.text and "135" in page.text


def test_share_trend_and_competitors(city, world):
    data = city.get("/api/share").json()
    assert len(data["weeks"]) == 26 and data["weeks"][-1] == "2024-06-10"
    markets = {m["code"]: m for m in data["markets"]}
    assert set(markets) <= {"M-ZL", "M-HZP"} and "M-ZL" in markets
    may_week = next(p for p in markets["M-ZL"]["points"] if p["period"] == "2024-05-13")
    assert may_week["parcels"] == (3 + 1) * 2 * 7 and may_week["market_total"] == 40.0 * 7
    assert may_week["share"] == pytest.approx(56 / 280)
    assert data["market_id"] == world.ids["zhili"]  # the biggest market by default
    start = dt.date.fromisoformat(data["start"])
    with picture_of(world, "hz-city") as picture:
        expected = {(r["market_id"], str(r["period"])): r["share"]
                    for r in picture.share("week", start, DATA_DATE)}
        rivals = [r for r in picture.competitors("week", start, DATA_DATE)
                  if r["market_id"] == world.ids["zhili"]]
    for m in data["markets"]:
        for p in m["points"]:
            assert p["share"] == pytest.approx(expected.get((m["market_id"], p["period"])))
    assert [(c["carrier"], c["period"], c["share"]) for c in data["competitors"]] == [
        (r["carrier"], str(r["period"]), pytest.approx(r["share"])) for r in rivals]
    june_week = next(c for c in data["competitors"] if c["period"] == "2024-06-03")
    assert june_week["carrier"] == "中通" and june_week["share"] == pytest.approx(20 / 50)
    page = city.get(f"/share?market_id={world.ids['zhili']}")
    assert page.status_code == 200 and "中通" in page.text and 'data-chart="lines"' in page.text


def test_tiers_list_mismatches_first_with_the_required_owner(city, world):
    data = city.get("/api/tiers").json()
    rows = {r["code"]: r for r in data["rows"]}
    assert set(rows) == {"C-ZL-1", "C-ZL-2", "C-HZ-1", "C-ZL-3"}
    with picture_of(world, "hz-city") as picture:
        rules = picture.rules  # the configured rules (a rules file may scale the thresholds)
        expected = {r["customer_id"]: r for r in picture.tiers(DATA_DATE)}
    big = rows["C-ZL-1"]
    # 90 days to June 15: 30 April days × 3, 31 May days × 6, 15 June days × 9.
    daily = (30 * 3 + 31 * 6 + 15 * 9) / 90
    assert big["daily_parcels"] == pytest.approx(daily)
    tier = rules.thresholds_for(None).tier_of(daily)  # no adcode: default thresholds
    assert (big["tier"], big["stored_tier"]) == (tier.value, "first")
    required = rules.tier_owner_roles[tier].value
    assert big["owner"] == "织里营销员" and big["required_role"] == required
    assert big["issues"] == (["tier"] if tier.value != "first" else []) + (
        ["owner_role"] if required != "marketer" else [])
    assert "no_owner" in rows["C-HZ-1"]["issues"] and "tier" in rows["C-ZL-3"]["issues"]
    flagged = [bool(r["issues"]) for r in data["rows"]]
    assert flagged == sorted(flagged, reverse=True)  # mismatches first
    assert data["mismatches"] == sum(flagged) and data["total"] == 4
    counts = {c["tier"]: (c["computed"], c["stored"]) for c in data["counts"]}
    assert counts["first"][1] == 1 and sum(c for c, _ in counts.values()) == 4
    for r in data["rows"]:
        assert r["tier"] == expected[r["customer_id"]]["tier"]
        assert r["daily_parcels"] == pytest.approx(expected[r["customer_id"]]["daily_parcels"])
    assert city.get("/api/tiers?limit=1").json()["rows"] == data["rows"][:1]
    page = city.get("/tiers")
    assert page.status_code == 200 and "童趣服饰" in page.text and "织里营销员" in page.text


@pytest.mark.parametrize("path", ["/level", "/api/levels", "/grids", "/api/grids", "/share",
                                  "/api/share", "/tiers", "/api/tiers", "/bulletin"])
def test_a_city_never_sees_another_citys_grids_markets_or_customers(city, world, path):
    response = city.get(path)
    assert response.status_code == 200
    for name in FOREIGN:
        assert name not in response.text
    assert f'"market_id":{world.ids["xihu"]},' not in response.text


def test_another_citys_market_is_not_found_on_the_share_page(city, world):
    assert city.get(f"/api/share?market_id={world.ids['xihu']}").status_code == 404
    assert city.get(f"/share?market_id={world.ids['xihu']}").status_code == 404


def test_pages_are_chinese_by_default_with_an_english_switch(city):
    assert "网格考核" in city.get("/grids").text
    english = city.get("/grids?lang=en").text
    assert "Grid KPIs" in english and "网格考核" not in english
    assert "Market share" in city.get("/share").text or "市场占有率" in city.get("/share").text


def test_bulletin_page_offers_the_three_formats(city):
    page = city.get("/bulletin?week=2024-W23")
    assert page.status_code == 200
    for fmt in ("html", "xlsx", "pdf"):
        assert f'href="/bulletin/2024-W23.{fmt}"' in page.text
    assert city.get("/bulletin/2024-W99.html").status_code == 404
    assert city.get("/bulletin/2024-W23.doc").status_code == 404


def test_bulletin_downloads_come_from_the_reports_package(city):
    html = city.get("/bulletin/2024-W23.html")
    assert html.status_code == 200 and "sandbox" in html.headers["content-security-policy"]
    assert "2024-W23" in html.text and "西湖" not in html.text
    xlsx = city.get("/bulletin/2024-W23.xlsx")
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    assert "attachment" in xlsx.headers["content-disposition"]


def test_pages_need_a_sign_in(client):
    for path in ("/grids", "/share", "/tiers", "/bulletin", "/level"):
        assert client.get(path, follow_redirects=False).status_code == 303
    assert client.get("/api/grids").status_code == 401


@pytest.mark.parametrize("path", [
    "/api/share?market_id=²", "/api/share?market_id=0",
    "/api/share?market_id=10000000000000000000", "/share?market_id=²",
    "/bulletin?week=2024-W٢٣", "/bulletin?week=x", "/tiers?applied=-1",
    "/tiers?skipped=10000000000000000000", "/api/tiers?limit=²"])
def test_bad_parameters_answer_4xx_never_500(city, path):
    assert city.get(path).status_code in (400, 404, 422)


def test_a_week_in_another_scripts_digits_is_not_found(city):
    assert city.get("/bulletin/٢٠٢٤-W٢٣.html").status_code == 404
