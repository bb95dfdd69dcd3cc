"""The demo province: deterministic, grounded in the seed's figures, scoped like real data."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from jiqun.accounts import authenticate
from jiqun.demo import DEMO_LOGINS, DEMO_PASSWORD, build_demo
from jiqun.demo.build import store_row_counts
from jiqun.lake import connect, waybills
from jiqun.store import Store
from jiqun.store.models import (
    Customer,
    CustomerTier,
    DedicatedLine,
    Facility,
    LifecycleStage,
    Market,
    MarketVolumeEstimate,
    OrgLevel,
    OrgUnit,
    Team,
    TeamStatus,
    User,
)
from jiqun.store.scope import Scope

UNTIL = dt.date(2026, 11, 26)


class Demo:
    def __init__(self, root, seed=7):
        self.root = root
        self.store = Store(f"sqlite:///{root}/store.db")
        self.lake = root / "lake"
        self.summary = build_demo(self.store, self.lake, scale="tiny", seed=seed, until=UNTIL,
                                  progress=False)

    def waybills(self) -> pa.Table:
        con = duckdb.connect()
        return con.sql(
            f"SELECT * FROM read_parquet('{self.lake}/waybills/*/*.parquet') ORDER BY waybill_no"
        ).to_arrow_table()

    def sql(self, query: str):
        con = duckdb.connect()
        con.sql(f"CREATE VIEW w AS SELECT * FROM read_parquet('{self.lake}/waybills/*/*.parquet')")
        return con.sql(query).fetchall()

    def market_id(self, code: str) -> int:
        with self.store.session() as s:
            return s.scalars(select(Market.id).where(Market.code == code)).one()


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Demo:
    return Demo(tmp_path_factory.mktemp("demo"))


def test_tiny_build_is_deterministic_and_replaces_what_was_there(demo, tmp_path):
    again = Demo(tmp_path, seed=8)
    other_seed = again.waybills()
    assert not other_seed.equals(demo.waybills())
    build_demo(again.store, again.lake, scale="tiny", seed=7, until=UNTIL, progress=False)
    assert store_row_counts(again.store) == store_row_counts(demo.store)
    assert again.waybills().equals(demo.waybills())
    assert 20_000 <= demo.summary.waybills <= 40_000
    assert demo.summary.events > 0
    with demo.store.session() as a, again.store.session() as b:
        names = [c.name for c in a.scalars(select(Customer).order_by(Customer.id))]
        assert names == [c.name for c in b.scalars(select(Customer).order_by(Customer.id))]


def test_history_covers_two_full_years(demo):
    assert demo.summary.start == dt.date(2024, 11, 27)
    (first, last), = demo.sql("SELECT min(ship_time), max(ship_time) FROM w")
    assert first.date() >= dt.date(2024, 11, 27) and first.date() < dt.date(2024, 12, 3)
    assert last.date() == UNTIL


def test_demo_logins_authenticate(demo):
    with demo.store.session() as s:
        for username, role, org_code in DEMO_LOGINS:
            user = authenticate(s, username, DEMO_PASSWORD)
            assert user is not None, username
            assert user.role.value == role
            assert s.get(OrgUnit, user.org_unit_id).code == org_code
        assert authenticate(s, "demo-city", "wrong-password") is None


def test_city_user_has_a_sibling_city(demo):
    with demo.store.session() as s:
        user = s.scalars(select(User).where(User.username == "demo-city")).one()
        city = s.get(OrgUnit, user.org_unit_id)
        assert city.level == OrgLevel.CITY and city.name == "商丘市分公司"
        siblings = s.scalars(select(OrgUnit).where(OrgUnit.parent_id == city.parent_id,
                                                   OrgUnit.id != city.id)).all()
        assert [u.level for u in siblings] and all(u.level == OrgLevel.CITY for u in siblings)


def test_waybills_belong_to_the_outlet_of_their_customer(demo):
    with demo.store.session() as s:
        customer_org = dict(s.execute(select(Customer.id, Customer.org_unit_id)).all())
        outlets = set(s.scalars(select(OrgUnit.id).where(OrgUnit.level == OrgLevel.OUTLET)))
        facility_org = dict(s.execute(select(Facility.id, Facility.org_unit_id)).all())
    rows = demo.sql("SELECT DISTINCT customer_id, org_unit_id, outlet_id FROM w")
    assert rows
    for customer_id, org_unit_id, outlet_id in rows:
        assert org_unit_id in outlets
        assert customer_org[customer_id] == org_unit_id
        assert facility_org[outlet_id] == org_unit_id


def test_city_scope_sees_only_its_city_in_the_lake(demo):
    with demo.store.session() as s:
        city = s.scalars(select(OrgUnit).where(OrgUnit.code == "HA-SQ")).one()
        scope = Scope.for_unit(s, city)
        shangqiu = set(s.scalars(select(Market.id).where(Market.org_unit_id.in_(scope.org_ids))))
    table = waybills(connect(engine="duckdb"), demo.lake, scope)
    seen = set(table.select("market_id").distinct().to_pyarrow()["market_id"].to_pylist())
    assert seen == shangqiu and len(shangqiu) == 3


def test_every_lifecycle_stage_and_tier_occurs(demo):
    with demo.store.session() as s:
        stages = set(s.scalars(select(Customer.lifecycle_stage).distinct()))
        tiers = set(s.scalars(select(Customer.tier).distinct()))
        assert stages == set(LifecycleStage)
        assert tiers == set(CustomerTier)
        vips = s.scalars(select(Customer).where(Customer.lifecycle_stage == LifecycleStage.VIP)).all()
        assert vips and all(c.vip and c.vip_manager_id for c in vips)


def test_owner_follows_the_tier(demo):
    expected = {CustomerTier.SPECIAL: {"county_manager"},
                CustomerTier.FIRST: {"department_head"}, CustomerTier.SECOND: {"department_head"},
                CustomerTier.THIRD: {"account_manager"}, CustomerTier.MICRO: {"account_manager"}}
    with demo.store.session() as s:
        rows = s.execute(select(Customer.tier, User.role).join(User, User.id == Customer.owner_id))
        for tier, role in rows:
            assert role.value in expected[tier]


def test_shangqiu_has_five_approved_teams_with_fifteen_marketers(demo):
    with demo.store.session() as s:
        city = s.scalars(select(OrgUnit).where(OrgUnit.code == "HA-SQ")).one()
        scope = Scope.for_unit(s, city)
        teams = s.scalars(select(Team).where(Team.org_unit_id.in_(scope.org_ids))).all()
        assert len(teams) == 5 and all(t.status == TeamStatus.APPROVED for t in teams)
        roles = [m.user.role.value for t in teams for m in t.members]
        assert roles.count("marketer") == 15 and roles.count("courier") == 60
        province = s.scalars(select(User).where(User.username == "demo-province")).one()
        assert {t.approved_by_id for t in teams} == {province.id}


def _last_full_month_share(demo, code: str) -> float:
    market = demo.market_id(code)
    month = dt.date(UNTIL.year, UNTIL.month, 1) - dt.timedelta(days=1)
    first = month.replace(day=1)
    (ours,), = demo.sql(
        f"SELECT count(*) FROM w WHERE market_id = {market} "
        f"AND ship_time >= '{first}' AND ship_time < '{month + dt.timedelta(days=1)}'"
    )
    with demo.store.session() as s:
        total = s.scalars(select(MarketVolumeEstimate.daily_volume).where(
            MarketVolumeEstimate.market_id == market, MarketVolumeEstimate.carrier == "*",
            MarketVolumeEstimate.valid_from == first)).one()
    return ours / (total * month.day)


def test_zhili_share_is_about_21_percent(demo):
    assert 0.18 <= _last_full_month_share(demo, "ZJ-ZL") <= 0.25


def test_competitors_and_ours_add_up_to_the_market(demo):
    market = demo.market_id("ZJ-ZL")
    with demo.store.session() as s:
        rows = s.execute(select(MarketVolumeEstimate.carrier, MarketVolumeEstimate.daily_volume)
                         .where(MarketVolumeEstimate.market_id == market,
                                MarketVolumeEstimate.valid_from == dt.date(2026, 10, 1))).all()
    volumes = dict(rows)
    named = sum(v for c, v in volumes.items() if c != "*")
    assert {"中通", "圆通", "韵达", "极兔", "顺丰"} <= set(volumes)
    assert 0.65 < named / volumes["*"] < 0.80  # the rest: ours ≈ 21% and small carriers


def test_yucheng_hardware_goes_first_to_guangzhou_then_nanjing_and_hangzhou(demo):
    market = demo.market_id("HA-SG")
    rows = demo.sql(f"SELECT dest_city, count(*) n FROM w WHERE market_id = {market} "
                    "GROUP BY 1 ORDER BY n DESC LIMIT 3")
    assert rows[0][0] == "440100"
    assert {rows[1][0], rows[2][0]} == {"320100", "330100"}
    with demo.store.session() as s:
        lines = s.scalars(select(DedicatedLine).where(DedicatedLine.status == "active")).all()
        assert sorted(ln.dest_adcode for ln in lines) == ["320100", "330100", "440100"]
        by_dest = {ln.dest_adcode: ln.id for ln in lines}
    (on_line,), = demo.sql(f"SELECT count(*) FROM w WHERE line_id = {by_dest['440100']} "
                           "AND dest_province <> '440000'")
    assert on_line == 0


def test_weekly_rhythm_and_double_11_peak(demo):
    by_weekday = dict(demo.sql("SELECT isodow(ship_time), count(*) FROM w GROUP BY 1"))
    assert by_weekday[1] > 1.15 * by_weekday[7]  # Monday's pickups above Sunday's
    (peak,), = demo.sql("SELECT count(*) / 3 FROM w WHERE ship_time >= '2025-11-11' "
                        "AND ship_time < '2025-11-14'")
    (october,), = demo.sql("SELECT count(*) / 31 FROM w WHERE ship_time >= '2025-10-01' "
                           "AND ship_time < '2025-11-01'")
    assert peak > 1.6 * october
    (jan_oct_2026,), = demo.sql("SELECT count(*) FROM w WHERE year(ship_time) = 2026 "
                                "AND month(ship_time) <= 10")
    (jan_oct_2025,), = demo.sql("SELECT count(*) FROM w WHERE year(ship_time) = 2025 "
                                "AND month(ship_time) <= 10")
    assert 1.1 < jan_oct_2026 / jan_oct_2025 < 1.4  # growth year on year


def test_fees_are_what_the_quote_answers(demo):
    """Every sampled waybill's fee is the price ``quote`` answers for its market, destination,
    weight, product, customer and ship day (the card version and contract in force then)."""
    from jiqun.money.rates import quote

    rows = demo.sql("SELECT customer_id, market_id, dest_county, dest_city, dest_province, "
                    "product, weight_kg, fee, CAST(ship_time AS DATE) "
                    "FROM w USING SAMPLE 400 ROWS (reservoir, 1)")
    rules = set()
    with demo.store.session() as s:
        for customer, market, county, city, province, product, weight, fee, day in rows:
            q = quote(s, market_id=market, dest_adcode=county or city or province,
                      weight_kg=weight, product=product, customer_id=customer, on=day)
            assert float(q.price) == pytest.approx(fee, abs=1e-9), (customer, product, weight)
            rules.add((q.rule.origin, q.rule.version, q.rule.contract is not None))
    assert ("market", 2, False) in rules  # the tariff in force since the history began
    assert ("market", 2, True) in rules  # a VIP's contract on it


def test_key_markets_stand_near_their_plan_before_december(demo):
    """26 November: the year's plan counts December as last December grown, so a market that
    ships as planned has done most of it. Key-city progress is plausible, not the 1% of a
    model's revenue against a real-size target."""
    from jiqun.demo.scale import demo_kpi_rules
    from jiqun.kpi.service import OperatingPicture
    from jiqun.markets import potential

    rules = demo_kpi_rules(demo.summary.volume_factor)
    with OperatingPicture(demo.store, demo.lake, Scope.WHOLE, rules=rules) as picture, \
            demo.store.session() as s:
        progress = [m.progress for c in potential.key_city_targets(s, picture)
                    for m in c.markets if m.yearly_revenue_target]
    assert len(progress) == 22  # 闫集, 稍岗, 夏邑, 织里 and Guangdong's 18, with the seed's plans
    assert 0.85 <= float(np.median(progress)) <= 1.0
    assert all(0.7 <= p <= 1.2 for p in progress)  # tiny: a few hundred parcels a market


def test_cli_builds_the_demo(tmp_path, monkeypatch):
    from jiqun.cli import app
    from jiqun.config import get_settings

    monkeypatch.setenv("JIQUN_STORE_URL", f"sqlite:///{tmp_path}/cli.db")
    monkeypatch.setenv("JIQUN_LAKE_PATH", str(tmp_path / "lake"))
    monkeypatch.setenv("JIQUN_RULES_FILE", str(tmp_path / "rules.toml"))
    monkeypatch.setenv("JIQUN_PLANNING_FILE", str(tmp_path / "planning.toml"))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["demo", "build", "--scale", "tiny", "--until",
                                          "2026-11-26"])
        assert result.exit_code == 0, result.output
        assert "demo-marketer" in result.output and "jiqun-demo" in result.output
        bad = CliRunner().invoke(app, ["demo", "build", "--scale", "enormous"])
        assert bad.exit_code != 0
        assert _pending_tier_changes(get_settings()) == []  # the archive matches its KPIs
    finally:
        get_settings.cache_clear()
    assert (tmp_path / "lake" / "waybills").is_dir()


def _pending_tier_changes(settings) -> list:
    from jiqun.kpi.rules import KpiRules
    from jiqun.kpi.service import OperatingPicture
    from jiqun.sales import ownership
    from jiqun.store import Store

    rules = KpiRules.from_file(settings.rules_file)
    with OperatingPicture(Store.from_settings(settings), settings.lake_path, Scope.WHOLE,
                          rules=rules) as picture:
        changes = ownership.reconcile(picture, picture.data_date(), dry_run=True)
    return [c for c in changes if c.writes]
