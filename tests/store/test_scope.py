"""The one scoping mechanism: reads, gets, bulk changes and writes stay in the org subtree."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, func, select, update

from jiqun.store import Scope, ScopeError
from jiqun.store.models import AuditEntry, Customer, Market, MarketType
from tests.conftest import build_org


def _market(unit, code):
    return Market(code=code, name=code, type=MarketType.INDUSTRIAL_CLUSTER, industry="童装",
                  org_unit_id=unit.id)


@pytest.fixture
def two_cities(any_store):
    org = build_org(any_store)
    with any_store.transaction() as s:
        s.add_all([_market(org.zhili_outlet, "M-ZL"), _market(org.xihu, "M-XH")])
        s.flush()
        ids = {m.code: m.id for m in s.scalars(select(Market))}
        s.add_all([
            Customer(code="C1", name="织里童装一号", market_id=ids["M-ZL"], org_unit_id=org.wuxing.id),
            Customer(code="C2", name="西湖商家", market_id=ids["M-XH"], org_unit_id=org.xihu.id),
        ])
    return any_store, org, ids


def _scope(store, unit):
    with store.session() as s:
        return Scope.for_unit(s, unit.id)


def test_subtree_of_a_city(two_cities):
    store, org, _ = two_cities
    scope = _scope(store, org.huzhou)
    assert scope.org_ids == {org.huzhou.id, org.wuxing.id, org.zhili_outlet.id}


def test_reads_and_gets_are_limited_to_the_subtree(two_cities):
    store, org, ids = two_cities
    with store.session(scope=_scope(store, org.huzhou)) as s:
        assert [m.code for m in s.scalars(select(Market))] == ["M-ZL"]
        assert s.scalar(select(func.count()).select_from(Customer)) == 1
        assert s.get(Market, ids["M-XH"]) is None
        assert s.get(Market, ids["M-ZL"]).code == "M-ZL"
    with store.session(scope=_scope(store, org.zhejiang)) as s:
        assert sorted(m.code for m in s.scalars(select(Market))) == ["M-XH", "M-ZL"]


def test_bulk_update_and_delete_do_not_reach_other_cities(two_cities):
    store, org, _ = two_cities
    with store.transaction(scope=_scope(store, org.huzhou)) as s:
        s.execute(update(Customer).values(est_daily_volume=99.0))
        s.execute(delete(Customer).where(Customer.code == "C2"))
    with store.session() as s:
        volumes = {c.code: c.est_daily_volume for c in s.scalars(select(Customer))}
    assert volumes == {"C1": 99.0, "C2": None}


def test_writes_outside_the_subtree_are_refused_and_nothing_is_applied(two_cities):
    store, org, ids = two_cities
    with pytest.raises(ScopeError), store.transaction(scope=_scope(store, org.huzhou)) as s:
        s.add(Customer(code="C3", name="ok", org_unit_id=org.wuxing.id))
        s.add(Customer(code="C4", name="foreign", org_unit_id=org.xihu.id))
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(Customer)) == 2


def test_changes_are_audited_with_actor_and_old_and_new_values(two_cities):
    store, org, _ = two_cities
    with store.transaction(scope=_scope(store, org.huzhou), user_id=None, source="web") as s:
        customer = s.scalars(select(Customer)).one()
        customer.est_daily_volume = 1200.0
    with store.session() as s:
        entry = s.scalars(
            select(AuditEntry).where(AuditEntry.action == "update", AuditEntry.entity == "customers")
        ).one()
    assert entry.changes == {"est_daily_volume": [None, 1200.0]}
    assert entry.source == "web" and entry.org_unit_id == org.wuxing.id


def test_inserts_are_audited_with_the_new_rows_id(two_cities):
    store, _, ids = two_cities
    with store.session() as s:
        entries = s.scalars(
            select(AuditEntry).where(AuditEntry.action == "insert", AuditEntry.entity == "markets")
        ).all()
    assert sorted(e.entity_id for e in entries) == sorted(str(i) for i in ids.values())
    assert all(e.entity_id == str(e.changes["id"]) for e in entries)
