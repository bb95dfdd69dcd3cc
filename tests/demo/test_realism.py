"""The small demo reads as real (issue 13): no figure contradicts its own label.

The demo is a 1 : N model (docs/demo.md "Scales"): counts of parcels and yuan totals are
real × factor, and so are the thresholds and vehicles they are compared with, in the settings
files the demo writes. These tests check the model's figures against those labels as values, on
the small demo the planning tests build once per process (``tests/network/demo_province.py``).
"""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pytest
from sqlalchemy import select

from jiqun.demo.places import MARKETS
from jiqun.demo.scale import (
    demo_kpi_rules,
    demo_planning_params,
    demo_sales_rules,
    get_scale,
    write_demo_settings,
)
from jiqun.kpi.rules import KpiRules, TierThresholds
from jiqun.kpi.service import OperatingPicture
from jiqun.markets import potential
from jiqun.network.params import PlanningParams
from jiqun.sales.rules import SalesRules
from jiqun.store import Scope
from jiqun.store.models import (
    ALL_CARRIERS,
    Customer,
    DedicatedLine,
    LineStatus,
    Market,
    MarketVolumeEstimate,
    User,
)
from tests.network.demo_province import UNTIL, demo_province

SMALL = get_scale("small")
FACTOR = SMALL.volume_factor
RULES = demo_kpi_rules(FACTOR)
PARAMS = demo_planning_params(FACTOR)
REAL = PlanningParams()


@pytest.fixture(scope="module")
def small():
    demo = demo_province()
    con = duckdb.connect()
    con.sql(f"CREATE VIEW w AS SELECT * FROM read_parquet('{demo.lake}/waybills/*/*.parquet')")
    yield demo, con
    con.close()


def test_production_rule_classes_know_no_volume_factor():
    for cls in (KpiRules, SalesRules, PlanningParams, TierThresholds):
        assert [n for n in dir(cls) if ("scale" in n.lower() or "factor" in n.lower())
                and n not in cls.model_fields] == [], cls.__name__


def test_the_written_settings_read_back_as_the_models_rules(tmp_path):
    rules, planning = tmp_path / "rules.toml", tmp_path / "planning.toml"
    write_demo_settings(rules, planning, FACTOR)
    assert rules.read_text(encoding="utf-8").startswith("# jiqun demo: a 1:204 model")
    assert KpiRules.from_file(rules) == RULES
    assert SalesRules.from_file(rules) == demo_sales_rules(FACTOR)
    assert PlanningParams.from_file(planning) == PARAMS
    assert RULES.tier_thresholds.special == pytest.approx(KpiRules().tier_thresholds.special * FACTOR)
    assert RULES.new_effective_daily_parcels == pytest.approx(
        KpiRules().new_effective_daily_parcels * FACTOR)  # a bar in parcels: scaled
    assert RULES.active_days == KpiRules().active_days  # days and ratios: real
    assert RULES.development_rate_target == KpiRules().development_rate_target
    assert [t.name for t in PARAMS.trucks] == ["9.6m 1:204", "17.5m 1:204"]  # the label says
    assert PARAMS.trucks[0].payload_kg == pytest.approx(REAL.trucks[0].payload_kg * FACTOR)
    assert PARAMS.direct_handling_per_parcel == REAL.direct_handling_per_parcel  # per parcel: real
    assert PARAMS.hub_route == REAL.hub_route


def test_a_province_override_of_the_thresholds_is_scaled_too():
    base = KpiRules(province_tier_thresholds={"410000": TierThresholds(special=900)})
    model = demo_kpi_rules(0.01, base)
    assert model.tier_thresholds.special == pytest.approx(20)
    assert model.province_tier_thresholds["410000"].special == pytest.approx(9)
    with pytest.raises(ValueError):
        demo_kpi_rules(0.0)


def _trailing(con, days: int, what: str, where: str = "TRUE"):
    start = UNTIL - dt.timedelta(days=days - 1)
    return con.sql(f"SELECT {what} FROM w WHERE ship_time >= '{start}' AND {where} "
                   f"GROUP BY ALL").fetchall()


def test_a_lines_trucks_carry_what_their_vehicle_carries(small):
    """Each active line's trucks carry, per trip, between half and all of what the vehicle named
    on the line carries for its goods: in real terms (÷ factor) thousands of parcels."""
    demo, con = small
    trucks = {t.name: t for t in PARAMS.trucks}
    with demo.store.session() as s:
        active = s.scalars(select(DedicatedLine).where(
            DedicatedLine.status == LineStatus.ACTIVE)).all()
        lines = {ln.id: (ln.truck_type, ln.trips_per_day, s.get(Market, ln.origin_market_id).industry)
                 for ln in active}
    assert len(lines) == 3
    loads = {row[0]: row[1:] for row in _trailing(
        con, 90, "line_id, count(*) / 90.0, avg(weight_kg)", "line_id IS NOT NULL")}
    for line_id, (truck_name, trips, industry) in lines.items():
        truck = trucks[truck_name]  # a vehicle the planner knows, scale in its name
        per_day, mean_kg = loads[line_id]
        capacity = truck.capacity_parcels(mean_kg, PARAMS.density(industry), PARAMS.fill_rate,
                                          PARAMS.min_parcel_m3)
        per_trip = per_day / trips
        assert 0.5 * capacity <= per_trip <= capacity, (truck_name, per_trip, capacity)
        assert 4_000 <= per_trip / FACTOR <= 20_000  # a 17.5 m truck's real load


def _daily_parcels(con) -> dict[int, float]:
    window = RULES.tier_window_days
    rows = _trailing(con, window, f"customer_id, count(*) / {float(window)}",
                     "customer_id IS NOT NULL")
    return dict(rows)


def test_each_tiers_customers_ship_within_their_tiers_thresholds(small):
    """The archive as built (before `jiqun demo build` reconciles it with the lake) already
    agrees with the model's rules, and owners hold the role their tier requires."""
    demo, con = small
    daily = _daily_parcels(con)
    limits = RULES.tier_thresholds
    bounds = {"special": (limits.special, np.inf), "first": (limits.first, limits.special),
              "second": (limits.second, limits.first), "third": (limits.third, limits.second),
              "micro": (0.0, limits.third)}
    with demo.store.session() as s:
        roles = dict(s.execute(select(User.id, User.role)).all())
        customers = [(c.id, c.tier.value, c.owner_id) for c in s.scalars(select(Customer))]
    by_tier: dict[str, list[float]] = {t: [] for t in bounds}
    for cid, tier, owner in customers:
        by_tier[tier].append(daily.get(cid, 0.0))
        assert roles[owner] == RULES.tier_owner_roles[tier], (cid, tier)
    inside = 0
    for tier, volumes in by_tier.items():
        lo, hi = bounds[tier]
        v = np.array(volumes)
        assert len(v) > 10, tier
        assert lo <= np.median(v) < hi, tier
        inside += int(((v >= lo) & (v < hi)).sum())
    # The rest sit next to a threshold: at 三级/小微 90 days hold a handful of parcels (Poisson).
    assert inside / len(customers) >= 0.93
    special = np.array(by_tier["special"])
    assert np.median(special) / FACTOR >= KpiRules().tier_thresholds.special  # a real 特级


def test_key_markets_are_on_plan_on_the_data_date(small):
    """Yearly revenue targets are the model's plan (expected revenue + 8%): a key market that
    ships as planned stands at 85–105% of its prorated target."""
    demo, _ = small
    with OperatingPicture(demo.store, demo.lake, Scope.WHOLE, rules=RULES) as picture, \
            demo.store.session() as s:
        assert picture.data_date() == UNTIL
        cities = potential.key_city_targets(s, picture)
    progress = {m.code: m.progress for c in cities for m in c.markets
                if m.yearly_revenue_target}
    assert len(progress) == len([s for s in MARKETS if s.key_area])
    for code, value in progress.items():
        assert 0.85 <= value <= 1.05, (code, value)


def test_our_share_of_each_market_is_the_seeds(small):
    """Our waybills of the last month ÷ (days × the all-carrier estimate) are within a fifth of
    the seed's share (闫集 22%, 织里 21.35%, Guangdong 8–14% …), and under 100%."""
    demo, con = small
    month = UNTIL.replace(day=1)
    days = (UNTIL - month).days + 1
    ours = dict(con.sql(f"SELECT market_id, count(*) FROM w WHERE ship_time >= '{month}' "
                        f"GROUP BY ALL").fetchall())
    with demo.store.session() as s:
        codes = dict(s.execute(select(Market.id, Market.code)).all())
        totals = dict(s.execute(select(MarketVolumeEstimate.market_id,
                                       MarketVolumeEstimate.daily_volume).where(
            MarketVolumeEstimate.carrier == ALL_CARRIERS,
            MarketVolumeEstimate.valid_from == month)).all())
    seed = {spec.code: spec.our_share for spec in MARKETS}
    assert len(totals) == len(MARKETS)
    for market_id, total in totals.items():
        share = ours[market_id] / (days * total)
        assert 0 < share < 1
        assert share == pytest.approx(seed[codes[market_id]], rel=0.2), codes[market_id]
