"""Warehousing customers (S2): the estimate on hand cases, then the store and lake around it —
the window's volumes, line coverage, the nearest centre, capacity, scope and permission."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from jiqun.accounts import add_user
from jiqun.errors import Conflict, NotAllowed, NotFound
from jiqun.i18n import translator
from jiqun.lake import WAYBILL_DATASET, append, connect
from jiqun.network.params import PlanningParams
from jiqun.service import warehousing as wh
from jiqun.service.warehousing import MerchantFacts, WarehousingParams
from jiqun.store import Scope, Store
from jiqun.store.models import (
    AuditEntry,
    Customer,
    DedicatedLine,
    Facility,
    FacilityKind,
    LineStatus,
    Market,
    MarketType,
    Role,
)
from tests.conftest import build_org

PARAMS = WarehousingParams()
PLANNING = PlanningParams()


def facts(cid=1, daily=2000.0, cv=0.2, km=40.0, line_share=0.0, **kw) -> MerchantFacts:
    values = dict(customer_id=cid, code=f"C{cid}", name=f"商家{cid}", market="织里",
                  daily_parcels=daily, cv=cv, days_shipped=30, window_days=30, mean_kg=0.5,
                  line_share=line_share, hub="织里集包中心", hub_km=km)
    values.update(kw)
    return MerchantFacts(**values)


# -- the estimate (pure) ---------------------------------------------------------------------
def test_pickup_trips_and_their_cost_by_hand():
    e = wh.estimate(facts(daily=1200, km=30), PARAMS, PLANNING)
    # 1200 parcels / 500 a van = 3 trips (rounded up), each 100 + 1.2 × 60 km = 172 yuan
    assert e.pickups_avoided == 3
    assert e.pickup_cost == pytest.approx(3 * 172)
    # the 9.6 m truck: 500 + 3.2 × 30 × (2 − 0.4) = 653.6 yuan a trip; 0.5 kg parcels fill it
    # by volume: 60 m³ × 0.85 / 0.004 m³ = 12,750 parcels
    assert e.shuttle_cost == pytest.approx(1200 * 653.6 / 12_750)
    assert e.presort_saving == 0
    assert e.saving_per_day == pytest.approx(3 * 172 - 1200 * 653.6 / 12_750)
    # 30 km at 40 km/h and an hour of handover
    assert e.cutoff_hours_later == pytest.approx(30 / 40 + 1.0)


def test_a_steady_big_merchant_far_from_the_hub_ranks_above_a_small_and_a_near_one():
    far = facts(1, daily=3000, km=60)
    near = facts(2, daily=3000, km=2)
    small = facts(3, daily=350, km=60)
    ranked = wh.rank_candidates([small, near, far], PARAMS, PLANNING)
    assert [c.customer_id for c in ranked] == [1, 2, 3]
    assert ranked[0].saving_per_day > ranked[1].saving_per_day > ranked[2].saving_per_day
    assert ranked[0].rank == 1 and ranked[0].saving_per_year == pytest.approx(
        ranked[0].saving_per_day * 365, abs=0.01)


def test_line_coverage_counts():
    covered = facts(1, line_share=0.8)
    bare = facts(2, line_share=0.0)
    ranked = wh.rank_candidates([bare, covered], PARAMS, PLANNING)
    assert [c.customer_id for c in ranked] == [1, 2]
    # 2000 × 0.8 × 0.30 × 0.5 yuan of bagging done in the warehouse
    assert ranked[0].presort_saving == pytest.approx(240.0)
    assert ranked[0].saving_per_day - ranked[1].saving_per_day == pytest.approx(240.0)


def test_small_unsteady_or_hubless_merchants_are_no_candidates():
    ranked = wh.rank_candidates(
        [facts(1, daily=299), facts(2, cv=0.61), facts(3, km=None, hub=None), facts(4)],
        PARAMS, PLANNING)
    assert [c.customer_id for c in ranked] == [4]


def test_reasons_carry_the_numbers():
    e = wh.estimate(facts(daily=1200, km=30, line_share=0.5), PARAMS, PLANNING)
    text = " ".join(wh.explain(facts(daily=1200, km=30, line_share=0.5), e, PARAMS,
                               locale="en"))
    assert "1,200.0 parcels a day" in text and "30.0 km by road" in text
    assert "3 pickup trips" in text and "50%" in text
    zh = " ".join(wh.explain(facts(daily=1200, km=30), e, PARAMS, translator("zh-CN")))
    assert "日均 1,200.0 件" in zh


def test_steadiness_removes_counting_noise():
    # 30 days of exactly 10 parcels: no variation at all
    assert wh.steadiness_cv(300, 3000, 30) == 0
    # alternating 0 and 20: variance 100 against a mean of 10 → √(100 − 10) / 10
    assert wh.steadiness_cv(300, 15 * 400, 30) == pytest.approx((90 ** 0.5) / 10)
    assert wh.steadiness_cv(0, 0, 30) == float("inf")


# -- the store and the lake --------------------------------------------------------------------
END = dt.date(2024, 6, 30)
ZHILI = (120.20, 30.80)  # the market and its centre
HANGZHOU_DEST = "330100"


@pytest.fixture
def world(store, tmp_path):
    org = build_org(store)
    lake = tmp_path / "lake"
    ids = {}
    with store.transaction() as s:
        for name, unit, role in (("hz-city", org.huzhou, Role.CITY_MANAGER),
                                 ("hgz-city", org.hangzhou, Role.CITY_MANAGER),
                                 ("zl-marketer", org.zhili_outlet, Role.MARKETER)):
            add_user(s, name, "correct-horse-9", unit, role, name)
        market = Market(code="M-ZL", name="织里童装产业带", type=MarketType.INDUSTRIAL_CLUSTER,
                        industry="童装", org_unit_id=org.wuxing.id)
        s.add(market)
        s.flush()
        centre = Facility(code="F-ZL-JB", name="织里集包中心",
                          kind=FacilityKind.CONSOLIDATION_CENTRE, adcode="330502",
                          lon=ZHILI[0], lat=ZHILI[1], org_unit_id=org.wuxing.id)
        # a centre in another province is never "nearest" for Zhejiang merchants
        elsewhere = Facility(code="F-JS", name="苏州处理中心", kind=FacilityKind.PROCESSING_CENTRE,
                             adcode="320500", lon=120.35, lat=30.95, org_unit_id=org.hq.id)
        warehouse = Facility(code="W-ZL", name="织里源头仓", kind=FacilityKind.WAREHOUSE,
                             adcode="330502", lon=ZHILI[0], lat=ZHILI[1], capacity_per_day=50,
                             org_unit_id=org.zhili_outlet.id)
        s.add_all([centre, elsewhere, warehouse])
        s.flush()
        s.add(DedicatedLine(code="L-ZL-HZ", origin_market_id=market.id,
                            dest_adcode=HANGZHOU_DEST, status=LineStatus.ACTIVE,
                            org_unit_id=org.wuxing.id))
        people = {
            # 40 a day, 0.3° east of the centre (~37 km): far, steady; half go to Hangzhou
            "far": (40, 120.585, 30.80, org.zhili_outlet.id),
            "near": (40, 120.21, 30.80, org.zhili_outlet.id),  # the same, next to the centre
            "small": (2, 120.585, 30.80, org.zhili_outlet.id),
            "hangzhou": (30, 120.15, 30.28, org.xihu.id),  # another city
        }
        for key, (_, lon, lat, unit) in people.items():
            c = Customer(code=f"C-{key}", name=key, lon=lon, lat=lat, adcode="330502",
                         market_id=market.id, org_unit_id=unit, est_daily_volume=1)
            s.add(c)
            s.flush()
            ids[key] = c.id
        ids.update(market=market.id, warehouse=warehouse.id, centre=centre.id)
    rows = []
    for key, (per_day, *_rest, unit) in people.items():
        for d in range(30):
            day = END - dt.timedelta(days=d)
            for n in range(per_day):
                rows.append({
                    "waybill_no": f"{key}-{day:%Y%m%d}-{n}", "org_unit_id": unit,
                    "customer_id": ids[key], "market_id": ids["market"], "product": "parcel",
                    "ship_time": dt.datetime.combine(day, dt.time(10, n % 60)),
                    "dest_province": "330000",
                    "dest_city": HANGZHOU_DEST if n % 2 == 0 else "330200",
                    "weight_kg": 0.5, "fee": 5.0, "status": "delivered"})
    append(lake, WAYBILL_DATASET, pa.Table.from_pylist(rows))
    # real bars / 100: a merchant needs 3 parcels a day, a van takes 5
    params = WarehousingParams(min_daily_parcels=3, van_parcels_per_trip=5)
    return store, lake, org, ids, params


def _candidates(store, lake, params, user=None):
    scope = None
    with store.session(actor=store.actor(user) if user else None) as s:
        scope = s.info["scope"]
        return wh.candidates(s, connect(), lake, scope, END, params=params, locale="en")


def test_candidates_from_the_lake(world):
    store, lake, _, ids, params = world
    found = _candidates(store, lake, params)
    by_code = {c.code: c for c in found}
    order = [c.code for c in found]
    assert order[0] == "C-far" and order.index("C-far") < order.index("C-near")
    assert "C-small" not in by_code  # 2 a day: under the bar
    far = by_code["C-far"]
    assert far.daily_parcels == pytest.approx(40)
    assert far.line_share == pytest.approx(0.5)  # the even-numbered parcels go to Hangzhou
    assert far.hub == "织里集包中心"  # not the nearer-looking centre of Jiangsu
    assert 30 * 1.4 < far.hub_km < 40 * 1.4
    assert far.cv == 0
    assert by_code["C-near"].hub_km < 2


def test_a_city_sees_its_own_merchants_with_the_same_figures(world):
    store, lake, _, _, params = world
    everyone = {c.code: c for c in _candidates(store, lake, params)}
    huzhou = _candidates(store, lake, params, "hz-city")
    assert {c.code for c in huzhou} == {"C-far", "C-near"}
    for c in huzhou:
        assert c.saving_per_day == everyone[c.code].saving_per_day
    assert {c.code for c in _candidates(store, lake, params, "hgz-city")} <= {"C-hangzhou"}


def _assign(store, lake, user, customer, warehouse, params):
    with store.session(actor=store.actor(user)) as s:
        wh.assign(s, customer, warehouse, con=connect(), lake=lake, as_of=END, params=params)
        s.commit()


def test_assign_fills_the_warehouse_and_refuses_over_capacity(world):
    store, lake, _, ids, params = world
    _assign(store, lake, "hz-city", ids["far"], ids["warehouse"], params)
    with store.session() as s:
        rows = wh.warehouses(s, connect(), lake, Scope.WHOLE, END, params=params)
        assert s.get(Customer, ids["far"]).warehouse_id == ids["warehouse"]
        audited = s.query(AuditEntry).filter(AuditEntry.entity_id == str(ids["far"]),
                                             AuditEntry.action == "update").all()
    assert [(r.code, r.customer_count, r.outbound_per_day) for r in rows] == [("W-ZL", 1, 40)]
    assert rows[0].utilisation == pytest.approx(0.8)
    assert [a.username for a in audited if "warehouse_id" in (a.changes or {})] == ["hz-city"]
    # 40 + 40 > 50: refused with the numbers, nothing changes
    with pytest.raises(Conflict) as refused:
        _assign(store, lake, "hz-city", ids["near"], ids["warehouse"], params)
    assert refused.value.values["load"] == 40 and refused.value.values["adds"] == 40
    assert "is full" in refused.value.translated(lambda m, **v: m.format(**v))
    with store.session() as s:
        assert s.get(Customer, ids["near"]).warehouse_id is None
    # served from no warehouse again, the merchant is a candidate again
    _assign(store, lake, "hz-city", ids["far"], None, params)
    assert "C-far" in {c.code for c in _candidates(store, lake, params)}


def test_assigned_merchants_leave_the_candidates(world):
    store, lake, _, ids, params = world
    _assign(store, lake, "hz-city", ids["far"], ids["warehouse"], params)
    assert "C-far" not in {c.code for c in _candidates(store, lake, params)}


def test_assign_is_refused_to_a_marketer_and_outside_the_scope(world):
    store, lake, _, ids, params = world
    with pytest.raises(NotAllowed):
        _assign(store, lake, "zl-marketer", ids["far"], ids["warehouse"], params)
    # Hangzhou does not see Huzhou's merchant nor its warehouse
    with pytest.raises(NotFound):
        _assign(store, lake, "hgz-city", ids["far"], ids["warehouse"], params)
    with pytest.raises(NotFound):
        _assign(store, lake, "hgz-city", ids["hangzhou"], ids["warehouse"], params)
    with pytest.raises(NotFound):  # a centre is no warehouse
        _assign(store, lake, "hz-city", ids["far"], ids["centre"], params)


# -- the demo ----------------------------------------------------------------------------------
def test_the_demo_serves_big_henan_merchants_from_three_warehouses_below_capacity(tmp_path):
    from jiqun.demo import build_demo

    demo = Store(f"sqlite:///{tmp_path}/demo.db")
    demo.upgrade()
    build_demo(demo, tmp_path / "lake", scale="tiny", seed=7, progress=False)
    with demo.session() as s:
        rows = wh.warehouses(s, connect(), tmp_path / "lake", Scope.WHOLE)
        served = s.query(Customer).filter(Customer.warehouse_id.is_not(None)).all()
    assert [r.code for r in rows] == ["W-HA-SG", "W-HA-XY", "W-HA-YJ"]
    for r in rows:
        assert r.customer_count >= 3, r.code
        assert 0.3 < r.utilisation <= 1.0, (r.code, r.utilisation)
    assert {c.code[:5] for c in served} == {"HA-SG", "HA-XY", "HA-YJ"}
    demo.engine.dispose()



# -- the command line ----------------------------------------------------------------------------
@pytest.fixture
def run_cli(world, monkeypatch):
    from typer.testing import CliRunner

    from jiqun.cli import app
    from jiqun.config import get_settings

    store, lake, *_ = world
    monkeypatch.setenv("JIQUN_STORE_URL", store.url)
    monkeypatch.setenv("JIQUN_LAKE_PATH", str(lake))
    monkeypatch.setenv("JIQUN_LOCALE", "en")
    get_settings.cache_clear()
    yield lambda *args: CliRunner().invoke(app, list(args))
    get_settings.cache_clear()


def test_the_cli_assigns_lists_and_refuses_over_capacity(run_cli, world):
    import json

    store, *_ = world
    with store.transaction() as s:  # the CLI reads the default bars: a capacity of 50 is huge
        s.query(Facility).filter(Facility.code == "W-ZL").update({"capacity_per_day": 60})
    done = run_cli("warehouses", "assign", "C-far", "--warehouse", "W-ZL", "--user", "hz-city",
                   "--format", "json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout) == [{"customer": "C-far", "name": "far", "warehouse": "W-ZL"}]
    listed = json.loads(run_cli("warehouses", "list", "--user", "hz-city", "--format",
                                "json").stdout)
    assert [(r["code"], r["customer_count"], r["customers"]) for r in listed] == [
        ("W-ZL", 1, "C-far")]
    # the window ends on the lake's last day (2024-06-30): 40 a day of 60
    assert listed[0]["outbound_per_day"] == 40 and listed[0]["utilisation"] == 0.6667
    full = run_cli("warehouses", "assign", "C-near", "--warehouse", "W-ZL", "--user", "hz-city")
    assert full.exit_code == 2 and "is full" in full.output
    neither = run_cli("warehouses", "assign", "C-near", "--user", "hz-city")
    assert neither.exit_code == 2 and "--none" in neither.output
