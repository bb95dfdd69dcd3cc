"""Lifecycle from waybills: first waybills → cooperating, falling → at risk, silence → churned,
shipping again → reactivated; each change recorded (stage_changes) and audited."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from jiqun.kpi.service import OperatingPicture
from jiqun.sales import lifecycle
from jiqun.sales.rules import SalesRules
from jiqun.store import Scope
from jiqun.store.models import (
    AuditEntry,
    Customer,
    LifecycleStage,
    StageChange,
    TrialShipment,
)
from tests.sales.conftest import AS_OF, add_customer, days_back, put_waybills, waybills

S = LifecycleStage
RULES = SalesRules()  # 14 recent days against 28 before, at risk below 50 %, churn after 30


@pytest.fixture
def merchants(store, outlet, tmp_path):
    """Six merchants of the Zhili outlet, each with the waybills its name says."""
    org = outlet.org.zhili_outlet.id
    ids = {
        "newbie": add_customer(store, org, "NEW", S.NURTURING),
        "on_trial": add_customer(store, org, "TRI", S.TRIAL),
        "faller": add_customer(store, org, "FAL", S.COOPERATING, first_shipped_on=days_back(60)),
        "silent": add_customer(store, org, "SIL", S.GROWING, first_shipped_on=days_back(90)),
        "returner": add_customer(store, org, "RET", S.CHURNED, first_shipped_on=days_back(200)),
        "steady": add_customer(store, org, "STE", S.COOPERATING, first_shipped_on=days_back(60)),
    }
    with store.transaction() as s:
        s.add(TrialShipment(customer_id=ids["on_trial"], org_unit_id=org,
                            started_on=days_back(10), parcels=30))
        s.add(StageChange(customer_id=ids["returner"], org_unit_id=org, from_stage=S.COOPERATING,
                          to_stage=S.CHURNED, at=dt.datetime.combine(days_back(40), dt.time()),
                          reason="silent"))
    rows = []
    rows += waybills(ids["newbie"], org, lambda d: 3, days_back(4), AS_OF)
    rows += waybills(ids["on_trial"], org, lambda d: 2, days_back(9), AS_OF)
    # 10 a day for the 28-day baseline, then 4 a day: 4 < 0.5 × 10 → at risk.
    rows += waybills(ids["faller"], org, lambda d: 10 if d < days_back(13) else 4,
                     days_back(41), AS_OF)
    rows += waybills(ids["silent"], org, lambda d: 5, days_back(80), days_back(31))
    rows += waybills(ids["returner"], org, lambda d: 2, days_back(230), days_back(70))
    rows += waybills(ids["returner"], org, lambda d: 6, days_back(5), AS_OF)
    rows += waybills(ids["steady"], org, lambda d: 5, days_back(60), AS_OF)
    put_waybills(tmp_path / "lake", rows)
    return ids


def _promote(store, lake, dry_run=False, user_id=None):
    with OperatingPicture(store, lake, Scope.WHOLE) as picture, \
            store.transaction(user_id=user_id, source="job") as s:
        return lifecycle.promote_from_waybills(s, picture, AS_OF, RULES, dry_run=dry_run)


def test_waybills_move_each_merchant_to_its_stage(store, merchants, tmp_path):
    changes = _promote(store, tmp_path / "lake")
    by_code = {c.code: c for c in changes}
    assert set(by_code) == {"NEW", "FAL", "SIL", "RET"}  # on trial and steady stay
    assert (by_code["NEW"].to_stage, by_code["NEW"].reason) == ("cooperating", "first_waybills")
    assert (by_code["SIL"].to_stage, by_code["SIL"].reason) == ("churned", "silent")
    assert (by_code["RET"].to_stage, by_code["RET"].reason) == ("cooperating", "reactivated")
    assert by_code["FAL"].to_stage == "cooperating" and by_code["FAL"].at_risk is True

    with store.session() as s:
        stage = {c.code: c for c in s.scalars(select(Customer))}
        assert stage["NEW"].lifecycle_stage == S.COOPERATING
        assert stage["NEW"].first_shipped_on == days_back(4)
        assert stage["TRI"].lifecycle_stage == S.TRIAL
        assert stage["FAL"].lifecycle_stage == S.COOPERATING
        assert stage["FAL"].at_risk_since == AS_OF
        assert stage["SIL"].lifecycle_stage == S.CHURNED
        assert stage["RET"].lifecycle_stage == S.COOPERATING
        assert stage["STE"].lifecycle_stage == S.COOPERATING and stage["STE"].at_risk_since is None

        recorded = s.execute(
            select(Customer.code, StageChange.from_stage, StageChange.to_stage,
                   StageChange.reason, StageChange.at, StageChange.user_id)
            .join(Customer, Customer.id == StageChange.customer_id)
            .where(StageChange.at > dt.datetime.combine(days_back(1), dt.time()))
        ).all()
        assert sorted((r[0], r[1], r[2], r[3]) for r in recorded) == [
            ("NEW", S.NURTURING, S.COOPERATING, "first_waybills"),
            ("RET", S.CHURNED, S.COOPERATING, "reactivated"),
            ("SIL", S.GROWING, S.CHURNED, "silent"),
        ]
        assert all(r.at.date() == AS_OF and r.user_id is None for r in recorded)

        audits = s.execute(select(AuditEntry.entity, AuditEntry.action, AuditEntry.changes,
                                  AuditEntry.source)
                           .where(AuditEntry.source == "job")).all()
    stage_updates = [a.changes["lifecycle_stage"] for a in audits
                     if a.entity == "customers" and a.action == "update"
                     and "lifecycle_stage" in a.changes]
    assert sorted(map(tuple, stage_updates)) == [
        ("churned", "cooperating"), ("growing", "churned"), ("nurturing", "cooperating")]
    inserted = [a for a in audits if a.entity == "stage_changes" and a.action == "insert"]
    assert len(inserted) == 3
    flagged = [a.changes["at_risk_since"] for a in audits
               if a.entity == "customers" and "at_risk_since" in (a.changes or {})]
    assert [None, AS_OF.isoformat()] in flagged


def test_the_same_waybills_change_nothing_the_second_time(store, merchants, tmp_path):
    assert _promote(store, tmp_path / "lake")
    assert _promote(store, tmp_path / "lake") == []


def test_dry_run_lists_and_writes_nothing(store, merchants, tmp_path):
    changes = _promote(store, tmp_path / "lake", dry_run=True)
    assert len(changes) == 4
    with store.session() as s:
        assert s.scalars(select(Customer.lifecycle_stage).where(Customer.code == "NEW")).one() \
            == S.NURTURING
        assert len(s.scalars(select(StageChange)).all()) == 1  # the fixture's own


def test_recovered_volume_clears_the_flag():
    state = lifecycle.CustomerState(1, "X", "x", S.COOPERATING, at_risk_since=days_back(7))
    ship = lifecycle.Shipping(days_back(100), AS_OF, recent_parcels=140, baseline_parcels=280)
    [change] = lifecycle.plan_lifecycle([state], {1: ship}, AS_OF, RULES)
    assert (change.at_risk, change.reason, change.to_stage) == (False, "recovered", "cooperating")


def test_rising_volume_is_growing_and_vip_flag_is_vip():
    ship = lifecycle.Shipping(days_back(100), AS_OF, recent_parcels=14 * 13, baseline_parcels=280)
    grow = lifecycle.CustomerState(1, "G", "g", S.COOPERATING)
    vip = lifecycle.CustomerState(2, "V", "v", S.GROWING, vip=True)
    changes = lifecycle.plan_lifecycle([grow, vip], {1: ship, 2: ship}, AS_OF, RULES)
    assert [(c.code, c.to_stage, c.reason) for c in changes] == [
        ("G", "growing", "growing"), ("V", "vip", "vip")]


def test_a_churn_decided_on_the_same_waybills_does_not_flip_back():
    churned = lifecycle.CustomerState(1, "C", "c", S.CHURNED, churned_on=AS_OF)
    ship = lifecycle.Shipping(days_back(100), days_back(2), recent_parcels=5, baseline_parcels=0)
    assert lifecycle.next_stage(churned, ship, AS_OF, RULES) is None
