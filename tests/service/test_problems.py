"""Problems escalated until solved (R2): raising at the city, escalation by hand and by each
level's clock, the merge into a common problem (共性问题) that its members follow, credit for
the solver, permissions and what each level sees."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pytest
from sqlalchemy import select

from jiqun.accounts import add_user
from jiqun.errors import Conflict, Invalid, NotAllowed, NotFound
from jiqun.service import problems as pr
from jiqun.service.problem_rules import ProblemRules
from jiqun.store.models import (
    AuditEntry,
    Customer,
    LifecycleStage,
    Market,
    MarketType,
    OrgLevel,
    Problem,
    ProblemEvent,
    ProblemStatus,
    Role,
    Visit,
)
from jiqun.store.org import add_unit
from tests.conftest import Org, build_org

MONDAY = dt.datetime(2026, 11, 2, 9, 0)  # a Monday
RULES = ProblemRules(city_days=5, province_days=10, hq_days=20)


@dataclass
class World:
    store: object
    org: Org
    units: dict[str, int] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)
    markets: dict[str, int] = field(default_factory=dict)

    def session(self, username: str | None = None):
        actor = self.store.actor(username) if username else None
        return self.store.transaction(actor=actor)


@pytest.fixture
def world(store) -> World:
    org = build_org(store)
    w = World(store, org)
    with store.transaction() as s:
        ha = add_unit(s, org.hq, "HA", "河南省分公司", adcode="410000")
        sq = add_unit(s, ha, "HA-SQ", "商丘市分公司", adcode="411400")
        w.units = {"HQ": org.hq.id, "ZJ": org.zhejiang.id, "ZJ-HUZ": org.huzhou.id,
                   "ZJ-HGZ": org.hangzhou.id, "HA": ha.id, "HA-SQ": sq.id}
        for name, unit, role in [
            ("hq", org.hq, Role.HQ_BUSINESS),
            ("zj-manager", org.zhejiang, Role.PROVINCIAL_MANAGER),
            ("ha-manager", ha, Role.PROVINCIAL_MANAGER),
            ("huz-manager", org.huzhou, Role.CITY_MANAGER),
            ("hgz-manager", org.hangzhou, Role.CITY_MANAGER),
            ("sq-manager", sq, Role.CITY_MANAGER),
            ("zl-marketer", org.zhili_outlet, Role.MARKETER),
            ("zl-courier", org.zhili_outlet, Role.COURIER),
        ]:
            w.users[name] = add_user(s, name, "pw-123456789", unit, role, name).id
        for code, name, unit, industry in [("ZL", "织里童装", org.zhili_outlet, "童装"),
                                           ("XH", "西湖女装", org.xihu, "女装"),
                                           ("YJ", "闫集童装", sq, "童装")]:
            market = Market(code=code, name=name, type=MarketType.INDUSTRIAL_CLUSTER,
                            industry=industry, org_unit_id=unit.id)
            s.add(market)
            s.flush()
            w.markets[code] = market.id
    return w


def _raise(w: World, user: str, title: str, now=MONDAY, **kw) -> int:
    with w.session(user) as s:
        return pr.raise_problem(s, title=title, now=now, rules=RULES, **kw).id


def _get(w: World, pid: int) -> Problem:
    with w.session() as s:
        p = s.get(Problem, pid)
        s.expunge(p)
        return p


def _events(w: World, pid: int) -> list[tuple]:
    with w.session() as s:
        return [(e.kind, e.from_level, e.to_level, e.by_id) for e in s.scalars(
            select(ProblemEvent).where(ProblemEvent.problem_id == pid).order_by(ProblemEvent.id))]


# -- raising ------------------------------------------------------------------------------------
def test_a_city_manager_raises_at_the_city_with_the_city_clock(world):
    pid = _raise(world, "huz-manager", "  极兔低价竞争  ", market_id=world.markets["ZL"])
    p = _get(world, pid)
    assert p.title == "极兔低价竞争"
    assert p.org_unit_id == world.units["ZJ-HUZ"]  # the market's city, not its outlet
    assert p.level == OrgLevel.CITY and p.status == ProblemStatus.OPEN
    assert p.owner_id == world.users["huz-manager"]  # the city manager owns it
    assert p.raised_by_id == world.users["huz-manager"]
    assert p.due_at == dt.datetime(2026, 11, 9, 9, 0)  # five working days after a Monday
    assert _events(world, pid) == [("raised", None, OrgLevel.CITY, world.users["huz-manager"])]


def test_a_marketers_problem_stays_in_their_outlet_held_by_the_city(world):
    pid = _raise(world, "zl-marketer", "极兔低价竞争")
    p = _get(world, pid)
    assert p.org_unit_id == world.org.zhili_outlet.id  # they may write only there
    assert (p.level, p.owner_id) == (OrgLevel.CITY, world.users["huz-manager"])
    with world.session("zl-marketer") as s:
        assert [(r.id, r.holder) for r in pr.problems(s)] == [(pid, "湖州市分公司")]
    with world.session("huz-manager") as s:  # the city sees it and escalates it
        pr.escalate(s, pid, None, now=MONDAY)
    assert _get(world, pid).escalated_to_id == world.units["ZJ"]


def test_a_problem_from_a_visit_is_raised_at_the_visits_city_with_its_market(world):
    with world.session() as s:
        c = Customer(code="C1", name="商户", org_unit_id=world.org.zhili_outlet.id,
                     lifecycle_stage=LifecycleStage.ARCHIVED, market_id=world.markets["ZL"])
        s.add(c)
        s.flush()
        v = Visit(customer_id=c.id, user_id=world.users["zl-marketer"], visited_at=MONDAY,
                  method="card", outcome="interested", org_unit_id=world.org.zhili_outlet.id)
        s.add(v)
        s.flush()
        visit_id = v.id
    pid = _raise(world, "huz-manager", "客户反映揽收晚", visit_id=visit_id)
    p = _get(world, pid)
    assert (p.source, p.visit_id, p.market_id) == ("visit", visit_id, world.markets["ZL"])
    # another city's manager does not see the visit: not found, nothing raised
    with pytest.raises(NotFound), world.session("hgz-manager") as s:
        pr.raise_problem(s, title="x", visit_id=visit_id)


def test_raising_refuses_an_empty_title_and_a_courier(world):
    with pytest.raises(Invalid) as err, world.session("huz-manager") as s:
        pr.raise_problem(s, title="   ")
    assert err.value.errors == {"title": pr.TITLE_REQUIRED}
    with pytest.raises(NotAllowed), world.session("zl-courier") as s:
        pr.raise_problem(s, title="x")


def test_the_clock_skips_weekends_and_listed_holidays():
    friday = dt.datetime(2026, 11, 6, 17, 30)
    assert RULES.due(OrgLevel.CITY, friday) == dt.datetime(2026, 11, 13, 17, 30)
    holiday = ProblemRules(city_days=1, holidays=[dt.date(2026, 11, 9)])
    assert holiday.due(OrgLevel.CITY, friday) == dt.datetime(2026, 11, 10, 17, 30)
    saturday = dt.datetime(2026, 11, 7, 10, 0)  # counts from Monday
    assert ProblemRules(city_days=1).due(OrgLevel.CITY, saturday) == dt.datetime(2026, 11, 10,
                                                                                  10, 0)


# -- escalation ---------------------------------------------------------------------------------
def test_escalation_by_hand_goes_one_level_at_a_time_and_stops_at_hq(world):
    pid = _raise(world, "huz-manager", "旺季集包产能不足")
    later = MONDAY + dt.timedelta(days=1)
    with world.session("huz-manager") as s:
        pr.escalate(s, pid, "需要省公司协调", now=later, rules=RULES)
    p = _get(world, pid)
    assert (p.level, p.status) == (OrgLevel.PROVINCE, ProblemStatus.ESCALATED)
    assert p.org_unit_id == world.units["ZJ-HUZ"]  # the city keeps it
    assert p.escalated_to_id == world.units["ZJ"]
    assert p.owner_id == world.users["zj-manager"]
    assert p.due_at == RULES.due(OrgLevel.PROVINCE, later)  # the province's own clock
    # the city may not push a province's problem on to HQ
    with pytest.raises(NotAllowed), world.session("huz-manager") as s:
        pr.escalate(s, pid, None)
    with world.session("zj-manager") as s:
        pr.escalate(s, pid, None, now=later)
    p = _get(world, pid)
    assert (p.level, p.escalated_to_id) == (OrgLevel.HQ, world.units["HQ"])
    with pytest.raises(Invalid), world.session("hq") as s:
        pr.escalate(s, pid, None)
    assert [e[:3] for e in _events(world, pid)] == [
        ("raised", None, OrgLevel.CITY), ("escalated", OrgLevel.CITY, OrgLevel.PROVINCE),
        ("escalated", OrgLevel.PROVINCE, OrgLevel.HQ)]


def test_escalation_of_a_stale_version_is_a_conflict(world):
    pid = _raise(world, "huz-manager", "问题")
    with pytest.raises(Conflict), world.session("huz-manager") as s:
        pr.escalate(s, pid, None, version=_get(world, pid).version + 1)
    assert _get(world, pid).level == OrgLevel.CITY


def test_the_clock_escalates_level_by_level_and_is_idempotent(world):
    pid = _raise(world, "huz-manager", "问题")
    # before the city's clock runs out: nothing
    with world.session() as s:
        assert pr.escalate_overdue(s, MONDAY + dt.timedelta(days=6), RULES)["escalated"] == 0
    ran_out = dt.datetime(2026, 11, 9, 10, 0)  # one hour after the five working days
    with world.session() as s:
        assert pr.escalate_overdue(s, ran_out, RULES) == {
            "overdue": 1, "escalated": 1, "overdue_at_hq": 0}
    with world.session() as s:  # the same run again: the province's clock has just started
        assert pr.escalate_overdue(s, ran_out, RULES)["escalated"] == 0
    p = _get(world, pid)
    assert (p.level, p.due_at) == (OrgLevel.PROVINCE, dt.datetime(2026, 11, 23, 10, 0))
    with world.session() as s:  # a day before the province's ten working days: still there
        pr.escalate_overdue(s, dt.datetime(2026, 11, 22, 10, 0), RULES)
    assert _get(world, pid).level == OrgLevel.PROVINCE
    with world.session() as s:
        pr.escalate_overdue(s, dt.datetime(2026, 11, 23, 10, 0), RULES)
    p = _get(world, pid)
    assert p.level == OrgLevel.HQ
    with world.session() as s:  # HQ's clock runs out: counted, nowhere further to go
        assert pr.escalate_overdue(s, dt.datetime(2027, 1, 1), RULES) == {
            "overdue": 1, "escalated": 0, "overdue_at_hq": 1}
    events = _events(world, pid)
    assert [e[0] for e in events] == ["raised", "escalated", "escalated"]
    assert events[1][3] is None  # the clock, not a person


def test_solved_problems_are_left_alone_by_the_clock(world):
    pid = _raise(world, "huz-manager", "问题")
    with world.session("huz-manager") as s:
        pr.solve(s, pid, "加开下午车次", now=MONDAY)
    with world.session() as s:
        assert pr.escalate_overdue(s, dt.datetime(2027, 1, 1), RULES)["overdue"] == 0


# -- merge --------------------------------------------------------------------------------------
def _three_cities(w: World) -> tuple[int, int, int]:
    a = _raise(w, "huz-manager", "直播退货逆向成本高", market_id=w.markets["ZL"])
    b = _raise(w, "hgz-manager", "直播退货逆向物流成本高", market_id=w.markets["XH"])
    c = _raise(w, "sq-manager", "直播客户退货集中逆向成本高", market_id=w.markets["YJ"])
    return a, b, c


def test_a_merge_within_a_province_belongs_to_the_province_and_members_follow(world):
    a, b, _ = _three_cities(world)
    with world.session("zj-manager") as s:
        common = pr.merge(s, [a, b], "直播退货逆向物流成本", now=MONDAY, rules=RULES)
        cid = common.id
    c = _get(world, cid)
    assert c.is_common and c.org_unit_id == world.units["ZJ"]
    assert (c.level, c.status, c.escalated_to_id) == (OrgLevel.PROVINCE, ProblemStatus.OPEN, None)
    assert c.owner_id == world.users["zj-manager"]
    for pid in (a, b):
        m = _get(world, pid)
        assert m.merged_into_id == cid and m.due_at is None
        assert (m.level, m.status, m.escalated_to_id) == (
            OrgLevel.PROVINCE, ProblemStatus.ESCALATED, world.units["ZJ"])
    # the province's list shows the common problem once, with its two members
    with world.session("zj-manager") as s:
        rows = pr.problems(s, as_of=MONDAY.date())
    assert [(r.id, r.members) for r in rows] == [(cid, 2)]
    # a city sees its own problem, with the common problem's status, and not the common one
    with world.session("huz-manager") as s:
        rows = pr.problems(s, as_of=MONDAY.date())
        assert [(r.id, r.status, r.level, r.merged_into_id) for r in rows] == [
            (a, "escalated", "province", cid)]
        with pytest.raises(NotFound):
            pr.problem_detail(s, cid)
        with pytest.raises(Invalid):  # it follows the common problem
            pr.escalate(s, a, None)
    # the clock of the common problem moves its members
    with world.session() as s:
        pr.escalate_overdue(s, RULES.due(OrgLevel.PROVINCE, MONDAY), RULES)
    assert _get(world, cid).level == OrgLevel.HQ
    assert {_get(world, pid).level for pid in (a, b)} == {OrgLevel.HQ}
    assert _events(world, a)[-1][:3] == ("escalated", OrgLevel.PROVINCE, OrgLevel.HQ)


def test_a_merge_across_provinces_reaches_hq(world):
    a, b, c = _three_cities(world)
    with world.session("hq") as s:
        cid = pr.merge(s, [a, b, c], "直播退货逆向物流", now=MONDAY, rules=RULES).id
    common = _get(world, cid)
    assert (common.org_unit_id, common.level) == (world.units["HQ"], OrgLevel.HQ)
    assert common.raised_on == MONDAY.date()
    with world.session("hq") as s:
        detail = pr.problem_detail(s, cid, as_of=MONDAY.date())
    assert sorted(m.id for m in detail.members) == sorted([a, b, c])
    assert [e.kind for e in detail.history] == ["merged"]


def test_a_province_cannot_merge_beyond_its_province_and_a_city_cannot_merge(world):
    a, b, c = _three_cities(world)
    with pytest.raises(NotFound), world.session("zj-manager") as s:  # Shangqiu's is not theirs
        pr.merge(s, [a, c], "x")
    with pytest.raises(NotAllowed), world.session("huz-manager") as s:
        pr.merge(s, [a, b], "x")
    with pytest.raises(Invalid), world.session("zj-manager") as s:
        pr.merge(s, [a], "x")
    with world.session("zj-manager") as s:
        pr.merge(s, [a, b], "x")
    with pytest.raises(Invalid), world.session("hq") as s:  # a is merged already
        pr.merge(s, [a, c], "x")


def test_a_merge_of_an_escalated_problem_holds_the_common_one_at_the_higher_level(world):
    a, b, _ = _three_cities(world)
    with world.session("zj-manager") as s:
        pr.escalate(s, a, None, now=MONDAY)
        pr.escalate(s, a, None, now=MONDAY)  # a is at HQ already
        cid = pr.merge(s, [a, b], "x", now=MONDAY).id
    common = _get(world, cid)
    assert (common.org_unit_id, common.level) == (world.units["ZJ"], OrgLevel.HQ)
    assert (common.status, common.escalated_to_id) == (ProblemStatus.ESCALATED,
                                                       world.units["HQ"])


# -- solving ------------------------------------------------------------------------------------
def test_solving_a_common_problem_solves_its_members_with_the_solvers_credit(world):
    a, b, c = _three_cities(world)
    with world.session("hq") as s:
        cid = pr.merge(s, [a, b, c], "直播退货", now=MONDAY).id
    # the city's member follows the common problem
    with pytest.raises(Invalid), world.session("sq-manager") as s:
        pr.solve(s, c, "自己解决")
    with world.session("hq") as s:
        pr.solve(s, cid, "总部统一逆向物流合同", now=MONDAY + dt.timedelta(days=3))
    for pid in (cid, a, b, c):
        p = _get(world, pid)
        assert p.status == ProblemStatus.SOLVED
        assert p.solved_by_id == world.users["hq"]
        assert p.solution == "总部统一逆向物流合同"
        assert p.solved_on == dt.date(2026, 11, 5)
    with world.session("sq-manager") as s:  # the city is told who solved it
        rows = pr.problems(s, status="solved", as_of=dt.date(2026, 11, 30))
    assert [(r.id, r.solved_by, r.age_days) for r in rows] == [(c, "hq", 3)]
    with pytest.raises(Conflict), world.session("hq") as s:
        pr.solve(s, cid, "again")


def test_solving_needs_a_solution_and_a_manager(world):
    pid = _raise(world, "zl-marketer", "问题")
    with pytest.raises(Invalid) as err, world.session("huz-manager") as s:
        pr.solve(s, pid, " ")
    assert err.value.errors == {"solution": pr.SOLUTION_REQUIRED}
    with pytest.raises(NotAllowed), world.session("zl-marketer") as s:
        pr.solve(s, pid, "done")
    with world.session("huz-manager") as s:
        pr.solve(s, pid, "done")
    assert _get(world, pid).solved_by_id == world.users["huz-manager"]


def test_every_change_is_audited(world):
    pid = _raise(world, "huz-manager", "问题")
    with world.session("huz-manager") as s:
        pr.escalate(s, pid, None)
    with world.session() as s:
        actions = [e.action for e in s.scalars(select(AuditEntry).where(
            AuditEntry.entity == "problems", AuditEntry.entity_id == str(pid)))]
    assert actions[0] == "insert" and "update" in actions


# -- scope and listing --------------------------------------------------------------------------
def test_each_level_sees_its_subtree_by_level_and_age(world):
    old = _raise(world, "huz-manager", "老问题", now=MONDAY - dt.timedelta(days=30))
    new = _raise(world, "hgz-manager", "新问题")
    other = _raise(world, "sq-manager", "河南的问题")
    with world.session("zj-manager") as s:
        pr.escalate(s, new, None, now=MONDAY)
    with world.session("zj-manager") as s:
        rows = pr.problems(s, as_of=MONDAY.date())
    # the province first (held above), then the city's by age
    assert [(r.id, r.level, r.age_days) for r in rows] == [(new, "province", 0),
                                                         (old, "city", 30)]
    assert rows[1].overdue  # its five working days are long gone
    with world.session("huz-manager") as s:
        assert [r.id for r in pr.problems(s)] == [old]
        with pytest.raises(NotFound):
            pr.escalate(s, other, None)
    with world.session("hq") as s:
        assert {r.id for r in pr.problems(s)} == {old, new, other}
        assert [r.id for r in pr.problems(s, level=OrgLevel.PROVINCE)] == [new]


def test_suggested_merges_pair_similar_problems_of_different_cities(world):
    a, b, c = _three_cities(world)
    _raise(world, "huz-manager", "办公室空调坏了")
    with world.session("zj-manager") as s:
        found = pr.suggest_merges(s)
    assert [sorted(p.id for p in g.problems) for g in found] == [sorted([a, b])]
    with world.session("hq") as s:
        found = pr.suggest_merges(s)
    assert [sorted(p.id for p in g.problems) for g in found] == [sorted([a, b, c])]
