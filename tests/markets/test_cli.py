"""``jiqun markets …`` and ``jiqun teams …`` on the two-city world."""

from __future__ import annotations

import json

from sqlalchemy import select

from jiqun.store.models import AuditEntry, Team, TeamStatus


def test_markets_add_edit_top_targets(cli, wstore):
    added = cli("markets", "add", "--code", "M-NX", "--name", "南浔家具城", "--type",
                "wholesale_market", "--industry", "家具", "--org", "ZJ-HUZ", "--user", "hz-city",
                "--revenue-target", "6000000", "--format", "json")
    assert added.exit_code == 0, added.output
    assert json.loads(added.stdout)[0]["yearly_revenue_target"] == 6_000_000
    refused = cli("markets", "add", "--code", "M-X", "--name", "x", "--type", "wholesale_market",
                  "--industry", "x", "--org", "ZJ-HGZ", "--user", "hz-city")
    assert refused.exit_code == 2 and "This org unit is outside your scope" in refused.output
    edited = cli("markets", "edit", "M-NX", "--tier", "B", "--user", "hz-city",
                 "--format", "csv")
    assert edited.exit_code == 0 and ",B," in edited.stdout
    with wstore.session() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "update",
                                                   AuditEntry.entity == "markets")).one()
        assert entry.changes == {"tier": [None, "B"]} and entry.source == "cli"
    top = json.loads(cli("markets", "top", "--user", "zj-prov", "--n", "2", "--format",
                         "json").stdout)
    assert [(r["rank"], r["code"]) for r in top] == [(1, "M-XH"), (2, "M-ZL")]
    whole = json.loads(cli("markets", "top", "--user", "system", "--n", "2", "--format",
                           "json").stdout)
    assert whole == top  # the system account sees the whole organisation
    own = json.loads(cli("markets", "top", "--user", "hgz-city", "--format", "json").stdout)
    assert [r["code"] for r in own] == ["M-XH"]
    targets = json.loads(cli("markets", "targets", "--user", "system", "--scope", "ZJ-HUZ",
                             "--format", "json").stdout)
    assert targets == [{"city": "湖州市分公司", "code": "ZJ-HUZ", "markets": 3,
                        "threshold_1": 10_000_000.0, "planned_1": 1, "filled_1": 0,
                        "threshold_2": 5_000_000.0, "planned_2": 2, "filled_2": 1, "met": False}]


def test_teams_propose_approve_list(cli, wstore):
    proposed = cli("teams", "propose", "--user", "hz-city", "--name", "织里直播组",
                   "--market", "M-ZL", "--grid", "G-ZL-1", "--member", "zl-marketer:leader",
                   "--format", "json")
    assert proposed.exit_code == 0, proposed.output
    team_id = json.loads(proposed.stdout)[0]["id"]
    denied = cli("teams", "approve", str(team_id), "--user", "hz-city")
    assert denied.exit_code == 2
    assert "Your role may not do this: Approve or reject a proposed team" in denied.output
    assert cli("teams", "approve", str(team_id), "--user", "zj-prov").exit_code == 0
    again = cli("teams", "reject", str(team_id), "--user", "zj-prov", "--reason", "late")
    assert again.exit_code == 2 and "This team has already been decided" in again.output
    with wstore.session() as s:
        assert s.get(Team, team_id).status == TeamStatus.APPROVED
    listed = json.loads(cli("teams", "list", "--user", "zj-prov", "--scope", "ZJ-HUZ",
                            "--format", "json").stdout)
    assert [(t["name"], t["status"], t["grids"]) for t in listed] == [
        ("织里直播组", "approved", "织里一网格")]
    assert json.loads(cli("teams", "list", "--user", "hgz-city", "--format", "json").stdout) == []


def test_every_command_needs_an_acting_user_and_a_scope_only_narrows(cli):
    for args in (["markets", "top"], ["markets", "targets"], ["teams", "list"],
                 ["markets", "edit", "M-ZL", "--tier", "B"]):
        missing = cli(*args)
        assert missing.exit_code == 2 and "--user" in missing.output, args
    widened = cli("teams", "list", "--user", "hz-city", "--scope", "ZJ-HGZ")
    assert widened.exit_code == 2 and "is not inside the subtree of hz-city" in widened.output
