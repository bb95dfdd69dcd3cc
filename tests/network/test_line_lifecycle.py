"""A dedicated line's lifecycle (draft → approved → running → closed) on a tiny org tree:
who may take each step, a level above the proposer for approval, stale versions, the audit."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from jiqun.accounts import add_user
from jiqun.errors import Conflict, Invalid, NotAllowed, NotFound
from jiqun.network import line_lifecycle as life
from jiqun.store.models import (
    AuditEntry,
    DedicatedLine,
    LineStatus,
    Market,
    MarketType,
    OrgLevel,
    Role,
)
from jiqun.store.org import add_unit

PASSWORD = "Lifecycle-Test-2024!"


@dataclass
class Tree:
    """Henan (province) → Shangqiu (city) → Yucheng (county), and Xuchang, a sibling city."""

    store: object
    units: dict[str, int]
    market: int  # in Yucheng
    foreign_market: int  # in Xuchang


USERS = {  # username → (role, unit)
    "prov": (Role.PROVINCIAL_MANAGER, "HA"),
    "city": (Role.CITY_MANAGER, "HA-SQ"),
    "county": (Role.COUNTY_MANAGER, "HA-SQ-YC"),
    "marketer": (Role.MARKETER, "HA-SQ-YC"),
    "xc-city": (Role.CITY_MANAGER, "HA-XC"),
}


@pytest.fixture
def tree(store) -> Tree:
    with store.transaction() as s:
        hq = add_unit(s, None, "HQ", "总部")
        ha = add_unit(s, hq, "HA", "河南省分公司", adcode="410000")
        sq = add_unit(s, ha, "HA-SQ", "商丘市分公司", adcode="411400")
        yc = add_unit(s, sq, "HA-SQ-YC", "虞城县分公司", adcode="411425")
        xc = add_unit(s, ha, "HA-XC", "许昌市分公司", adcode="411000")
        units = {u.code: u.id for u in (hq, ha, sq, yc, xc)}
        for name, (role, code) in USERS.items():
            add_user(s, name, PASSWORD, {"HA": ha, "HA-SQ": sq, "HA-SQ-YC": yc,
                                         "HA-XC": xc}[code], role, name)
        market = Market(code="M-SG", name="稍岗五金", type=MarketType.INDUSTRIAL_CLUSTER,
                        industry="五金", org_unit_id=yc.id)
        foreign = Market(code="M-XC", name="许昌发制品", type=MarketType.INDUSTRIAL_CLUSTER,
                         industry="发制品", org_unit_id=xc.id)
        s.add_all([market, foreign])
        s.flush()
        return Tree(store, units, market.id, foreign.id)


def _draft(tree: Tree, code: str, level: OrgLevel | None = OrgLevel.CITY, market=None,
           decision: str = "open_all_year") -> int:
    market = market or tree.market
    unit = tree.units["HA-XC"] if market == tree.foreign_market else tree.units["HA-SQ-YC"]
    with tree.store.transaction() as s:
        line = DedicatedLine(code=code, origin_market_id=market, dest_adcode="440100",
                             org_unit_id=unit, status=LineStatus.DRAFT, proposed_level=level,
                             proposal={"decision": decision, "saving_per_year": 1234.5})
        s.add(line)
        s.flush()
        return line.id


def _as(tree: Tree, user: str):
    return tree.store.transaction(actor=tree.store.actor(user), source="web")


def _line(tree: Tree, line_id: int) -> DedicatedLine:
    with tree.store.session() as s:
        line = s.get(DedicatedLine, line_id)
        s.expunge(line)
        return line


def test_a_province_approves_a_citys_draft_and_the_audit_says_so(tree):
    line_id = _draft(tree, "P-1")
    with _as(tree, "prov") as s:
        life.approve_line(s, line_id, version=1, now=dt.datetime(2025, 6, 1, 9))
    line = _line(tree, line_id)
    assert line.status == LineStatus.APPROVED and line.version == 2
    assert line.approved_at == dt.datetime(2025, 6, 1, 9)
    with tree.store.session() as s:
        entry = s.scalars(select(AuditEntry).where(
            AuditEntry.entity == "dedicated_lines", AuditEntry.entity_id == str(line_id),
            AuditEntry.action == "update")).one()
        assert entry.changes["status"] == ["draft", "approved"]
        assert entry.username == "prov" and entry.source == "web"
        assert entry.changes["approved_by_id"][1] == line.approved_by_id is not None


def test_approval_needs_a_level_above_the_one_who_accepted(tree):
    city_line = _draft(tree, "P-city", OrgLevel.CITY)
    county_line = _draft(tree, "P-county", OrgLevel.COUNTY)
    with pytest.raises(NotAllowed, match="above the level"), _as(tree, "city") as s:
        life.approve_line(s, city_line, version=1)  # the city's own level: no
    with _as(tree, "city") as s:
        life.approve_line(s, county_line, version=1)  # a county's line: the city may
    assert _line(tree, city_line).status == LineStatus.DRAFT
    assert _line(tree, county_line).status == LineStatus.APPROVED
    # A line recorded without a proposer (the demo, the system account) counts as proposed at
    # its own unit's level: the county's line is approved by the city.
    unknown = _draft(tree, "P-unknown", None)
    with _as(tree, "city") as s:
        assert "approve" in life.steps_for(s, s.get(DedicatedLine, unknown))


@pytest.mark.parametrize("user, action", [("marketer", "approve"), ("county", "approve"),
                                          ("marketer", "open"), ("marketer", "close")])
def test_roles_the_registry_refuses_are_refused_before_the_line_is_read(tree, user, action):
    line_id = _draft(tree, "P-2", OrgLevel.COUNTY)
    with pytest.raises(NotAllowed, match="Your role may not do this"), _as(tree, user) as s:
        life.take_step(s, line_id, action, version=1)
    assert _line(tree, line_id).status == LineStatus.DRAFT


def test_a_stale_version_and_a_second_decision_are_conflicts(tree):
    line_id = _draft(tree, "P-3")
    with pytest.raises(Conflict) as stale, _as(tree, "prov") as s:
        life.approve_line(s, line_id, version=7)
    assert stale.value.theirs == {"version": 1, "status": "draft"}
    with _as(tree, "prov") as s:
        life.approve_line(s, line_id, version=1)
    with pytest.raises(Conflict, match="approved already"), _as(tree, "prov") as s:
        life.approve_line(s, line_id, version=2)  # the current version: but decided already
    with pytest.raises(Conflict, match="changed by someone else"), _as(tree, "city") as s:
        life.open_line(s, line_id, version=1)  # the form of before the approval


def test_open_runs_as_proposed_and_close_ends_it(tree):
    peak = _draft(tree, "P-peak", decision="peak_only")
    with _as(tree, "prov") as s:
        life.approve_line(s, peak, version=1)
    with _as(tree, "county") as s:
        life.open_line(s, peak, version=2, on=dt.date(2025, 6, 10))
    line = _line(tree, peak)
    assert line.status == LineStatus.PEAK_ONLY and line.opened_on == dt.date(2025, 6, 10)
    with pytest.raises(Invalid), _as(tree, "county") as s:
        life.close_line(s, peak, version=3, on=dt.date(2025, 6, 1))
    with _as(tree, "county") as s:
        life.close_line(s, peak, version=3, on=dt.date(2025, 12, 31))
    line = _line(tree, peak)
    assert line.status == LineStatus.CLOSED and line.closed_on == dt.date(2025, 12, 31)
    with pytest.raises(Conflict, match="closed"), _as(tree, "county") as s:
        life.close_line(s, peak, version=4)


def test_an_all_year_line_may_be_opened_for_the_peaks_only_and_a_draft_withdrawn(tree):
    line_id = _draft(tree, "P-4")
    with _as(tree, "prov") as s:
        life.approve_line(s, line_id, version=1)
    with _as(tree, "city") as s:
        assert life.open_line(s, line_id, version=2, mode="peak_only").status == \
            LineStatus.PEAK_ONLY
    other = _draft(tree, "P-5")
    with _as(tree, "prov") as s:
        life.approve_line(s, other, version=1)
    with pytest.raises(Invalid), _as(tree, "city") as s:
        life.open_line(s, other, version=2, mode="closed")
    assert _line(tree, other).status == LineStatus.APPROVED
    withdrawn = _draft(tree, "P-6")
    with _as(tree, "county") as s:
        life.close_line(s, withdrawn, version=1)
    assert _line(tree, withdrawn).status == LineStatus.CLOSED


def test_a_line_of_another_city_is_not_found(tree):
    foreign = _draft(tree, "P-XC", market=tree.foreign_market)
    with pytest.raises(NotFound), _as(tree, "city") as s:
        life.close_line(s, foreign, version=1)
    assert _line(tree, foreign).status == LineStatus.DRAFT
    with _as(tree, "city") as s:
        assert [r.code for r in life.line_registry(s)] == []


def test_the_registry_lists_lines_by_stage_with_each_users_steps(tree):
    draft = _draft(tree, "P-b")
    approved = _draft(tree, "P-a")
    with _as(tree, "prov") as s:
        life.approve_line(s, approved, version=1)
    with _as(tree, "prov") as s:
        rows = life.line_registry(s)
    assert [(r.code, r.status) for r in rows] == [("P-b", "draft"), ("P-a", "approved")]
    assert rows[0].steps == ["approve", "close"] and rows[1].steps == ["open", "close"]
    assert rows[1].approved_by == "prov" and rows[0].origin == "稍岗五金"
    assert rows[0].dest == "广州市" and rows[0].saving_per_year == 1234.5
    with _as(tree, "city") as s:  # the city accepted the draft: it cannot approve it
        assert [r.steps for r in life.line_registry(s)] == [["close"], ["open", "close"]]
    with _as(tree, "marketer") as s:
        assert [r.steps for r in life.line_registry(s)] == [[], []]
    assert draft != approved


def test_a_closed_lines_code_is_kept_and_the_lane_proposed_again_takes_the_next(tree):
    from jiqun.network.lines import _free_code, base_code

    closed = _draft(tree, "P-M-440100")
    with _as(tree, "county") as s:
        life.close_line(s, closed, version=1)
        assert _free_code(s, "P-M-440100") == "P-M-440100-2"
        assert _free_code(s, "P-FREE-440100") == "P-FREE-440100"
    assert base_code("P-M-440100-2") == "P-M-440100" == base_code("P-M-440100")
