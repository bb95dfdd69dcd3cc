"""Competitor prices as a series and the gap table (pure parts)."""

from __future__ import annotations

import datetime as dt

from jiqun.money.competitors import Observation, gap_table, monthly_series, weight_band


def _obs(day, comp, theirs, ours, zone="same", weight=1.0):
    return Observation(dt.date.fromisoformat(day), comp, zone, weight_band(weight), "320000",
                       weight, theirs, ours)


def test_weight_bands_hold_their_upper_bound():
    assert [weight_band(w) for w in (0.0, 0.5, 1.0, 1.01, 3.0, 4.9, 5.0, 12)] == [
        "0-1", "0-1", "0-1", "1-3", "1-3", "3-5", "3-5", "5+"]


def test_monthly_medians_per_zone_band_and_carrier():
    points = monthly_series([
        _obs("2026-09-03", "中通", 3.0, 3.5), _obs("2026-09-20", "中通", 3.4, 3.5),
        _obs("2026-09-21", "中通", 5.0, 3.5),  # an outlier moves a median little
        _obs("2026-09-05", "圆通", 3.2, 3.5), _obs("2026-09-05", "中通", 6.0, 7.0, zone="far"),
    ])
    zt = [p for p in points if p.competitor == "中通" and p.zone == "same"]
    assert len(zt) == 1 and zt[0].theirs == 3.4 and zt[0].observations == 3
    assert zt[0].gap == 0.1  # ours 3.5 − theirs 3.4
    assert {(p.zone, p.competitor) for p in points} == {
        ("same", "中通"), ("same", "圆通"), ("far", "中通")}


def test_the_gap_trend_compares_with_three_months_before():
    points = monthly_series([
        _obs("2026-05-10", "极兔", 3.6, 3.5), _obs("2026-06-10", "极兔", 3.5, 3.5),
        _obs("2026-09-10", "极兔", 3.0, 3.5),  # they cut by 0.6 since June
        _obs("2026-09-10", "韵达", 3.3, 3.5),  # no earlier data: no trend
    ])
    rows = {r.competitor: r for r in gap_table(points)}
    assert rows["极兔"].month == "2026-09" and rows["极兔"].gap == 0.5
    assert rows["极兔"].gap_trend == 0.5 and rows["极兔"].their_trend == -0.5
    assert rows["韵达"].gap_trend is None
