"""Tiers from trailing volume, with province thresholds, against the thresholds' own rule."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from jiqun.kpi.rules import KpiRules, TierThresholds
from jiqun.sales.tiers import PROVINCES, customer_tiers
from tests.kpi.fixtures import frame_of

D = dt.date


def test_tiers_follow_trailing_average_and_province_thresholds(run):
    rules = KpiRules(tier_window_days=10, province_tier_thresholds={
        "410000": TierThresholds(special=100, first=50, second=10, third=2)})
    spec = [(1, D(2026, 3, 10), 25_000),  # 2,500/day in Zhejiang: 特级 (default ≥ 2,000)
            (2, D(2026, 3, 1), 1_000),  # 100/day in Henan: 特级 there
            (3, D(2026, 3, 1), 1_000),  # the same 100/day in Zhejiang: 二级
            (4, D(2026, 2, 28), 90_000),  # outside the 10-day window (1–10 March)
            (5, D(2026, 3, 5), 199)]  # 19.9/day: just under 三级 (20) → 小微
    frame = frame_of([{"customer_id": c, "day": d, "parcels": p} for c, d, p in spec])
    customers = pa.Table.from_pylist(
        [{"customer_id": c, "province": p} for c, p in
         [(1, "330000"), (2, "410000"), (3, "330000"), (4, "330000"), (5, "330000"),
          (6, "330000")]], PROVINCES)
    got = run(customer_tiers(frame, customers, D(2026, 3, 10), rules)).set_index("customer_id")
    assert got.tier.to_dict() == {1: "special", 2: "special", 3: "second", 4: "micro",
                                  5: "micro", 6: "micro"}
    assert got.loc[2, "daily_parcels"] == 100 and got.loc[6, "parcels"] == 0
    for c in got.index:  # the Ibis expression agrees with the rule object itself
        thresholds = rules.thresholds_for(got.loc[c, "province"])
        assert thresholds.tier_of(got.loc[c, "daily_parcels"]).value == got.loc[c, "tier"]
