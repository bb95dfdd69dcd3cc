"""Core and bulk writes under a scope are checked like ORM objects are (issue 9, item 3):
``insert()`` and ``update()`` setting an org unit outside the subtree, raw SQL and what cannot
be checked are refused with ScopeError, and nothing is written."""

from __future__ import annotations

import pytest
from sqlalchemy import bindparam, delete, func, insert, literal, select, text, update

from jiqun.store import ScopeError
from jiqun.store.models import (
    AuditEntry,
    CampaignCustomer,
    Customer,
    Market,
    Team,
    TeamMember,
)


def _customer(code, unit_id, **extra):
    return {"code": code, "name": code, "org_unit_id": unit_id, **extra}


def _codes(cities) -> list[str]:
    with cities.store.session() as s:
        return sorted(s.scalars(select(Customer.code)))


FOREIGN_INSERTS = {
    "orm insert values": lambda org: (insert(Customer).values(**_customer("C-N", org.xihu.id)),),
    "core insert values": lambda org: (
        insert(Customer.__table__).values(**_customer("C-N", org.xihu.id)),),
    "orm bulk insert": lambda org: (insert(Customer), [_customer("C-N1", org.wuxing.id),
                                                       _customer("C-N2", org.xihu.id)]),
    "core bulk insert": lambda org: (insert(Customer.__table__),
                                     [_customer("C-N1", org.wuxing.id),
                                      _customer("C-N2", org.xihu.id)]),
    "multi values": lambda org: (insert(Customer).values([_customer("C-N1", org.wuxing.id),
                                                          _customer("C-N2", org.xihu.id)]),),
    "bound parameter": lambda org: (
        insert(Customer).values(code="C-N", name="n", org_unit_id=bindparam("unit")),
        {"unit": org.xihu.id}),
    "parameter over values": lambda org: (
        insert(Customer).values(**_customer("C-N", org.wuxing.id)),
        {"org_unit_id": org.xihu.id}),
    "org unit by subquery": lambda org: (insert(Customer).values(
        code="C-N", name="n", org_unit_id=select(func.min(Market.org_unit_id))
        .scalar_subquery()),),
    "org unit by literal expression": lambda org: (insert(Customer).values(
        code="C-N", name="n", org_unit_id=literal(org.wuxing.id) + 0),),
    "no org unit": lambda org: (insert(Customer).values(code="C-N", name="n"),),
    "insert from select": lambda org: (insert(Customer.__table__).from_select(
        ["code", "name", "org_unit_id"],
        select(Customer.code + "-copy", Customer.name, Customer.org_unit_id)),),
}


@pytest.mark.parametrize("case", FOREIGN_INSERTS)
def test_inserts_outside_or_beyond_checking_are_refused(cities, case):
    args = FOREIGN_INSERTS[case](cities.org)
    with pytest.raises(ScopeError), cities.transaction(cities.org.huzhou) as s:
        s.execute(*args)
    assert _codes(cities) == ["C-XH", "C-ZL"]


@pytest.mark.parametrize("table", [Customer, Customer.__table__])
def test_inserts_inside_the_subtree_pass(cities, table):
    org = cities.org
    with cities.transaction(org.huzhou) as s:
        s.execute(insert(table).values(**_customer("C-N0", org.zhili_outlet.id)))
        s.execute(insert(table), [_customer("C-N1", org.wuxing.id),
                                  _customer("C-N2", org.huzhou.id)])
    assert _codes(cities) == ["C-N0", "C-N1", "C-N2", "C-XH", "C-ZL"]


def test_moving_a_row_out_of_the_subtree_by_update_is_refused(cities):
    org = cities.org
    with pytest.raises(ScopeError), cities.transaction(org.huzhou) as s:
        s.execute(update(Customer).values(org_unit_id=org.xihu.id))
    with pytest.raises(ScopeError), cities.transaction(org.huzhou) as s:
        s.execute(update(Customer).values(org_unit_id=bindparam("u")), {"u": org.xihu.id})
    with cities.transaction(org.huzhou) as s:  # inside the subtree: applied to its rows only
        s.execute(update(Customer).values(org_unit_id=org.zhili_outlet.id))
    with cities.store.session() as s:
        units = dict(s.execute(select(Customer.code, Customer.org_unit_id)).all())
    assert units == {"C-ZL": org.zhili_outlet.id, "C-XH": org.xihu.id}


def test_bulk_update_by_primary_key_and_core_update_or_delete_are_refused(cities):
    org, ids = cities.org, cities.ids
    statements = [
        (update(Customer), [{"id": ids["C-XH"], "name": "x", "version": 1}]),
        (update(Customer.__table__).values(name="x"),),
        (delete(Customer.__table__).where(Customer.__table__.c.code == "C-XH"),),
    ]
    for args in statements:
        with pytest.raises(ScopeError), cities.transaction(org.huzhou) as s:
            s.execute(*args)
    with cities.store.session() as s:
        assert s.scalars(select(Customer.name).where(Customer.code == "C-XH")).one() == "西湖商家"


def test_raw_sql_is_refused_under_a_scope_and_runs_for_the_whole_organisation(cities):
    org = cities.org
    for sql in ("UPDATE customers SET name = 'x'", "SELECT name FROM customers",
                "DELETE FROM customers"):
        with pytest.raises(ScopeError), cities.transaction(org.huzhou) as s:
            s.execute(text(sql))
    with pytest.raises(ScopeError), cities.session(org.huzhou) as s:
        s.execute(select(Customer.__table__.c.name))  # a Core read the ORM cannot filter
    with cities.store.session() as s:  # the system account's whole organisation
        assert s.execute(text("SELECT count(*) FROM customers")).scalar() == 2
    with cities.session(org.hq) as s:  # HQ is the whole organisation too: no filter at all
        assert s.execute(text("SELECT count(*) FROM customers")).scalar() == 2


def test_link_rows_are_written_only_for_parents_in_scope(cities):
    org, ids = cities.org, cities.ids
    foreign = [
        (insert(TeamMember), [{"team_id": ids["T-XH"], "user_id": ids["U-ZJ-HUZ-WX-ZL"]}]),
        (insert(TeamMember).values(team_id=ids["T-XH"], user_id=ids["U-ZJ-HUZ-WX-ZL"]),),
        (insert(CampaignCustomer), [{"campaign_id": ids["K-ZJ"], "customer_id": ids["C-ZL"]},
                                    {"campaign_id": ids["K-ZJ"], "customer_id": ids["C-XH"]}]),
        (update(TeamMember).values(team_id=ids["T-XH"]),),
    ]
    for args in foreign:
        with pytest.raises(ScopeError), cities.transaction(org.huzhou) as s:
            s.execute(*args)
    with pytest.raises(ScopeError), cities.transaction(org.huzhou) as s:
        s.add(TeamMember(team_id=ids["T-XH"], user_id=ids["U-ZJ-HUZ-WX-ZL"]))
    with cities.transaction(org.huzhou) as s:
        s.execute(delete(CampaignCustomer))  # only the links of Huzhou's customers
        s.execute(insert(CampaignCustomer), [{"campaign_id": ids["K-ZJ"],
                                              "customer_id": ids["C-ZL"]}])
        s.execute(update(TeamMember).values(role="member"))
    with cities.store.session() as s:
        assert len(s.scalars(select(CampaignCustomer)).all()) == 2
        roles = dict(s.execute(select(TeamMember.team_id, TeamMember.role)).all())
    assert roles == {ids["T-ZL"]: "member", ids["T-XH"]: "leader"}


def test_a_new_team_and_its_member_pass_in_one_flush(cities):
    # The member's team_id is unknown until the flush: it is checked through its team object.
    org, ids = cities.org, cities.ids
    with cities.transaction(org.huzhou) as s:
        team = Team(name="T-NEW", market_id=ids["M-ZL"], org_unit_id=org.wuxing.id)
        s.add(TeamMember(team=team, user_id=ids["U-ZJ-HUZ-WX-ZL"]))
    with cities.session(org.huzhou) as s:
        assert sorted(m.team.name for m in s.scalars(select(TeamMember))) == ["T-NEW", "T-ZL"]


def test_audit_entries_are_written_only_in_scope(cities):
    org = cities.org
    entry = {"action": "note", "entity": "customers", "org_unit_id": org.xihu.id}
    with pytest.raises(ScopeError), cities.transaction(org.huzhou) as s:
        s.add(AuditEntry(**entry))
    with pytest.raises(ScopeError), cities.transaction(org.huzhou) as s:
        s.execute(insert(AuditEntry).values(action="note", entity="customers"))  # no org unit
    with cities.transaction(org.huzhou) as s:
        s.add(AuditEntry(**{**entry, "org_unit_id": org.wuxing.id}))


def test_legacy_bulk_writes_are_refused_under_a_scope(cities):
    org = cities.org
    calls = [
        lambda s: s.bulk_insert_mappings(Customer, [_customer("C-N", org.xihu.id)]),
        lambda s: s.bulk_save_objects([Customer(**_customer("C-N", org.xihu.id))]),
        lambda s: s.bulk_update_mappings(Customer, [{"id": cities.ids["C-XH"], "name": "x"}]),
    ]
    for call in calls:
        with pytest.raises(ScopeError), cities.transaction(org.huzhou) as s:
            call(s)
    assert _codes(cities) == ["C-XH", "C-ZL"]
    with cities.store.transaction() as s:  # the whole organisation may
        s.bulk_insert_mappings(Customer, [_customer("C-N", org.xihu.id)])
    assert _codes(cities) == ["C-N", "C-XH", "C-ZL"]
