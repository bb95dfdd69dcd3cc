"""The scope filters by the org path (``path LIKE '/1/2/%'``), not by a list of every org id
below the user, with the same result as the old id list for every unit of the tree; the whole
organisation's scope (HQ, the system account) adds no filter at all (issue 9, item 3)."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import event, select

from jiqun.store import Scope
from jiqun.store.models import AuditEntry, Customer, Market, MarketType, OrgUnit, TeamMember
from tests.conftest import build_org


@pytest.fixture
def rows_everywhere(any_store):
    """A market and a merchant in every unit of the test tree."""
    org = build_org(any_store)
    units = [getattr(org, f.name) for f in dataclasses.fields(org)]
    with any_store.transaction() as s:
        for u in units:
            s.add(Market(code=f"M-{u.code}", name=u.name, type=MarketType.WHOLESALE_MARKET,
                         industry="服装", org_unit_id=u.id))
            s.add(Customer(code=f"C-{u.code}", name=u.name, org_unit_id=u.id))
    return any_store, units


def _old_in_list(session, unit) -> list[int]:
    """The subtree as the old scope listed it: every org id whose path starts with the unit's."""
    return sorted(session.scalars(select(OrgUnit.id).where(OrgUnit.path.startswith(unit.path))))


def test_the_path_filter_equals_the_old_id_list_for_every_unit(rows_everywhere):
    store, units = rows_everywhere
    with store.session() as s:
        expected = {u.code: {m: sorted(s.scalars(select(model.code).where(
            model.org_unit_id.in_(_old_in_list(s, u))))) for m, model in
            (("markets", Market), ("customers", Customer))} for u in units}
        audits = {u.code: sorted(s.scalars(select(AuditEntry.id).where(
            AuditEntry.org_unit_id.in_(_old_in_list(s, u))))) for u in units}
    for unit in units:  # one after the other: the cached statement takes each scope's value
        with store.session(scope=Scope.for_unit_id(store, unit.id)) as s:
            seen = {"markets": sorted(s.scalars(select(Market.code))),
                    "customers": sorted(s.scalars(select(Customer.code)))}
            assert seen == expected[unit.code], unit.code
            assert sorted(s.scalars(select(AuditEntry.id))) == audits[unit.code], unit.code
    assert len(expected["HQ"]["customers"]) == 7 and expected["ZJ-HGZ-XH"]["customers"] == [
        "C-ZJ-HGZ-XH"]


def _statements(store, scope) -> list[str]:
    seen: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        seen.append(statement)

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        with store.session(scope=scope) as s:
            s.scalars(select(Customer.code)).all()
            s.scalars(select(TeamMember)).all()
    finally:
        event.remove(store.engine, "before_cursor_execute", record)
    return seen


def test_a_city_is_filtered_by_its_path_and_hq_not_at_all(rows_everywhere):
    store, units = rows_everywhere
    by_code = {u.code: u for u in units}
    city = Scope.for_unit_id(store, by_code["ZJ-HUZ"].id)
    assert city.root_path == by_code["ZJ-HUZ"].path and city.org_ids == {
        by_code[c].id for c in ("ZJ-HUZ", "ZJ-HUZ-WX", "ZJ-HUZ-WX-ZL")}
    customers, members = _statements(store, city)
    if store.engine.dialect.name == "postgresql":  # the unit ids, bound: the planner counts them
        assert "WHERE customers.org_unit_id = ANY (CAST(%(ids_1)s AS INTEGER[]))" in customers
        assert "teams.org_unit_id = ANY (CAST(%(ids_1)s AS INTEGER[]))" in members
    else:
        assert ("WHERE customers.org_unit_id IN (SELECT org_units.id \nFROM org_units \n"
                "WHERE org_units.path LIKE ") in customers
        assert "teams.org_unit_id IN (SELECT org_units.id" in members
    hq = Scope.for_unit_id(store, by_code["HQ"].id)
    assert hq.whole and hq.root_id == by_code["HQ"].id and hq.org_ids is None
    for scope in (hq, Scope.WHOLE):
        assert all("WHERE" not in sql for sql in _statements(store, scope))


def test_a_second_root_makes_hq_a_scope_of_its_own(rows_everywhere):
    store, units = rows_everywhere
    hq = units[0]
    with store.transaction() as s:
        other = OrgUnit(level=hq.level, code="OTHER", name="另一总部")
        s.add(other)
        s.flush()
        other.path = f"/{other.id}/"
        s.add(Customer(code="C-OTHER", name="x", org_unit_id=other.id))
    scope = Scope.for_unit_id(store, hq.id)
    assert not scope.whole and scope.root_path == hq.path
    with store.session(scope=scope) as s:
        assert "C-OTHER" not in s.scalars(select(Customer.code)).all()
        assert len(s.scalars(select(Customer.code)).all()) == 7


def test_a_scope_is_an_org_path_with_its_ids():
    for bad in ("", "1/", "/1", "/1/%", "/1/_/"):
        with pytest.raises(ValueError):
            Scope(root_id=1, root_path=bad, org_ids=frozenset({1}))
    with pytest.raises(ValueError):
        Scope(root_id=1, root_path="/1/")  # a partial scope without its ids
    with pytest.raises(ValueError):
        Scope(root_id=1, root_path="/", org_ids=frozenset({1}))
    assert Scope.whole_organisation() is Scope.WHOLE and Scope.WHOLE.allows(12345)
