"""Approving tier and owner changes on /tiers (分级调整审批) and its /api twin.

The shared world (``tests/web/conftest.py``) ships a few parcels a day per customer, so with the
default rules every customer computes as 小微 (micro), whose owner must be an account manager.
This module adds one account manager in Zhili (织里, Huzhou) and one in Xihu (西湖, Hangzhou), so
that the Huzhou city manager is proposed:

- 童趣服饰 C-ZL-1: tier first → micro, owner the marketer → the Zhili account manager;
- 小熊童装 C-ZL-2: third → micro, no owner → the Zhili account manager;
- 童话屋 C-ZL-3: no tier → micro, no owner → the Zhili account manager;
- 园区优选 C-HZ-1 (city level): already micro and no account manager above it, so it is only
  reported (nothing to approve).

Each test builds its own world: approving writes rows.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from jiqun.accounts import add_user
from jiqun.store import Store
from jiqun.store.models import AuditEntry, Customer, CustomerTier, OrgUnit, Role
from jiqun.web.app import create_app
from tests.web.conftest import bearer, build_world, csrf_of, signed_in

ZHILI, XIHU = "ZJ-HUZ-WX-ZL", "ZJ-HGZ-XH"


@pytest.fixture
def world(tmp_path):
    store = Store(f"sqlite:///{tmp_path}/store.db")
    store.upgrade()
    world = build_world(store, tmp_path / "lake")
    # Tier thresholds pinned here, whatever ./var holds: under 20 parcels a day is micro.
    rules = tmp_path / "kpi-rules.toml"
    rules.write_text("[tier_thresholds]\nspecial = 2000\nfirst = 500\nsecond = 100\n"
                     "third = 20\n", encoding="utf-8")
    world.settings = world.settings.model_copy(update={"rules_file": rules})
    with store.transaction() as s:
        unit = {u.code: u for u in s.scalars(select(OrgUnit))}
        for username, code, name in [("zl-am", ZHILI, "织里客户经理"),
                                     ("xh-am", XIHU, "西湖客户经理")]:
            world.ids[username] = add_user(s, username, "correct-horse-9", unit[code],
                                           Role.ACCOUNT_MANAGER, name).id
    world.store = store
    yield world
    store.engine.dispose()


@pytest.fixture
def app(world):
    return create_app(world.settings)


def _archive(world) -> dict[str, tuple[str | None, int | None]]:
    with world.store.session() as s:
        return {c.code: (c.tier.value if c.tier else None, c.owner_id)
                for c in s.scalars(select(Customer))}


def _audits(world) -> list[AuditEntry]:
    with world.store.session() as s:
        entries = list(s.scalars(select(AuditEntry).where(AuditEntry.entity == "customers",
                                                          AuditEntry.action == "update")))
        s.expunge_all()
        return entries


def _listed(client: TestClient, headers=None) -> dict[int, str]:
    """Customer id → the fingerprint of its change, as /api/tiers/changes lists it."""
    changes = client.get("/api/tiers/changes", headers=headers).json()["changes"]
    return {c["customer_id"]: c["fingerprint"] for c in changes}


def _approve(client: TestClient, ids: list[int], seen: dict[int, str] | None = None):
    """Tick ``ids`` on the page as listed now (or as ``seen``) and approve."""
    token = csrf_of(client, "/tiers")
    seen = {**_listed(client), **(seen or {})}
    ticked = [f"{i}:{seen.get(i, '0' * 16)}" for i in ids]
    return client.post("/tiers/apply", data={"csrf_token": token, "change": ticked},
                       follow_redirects=False)


def test_the_city_manager_is_proposed_each_change_with_its_reason(app, world):
    city = signed_in(app, "hz-city")
    data = city.get("/api/tiers/changes").json()
    assert data["may_approve"] is True
    rows = {r["code"]: r for r in data["changes"]}
    assert set(rows) == {"C-ZL-1", "C-ZL-2", "C-ZL-3", "C-HZ-1"}  # never Hangzhou's C-XH-1
    am = world.ids["zl-am"]
    big = rows["C-ZL-1"]
    assert (big["old_tier"], big["new_tier"]) == ("first", "micro")
    assert (big["old_owner"], big["new_owner_id"], big["new_owner"]) == ("织里营销员", am,
                                                                          "织里客户经理")
    assert big["reasons"] == ["tier", "owner_role"] and big["approvable"] is True
    # C-ZL-2 (on trial) and C-ZL-3 (archived) have no owner: prospects in the pool (公海),
    # which someone claims; the plan changes their tier only.
    assert rows["C-ZL-2"]["reasons"] == ["tier"] and rows["C-ZL-2"]["new_owner_id"] is None
    assert rows["C-ZL-2"]["pooled"] and rows["C-ZL-2"]["approvable"]
    assert (rows["C-ZL-3"]["old_tier"], rows["C-ZL-3"]["new_owner_id"]) == (None, None)
    park = rows["C-HZ-1"]
    assert (park["new_owner_id"], park["reasons"], park["approvable"]) == (None, ["unfilled"],
                                                                          False)
    page = city.get("/tiers")
    assert page.status_code == 200 and "待审批的调整" in page.text and "批准所选" in page.text
    boxes = page.text.count('name="change"')
    assert boxes == 3 and page.text.count(" checked>") == 3  # approvable rows, ticked
    assert f'value="{big["customer_id"]}:{big["fingerprint"]}" checked' in page.text
    english = city.get("/tiers?lang=en").text
    assert "Proposed changes" in english and "Approve selected" in english


def test_approving_applies_only_the_selected_rows_audited_with_the_user(app, world):
    city = signed_in(app, "hz-city")
    before = _archive(world)
    ids = {r["code"]: r["customer_id"] for r in city.get("/api/tiers/changes").json()["changes"]}
    response = _approve(city, [ids["C-ZL-1"], ids["C-ZL-3"]])
    assert response.status_code == 303
    assert response.headers["location"] == "/tiers?applied=2&skipped=0"
    after = _archive(world)
    am = world.ids["zl-am"]
    assert after["C-ZL-1"] == ("micro", am) and after["C-ZL-3"] == ("micro", None)
    changed = {code for code in after if after[code] != before[code]}
    assert changed == {"C-ZL-1", "C-ZL-3"}  # C-ZL-2 was not ticked
    entries = _audits(world)
    assert sorted(int(e.entity_id) for e in entries) == sorted([ids["C-ZL-1"], ids["C-ZL-3"]])
    assert {(e.user_id, e.source) for e in entries} == {(world.ids["hz-city"], "web")}
    big = next(e for e in entries if int(e.entity_id) == ids["C-ZL-1"])
    assert big.changes == {"tier": ["first", "micro"], "owner_id": [world.ids["zl-marketer"], am]}
    notice = city.get(response.headers["location"]).text
    assert "已批准并执行 2 项调整。" in notice
    left = {r["code"] for r in city.get("/api/tiers/changes").json()["changes"]}
    assert left == {"C-ZL-2", "C-HZ-1"}


def test_a_second_post_changes_nothing(app, world):
    city = signed_in(app, "hz-city")
    ids = [r["customer_id"] for r in city.get("/api/tiers/changes").json()["changes"]]
    assert _approve(city, ids).headers["location"] == "/tiers?applied=3&skipped=1"  # C-HZ-1
    archive, audits = _archive(world), len(_audits(world))
    again = _approve(city, ids)
    assert again.headers["location"] == "/tiers?applied=0&skipped=4"
    assert _archive(world) == archive and len(_audits(world)) == audits
    assert "跳过 4 项" in city.get(again.headers["location"]).text


def test_a_marketer_reads_the_list_but_may_not_approve(app, world):
    marketer = signed_in(app, "zl-marketer")
    data = marketer.get("/api/tiers/changes").json()
    assert data["may_approve"] is False and data["changes"]
    page = marketer.get("/tiers").text
    assert "待审批的调整" in page and 'name="change"' not in page and "批准所选" not in page
    before = _archive(world)
    ids = [r["customer_id"] for r in data["changes"]]
    assert _approve(marketer, ids).status_code == 403
    headers = bearer(marketer, "zl-marketer")
    choices = [{"customer_id": r["customer_id"], "fingerprint": r["fingerprint"]}
               for r in data["changes"]]
    assert marketer.post("/api/tiers/apply", json={"changes": choices},
                         headers=headers).status_code == 403
    assert _archive(world) == before and _audits(world) == []


def test_another_citys_customer_is_never_applied(app, world):
    city = signed_in(app, "hz-city")
    foreign = world.ids["xh_live"]  # Hangzhou: special tier, no owner, an account manager there
    before = _archive(world)
    response = _approve(city, [foreign])
    assert response.headers["location"] == "/tiers?applied=0&skipped=1"
    assert _archive(world) == before
    # The Hangzhou manager is proposed that very change, so it is real, just not Huzhou's.
    hangzhou = signed_in(app, "hgz-city")
    theirs = hangzhou.get("/api/tiers/changes").json()["changes"]
    assert [(c["customer_id"], c["new_owner_id"]) for c in theirs] == [(foreign,
                                                                       world.ids["xh-am"])]


def test_the_api_twin_applies_by_bearer_token_with_source_api(app, world):
    client = TestClient(app)
    headers = bearer(client, "hz-city")
    changes = client.get("/api/tiers/changes", headers=headers).json()["changes"]
    small = next(c["customer_id"] for c in changes if c["code"] == "C-ZL-2")
    foreign = world.ids["xh_live"]
    seen = {c["customer_id"]: c["fingerprint"] for c in changes}
    result = client.post("/api/tiers/apply", headers=headers, json={"changes": [
        {"customer_id": small, "fingerprint": seen[small]},
        {"customer_id": foreign, "fingerprint": "0" * 16}]})
    assert result.status_code == 200
    body = result.json()
    assert [c["code"] for c in body["applied"]] == ["C-ZL-2"] and body["skipped"] == [foreign]
    assert _archive(world)["C-ZL-2"] == ("micro", None)  # in the pool: its tier only
    assert {(e.user_id, e.source) for e in _audits(world)} == {(world.ids["hz-city"], "api")}
    assert client.post("/api/tiers/apply", json={"changes": "x"},
                       headers=headers).status_code == 422
    assert client.post("/api/tiers/apply", json={"customer_ids": [small]},
                       headers=headers).status_code == 422  # what was seen is not optional


def test_approving_without_the_csrf_token_is_refused(app, world):
    city = signed_in(app, "hz-city")
    ids = [r["customer_id"] for r in city.get("/api/tiers/changes").json()["changes"]]
    assert city.post("/tiers/apply", data={"change": [f"{i}:{'0' * 16}" for i in ids]}
                     ).status_code == 403
    assert _audits(world) == []


def test_a_ticked_change_that_is_proposed_differently_now_is_a_conflict(app, world):
    """Approvals apply only what the approver saw: the list changed → 409, nothing applied."""
    city = signed_in(app, "hz-city")
    seen = _listed(city)
    ids = {r["code"]: r["customer_id"] for r in city.get("/api/tiers/changes").json()["changes"]}
    with world.store.transaction() as s:  # meanwhile someone gives C-ZL-2 another tier
        s.get(Customer, ids["C-ZL-2"]).tier = CustomerTier.SECOND
    before, audits = _archive(world), len(_audits(world))
    response = _approve(city, [ids["C-ZL-1"], ids["C-ZL-2"]], seen)
    assert response.status_code == 409
    assert "列表在您查看后已有变动，请重新查看" in response.text
    assert _archive(world) == before and len(_audits(world)) == audits
    headers = bearer(city, "hz-city")
    api = city.post("/api/tiers/apply", headers=headers, json={"changes": [
        {"customer_id": ids["C-ZL-2"], "fingerprint": seen[ids["C-ZL-2"]]}]})
    assert api.status_code == 409
    assert api.json()["mine"] == {str(ids["C-ZL-2"]): seen[ids["C-ZL-2"]]}
    assert api.json()["theirs"] == {str(ids["C-ZL-2"]): _listed(city)[ids["C-ZL-2"]]}
    # A row that changed but is not ticked does not stop the others.
    assert _approve(city, [ids["C-ZL-1"]], seen).headers["location"] == \
        "/tiers?applied=1&skipped=0"


@pytest.mark.parametrize("ticked", ["abc", "²:00ff", "0:00ff", "99999999999:00ff", "1:XYZ",
                                    "1:" + "0" * 65])
def test_a_malformed_tick_is_refused_not_a_500(app, world, ticked):
    city = signed_in(app, "hz-city")
    token = csrf_of(city, "/tiers")
    response = city.post("/tiers/apply", data={"csrf_token": token, "change": [ticked]},
                         follow_redirects=False)
    assert response.status_code == 422
    assert _audits(world) == []


@pytest.mark.parametrize("query", ["limit=0", "limit=10000000000000000000", "limit=²"])
def test_bad_tier_limits_answer_422(app, world, query):
    city = signed_in(app, "hz-city")
    assert city.get(f"/api/tiers?{query}").status_code == 422


@pytest.fixture
def county_world(tmp_path):
    """The shared world with a county general manager in Wuxing (吴兴, above the marketer's
    Zhili outlet) and rules under which 童趣服饰 (4.6 parcels a day) is special: its required
    owner lives above the marketer's subtree."""
    store = Store(f"sqlite:///{tmp_path}/store.db")
    store.upgrade()
    world = build_world(store, tmp_path / "lake")
    rules = tmp_path / "kpi-rules.toml"
    rules.write_text("[tier_thresholds]\nspecial = 4\nfirst = 3.5\nsecond = 3.2\nthird = 2\n",
                     encoding="utf-8")
    world.settings = world.settings.model_copy(update={"rules_file": rules})
    with store.transaction() as s:
        unit = {u.code: u for u in s.scalars(select(OrgUnit))}
        for username, code, role, name in [
                ("wx-gm", "ZJ-HUZ-WX", Role.COUNTY_MANAGER, "吴兴总经理"),
                ("zl-am", ZHILI, Role.ACCOUNT_MANAGER, "织里客户经理")]:
            world.ids[username] = add_user(s, username, "correct-horse-9", unit[code], role,
                                           name).id
    world.store = store
    yield world
    store.engine.dispose()


def test_every_viewer_is_proposed_the_same_change_for_the_same_customer(county_world):
    """Reproduction of issue 9: the marketer's /tiers listed changes as "no one of the required
    role in your area" where the city saw the county manager proposed."""
    app = create_app(county_world.settings)
    views = {}
    for username in ("zl-marketer", "hz-city", "zj-prov"):
        client = signed_in(app, username)
        views[username] = (
            {c["code"]: c for c in client.get("/api/tiers/changes").json()["changes"]},
            {r["code"]: r for r in client.get("/api/tiers").json()["rows"]})
    marketer_changes, marketer_tiers = views["zl-marketer"]
    assert set(marketer_changes) == {"C-ZL-1", "C-ZL-2", "C-ZL-3"}  # the outlet's customers
    big = marketer_changes["C-ZL-1"]
    assert (big["new_tier"], big["required_role"]) == ("special", "county_manager")
    assert (big["new_owner_id"], big["new_owner"]) == (county_world.ids["wx-gm"], "吴兴总经理")
    assert "unfilled" not in big["reasons"]
    for other in ("hz-city", "zj-prov"):
        changes, tiers = views[other]
        assert {code: changes[code] for code in marketer_changes} == marketer_changes
        assert {code: tiers[code] for code in marketer_tiers} == marketer_tiers
    assert views["hz-city"][0]["C-HZ-1"]["reasons"] == ["tier", "unfilled"]  # no one above it
    assert views["zj-prov"][0] == views["hz-city"][0] | {
        k: v for k, v in views["zj-prov"][0].items() if k.startswith("C-XH")}
    page = signed_in(app, "zl-marketer").get("/tiers").text
    assert "吴兴总经理" in page and "均无" not in page
