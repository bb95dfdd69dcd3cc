"""Out-of-scope rows never enter a scoped session (issue 9, item 3): ``unscoped`` reads give
plain columns only, and link rows and audit entries are limited like every other scoped row."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import aliased

from jiqun.grids import teams
from jiqun.store import ScopeError
from jiqun.store.models import (
    AuditEntry,
    CampaignCustomer,
    Customer,
    Team,
    TeamMember,
    User,
)


def test_unscoped_reads_give_plain_columns_and_never_rows(cities):
    org, ids = cities.org, cities.ids
    with cities.session(org.huzhou) as s:
        codes = s.scalars(select(Customer.code).execution_options(unscoped=True)).all()
        assert sorted(codes) == ["C-XH", "C-ZL"]  # beyond the scope, as plain values
        names = s.execute(select(User.id, User.display_name)
                          .execution_options(unscoped=True)).all()
        assert dict(names)[ids["U-ZJ-HGZ-XH"]] == "西湖区分公司"
        for query in (select(User), select(aliased(User)), select(User, Customer.code)):
            with pytest.raises(ScopeError):
                s.execute(query.execution_options(unscoped=True))
        with pytest.raises(ScopeError):
            s.get(User, ids["U-ZJ-HGZ-XH"], execution_options={"unscoped": True})
        # Nothing foreign reached the identity map, so a plain get still finds nothing.
        assert s.get(User, ids["U-ZJ-HGZ-XH"]) is None
        assert s.get(Customer, ids["C-XH"]) is None


def test_unscoped_writes_are_refused(cities):
    with pytest.raises(ScopeError), cities.transaction(cities.org.huzhou) as s:
        s.execute(update(Customer).values(name="x").execution_options(unscoped=True))
    with cities.store.session() as s:
        assert sorted(s.scalars(select(Customer.name))) == ["织里童装一号", "西湖商家"]


def test_team_members_are_seen_where_their_team_is(cities):
    org, ids = cities.org, cities.ids
    with cities.session(org.huzhou) as s:
        assert [(m.team_id, m.user_id) for m in s.scalars(select(TeamMember))] == [
            (ids["T-ZL"], ids["U-ZJ-HUZ-WX-ZL"])]
        assert s.get(TeamMember, (ids["T-XH"], ids["U-ZJ-HGZ-XH"])) is None
        assert [m.user.username for m in s.get(Team, ids["T-ZL"]).members] == ["U-ZJ-HUZ-WX-ZL"]
    with cities.session(org.zhejiang) as s:
        assert len(s.scalars(select(TeamMember)).all()) == 2


def test_campaign_targets_are_seen_with_their_customer(cities):
    org, ids = cities.org, cities.ids
    with cities.session(org.huzhou) as s:
        # The province's campaign is not Huzhou's, but its own merchant's link is.
        assert s.execute(select(CampaignCustomer.campaign_id, CampaignCustomer.customer_id)
                         ).all() == [(ids["K-ZJ"], ids["C-ZL"])]
    with cities.session(org.zhejiang) as s:
        assert len(s.scalars(select(CampaignCustomer)).all()) == 2


def test_audit_entries_are_limited_to_the_subtree(cities):
    org = cities.org
    with cities.store.session() as s:
        everything = s.execute(select(AuditEntry.id, AuditEntry.org_unit_id)).all()
    huzhou = {org.huzhou.id, org.wuxing.id, org.zhili_outlet.id}
    with cities.session(org.huzhou) as s:
        seen = set(s.scalars(select(AuditEntry.id)))
    assert seen == {i for i, unit in everything if unit in huzhou}
    assert seen and len(seen) < len(everything)


def test_a_team_history_shows_only_entries_of_the_scope(cities):
    org, ids = cities.org, cities.ids
    with cities.store.transaction() as s:  # an entry filed under the team's id in another city
        s.add(AuditEntry(action="reject", entity="teams", entity_id=str(ids["T-ZL"]),
                         org_unit_id=org.xihu.id, changes={"reason": "foreign"}))
        s.add(AuditEntry(action="reject", entity="teams", entity_id=str(ids["T-ZL"]),
                         org_unit_id=org.zhili_outlet.id, changes={"reason": "own"}))
    with cities.session(org.huzhou) as s:
        history = teams.team_detail(s, ids["T-ZL"]).history
    assert [h.changes for h in history] == [{"reason": "own"}]
