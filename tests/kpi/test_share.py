"""Market share against estimates that change over time."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pyarrow as pa
import pytest

from jiqun.kpi.share import ESTIMATES, competitor_share, estimate_calendar, market_share
from tests.kpi.fixtures import frame_of

D = dt.date


def _estimates(rows):
    return pa.Table.from_pylist(
        [dict(zip(("market_id", "carrier", "valid_from", "daily_volume"), r, strict=True))
         for r in rows], ESTIMATES)


def test_the_estimate_in_effect_is_the_latest_before_the_day():
    cal = estimate_calendar(
        _estimates([(1, "*", D(2026, 1, 10), 100.0), (1, "*", D(2026, 1, 20), 200.0)]),
        D(2026, 1, 8), D(2026, 1, 21)).to_pylist()
    by_day = {r["day"]: r["daily_volume"] for r in cal}
    assert D(2026, 1, 9) not in by_day  # before the first estimate
    assert by_day[D(2026, 1, 10)] == by_day[D(2026, 1, 19)] == 100.0
    assert by_day[D(2026, 1, 20)] == by_day[D(2026, 1, 21)] == 200.0


def test_monthly_share_weights_each_day_by_its_estimate(run):
    estimates = _estimates([
        (1, "*", D(2025, 1, 1), 1000.0), (1, "*", D(2026, 2, 15), 2000.0),
        (1, "中通", D(2025, 1, 1), 400.0),
    ])
    frame = frame_of([
        {"day": D(2026, 2, 1), "market_id": 1, "parcels": 7000},
        {"day": D(2026, 2, 20), "market_id": 1, "parcels": 3500},
        {"day": D(2026, 2, 20), "market_id": None, "parcels": 99},  # no market: not counted
    ])
    got = run(market_share(frame, estimates, "month", D(2026, 2, 1), D(2026, 2, 28)))
    row = got.iloc[0]
    total = 14 * 1000 + 14 * 2000  # 1–14 Feb at 1000/day, 15–28 Feb at 2000/day
    assert (row.parcels, row.market_total, row.days) == (10500, total, 28)
    assert row.share == pytest.approx(10500 / total)
    rivals = run(competitor_share(estimates, "month", D(2026, 2, 1), D(2026, 2, 28)))
    assert rivals.carrier.tolist() == ["中通"]
    assert rivals.share.iloc[0] == pytest.approx(28 * 400 / total)


def test_share_is_null_without_an_estimate_and_zero_without_parcels(run):
    estimates = _estimates([(2, "*", D(2026, 3, 1), 500.0)])
    frame = frame_of([{"day": D(2026, 3, 2), "market_id": 1, "parcels": 10}])
    got = run(market_share(frame, estimates, "day", D(2026, 3, 2), D(2026, 3, 2)))
    got = got.set_index("market_id")
    assert pd.isna(got.loc[1].share) and got.loc[1].parcels == 10
    assert got.loc[2].share == 0 and got.loc[2].market_total == 500
