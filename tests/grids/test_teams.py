"""Teams (G1): a city proposes, the province approves or rejects; members editable; audited."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from jiqun.accounts import add_user
from jiqun.grids import teams
from jiqun.markets.errors import Conflict, Invalid, NotAllowed
from jiqun.store.models import AuditEntry, Grid, OrgUnit, Role, Team, TeamStatus
from tests.markets.conftest import acting


def _propose(store, world, username="hz-city", **extra):
    with acting(store, username) as s:
        team = teams.propose_team(s, {
            "name": "织里直播组", "market_id": world.ids["zhili"],
            "members": [{"user_id": world.ids["zl-marketer"], "role": "leader"}], **extra})
        return team.id


def _decide(store, world, username, fn, *args):
    with acting(store, username) as s:
        return fn(s, *args)


def test_city_proposes_and_the_city_cannot_approve(wstore, world):
    team_id = _propose(wstore, world, grid_id=world.ids["grid"])
    with pytest.raises(NotAllowed) as refused:
        _decide(wstore, world, "hz-city", teams.approve_team, team_id)
    assert refused.value.msgid == "Your role may not do this: {action}"
    assert refused.value.values == {"action": "Approve or reject a proposed team"}
    with wstore.session() as s:
        team = s.get(Team, team_id)
        assert team.status == TeamStatus.PROPOSED and team.proposed_by_id == world.ids["hz-city"]
        assert [(m.user_id, m.role) for m in team.members] == [(world.ids["zl-marketer"],
                                                                "leader")]
        assert s.get(Grid, world.ids["grid"]).team_id == team_id


def test_province_approves_once(wstore, world):
    team_id = _propose(wstore, world)
    _decide(wstore, world, "zj-prov", teams.approve_team, team_id)
    with wstore.session() as s:
        team = s.get(Team, team_id)
        assert team.status == TeamStatus.APPROVED
        assert team.approved_by_id == world.ids["zj-prov"] and team.approved_at is not None
        update = s.scalars(select(AuditEntry).where(AuditEntry.entity == "teams",
                                                    AuditEntry.action == "update")).one()
        assert update.changes["status"] == ["proposed", "approved"]
        assert update.user_id == world.ids["zj-prov"]
    with pytest.raises(Conflict) as second:  # decided once: a later rejection is a conflict
        _decide(wstore, world, "zj-prov", teams.reject_team, team_id, "late")
    assert second.value.theirs == {"status": "approved"}
    with wstore.session() as s:
        assert s.get(Team, team_id).status == TeamStatus.APPROVED
        assert [h.action for h in teams.team_detail(s, team_id).history] == ["propose", "update"]


def test_rejection_needs_a_reason_and_frees_the_grid(wstore, world):
    team_id = _propose(wstore, world, grid_id=world.ids["grid"])
    with pytest.raises(Invalid) as caught:
        _decide(wstore, world, "zj-prov", teams.reject_team, team_id, "  ")
    assert caught.value.errors == {"reason": "Give a reason of 1–255 characters"}
    _decide(wstore, world, "zj-prov", teams.reject_team, team_id, "人员不足")
    with wstore.session() as s:
        assert s.get(Team, team_id).status == TeamStatus.REJECTED
        assert s.get(Grid, world.ids["grid"]).team_id is None
        detail = teams.team_detail(s, team_id)
    assert [h.action for h in detail.history] == ["propose", "update", "reject"]
    assert detail.history[-1].changes["reason"] == "人员不足"
    assert detail.history[-1].user == "浙江经理"


def test_the_proposer_cannot_approve_their_own_team(wstore, world):
    team_id = _propose(wstore, world, username="zj-prov")
    with pytest.raises(NotAllowed) as refused:
        _decide(wstore, world, "zj-prov", teams.approve_team, team_id)
    assert refused.value.msgid == "Someone other than the proposer must decide"


def test_a_marketer_cannot_propose(wstore, world):
    with pytest.raises(NotAllowed), acting(wstore, "zl-marketer") as s:
        teams.propose_team(s, {
            "name": "x", "market_id": world.ids["zhili"],
            "members": [{"user_id": world.ids["zl-marketer"]}]})


def test_proposals_outside_the_scope_are_refused(wstore, world):
    with pytest.raises(Invalid) as caught:
        _propose(wstore, world, market_id=world.ids["xihu"])  # Hangzhou's market
    assert caught.value.errors == {"market_id": "Choose a market"}
    with pytest.raises(Invalid) as caught, acting(wstore, "hz-city") as s:
        teams.propose_team(s, {
            "name": "x", "market_id": world.ids["zhili"],
            "members": [{"user_id": world.ids["hgz-city"]}]})  # a Hangzhou person
    assert caught.value.errors == {"members": "A member is not in your organisation"}
    with pytest.raises(Invalid) as caught, acting(wstore, "hz-city") as s:
        teams.propose_team(s, {"name": "", "market_id": world.ids["zhili"], "members": []})
    assert caught.value.errors == {"name": "A team name of 1–100 characters",
                                   "members": "Add at least one member"}


def test_members_and_roles_change_with_history(wstore, world):
    team_id = _propose(wstore, world)
    with wstore.transaction() as s:
        outlet = s.get(OrgUnit, s.get(Grid, world.ids["grid"]).org_unit_id)
        courier = add_user(s, "zl-courier", "pw-123456789", outlet, Role.COURIER, "快递员").id
    with pytest.raises(Invalid):
        _decide(wstore, world, "hz-city", teams.set_members, team_id, [
            {"user_id": world.ids["zl-marketer"], "role": "leader"},
            {"user_id": courier, "role": "leader"}])
    _decide(wstore, world, "hz-city", teams.set_members, team_id, [
        {"user_id": world.ids["zl-marketer"], "role": "marketer"},
        {"user_id": courier, "role": "leader"}])
    with wstore.session() as s:
        detail = teams.team_detail(s, team_id)
    assert [(m.username, m.role) for m in detail.members] == [("zl-courier", "leader"),
                                                              ("zl-marketer", "marketer")]
    last = detail.history[-1]
    assert last.action == "members" and last.user == "湖州经理"
    assert last.changes == {"added": [[courier, "leader"]], "removed": [],
                            "roles": {str(world.ids["zl-marketer"]): ["leader", "marketer"]}}


def test_teams_are_listed_proposed_first_and_scoped(wstore, world):
    first = _propose(wstore, world)
    _decide(wstore, world, "zj-prov", teams.approve_team, first)
    second = _propose(wstore, world)
    with acting(wstore, "hz-city") as s:
        assert [(t.id, t.status) for t in teams.list_teams(s)] == [
            (second, "proposed"), (first, "approved")]
    with acting(wstore, "hgz-city") as s:
        assert teams.list_teams(s) == []
