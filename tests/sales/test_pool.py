"""The pool (公海): which prospects return, who is reminded when, and the audited return."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from jiqun.errors import NotAllowed, NotFound
from jiqun.sales import pool
from jiqun.sales.rules import SalesRules
from jiqun.store.models import AuditEntry, Customer, Grid, LifecycleStage, Market, MarketType, Visit
from jiqun.store.scope import Scope
from tests.sales.conftest import add_customer

S = LifecycleStage
TODAY = dt.date(2024, 6, 30)
RULES = SalesRules(pool_days=30, owner_reminder_days=3, manager_reminder_days=5)


def _ago(n: int) -> dt.date:
    return TODAY - dt.timedelta(days=n)


def _prospects(store, outlet) -> dict[str, int]:
    """Owned prospects whose last follow-up was the number of days their code says; a
    cooperating customer and an unowned prospect that the clock must ignore."""
    org = outlet.org.zhili_outlet.id
    me = outlet.users["zl-marketer"]
    ids = {}
    for silent in (40, 30, 29, 27, 26, 25, 24, 10):
        ids[f"P{silent}"] = add_customer(store, org, f"P{silent}", S.NURTURING, owner_id=me,
                                         archived_on=_ago(200))
    ids["OWNED_RECENTLY"] = add_customer(store, org, "OWNED_RECENTLY", S.ARCHIVED, owner_id=me,
                                         archived_on=_ago(300), owned_since=_ago(2))
    ids["COOP"] = add_customer(store, org, "COOP", S.COOPERATING, owner_id=me,
                               archived_on=_ago(300))
    ids["UNOWNED"] = add_customer(store, org, "UNOWNED", S.ARCHIVED, archived_on=_ago(300))
    with store.transaction() as s:
        for silent in (40, 30, 29, 27, 26, 25, 24, 10):
            s.add(Visit(customer_id=ids[f"P{silent}"], user_id=me, org_unit_id=org,
                        visited_at=dt.datetime.combine(_ago(silent), dt.time(10)),
                        method="card", outcome="follow_up"))
        # An older visit does not restart the clock of P40.
        s.add(Visit(customer_id=ids["P40"], user_id=me, org_unit_id=org,
                    visited_at=dt.datetime.combine(_ago(90), dt.time(10)), method="card",
                    outcome="interested"))
    return ids


def test_clock_returns_and_reminds_the_right_prospects(store, outlet):
    _prospects(store, outlet)
    with store.session() as s:
        entries = pool.pool_clock(s, TODAY, RULES)
    got = {e.code: (e.days_silent, e.days_left, e.action) for e in entries}
    assert got == {
        "P40": (40, -10, "return"), "P30": (30, 0, "return"),
        "P29": (29, 1, "remind_owner"), "P27": (27, 3, "remind_owner"),
        "P26": (26, 4, "remind_manager"), "P25": (25, 5, "remind_manager"),
        "P24": (24, 6, "watch"), "P10": (10, 20, "watch"),
        "OWNED_RECENTLY": (2, 28, "watch"),
    }
    head = outlet.users["wx-head"]  # no grid: the county's department head is the manager
    assert {e.manager_id for e in entries} == {head}
    reminders = pool.reminders(entries, RULES)
    assert sorted((r.code, r.as_role, r.to_user_id) for r in reminders) == sorted([
        ("P29", "manager", head), ("P29", "owner", outlet.users["zl-marketer"]),
        ("P27", "manager", head), ("P27", "owner", outlet.users["zl-marketer"]),
        ("P26", "manager", head), ("P25", "manager", head),
    ])


def test_grid_manager_is_reminded_before_the_department_head(store, outlet):
    ids = _prospects(store, outlet)
    org = outlet.org.zhili_outlet.id
    with store.transaction() as s:
        market = Market(code="M", name="织里", type=MarketType.INDUSTRIAL_CLUSTER, industry="童装",
                        org_unit_id=org)
        s.add(market)
        s.flush()
        grid = Grid(market_id=market.id, code="G1", name="一网格", org_unit_id=org,
                    manager_id=outlet.users["zl-marketer2"])
        s.add(grid)
        s.flush()
        s.get(Customer, ids["P26"]).grid_id = grid.id
    with store.session() as s:
        entries = {e.code: e for e in pool.pool_clock(s, TODAY, RULES)}
    assert entries["P26"].manager_id == outlet.users["zl-marketer2"]
    assert entries["P25"].manager_id == outlet.users["wx-head"]


def test_return_clears_the_owner_audited_and_the_pool_lists_them(store, outlet):
    ids = _prospects(store, outlet)
    me = outlet.users["zl-marketer"]
    with store.session() as s:
        scope = Scope.for_unit(s, outlet.org.zhili_outlet.id)
    # Recycling the pool is the daily job's (reminders.run), not a marketer's.
    with store.session(scope=scope, user_id=me) as s, pytest.raises(NotAllowed):
        pool.return_to_pool(s, pool.pool_clock(s, TODAY, RULES))
    with store.transaction(scope=scope, source="cli") as s:  # the system account
        returned = pool.return_to_pool(s, pool.pool_clock(s, TODAY, RULES))
    assert returned == 2
    with store.session() as s:
        owners = dict(s.execute(select(Customer.code, Customer.owner_id)).all())
        assert owners["P40"] is None and owners["P30"] is None and owners["P29"] == me
        assert [c.code for c in pool.pool_customers(s)] == ["P30", "P40", "UNOWNED"]
        audits = s.execute(select(AuditEntry.entity_id, AuditEntry.changes)
                           .where(AuditEntry.username == "system",
                                  AuditEntry.entity == "customers",
                                  AuditEntry.action == "update")).all()
    assert sorted(int(a.entity_id) for a in audits) == sorted([ids["P40"], ids["P30"]])
    assert all(a.changes["owner_id"] == [me, None] for a in audits)


def test_claim_takes_a_prospect_from_the_pool(store, outlet):
    ids = _prospects(store, outlet)
    other = outlet.users["zl-marketer2"]
    with store.transaction(user_id=other) as s:
        assert pool.claim(s, ids["UNOWNED"], other, TODAY).owner_id == other
        with pytest.raises(pool.ClaimedAlready):  # owned: not in the pool (409)
            pool.claim(s, ids["P10"], other, TODAY)
        with pytest.raises(NotFound):  # shipping already: not a prospect
            pool.claim(s, ids["COOP"], other, TODAY)
    with store.session() as s:
        claimed = s.get(Customer, ids["UNOWNED"])
        assert (claimed.owner_id, claimed.owned_since) == (other, TODAY)
        entry = next(e for e in pool.pool_clock(s, TODAY, RULES) if e.code == "UNOWNED")
        assert entry.days_left == RULES.pool_days
