"""Bonus pools (超收专项奖励) and outlet shares (众创众享)."""

from __future__ import annotations

import pytest

from jiqun.lake import connect
from jiqun.money import incentives, ledger
from jiqun.money.rules import FinanceRules
from jiqun.store.scope import Scope
from tests.money.ledger_world import NOV, add_target, build_world

RULES = FinanceRules()


def test_bonus_only_above_target_and_when_profitable():
    assert incentives.market_bonus(100, 50, 80, RULES) == pytest.approx(2.0)  # 10% of 20
    assert incentives.market_bonus(100, 50, 100, RULES) == 0.0  # not above target
    assert incentives.market_bonus(100, -1, 80, RULES) == 0.0  # a loss pays no bonus
    assert incentives.market_bonus(100, 50, None, RULES) == 0.0  # no target
    assert incentives.market_bonus(100, 2, 50, RULES) == pytest.approx(1.0)  # capped at 50%


def test_the_pool_goes_to_teams_and_key_people_and_adds_up():
    teams = [incentives.Recipient("team", 1, "一组"), incentives.Recipient("team", 2, "二组")]
    people = [incentives.Recipient("person", 7, "王"), incentives.Recipient("person", 8, "李"),
              incentives.Recipient("person", 9, "张")]
    shares = incentives.allocate_bonus(5, 10.0, teams, people, RULES)
    assert [s.amount for s in shares[:2]] == [3.5, 3.5]
    assert sum(s.amount for s in shares) == pytest.approx(10.0)
    assert incentives.allocate_bonus(5, 10.0, teams, [], RULES)[0].amount == 5.0


def test_outlet_share_of_positive_profit():
    assert incentives.outlet_share(10.0, RULES) == pytest.approx(2.0)
    assert incentives.outlet_share(-3.0, RULES) == 0.0


def test_the_ledger_pays_the_bonus_of_a_profitable_market_above_target(store, tmp_path):
    world = build_world(store, tmp_path)
    add_target(store, world.ids, "M1", 20.0)  # revenue 25: ¥0.5 above, capped at 50% of 0.3
    add_target(store, world.ids, "M2", 1.0)  # above target but losing: nothing
    con = connect(engine="duckdb")
    with store.session(scope=Scope.WHOLE) as s:
        st = ledger.statement(con, world.lake, s, Scope.WHOLE, NOV)
    rows = {r.org_code: r for r in st.rows}
    assert rows["ZJ-HUZ"].bonus_pool == pytest.approx(0.15)
    assert rows["ZJ-HGZ"].bonus_pool == 0.0
    assert {(b.recipient.kind, b.recipient.name) for b in st.bonuses} == {
        ("team", "织里一组"), ("person", "王组长")}
    assert sum(b.amount for b in st.bonuses) == pytest.approx(0.15)
    # The outlet that picked Huzhou's parcels up shares their profit; Hangzhou's lost money.
    assert rows["ZJ-HUZ-WX-ZL"].outlet_share == pytest.approx(0.06)
    assert rows["ZJ-HGZ-XH-O"].outlet_share == 0.0
    assert rows["ZJ-HUZ"].result == pytest.approx(0.3 - 0.15 - 0.06)
