"""Issue 9 (Trust) for markets and teams: every action checked against the role by page, API,
CLI and Python API; no out-of-scope person in a scoped session; no lost update; a team decided
once; bad input answered 4xx, never 500."""

from __future__ import annotations

import re
import threading

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from jiqun.accounts import add_user
from jiqun.errors import Conflict, NotAllowed
from jiqun.grids import teams
from jiqun.markets import registry
from jiqun.store import Store
from jiqun.store.models import Market, MarketType, OrgUnit, Role, Team, TeamStatus, User
from jiqun.web.app import create_app
from tests.conftest import build_org
from tests.markets.conftest import acting, unit_id
from tests.web.conftest import PASSWORD, bearer, csrf_of, signed_in

TARGET = 18_000_000.0  # 闫集's yearly revenue target in the issue


@pytest.fixture
def app(world):
    return create_app(world.settings)


@pytest.fixture
def outlet_market(world, wstore) -> int:
    """A market in the marketer's own outlet, so what refuses them is their role, not the scope;
    plus a county manager (market.edit, no target.set) and a second provincial decider."""
    with wstore.transaction() as s:
        units = {u.code: u for u in s.scalars(select(OrgUnit))}
        market = Market(code="M-YJ", name="闫集电商村", type=MarketType.TAOBAO_VILLAGE,
                        industry="服装", org_unit_id=units["ZJ-HUZ-WX-ZL"].id,
                        yearly_revenue_target=TARGET)
        s.add(market)
        for username, code, role, name in [("wx-county", "ZJ-HUZ-WX", Role.COUNTY_MANAGER, "吴兴经理"),
                                           ("zj-super", "ZJ", Role.SUPERVISOR, "浙江督导")]:
            world.ids[username] = add_user(s, username, PASSWORD, units[code], role, name).id
        s.flush()
        world.ids["yanji"] = market.id
    return world.ids["yanji"]


def _target(store: Store, market_id: int) -> float | None:
    with store.session() as s:
        return s.get(Market, market_id).yearly_revenue_target



# -- 1. the marketer of the issue, by page, API, CLI and Python API -----------------------------
def test_a_marketer_cannot_change_a_target_by_page(app, wstore, outlet_market):
    marketer = signed_in(app, "zl-marketer")
    page = marketer.get(f"/markets/{outlet_market}")
    assert page.status_code == 200 and "闫集电商村" in page.text  # in their scope: they see it
    assert 'data-testid="edit-market"' not in page.text
    assert 'data-testid="new-market"' not in marketer.get("/markets").text
    assert marketer.get(f"/markets/{outlet_market}/edit").status_code == 403
    token = csrf_of(marketer, "/markets")
    refused = marketer.post(f"/markets/{outlet_market}/edit", data={
        "csrf_token": token, "yearly_revenue_target": "1,000", "name": "闫集电商村"})
    assert refused.status_code == 403
    assert "您的角色无权执行此操作：编辑市场信息（名称、类型、分级、位置）" in refused.text
    assert marketer.get("/markets/new").status_code == 403
    created = marketer.post("/markets/new", data={
        "csrf_token": token, "code": "M-MK", "name": "x", "type": "taobao_village",
        "industry": "x", "org_unit_id": str(unit_id(wstore, "ZJ-HUZ-WX-ZL"))})
    assert created.status_code == 403
    assert _target(wstore, outlet_market) == TARGET
    with wstore.session() as s:
        assert s.scalars(select(Market).where(Market.code == "M-MK")).first() is None


def test_a_city_manager_may_create_and_set_targets(app, wstore, outlet_market):
    city = signed_in(app, "hz-city")
    assert 'data-testid="new-market"' in city.get("/markets").text
    assert 'data-testid="edit-market"' in city.get(f"/markets/{outlet_market}").text
    form = city.get(f"/markets/{outlet_market}/edit")
    assert form.status_code == 200 and 'data-testid="targets-read-only"' not in form.text
    assert city.get("/markets/new").status_code == 200
    token = csrf_of(city, "/markets/new")
    saved = city.post(f"/markets/{outlet_market}/edit", follow_redirects=False, data={
        "csrf_token": token, "code": "M-YJ", "name": "闫集电商村", "type": "taobao_village",
        "industry": "服装", "org_unit_id": str(unit_id(wstore, "ZJ-HUZ-WX-ZL")),
        "yearly_revenue_target": "20,000,000", "target_year": "2024"})
    assert saved.status_code == 303
    assert _target(wstore, outlet_market) == 20_000_000


def test_a_marketer_cannot_change_a_target_by_api(app, outlet_market, wstore):
    client = TestClient(app)
    refused = client.patch(f"/api/markets/{outlet_market}", headers=bearer(client, "zl-marketer"),
                           json={"yearly_revenue_target": 1000})
    assert refused.status_code == 403 and "detail" in refused.json()
    created = client.post("/api/markets", headers=bearer(client, "zl-marketer"), json={
        "code": "M-MK", "name": "x", "type": "taobao_village", "industry": "x",
        "org_unit_id": unit_id(wstore, "ZJ-HUZ-WX-ZL")})
    assert created.status_code == 403
    assert _target(wstore, outlet_market) == TARGET


def test_a_marketer_cannot_change_a_target_by_cli(cli, wstore, outlet_market):
    refused = cli("markets", "edit", "M-YJ", "--revenue-target", "1000", "--user", "zl-marketer")
    assert refused.exit_code == 2
    assert "Your role may not do this: Edit a market's details" in refused.output
    assert _target(wstore, outlet_market) == TARGET
    added = cli("markets", "add", "--code", "M-MK", "--name", "x", "--type", "taobao_village",
                "--industry", "x", "--org", "ZJ-HUZ-WX-ZL", "--user", "zl-marketer")
    assert added.exit_code == 2 and "Register a cluster market" in added.output
    # Refused before anything is looked up: a market outside the subtree answers the same.
    foreign = cli("markets", "edit", "M-XH", "--tier", "B", "--user", "zl-marketer")
    assert foreign.exit_code == 2 and "Your role may not do this" in foreign.output
    members = cli("teams", "members", "1", "--member", "hz-city", "--user", "zl-marketer")
    assert members.exit_code == 2 and "Change a team's members" in members.output
    assert cli("markets", "edit", "M-YJ", "--revenue-target", "20000000",
               "--user", "hz-city").exit_code == 0
    assert _target(wstore, outlet_market) == 20_000_000


def test_a_marketer_cannot_change_a_target_by_the_python_api(wstore, outlet_market):
    with pytest.raises(NotAllowed), acting(wstore, "zl-marketer") as s:
        registry.edit_market(s, outlet_market, {"yearly_revenue_target": 1000})
    assert _target(wstore, outlet_market) == TARGET


def test_a_county_manager_edits_details_but_not_targets(app, wstore, outlet_market):
    county = signed_in(app, "wx-county")
    form = county.get(f"/markets/{outlet_market}/edit")
    assert form.status_code == 200 and 'data-testid="targets-read-only"' in form.text
    token = csrf_of(county, "/markets")
    # The read-only targets are not posted; the name changes, the target stays.
    saved = county.post(f"/markets/{outlet_market}/edit", follow_redirects=False, data={
        "csrf_token": token, "name": "闫集淘宝村"})
    assert saved.status_code == 303
    assert _target(wstore, outlet_market) == TARGET
    refused = county.post(f"/markets/{outlet_market}/edit", data={
        "csrf_token": token, "name": "闫集淘宝村", "yearly_revenue_target": "1000"})
    assert refused.status_code == 403
    client = TestClient(app)
    headers = bearer(client, "wx-county")
    assert client.patch(f"/api/markets/{outlet_market}", headers=headers,
                        json={"yearly_volume_target": 5}).status_code == 403
    # Sending a target is setting it, even the stored figure (the answer reveals nothing).
    assert client.patch(f"/api/markets/{outlet_market}", headers=headers,
                        json={"yearly_revenue_target": TARGET, "tier": "B"}).status_code == 403
    same = client.patch(f"/api/markets/{outlet_market}", headers=headers, json={"tier": "B"})
    assert same.status_code == 200 and same.json()["tier"] == "B"
    with wstore.session() as s:
        market = s.get(Market, outlet_market)
        assert (market.name, market.yearly_revenue_target) == ("闫集淘宝村", TARGET)


# -- 3. no out-of-scope person in a scoped session ----------------------------------------------
def test_team_names_from_outside_the_subtree_never_enter_the_viewers_session(
        wstore, world, outlet_market):
    with acting(wstore, "hz-city") as s:
        team_id = teams.propose_team(s, {
            "name": "织里直播组", "market_id": world.ids["zhili"],
            "members": [{"user_id": world.ids["hz-city"], "role": "leader"},
                        {"user_id": world.ids["zl-marketer"], "role": "marketer"}]}).id
    with acting(wstore, "zj-prov") as s:
        teams.approve_team(s, team_id)
    with acting(wstore, "wx-county") as s:  # the county sees the team of its market
        [row] = teams.list_teams(s)
        detail = teams.team_detail(s, team_id)
        assert (row.leader, row.proposed_by, row.approved_by) == ("湖州经理", "湖州经理", "浙江经理")
        assert [m.username for m in detail.members] == ["hz-city", "zl-marketer"]
        # The city and province people are named, yet not loadable from this session.
        assert s.get(User, world.ids["hz-city"]) is None
        assert s.get(User, world.ids["zj-prov"]) is None
        assert s.get(User, world.ids["zl-marketer"]) is not None  # inside the county
        assert not any(isinstance(o, User) and o.id in (world.ids["hz-city"], world.ids["zj-prov"])
                       for o in s.identity_map.values())


# -- 4. no lost update ---------------------------------------------------------------------------
def _edit_form(client, market_id: int) -> dict[str, str]:
    """What the edit page posts back: every input of the form as the user saw it."""
    page = client.get(f"/markets/{market_id}/edit").text
    form = dict(re.findall(r'<input type="(?:text|number|hidden)" name="([^"]+)"[^>]*?value="([^"]*)"',
                           page))
    form.update(re.findall(r'<select name="([^"]+)"[^>]*>(?:(?!</select>).)*?<option value="([^"]*)" selected',
                           page, re.S))
    return form


def test_two_stale_market_forms_the_second_gets_a_conflict_with_both_values(
        app, wstore, outlet_market):
    first, second = signed_in(app, "hz-city"), signed_in(app, "zj-prov")
    form_a, form_b = _edit_form(first, outlet_market), _edit_form(second, outlet_market)
    assert form_a["version"] == form_b["version"] and form_a["name"] == "闫集电商村"
    saved = first.post(f"/markets/{outlet_market}/edit", follow_redirects=False,
                       data={**form_a, "yearly_revenue_target": "20000000"})
    assert saved.status_code == 303
    stale = second.post(f"/markets/{outlet_market}/edit", data={**form_b, "name": "闫集村"})
    assert stale.status_code == 409
    assert "您打开后，此市场已被他人修改" in stale.text
    assert 'data-testid="conflict-name"' in stale.text
    row = stale.text.split('data-testid="conflict-yearly_revenue_target"')[1].split("</tr>")[0]
    assert "18000000" in row and "20000000" in row  # mine (what the form held) and theirs
    with wstore.session() as s:  # the first editor's change is kept
        market = s.get(Market, outlet_market)
        assert (market.name, market.yearly_revenue_target) == ("闫集电商村", 20_000_000)
    # Saving the conflict page again is the user's deliberate choice, against the new version.
    again = _edit_form(second, outlet_market)  # fresh form: nothing to conflict with
    assert second.post(f"/markets/{outlet_market}/edit", follow_redirects=False,
                       data={**again, "name": "闫集村"}).status_code == 303
    assert _target(wstore, outlet_market) == 20_000_000


def test_the_conflict_page_keeps_what_the_user_typed_and_saving_it_overwrites(
        app, wstore, outlet_market):
    first, second = signed_in(app, "hz-city"), signed_in(app, "zj-prov")
    form_a, form_b = _edit_form(first, outlet_market), _edit_form(second, outlet_market)
    first.post(f"/markets/{outlet_market}/edit", data={**form_a, "tier": "A"})
    stale = second.post(f"/markets/{outlet_market}/edit", data={**form_b, "tier": "C"})
    assert stale.status_code == 409
    kept = dict(re.findall(r'<input type="hidden" name="(version)" value="(\d+)"', stale.text))
    with wstore.session() as s:
        assert int(kept["version"]) == s.get(Market, outlet_market).version
    assert second.post(f"/markets/{outlet_market}/edit", follow_redirects=False,
                       data={**form_b, "tier": "C", **kept}).status_code == 303
    with wstore.session() as s:
        assert s.get(Market, outlet_market).tier == "C"


def test_api_patch_with_a_stale_version_is_409_with_mine_and_theirs(app, outlet_market):
    client = TestClient(app)
    headers = bearer(client, "hz-city")
    version = client.get(f"/api/markets/{outlet_market}", headers=headers).json()[
        "market"]["version"]
    first = client.patch(f"/api/markets/{outlet_market}", headers=headers,
                         json={"yearly_revenue_target": 20_000_000, "version": version})
    assert first.status_code == 200 and first.json()["version"] == version + 1
    stale = client.patch(f"/api/markets/{outlet_market}", headers=headers,
                         json={"yearly_revenue_target": 19_000_000, "version": version})
    assert stale.status_code == 409
    assert stale.json()["mine"] == {"yearly_revenue_target": 19_000_000}
    assert stale.json()["theirs"] == {"yearly_revenue_target": 20_000_000}
    # The same save twice (a double submit) changes nothing the second time: no conflict.
    again = client.patch(f"/api/markets/{outlet_market}", headers=headers,
                         json={"yearly_revenue_target": 20_000_000, "version": version})
    assert again.status_code == 200 and again.json()["version"] == version + 1


def test_a_target_only_edit_moves_the_version_on(wstore, outlet_market):
    """A yearly volume target lives in the monthly rows, not on the market: the market's version
    must still move, or a stale form would overwrite it unnoticed."""
    with acting(wstore, "hz-city") as s:
        before = s.get(Market, outlet_market).version
        registry.edit_market(s, outlet_market, {"yearly_volume_target": 1200,
                                                "target_year": 2024}, version=before)
    with pytest.raises(Conflict) as caught, acting(wstore, "hz-city") as s:
        registry.edit_market(s, outlet_market, {"yearly_volume_target": 2400,
                                                "target_year": 2024}, version=before)
    assert caught.value.mine == {"yearly_volume_target": 2400}
    assert caught.value.theirs == {"yearly_volume_target": pytest.approx(1200)}


def _team(wstore, world, **extra) -> int:
    with acting(wstore, "hz-city") as s:
        return teams.propose_team(s, {
            "name": "织里直播组", "market_id": world.ids["zhili"],
            "members": [{"user_id": world.ids["zl-marketer"], "role": "leader"}], **extra}).id


def test_two_stale_member_pages_the_added_member_does_not_disappear(app, wstore, world,
                                                                   outlet_market):
    team_id = _team(wstore, world)
    first, second = signed_in(app, "hz-city"), signed_in(app, "wx-county")

    def form(client):
        page = client.get(f"/teams/{team_id}").text
        return {"csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', page).group(1),
                "version": re.search(r'name="version" value="(\d+)"', page).group(1),
                "user_ids": str(world.ids["zl-marketer"]),
                f"role_{world.ids['zl-marketer']}": "leader"}

    form_a, form_b = form(first), form(second)
    added = first.post(f"/teams/{team_id}/members", follow_redirects=False,
                       data={**form_a, "add_user_id": str(world.ids["wx-county"]),
                             "add_role": "member"})
    assert added.status_code == 303
    stale = second.post(f"/teams/{team_id}/members",
                        data={**form_b, f"role_{world.ids['zl-marketer']}": "marketer"})
    assert stale.status_code == 409
    assert "您打开后，此团队的成员已被他人修改" in stale.text
    theirs = stale.text.split('data-testid="conflict-theirs">')[1].split("</dd>")[0]
    assert "吴兴经理" in theirs
    with wstore.session() as s:
        members = {(m.user_id, m.role) for m in s.get(Team, team_id).members}
    assert members == {(world.ids["zl-marketer"], "leader"), (world.ids["wx-county"], "member")}


def test_team_members_api_with_a_stale_version_is_409(app, wstore, world, outlet_market):
    team_id = _team(wstore, world)
    client = TestClient(app)
    headers = bearer(client, "hz-city")
    version = client.get(f"/api/teams/{team_id}", headers=headers).json()["team"]["version"]
    marketer = {"user_id": world.ids["zl-marketer"], "role": "leader"}
    county = {"user_id": world.ids["wx-county"], "role": "member"}
    assert client.put(f"/api/teams/{team_id}/members", headers=headers, json={
        "members": [marketer, county], "version": version}).status_code == 200
    stale = client.put(f"/api/teams/{team_id}/members", headers=headers, json={
        "members": [marketer], "version": version})
    assert stale.status_code == 409
    assert stale.json()["theirs"] == {"members": ["吴兴经理 (member)", "织里营销员 (leader)"]}
    assert stale.json()["mine"] == {"members": ["织里营销员 (leader)"]}


# -- 4. a team is decided once -------------------------------------------------------------------
def test_a_decided_team_cannot_be_decided_again_by_page_or_api(app, wstore, world, outlet_market):
    team_id = _team(wstore, world)
    province, supervisor = signed_in(app, "zj-prov"), signed_in(app, "zj-super")
    token_p, token_s = csrf_of(province, f"/teams/{team_id}"), csrf_of(supervisor, "/teams")
    assert 'data-testid="approve"' in supervisor.get(f"/teams/{team_id}").text
    assert province.post(f"/teams/{team_id}/approve", follow_redirects=False,
                         data={"csrf_token": token_p}).status_code == 303
    late = supervisor.post(f"/teams/{team_id}/reject",
                           data={"csrf_token": token_s, "reason": "人员不足"})
    assert late.status_code == 409 and "此团队已审批过" in late.text
    assert 'data-testid="approve"' not in supervisor.get(f"/teams/{team_id}").text
    client = TestClient(app)
    api = client.post(f"/api/teams/{team_id}/approve", headers=bearer(client, "zj-super"))
    assert api.status_code == 409 and api.json()["theirs"] == {"status": "approved"}
    with wstore.session() as s:
        assert s.get(Team, team_id).status == TeamStatus.APPROVED
        assert [h.action for h in teams.team_detail(s, team_id).history] == ["propose", "update"]


def test_the_proposer_sees_no_decision_buttons(app, wstore, world, outlet_market):
    with acting(wstore, "zj-prov") as s:
        team_id = teams.propose_team(s, {
            "name": "省级组", "market_id": world.ids["zhili"],
            "members": [{"user_id": world.ids["zl-marketer"]}]}).id
    page = signed_in(app, "zj-prov").get(f"/teams/{team_id}")
    assert page.status_code == 200 and 'data-testid="approve"' not in page.text
    assert 'data-testid="approve"' in signed_in(app, "zj-super").get(f"/teams/{team_id}").text


def _deciders_world(store: Store) -> tuple[int, int, int]:
    """A team proposed by a city, and two provincial deciders (any database)."""
    org = build_org(store)
    with store.transaction() as s:
        city = add_user(s, "city", PASSWORD, s.get(OrgUnit, org.huzhou.id), Role.CITY_MANAGER)
        one = add_user(s, "prov-1", PASSWORD, s.get(OrgUnit, org.zhejiang.id),
                       Role.PROVINCIAL_MANAGER)
        two = add_user(s, "prov-2", PASSWORD, s.get(OrgUnit, org.zhejiang.id), Role.SUPERVISOR)
        market = Market(code="M-1", name="市场", type=MarketType.TAOBAO_VILLAGE, industry="x",
                        org_unit_id=org.huzhou.id)
        s.add(market)
        s.flush()
        ids = city.id, one.id, two.id, market.id
    with store.transaction(actor=store.actor(ids[0])) as s:
        team = teams.propose_team(s, {"name": "组", "market_id": ids[3],
                                      "members": [{"user_id": ids[0], "role": "leader"}]})
        return team.id, ids[1], ids[2]


def test_two_stale_decisions_one_wins_the_other_conflicts(any_store):
    """Both deciders read the proposed team; the first commits; the second's UPDATE finds the
    version moved on and is refused."""
    team_id, one, two = _deciders_world(any_store)
    with any_store.session(actor=any_store.actor(one)) as a, \
            any_store.session(actor=any_store.actor(two)) as b:
        assert a.get(Team, team_id).status == b.get(Team, team_id).status == TeamStatus.PROPOSED
        teams.approve_team(a, team_id)
        a.commit()
        with pytest.raises(Conflict):
            teams.reject_team(b, team_id, "重复")
        b.rollback()
    with any_store.session() as s:
        team = s.get(Team, team_id)
        assert (team.status, team.approved_by_id) == (TeamStatus.APPROVED, one)
        assert [h.action for h in teams.team_detail(s, team_id).history] == ["propose", "update"]


def test_concurrent_approve_and_reject_exactly_one_succeeds(any_store):
    """Two threads, each having read the proposed team, decide at once (approve against
    reject): exactly one decision lands, the other is a conflict, and the history agrees."""
    team_id, one, two = _deciders_world(any_store)
    ready = threading.Barrier(2, timeout=60)
    outcomes: dict[str, str] = {}

    def decide(name: str, user_id: int, action) -> None:
        with any_store.session(actor=any_store.actor(user_id)) as s:
            try:
                s.get(Team, team_id)  # both have seen it proposed
                ready.wait()
                action(s)
                s.commit()
                outcomes[name] = "ok"
            except Conflict:
                s.rollback()
                outcomes[name] = "conflict"

    threads = [threading.Thread(target=decide, args=("approve", one,
                                                     lambda s: teams.approve_team(s, team_id))),
               threading.Thread(target=decide, args=("reject", two,
                                                     lambda s: teams.reject_team(s, team_id,
                                                                                 "重复")))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes.values()) == ["conflict", "ok"]
    winner = next(k for k, v in outcomes.items() if v == "ok")
    with any_store.session() as s:
        team = s.get(Team, team_id)
        history = [h.action for h in teams.team_detail(s, team_id).history]
    if winner == "approve":
        assert team.status == TeamStatus.APPROVED and history == ["propose", "update"]
    else:
        assert team.status == TeamStatus.REJECTED and history == ["propose", "update", "reject"]


# -- 5. bad input is 4xx, never 500 --------------------------------------------------------------
@pytest.mark.parametrize("body, field", [
    ({"target_year": 10000}, "target_year"),
    ({"target_year": 1999, "yearly_revenue_target": 5}, "target_year"),
    ({"yearly_revenue_target": 1e39}, "yearly_revenue_target"),
    ({"yearly_volume_target": -1}, "yearly_volume_target"),
    ({"market_daily_volume": 1e10}, "market_daily_volume"),
    ({"org_unit_id": 10**30}, "org_unit_id"),
])
def test_api_patch_values_that_cannot_be_stored_are_422(app, world, body, field):
    client = TestClient(app)
    answer = client.patch(f"/api/markets/{world.ids['zhili']}", json=body,
                          headers=bearer(client, "hz-city"))
    assert answer.status_code == 422 and field in answer.json()["errors"]


def test_non_finite_targets_are_422(app, world):
    client = TestClient(app)
    headers = {**bearer(client, "hz-city"), "Content-Type": "application/json"}
    for raw in ('{"yearly_revenue_target": Infinity}', '{"yearly_volume_target": NaN}'):
        answer = client.patch(f"/api/markets/{world.ids['zhili']}", content=raw, headers=headers)
        assert answer.status_code == 422, raw
    city = signed_in(app, "hz-city")
    token = csrf_of(city, "/markets/new")
    for value in ("inf", "1e39", "nan"):
        page = city.post(f"/markets/{world.ids['zhili']}/edit",
                         data={"csrf_token": token, "yearly_revenue_target": value})
        assert page.status_code == 400 and "年度收入目标应在 0 到 1 万亿元之间" in page.text, value
    assert city.post(f"/markets/{world.ids['zhili']}/edit", data={
        "csrf_token": token, "target_year": "10000"}).status_code == 400
    assert _target(Store(world.settings.store_url), world.ids["zhili"]) is None  # nothing saved


@pytest.mark.parametrize("path", ["/markets/²/edit", "/markets/99999999999999999999/edit",
                                  "/teams/²", "/teams/0", "/api/teams/²",
                                  "/api/markets/99999999999999999999", "/markets/top?n=²",
                                  "/markets/²"])
def test_bad_ids_in_pages_and_api_are_never_500(app, path):
    answer = signed_in(app, "hz-city").get(path)
    assert answer.status_code in (200, 400, 404, 422), path


def test_bad_ids_in_team_forms_are_never_500(app, wstore, world):
    team_id = _team(wstore, world)
    city = signed_in(app, "hz-city")
    token = csrf_of(city, f"/teams/{team_id}")
    for data in ({"user_ids": "²", "add_user_id": "²"}, {"user_ids": "99999999999999999999"},
                 {"add_user_id": str(world.ids["zl-marketer"]), "version": "²"}):
        answer = city.post(f"/teams/{team_id}/members", data={"csrf_token": token, **data})
        assert answer.status_code in (403, 404, 409, 422), (data, answer.status_code)
    assert city.post("/teams/31/members", data={"csrf_token": token,
                                                 "user_ids": "1"}).status_code == 404
    assert city.post("/teams/²/members", data={"csrf_token": token}).status_code in (400, 422)
    proposed = city.post("/teams", data={"csrf_token": token, "name": "x", "market_id": "²",
                                         "leader_id": "²", "member_ids": ["²", "-1"]})
    assert proposed.status_code == 400
    with wstore.session() as s:
        members = [(m.user_id, m.role) for m in s.get(Team, team_id).members]
    assert members == [(world.ids["zl-marketer"], "leader")]
