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
from jiqun.store.models import AuditEntry, Customer, OrgUnit, Role
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


def _approve(client: TestClient, ids: list[int]):
    token = csrf_of(client, "/tiers")
    return client.post("/tiers/apply", data={"csrf_token": token, "customer_id": ids},
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
    assert rows["C-ZL-2"]["reasons"] == ["tier", "no_owner"]
    assert (rows["C-ZL-3"]["old_tier"], rows["C-ZL-3"]["new_owner_id"]) == (None, am)
    park = rows["C-HZ-1"]
    assert (park["new_owner_id"], park["reasons"], park["approvable"]) == (None, ["unfilled"],
                                                                          False)
    page = city.get("/tiers")
    assert page.status_code == 200 and "待审批的调整" in page.text and "批准所选" in page.text
    boxes = page.text.count('name="customer_id"')
    assert boxes == 3 and page.text.count(" checked>") == 3  # approvable rows, ticked
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
    assert after["C-ZL-1"] == ("micro", am) and after["C-ZL-3"] == ("micro", am)
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
    assert "待审批的调整" in page and 'name="customer_id"' not in page and "批准所选" not in page
    before = _archive(world)
    ids = [r["customer_id"] for r in data["changes"]]
    assert _approve(marketer, ids).status_code == 403
    headers = bearer(marketer, "zl-marketer")
    assert marketer.post("/api/tiers/apply", json={"customer_ids": ids},
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
    result = client.post("/api/tiers/apply", json={"customer_ids": [small, foreign]},
                         headers=headers)
    assert result.status_code == 200
    body = result.json()
    assert [c["code"] for c in body["applied"]] == ["C-ZL-2"] and body["skipped"] == [foreign]
    assert _archive(world)["C-ZL-2"] == ("micro", world.ids["zl-am"])
    assert {(e.user_id, e.source) for e in _audits(world)} == {(world.ids["hz-city"], "api")}
    assert client.post("/api/tiers/apply", json={"customer_ids": "x"},
                       headers=headers).status_code == 422


def test_approving_without_the_csrf_token_is_refused(app, world):
    city = signed_in(app, "hz-city")
    ids = [r["customer_id"] for r in city.get("/api/tiers/changes").json()["changes"]]
    assert city.post("/tiers/apply", data={"customer_id": ids}).status_code == 403
    assert _audits(world) == []
