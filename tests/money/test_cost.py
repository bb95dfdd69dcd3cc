"""Cost per parcel: drivers × rates per pool on the hand world (tests/money/ledger_world.py)."""

from __future__ import annotations

import datetime as dt

import pytest

from jiqun.lake import connect
from jiqun.money import cost
from jiqun.money.rules import FinanceRules
from jiqun.store.models import CostDriver, CostPool
from jiqun.store.scope import Scope
from tests.money.ledger_world import NOV, build_world

P, D = CostPool, CostDriver


@pytest.fixture
def world(store, tmp_path):
    return build_world(store, tmp_path)


@pytest.fixture
def con():
    return connect(engine="duckdb")


def _by(con, store, world, by, rules=None, scope=Scope.WHOLE):
    with store.session(scope=scope) as s:
        return {r.key: r for r in cost.cost_per_parcel(con, world.lake, s, scope, NOV, by=by,
                                                       rules=rules)}


def _pool(row, pool):
    return next(p for p in row.pools if p.pool == pool.value)


def test_each_pool_is_its_drivers_times_the_rates_in_force(con, store, world):
    rows = _by(con, store, world, "city")
    huzhou, hangzhou = rows[str(world.ids["ZJ-HUZ"])], rows[str(world.ids["ZJ-HGZ"])]
    assert huzhou.parcels == 4 and huzhou.revenue == pytest.approx(25.0)
    pickup = _pool(huzhou, P.PICKUP)
    assert [(d.driver, d.quantity, d.rate) for d in pickup.drivers] == [
        ("stops", pytest.approx(2.0), pytest.approx(2.0)),
        ("pieces", pytest.approx(4.0), pytest.approx(0.5))]
    assert pickup.variable == pytest.approx(6.0)
    assert _pool(huzhou, P.PROCESSING).variable == pytest.approx(1.2)
    assert _pool(huzhou, P.LAST_MILE).variable == pytest.approx(4.5)  # 3 same + 1 far zone
    assert _pool(huzhou, P.MARKETING).drivers[0].quantity == 1  # one visit
    assert huzhou.cost == pytest.approx(24.7)
    assert huzhou.cost_per_parcel == pytest.approx(24.7 / 4)
    # Hangzhou's own processing rate wins over Zhejiang's; December's is not in force yet.
    assert _pool(hangzhou, P.PROCESSING).drivers[0].rate == pytest.approx(0.6)
    assert hangzhou.cost == pytest.approx(6.2)


def test_a_fixed_part_is_spread_by_its_key_over_the_parcels_it_governs(con, store, world):
    rows = _by(con, store, world, "city")
    # Zhejiang's ¥10 processing fixed part governs Huzhou only (Hangzhou has its own row).
    assert _pool(rows[str(world.ids["ZJ-HUZ"])], P.PROCESSING).fixed == pytest.approx(10.0)
    assert _pool(rows[str(world.ids["ZJ-HGZ"])], P.PROCESSING).fixed == 0.0
    by_product = _by(con, store, world, "product")
    # By pieces: the express parcel carries a quarter of Huzhou's ¥10.
    assert _pool(by_product["express"], P.PROCESSING).fixed == pytest.approx(2.5)


def test_fixed_coefficients_by_weight_and_a_shared_province_row():
    row = cost.Param(1, 9, P.PROCESSING, D.PIECES, "*", 0.0, 100.0, "weight", dt.date(2026, 1, 1))
    resolved = {1: {(P.PROCESSING, D.PIECES, "*"): row}, 2: {(P.PROCESSING, D.PIECES, "*"): row}}
    totals = {1: cost.KeyTotals(10, 30.0, 0), 2: cost.KeyTotals(5, 20.0, 0)}
    coef = cost.fixed_coefficients(resolved, totals)
    assert coef[1][P.PROCESSING]["weight"] == pytest.approx(2.0)  # ¥100 over 50 kg
    assert coef[2][P.PROCESSING]["weight"] == pytest.approx(2.0)
    assert cost.unallocated_fixed(resolved, {}) == 100.0


def test_the_newest_row_on_or_before_the_month_is_in_force_and_the_city_wins():
    jan, dec = dt.date(2026, 1, 1), dt.date(2026, 12, 1)
    rows = [cost.Param(1, 2, P.PICKUP, D.PIECES, "*", 0.5, 0, "pieces", jan),
            cost.Param(2, 3, P.PICKUP, D.PIECES, "*", 0.7, 0, "pieces", jan),
            cost.Param(3, 3, P.PICKUP, D.PIECES, "*", 0.9, 0, "pieces", dec)]
    forced = cost.in_force(rows, NOV)
    assert cost.resolve(forced, [3, 2])[(P.PICKUP, D.PIECES, "*")].rate == 0.7
    assert cost.resolve(cost.in_force(rows, dec), [3, 2])[(P.PICKUP, D.PIECES, "*")].rate == 0.9
    assert cost.resolve(forced, [4, 2])[(P.PICKUP, D.PIECES, "*")].rate == 0.5


def test_cost_by_customer_market_grid_and_lane_add_up(con, store, world):
    total = sum(r.cost for r in _by(con, store, world, "city").values())
    for by in ("customer", "market", "grid", "lane", "product"):
        assert sum(r.cost for r in _by(con, store, world, by).values()) == \
            pytest.approx(total), by
    lanes = _by(con, store, world, "lane")
    assert lanes[f"{world.ids['ZJ-HUZ']}>440000"].parcels == 1
    assert "湖州" in lanes[f"{world.ids['ZJ-HUZ']}>440000"].label


def test_mixed_collection_saves_the_second_stop_and_the_separate_sort(con, store, world):
    with store.session(scope=Scope.WHOLE) as s:
        inputs = cost.CostInputs.load(s, Scope.WHOLE, NOV)
    saving = cost.mixed_collection_saving(con, world.lake, inputs)
    # C1 on the 2nd shipped 快包 and 特快: one stop mixed, two apart.
    assert saving.stops_mixed == 3 and saving.stops_separate == 4
    assert saving.pickup_saving == pytest.approx(2.0)
    assert saving.processing_saving == pytest.approx(FinanceRules()
                                                     .separate_express_processing_per_piece)
    separate = _by(con, store, world, "city", rules=FinanceRules(mixed_collection=False))
    assert _pool(separate[str(world.ids["ZJ-HUZ"])], P.PICKUP).variable == pytest.approx(8.0)


def test_a_city_sees_its_costs_at_its_provinces_rates(con, store, world):
    with store.session() as s:
        scope = Scope.for_unit(s, world.ids["ZJ-HGZ"])
    rows = _by(con, store, world, "city", scope=scope)
    assert list(rows) == [str(world.ids["ZJ-HGZ"])]
    assert rows[str(world.ids["ZJ-HGZ"])].cost == pytest.approx(6.2)
