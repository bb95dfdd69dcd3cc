"""A grid's profile (jiqun.grids.profile) on 织里 of ``build_market``: the west grid (32
merchants) has a plan of 100 parcels for March 2026, a team led by its manager zl-walker, and
three shipping merchants; the east grid (8 merchants) one. A grid of Hangzhou lies outside the
Huzhou city manager's scope."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from jiqun.accounts import add_user
from jiqun.errors import NotFound
from jiqun.grids import profile
from jiqun.kpi.service import OperatingPicture
from jiqun.lake import WAYBILL_DATASET, append
from jiqun.lake.aggregates import rebuild
from jiqun.store import Scope
from jiqun.store.models import (
    Customer,
    CustomerTier,
    Grid,
    LifecycleStage,
    Market,
    MarketType,
    Role,
    Target,
    TargetScope,
    Team,
    TeamMember,
    TeamStatus,
)
from tests.grids.test_redraw import build_market

AS_OF = dt.date(2026, 3, 10)
# customer id → (day, parcels) shipped; customers 1–32 are in the west grid, 33–40 in the east
SHIPPED = {1: [(dt.date(2026, 3, 2), 3), (dt.date(2026, 3, 9), 4)],
           2: [(dt.date(2026, 2, 20), 5), (dt.date(2026, 3, 3), 1)],  # February is not MTD
           5: [(dt.date(2026, 3, 10), 2)],
           33: [(dt.date(2026, 3, 4), 6)]}


@pytest.fixture
def grids(store, tmp_path):
    built = build_market(store)
    org = built["org"]
    with store.transaction() as s:
        helper = add_user(s, "zl-helper", "pw-123456789", org.zhili_outlet, Role.MARKETER,
                          "织里助手")
        team = Team(name="织里一组", market_id=built["market_id"], status=TeamStatus.APPROVED,
                    org_unit_id=org.huzhou.id)
        s.add(team)
        s.flush()
        s.add_all([TeamMember(team_id=team.id, user_id=helper.id, role="member"),
                   TeamMember(team_id=team.id, user_id=built["walker"], role="leader")])
        west = s.get(Grid, built["west"])
        west.team_id, west.manager_id = team.id, built["walker"]
        s.add(Target(scope_type=TargetScope.GRID, scope_id=west.id, month=dt.date(2026, 3, 1),
                     volume=100, org_unit_id=org.huzhou.id))
        first = s.get(Customer, 1)
        first.owner_id, first.tier = built["walker"], CustomerTier.FIRST
        first.lifecycle_stage = LifecycleStage.COOPERATING
        s.get(Customer, 2).owner_id = helper.id
        xihu = Market(code="XH", name="西湖直播", type=MarketType.LIVESTREAM_BASE,
                      industry="服装", org_unit_id=org.hangzhou.id)
        s.add(xihu)
        s.flush()
        far = Grid(market_id=xihu.id, code="XH-G1", name="西湖一片", status="active",
                   org_unit_id=org.hangzhou.id)
        s.add(far)
        s.flush()
        built.update(team=team.id, far=far.id, helper=helper.id)
    grid_of = {**{c: built["west"] for c in range(1, 33)}, **{c: built["east"] for c in range(33, 41)}}
    rows = [{"waybill_no": f"W{cid}-{day}-{n}", "org_unit_id": org.zhili_outlet.id,
             "customer_id": cid, "market_id": built["market_id"], "grid_id": grid_of[cid],
             "product": "parcel", "platform": "taobao",
             "ship_time": dt.datetime.combine(day, dt.time(10)), "dest_province": "330000",
             "weight_kg": 0.5, "fee": 5.0, "status": "delivered"}
            for cid, days in SHIPPED.items() for day, count in days for n in range(count)]
    append(tmp_path / "lake", WAYBILL_DATASET, pa.Table.from_pylist(rows))
    rebuild(tmp_path / "lake")
    return built


def _picture(store, tmp_path, unit) -> OperatingPicture:
    with store.session() as s:
        scope = Scope.for_unit(s, unit.id)
    return OperatingPicture(store, tmp_path / "lake", scope)


def test_the_grid_page_holds_its_row_of_the_grid_kpi_table(store, grids, tmp_path):
    with _picture(store, tmp_path, grids["org"].huzhou) as picture:
        data = profile.grid_profile(picture, grids["west"], AS_OF)
        table = {r["grid_id"]: r for r in picture.grids(AS_OF)}
        named = {r["grid_id"]: r for r in profile.grid_kpi_rows(picture.session, picture, AS_OF)}
    assert set(named) == {grids["west"], grids["east"]}
    assert data.kpis == named[grids["west"]]
    assert {k: data.kpis[k] for k in table[grids["west"]]} == table[grids["west"]]
    assert data.kpis["parcels"] == 3 + 4 + 1 + 2 and data.kpis["target_parcels"] == 100
    assert data.kpis["grid"] == "西片" and data.kpis["team"] == "织里一组"
    assert data.kpis["market"] == "织里童装"
    assert named[grids["east"]]["parcels"] == 6 and named[grids["east"]]["team"] is None


def test_the_grid_has_its_market_team_manager_and_merchants(store, grids, tmp_path):
    with _picture(store, tmp_path, grids["org"].huzhou) as picture:
        data = profile.grid_profile(picture, grids["west"], AS_OF)
    assert (data.code, data.market, data.manager) == ("ZL-G1", "织里童装", "zl-walker")
    assert data.team.name == "织里一组" and data.team.leader == "zl-walker"
    assert [(m.display_name, m.role) for m in data.team.members] == [
        ("zl-walker", "leader"), ("织里助手", "member")]
    assert len(data.merchants) == 32
    top = [(m.id, m.parcels, m.owner, m.tier, m.stage) for m in data.merchants[:4]]
    assert top == [(1, 7, "zl-walker", "first", "cooperating"), (5, 2, None, "third", "archived"),
                   (2, 1, "织里助手", "third", "archived"),  # February's 5 are not this month
                   (10, 0, None, "third", "archived")]  # then by code: C10 before C11
    assert sum(m.parcels for m in data.merchants) == data.kpis["parcels"]


def test_the_merchant_map_has_one_series_per_stage_in_lifecycle_order(store, grids, tmp_path):
    with _picture(store, tmp_path, grids["org"].huzhou) as picture:
        data = profile.grid_profile(picture, grids["west"], AS_OF)
    series = profile.merchant_map(data.merchants)["series"]
    assert [s["stage"] for s in series] == ["archived", "cooperating"]
    assert [len(s["points"]) for s in series] == [31, 1]
    lon, lat, parcels, name, cid = series[1]["points"][0]
    assert (parcels, name, cid) == (7, "商家1", 1)


def test_a_grid_outside_the_scope_is_not_found(store, grids, tmp_path):
    with _picture(store, tmp_path, grids["org"].huzhou) as picture, pytest.raises(NotFound):
        profile.grid_profile(picture, grids["far"], AS_OF)
    with _picture(store, tmp_path, grids["org"].hangzhou) as picture:
        with pytest.raises(NotFound):
            profile.grid_profile(picture, grids["west"], AS_OF)
        assert profile.grid_kpi_rows(picture.session, picture, AS_OF) == []


def test_a_grid_without_data_has_no_kpis_but_its_merchants(store, grids, tmp_path):
    with _picture(store, tmp_path, grids["org"].huzhou) as picture:
        data = profile.grid_profile(picture, grids["west"], None)
    assert data.kpis is None and data.as_of is None
    assert len(data.merchants) == 32 and {m.parcels for m in data.merchants} == {0}


def test_a_team_above_the_viewer_is_left_out(store, grids, tmp_path):
    with store.transaction() as s:  # the marketer's outlet holds the grid, the city the team
        s.get(Grid, grids["west"]).org_unit_id = grids["org"].zhili_outlet.id
    with _picture(store, tmp_path, grids["org"].zhili_outlet) as picture:
        data = profile.grid_profile(picture, grids["west"], AS_OF)
    assert data.team is None and data.manager == "zl-walker" and data.market == "织里童装"
    assert data.kpis["team"] is None and len(data.merchants) == 32
