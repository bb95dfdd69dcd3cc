"""Pages and /api twins of the registry and teams: CSRF, scope (403/404), province decisions."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from jiqun.store.models import Market, Team, TeamStatus
from jiqun.web.app import create_app
from tests.markets.conftest import unit_id
from tests.web.conftest import bearer, csrf_of, signed_in


@pytest.fixture
def app(world):
    return create_app(world.settings)


def _market_form(wstore, **changes):
    return {"code": "M-NEW", "name": "南浔童装城", "type": "wholesale_market", "industry": "童装",
            "org_unit_id": str(unit_id(wstore, "ZJ-HUZ-WX")), "tier": "B", "key_area": "1",
            "yearly_revenue_target": "5,000,000", "target_year": "2024", **changes}


def test_new_market_form_needs_csrf_and_lands_in_the_list(app, wstore):
    city = signed_in(app, "hz-city")
    page = city.get("/markets/new")
    assert page.status_code == 200 and 'name="org_unit_id"' in page.text
    assert city.post("/markets/new", data=_market_form(wstore)).status_code == 403
    token = csrf_of(city, "/markets/new")
    saved = city.post("/markets/new", data={**_market_form(wstore), "csrf_token": token},
                      follow_redirects=False)
    assert saved.status_code == 303
    with wstore.session() as s:
        market = s.scalars(select(Market).where(Market.code == "M-NEW")).one()
        assert (market.key_area, market.yearly_revenue_target) == (True, 5_000_000)
    assert saved.headers["location"] == f"/markets/{market.id}"
    assert "南浔童装城" in city.get("/markets").text


def test_wrong_fields_come_back_marked_in_chinese(app, wstore):
    city = signed_in(app, "hz-city")
    token = csrf_of(city, "/markets/new")
    page = city.post("/markets/new", data={**_market_form(wstore, lon="300", lat="30"),
                                           "csrf_token": token})
    assert page.status_code == 400
    assert "经度应在 73 到 136 之间（中国境内）" in page.text
    assert 'value="南浔童装城"' in page.text  # what was typed is kept
    foreign = _market_form(wstore, org_unit_id=str(unit_id(wstore, "ZJ-HGZ-XH")))
    page = city.post("/markets/new", data={**foreign, "csrf_token": token})
    assert page.status_code == 400 and "该单位不在您的管辖范围内" in page.text


def test_foreign_markets_are_404_to_edit(app, world, wstore):
    city = signed_in(app, "hz-city")
    assert city.get(f"/markets/{world.ids['xihu']}/edit").status_code == 404
    token = csrf_of(city, "/markets/new")
    assert city.post(f"/markets/{world.ids['xihu']}/edit",
                     data={"name": "x", "csrf_token": token}).status_code == 404
    own = city.get(f"/markets/{world.ids['zhili']}/edit")
    assert own.status_code == 200 and 'value="织里童装产业带"' in own.text
    edited = city.post(f"/markets/{world.ids['zhili']}/edit",
                       data={**_market_form(wstore, code="M-ZL", name="织里童装城"),
                             "csrf_token": token}, follow_redirects=False)
    assert edited.status_code == 303


def test_api_creates_and_patches_with_a_bearer_token(app, world, wstore):
    client = TestClient(app)
    headers = bearer(client, "hz-city")
    body = {"code": "M-API", "name": "API 市场", "type": "ecommerce_park", "industry": "综合",
            "org_unit_id": unit_id(wstore, "ZJ-HUZ"), "market_daily_volume": 500}
    created = client.post("/api/markets", json=body, headers=headers)
    assert created.status_code == 201 and created.json()["code"] == "M-API"
    patched = client.patch(f"/api/markets/{created.json()['id']}", json={"tier": "C"},
                           headers=headers)
    assert patched.json()["tier"] == "C" and patched.json()["name"] == "API 市场"
    assert client.patch(f"/api/markets/{world.ids['xihu']}", json={"tier": "C"},
                        headers=headers).status_code == 404
    wrong = client.patch(f"/api/markets/{created.json()['id']}", json={"tier": "Z"},
                         headers=headers)
    assert wrong.status_code == 422 and wrong.json()["errors"] == {"tier": "分级为 A、B 或 C"}


def test_top_and_targets_pages_and_api(app):
    province = signed_in(app, "zj-prov")
    top = province.get("/api/markets/top?n=2").json()
    assert [r["code"] for r in top["items"]] == ["M-XH", "M-ZL"]
    page = province.get("/markets/top?n=2&by=gap")
    assert page.status_code == 200 and "西湖直播基地" in page.text and "湖州电商园" not in page.text
    targets = province.get("/api/markets/targets").json()
    assert [c["code"] for c in targets] == ["ZJ-HGZ", "ZJ-HUZ"]
    assert province.get("/markets/targets").status_code == 200
    city = signed_in(app, "hgz-city")
    assert [r["code"] for r in city.get("/api/markets/top").json()["items"]] == ["M-XH"]


def test_team_proposed_by_the_city_is_approved_by_the_province(app, world, wstore):
    city = signed_in(app, "hz-city")
    token = csrf_of(city, "/teams")
    proposed = city.post("/teams", data={
        "name": "织里直播组", "market_id": str(world.ids["zhili"]),
        "leader_id": str(world.ids["zl-marketer"]), "csrf_token": token},
        follow_redirects=False)
    assert proposed.status_code == 303
    team_id = int(proposed.headers["location"].rsplit("/", 1)[1])
    page = city.get(f"/teams/{team_id}")
    assert "待审核" in page.text and 'data-testid="approve"' not in page.text
    assert city.post(f"/teams/{team_id}/approve", data={"csrf_token": token}).status_code == 403
    # Hangzhou does not see Huzhou's team at all.
    assert signed_in(app, "hgz-city").get(f"/teams/{team_id}").status_code == 404
    province = signed_in(app, "zj-prov")
    page = province.get(f"/teams/{team_id}")
    assert 'data-testid="approve"' in page.text
    ptoken = csrf_of(province, f"/teams/{team_id}")
    assert province.post(f"/teams/{team_id}/approve", data={}).status_code == 403  # no CSRF
    done = province.post(f"/teams/{team_id}/approve", data={"csrf_token": ptoken},
                         follow_redirects=False)
    assert done.status_code == 303
    with wstore.session() as s:
        assert s.get(Team, team_id).status == TeamStatus.APPROVED
    assert "已审批" in province.get(f"/teams/{team_id}").text


def test_team_api_propose_reject_and_members(app, world):
    client = TestClient(app)
    city, province = bearer(client, "hz-city"), bearer(client, "zj-prov")
    created = client.post("/api/teams", headers=city, json={
        "name": "织里夜班组", "market_id": world.ids["zhili"],
        "members": [{"user_id": world.ids["zl-marketer"], "role": "leader"}]})
    assert created.status_code == 201
    team_id = created.json()["team"]["id"]
    assert client.post(f"/api/teams/{team_id}/reject", headers=city,
                       json={"reason": "x"}).status_code == 403
    members = client.put(f"/api/teams/{team_id}/members", headers=city, json={
        "members": [{"user_id": world.ids["zl-marketer"], "role": "marketer"}],
        "version": created.json()["team"]["version"]})
    assert members.json()["members"][0]["role"] == "marketer"
    rejected = client.post(f"/api/teams/{team_id}/reject", headers=province,
                           json={"reason": "与夜班网格重复"})
    assert rejected.json()["team"]["status"] == "rejected"
    assert rejected.json()["history"][-1]["changes"]["reason"] == "与夜班网格重复"
    assert client.get(f"/api/teams/{team_id}", headers=bearer(client, "hgz-city")
                      ).status_code == 404
    listed = client.get("/api/teams?status=rejected", headers=province).json()
    assert [t["id"] for t in listed] == [team_id]
