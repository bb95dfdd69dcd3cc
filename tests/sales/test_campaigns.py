"""Campaigns (营销活动): targets by filters or codes, and the effect measured against the same
merchants before and against the non-targets (control), within the scope."""

from __future__ import annotations

import datetime as dt

import pytest
from typer.testing import CliRunner

from jiqun.cli import app as cli_app
from jiqun.config import get_settings
from jiqun.lake import connect
from jiqun.sales import campaigns as cm
from jiqun.store.models import CustomerTier, LifecycleStage, StageChange, Visit
from jiqun.store.scope import Scope
from tests.sales.conftest import add_customer, put_waybills, waybills

START = dt.date(2024, 6, 1)  # the campaign: 1–10 June; the data end on 10 June
END = dt.date(2024, 6, 10)


@pytest.fixture
def drive(store, outlet, tmp_path):
    """Two tier-1 targets that ship 1 parcel a day before the drive and 3 during it; two
    tier-3 merchants shipping 2 a day throughout; one visit and one signing during it."""
    unit = outlet.org.zhili_outlet.id
    ids = {
        key: add_customer(store, unit, code, LifecycleStage.COOPERATING, tier=tier)
        for key, code, tier in [("t1", "T-1", CustomerTier.FIRST), ("t2", "T-2", CustomerTier.FIRST),
                                ("c1", "C-1", CustomerTier.THIRD), ("c2", "C-2", CustomerTier.THIRD)]
    }
    lake = tmp_path / "lake"
    rows = []
    for key in ("t1", "t2"):
        rows += waybills(ids[key], unit, lambda d: 3 if d >= START else 1,
                         START - dt.timedelta(days=20), END)
    for key in ("c1", "c2"):
        rows += waybills(ids[key], unit, lambda d: 2, START - dt.timedelta(days=20), END)
    put_waybills(lake, rows)
    with store.transaction() as s:
        s.add(Visit(customer_id=ids["t1"], org_unit_id=unit, user_id=outlet.users["zl-marketer"],
                    visited_at=dt.datetime(2024, 6, 3, 10), method="sweep", outcome="interested"))
        s.add(StageChange(customer_id=ids["t2"], org_unit_id=unit, to_stage=LifecycleStage.COOPERATING,
                          from_stage=LifecycleStage.TRIAL, at=dt.datetime(2024, 6, 5, 9),
                          reason="visit_signed"))
    return ids, lake


def _create(store, outlet, **kw):
    with store.transaction() as s:
        campaign, missing = cm.create_campaign(
            s, name="春季攻坚", starts_on=START, ends_on=kw.pop("ends_on", END),
            org_unit_id=outlet.org.zhili_outlet.id, **kw)
        return campaign.id, missing, cm.campaign_targets(s, campaign.id)


def test_targets_by_filters_and_by_codes(store, outlet, drive):
    ids, _ = drive
    _, missing, targets = _create(store, outlet, filters=cm.TargetFilters(tiers=["first"]))
    assert (targets, missing) == (sorted([ids["t1"], ids["t2"]]), [])
    _, missing, targets = _create(store, outlet, codes=cm.codes_from_text("客户编码\nT-1, C-2\nNOPE"))
    assert targets == sorted([ids["t1"], ids["c2"]])
    assert missing == ["客户编码", "NOPE"]
    with store.transaction() as s, pytest.raises(cm.CampaignError):
        cm.create_campaign(s, name="x", starts_on=END, ends_on=START,
                           org_unit_id=outlet.org.zhili_outlet.id)


def test_effect_against_before_and_control(store, outlet, drive):
    ids, lake = drive
    campaign_id, _, _ = _create(store, outlet, filters=cm.TargetFilters(tiers=["first"]),
                                ends_on=END + dt.timedelta(days=20))
    with store.session() as s:
        effect = cm.campaign_effect(s, connect(), lake, Scope.WHOLE, campaign_id, END)
    rows = {(r.group, r.period): r for r in effect.rows}
    assert effect.measured_to == END  # still running: measured to the data date
    before, during = rows["target", "before"], rows["target", "during"]
    assert (before.start, before.end) == (dt.date(2024, 5, 22), dt.date(2024, 5, 31))
    assert (before.parcels, during.parcels) == (2 * 10 * 1, 2 * 10 * 3)
    assert (during.visits, during.visited, during.conversions) == (1, 1, 1)
    assert (before.visits, before.conversions) == (0, 0)
    assert rows["control", "during"].parcels == rows["control", "before"].parcels == 2 * 10 * 2
    assert during.parcels_per_customer_day == pytest.approx(3.0)
    assert effect.target_growth == pytest.approx(2.0)
    assert effect.control_growth == pytest.approx(0.0)
    assert effect.lift == pytest.approx(2.0)
    assert effect.extra_conversions == pytest.approx(1.0)


def test_campaigns_are_scoped(store, outlet, drive):
    campaign_id, _, _ = _create(store, outlet, filters=cm.TargetFilters())
    with store.session() as s:
        hangzhou = Scope.for_unit(s, outlet.org.hangzhou.id)
    with store.session(scope=hangzhou) as s:
        assert cm.list_campaigns(s) == []
        with pytest.raises(cm.CampaignNotFound):
            cm.campaign_effect(s, connect(), drive[1], hangzhou, campaign_id, END)


def test_cli_campaigns(store, outlet, drive, monkeypatch):
    _, lake = drive
    monkeypatch.setenv("JIQUN_STORE_URL", store.url)
    monkeypatch.setenv("JIQUN_LAKE_PATH", str(lake))
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        made = runner.invoke(cli_app, ["sales", "campaigns", "create", "--name", "春季攻坚",
                                       "--start", "2024-06-01", "--end", "2024-06-10",
                                       "--user", "system", "--scope", "ZJ-HUZ-WX-ZL",
                                       "--tier", "first"])
        assert made.exit_code == 0, made.output
        assert "2 targets" in made.output
        listed = runner.invoke(cli_app, ["sales", "campaigns", "list", "--user", "system",
                                         "--format", "csv"])
        assert "春季攻坚" in listed.output
        campaign_id = listed.output.splitlines()[1].split(",")[0]
        shown = runner.invoke(cli_app, ["sales", "campaigns", "show", campaign_id,
                                        "--user", "system", "--format", "json"])
        assert shown.exit_code == 0, shown.output
        assert '"lift": 2.0' in shown.output
    finally:
        get_settings.cache_clear()
