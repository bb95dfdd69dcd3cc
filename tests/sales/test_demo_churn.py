"""The tiny demo ships a few parcels a month per merchant: its rules file stretches the churn
window so the lifecycle does not call most cooperating merchants lost."""

from __future__ import annotations

import datetime as dt

import pytest

from jiqun.demo import build_demo
from jiqun.demo.scale import SCALES, demo_sales_rules, write_demo_settings
from jiqun.kpi.service import OperatingPicture
from jiqun.sales import lifecycle
from jiqun.sales.rules import SalesRules
from jiqun.store import Scope, Store
from jiqun.store.models import LifecycleStage

UNTIL = dt.date(2026, 11, 26)
SHIPPING = {LifecycleStage.COOPERATING.value, LifecycleStage.GROWING.value,
            LifecycleStage.VIP.value}


def test_scaled_rules_grow_the_churn_window_only_below_the_reference_scale():
    assert demo_sales_rules(SCALES["small"].volume_factor).churn_silent_days == 30
    assert demo_sales_rules(SCALES["large"].volume_factor).churn_silent_days == 30
    tiny = demo_sales_rules(SCALES["tiny"].volume_factor)
    assert 90 <= tiny.churn_silent_days <= 180
    assert tiny.pool_days == SalesRules().pool_days  # only the churn window changes


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo-churn")
    store = Store(f"sqlite:///{root}/store.db")
    store.upgrade()
    summary = build_demo(store, root / "lake", scale="tiny", seed=7, until=UNTIL, progress=False)
    write_demo_settings(root / "rules.toml", root / "planning.toml", summary.volume_factor)
    yield store, root
    store.engine.dispose()


def _churned_share(store, lake, rules) -> tuple[int, int]:
    with OperatingPicture(store, lake, Scope.WHOLE) as picture, store.session() as s:
        shipping = sum(1 for st in lifecycle.load_states(s) if st.stage.value in SHIPPING)
        changes = lifecycle.promote_from_waybills(s, picture, None, rules, dry_run=True)
    churned = sum(1 for c in changes if c.from_stage in SHIPPING
                  and c.to_stage == LifecycleStage.CHURNED.value)
    return churned, shipping


def test_tiny_demo_lifecycle_keeps_most_cooperating_merchants(tiny):
    store, root = tiny
    rules = SalesRules.from_file(root / "rules.toml")
    assert rules.churn_silent_days == demo_sales_rules(SCALES["tiny"].volume_factor).churn_silent_days
    churned, shipping = _churned_share(store, root / "lake", rules)
    assert shipping > 1000
    assert churned / shipping < 0.25
    # The real-scale 30 days would have called about half of them lost.
    churned_30, _ = _churned_share(store, root / "lake", SalesRules())
    assert churned_30 / shipping > 0.4
