"""The monthly ledger: reconciliation, loss cover as a transfer, scope (hand world)."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from jiqun.lake import WAYBILL_DATASET, WAYBILLS, append, connect
from jiqun.money import ledger
from jiqun.money.cost import CostInputs
from jiqun.store.scope import Scope
from tests.money.ledger_world import NOV, add_target, build_world, waybill


@pytest.fixture
def world(store, tmp_path):
    return build_world(store, tmp_path)


@pytest.fixture
def con():
    return connect(engine="duckdb")


def _statement(con, store, world, scope=Scope.WHOLE):
    with store.session(scope=scope) as s:
        return ledger.statement(con, world.lake, s, scope, NOV)


def test_revenue_cost_and_profit_per_city_by_hand(con, store, world):
    rows = {r.org_code: r for r in _statement(con, store, world).rows}
    assert (rows["ZJ-HUZ"].revenue, rows["ZJ-HUZ"].cost) == (25.0, pytest.approx(24.7))
    assert rows["ZJ-HUZ"].profit == pytest.approx(0.3)
    assert rows["ZJ-HGZ"].profit == pytest.approx(-4.2)
    assert rows["ZJ-HUZ"].parent_code == "ZJ" and rows["ZJ"].parent_code == "HQ"
    assert rows["ZJ-HUZ"].parcels == 4  # October's parcel is another month


def test_a_city_loss_is_covered_by_its_province_on_both_sides(con, store, world):
    st = _statement(con, store, world)
    rows = {r.org_code: r for r in st.rows}
    assert rows["ZJ-HGZ"].loss_cover == pytest.approx(4.2)
    assert rows["ZJ"].loss_cover == pytest.approx(-4.2)
    assert rows["ZJ-HUZ"].loss_cover == 0.0  # a profit stays with the city
    assert [(t.from_code, t.to_code, t.amount) for t in st.transfers] == [
        ("ZJ", "ZJ-HGZ", pytest.approx(4.2))]
    assert rows["ZJ-HGZ"].result == pytest.approx(0.0)


def test_every_figure_reconciles(con, store, world):
    add_target(store, world.ids, "M1", 20.0)
    st = _statement(con, store, world)
    rows = {r.org_code: r for r in st.rows}
    cities = [r for r in st.rows if r.level == "city"]
    for city in cities:
        markets = [m for m in st.markets if m.city_code == city.org_code]
        assert sum(m.revenue for m in markets) == pytest.approx(city.revenue)
        assert sum(m.cost for m in markets) == pytest.approx(city.cost)
        outlets = [r for r in st.rows if r.level == "outlet"
                   and r.org_code.startswith(city.org_code)]
        assert sum(o.profit for o in outlets) == pytest.approx(city.profit)
    zj = rows["ZJ"]
    for name in ("revenue", "cost", "profit", "bonus_pool", "outlet_share"):
        assert sum(getattr(c, name) for c in cities) == pytest.approx(getattr(zj, name)), name
    # The cities' results plus the province's transfers equal the province's result.
    assert sum(c.result for c in cities) + zj.loss_cover == pytest.approx(
        zj.profit - zj.bonus_pool - zj.outlet_share)
    assert rows["HQ"].profit == pytest.approx(zj.profit)


def test_per_market_grid_and_customer_add_up_to_the_cities(con, store, world):
    rows = {r.org_code: r for r in _statement(con, store, world).rows}
    with store.session(scope=Scope.WHOLE) as s:
        for by in ("market", "grid", "customer"):
            detail = ledger.ledger_by(con, world.lake, s, Scope.WHOLE, NOV, by)
            for code in ("ZJ-HUZ", "ZJ-HGZ"):
                assert sum(d.profit for d in detail if d.city_code == code) == \
                    pytest.approx(rows[code].profit), (by, code)
        grids = ledger.grid_profit(con, world.lake, s, Scope.WHOLE, NOV).to_pylist()
    assert grids == [{"grid_id": world.ids["G1"], "grid_profit": pytest.approx(0.3),
                      "grid_cost": pytest.approx(24.7)}]


def test_a_city_sees_its_own_ledger_only(con, store, world):
    with store.session() as s:
        scope = Scope.for_unit(s, world.ids["ZJ-HGZ"])
    st = _statement(con, store, world, scope)
    assert {r.org_code for r in st.rows} == {"ZJ-HGZ", "ZJ-HGZ-XH-O"}
    city = next(r for r in st.rows if r.org_code == "ZJ-HGZ")
    assert city.parent_code == "ZJ" and city.loss_cover == pytest.approx(4.2)


def test_every_viewer_gets_hqs_figures_for_its_units(con, store, world):
    """A county sees its units at HQ's figures although only the parcels its figures depend
    on are costed: the province's fixed processing cost governs 湖州 alone (杭州 sets its
    own), so a 吴兴 viewer's costs are 湖州's parcels, not 杭州's."""
    whole = {r.org_code: r for r in _statement(con, store, world).rows}
    with store.session() as s:
        scopes = {code: Scope.for_unit(s, world.ids[code])
                  for code in ("ZJ", "ZJ-HUZ", "ZJ-HUZ-WX", "ZJ-HUZ-WX-ZL", "ZJ-HGZ-XH")}
    for code, scope in scopes.items():
        for row in _statement(con, store, world, scope).rows:
            assert (row.revenue, row.cost, row.profit) == pytest.approx(
                (whole[row.org_code].revenue, whole[row.org_code].cost,
                 whole[row.org_code].profit)), (code, row.org_code)
    with store.session(scope=scopes["ZJ-HUZ-WX"]) as s:
        inputs = CostInputs.load(s, scopes["ZJ-HUZ-WX"], NOV)
    huzhou = {world.ids[c] for c in ("ZJ-HUZ", "ZJ-HUZ-WX", "ZJ-HUZ-WX-ZL")}
    assert inputs.allocation_units == huzhou
    with store.session() as s:
        assert CostInputs.load(s, Scope.WHOLE, NOV).allocation_units is None


def test_a_month_without_parcels_has_a_ledger_of_zeros(con, store, world):
    with store.session(scope=Scope.WHOLE) as s:
        st = ledger.statement(con, world.lake, s, Scope.WHOLE, dt.date(2031, 5, 1))
    assert st.rows and all((r.revenue, r.cost) == (0, 0) for r in st.rows)
    assert st.markets == [] and st.transfers == []


def test_the_ledger_function_is_the_statements_rows(con, store, world):
    with store.session(scope=Scope.WHOLE) as s:
        rows = ledger.ledger(con, world.lake, s, NOV, Scope.WHOLE)
    assert [r.org_code for r in rows] == [r.org_code for r in _statement(con, store,
                                                                         world).rows]


@pytest.mark.spark
def test_the_ledger_on_pyspark_equals_duckdbs(store, tmp_path):
    """The same statement on both engines (PySpark local mode), figure for figure."""
    import importlib.util

    if importlib.util.find_spec("pyspark") is None:
        pytest.skip("PySpark is not installed: pip install 'jiqun[spark]' (make test does)")
    world = build_world(store, tmp_path)
    add_target(store, world.ids, "M1", 20.0)
    spark = connect(engine="pyspark")
    try:
        with store.session(scope=Scope.WHOLE) as s:
            on_spark = ledger.statement(spark, world.lake, s, Scope.WHOLE, NOV)
            on_duckdb = ledger.statement(connect(engine="duckdb"), world.lake, s,
                                         Scope.WHOLE, NOV)
    finally:
        spark._session.stop()
    assert on_spark.rows == on_duckdb.rows
    assert on_spark.transfers == on_duckdb.transfers
    assert on_spark.bonuses == on_duckdb.bonuses
    assert [m.profit for m in on_spark.markets] == pytest.approx(
        [m.profit for m in on_duckdb.markets])


def test_the_ledger_opens_on_the_latest_closed_month(con, world):
    """November's data ends on the 3rd: a month still running carries its whole fixed cost on
    three days, so the default is October; once the data reaches November's last day, November."""
    assert ledger.latest_month(con, world.lake, Scope.WHOLE) == dt.date(2026, 10, 1)
    ids = world.ids
    append(world.lake, WAYBILL_DATASET, pa.Table.from_pylist([waybill(
        "W9", ids["ZJ-HUZ-WX-ZL"], ids["C1"], ids["M1"], ids["G1"], "parcel",
        dt.date(2026, 11, 30), "330100", 5.0)], WAYBILLS))
    assert ledger.latest_month(con, world.lake, Scope.WHOLE) == NOV


def test_a_lake_of_one_running_month_opens_on_that_month(con, tmp_path):
    lake = tmp_path / "one-month"
    append(lake, WAYBILL_DATASET, pa.Table.from_pylist([waybill(
        "W1", 1, None, None, None, "parcel", dt.date(2026, 11, 2), "330100", 5.0)], WAYBILLS))
    assert ledger.latest_month(con, lake, Scope.WHOLE) == NOV
