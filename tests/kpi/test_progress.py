"""Plan progress against prorated monthly targets, against hand-computed values."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pyarrow as pa
import pytest

from jiqun.kpi.progress import TARGETS, month_fraction, plan_progress
from jiqun.kpi.rules import KpiRules
from tests.kpi.fixtures import frame_of


def _targets(rows):
    return pa.Table.from_pylist(
        [{"scope_type": "market", "new_customers": 0, "revenue": 0.0, **r} for r in rows], TARGETS)


@pytest.mark.parametrize("as_of, proration, expected", [
    (dt.date(2026, 11, 10), "calendar", (10, 30)),
    (dt.date(2024, 2, 29), "calendar", (29, 29)),  # leap day closes February
    (dt.date(2026, 11, 10), "working", (8, 25)),  # Nov 2026: Sundays 1, 8, 15, 22, 29
])
def test_month_fraction(as_of, proration, expected):
    assert month_fraction(as_of, proration) == expected


def test_progress_completion_and_run_rate_forecast(run):
    frame = frame_of([
        {"day": dt.date(2026, 10, 31), "market_id": 1, "parcels": 999, "revenue": 1.0},  # last month
        {"day": dt.date(2026, 11, 1), "market_id": 1, "parcels": 300, "revenue": 900.0},
        {"day": dt.date(2026, 11, 10), "market_id": 1, "parcels": 200, "revenue": 600.0},
        {"day": dt.date(2026, 11, 11), "market_id": 1, "parcels": 777, "revenue": 1.0},  # after
        {"day": dt.date(2026, 11, 5), "market_id": 2, "parcels": 50, "revenue": 150.0},  # no target
    ])
    targets = _targets([
        {"scope_id": 1, "month": dt.date(2026, 11, 1), "volume": 3000.0, "revenue": 9000.0},
        {"scope_id": 3, "month": dt.date(2026, 11, 1), "volume": 600.0},  # nothing shipped yet
        {"scope_id": 1, "month": dt.date(2026, 10, 1), "volume": 1.0},  # another month
    ])
    got = run(plan_progress(frame, targets, "market", dt.date(2026, 11, 10), KpiRules()))
    got = got.set_index("market_id")
    m1 = got.loc[1]
    assert (m1.parcels, m1.target_parcels, m1.expected_parcels) == (500, 3000, 1000)
    assert m1.progress == pytest.approx(0.5) and m1.completion == pytest.approx(500 / 3000)
    assert m1.forecast_parcels == pytest.approx(1500) and m1.revenue_progress == pytest.approx(0.5)
    assert got.loc[3].parcels == 0 and got.loc[3].progress == 0
    assert got.loc[2].target_parcels == 0 and pd.isna(got.loc[2].progress)  # zero target


def test_working_day_proration_expects_less_by_a_sunday(run):
    frame = frame_of([{"day": dt.date(2026, 11, 2), "market_id": 1, "parcels": 90,
                       "revenue": 0.0}])
    targets = _targets([{"scope_id": 1, "month": dt.date(2026, 11, 1), "volume": 250.0}])
    rules = KpiRules(proration="working")
    got = run(plan_progress(frame, targets, "market", dt.date(2026, 11, 2), rules)).iloc[0]
    assert got.expected_parcels == pytest.approx(250 * 1 / 25)  # Sunday 1 Nov does not count
    assert got.forecast_parcels == pytest.approx(90 * 25)
