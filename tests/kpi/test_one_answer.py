"""One rule, one function: the estimate in force on a date, ISO weeks and the share trend's
windows (issue 13, "same figure, same answer")."""

from __future__ import annotations

import datetime as dt

import pytest

from jiqun.kpi import share
from jiqun.kpi.weeks import IsoWeek
from jiqun.store.estimates import in_force, pick_in_force
from jiqun.store.models import ALL_CARRIERS

D = dt.date


def test_the_latest_valid_from_on_or_before_the_day_wins():
    points = [(D(2024, 1, 1), 40.0), (D(2024, 6, 1), 50.0), (D(2024, 9, 1), 99.0)]
    assert in_force(points, D(2023, 12, 31)) is None  # before the first estimate: none
    assert in_force(points, D(2024, 1, 1)) == 40.0  # in force from its own day
    assert in_force(points, D(2024, 5, 31)) == 40.0
    assert in_force(points, D(2024, 6, 1)) == 50.0
    assert in_force(points, D(2030, 1, 1)) == 99.0
    assert in_force(points, None) == 99.0  # no date: the latest
    assert in_force([], D(2024, 1, 1)) is None


def test_whole_market_and_named_carriers_are_kept_apart_in_any_row_order():
    rows = [((7, "中通"), D(2024, 5, 1), 20.0), ((7, ALL_CARRIERS), D(2024, 6, 1), 50.0),
            ((7, ALL_CARRIERS), D(2024, 1, 1), 40.0), ((8, ALL_CARRIERS), D(2024, 7, 1), 9.0)]
    assert pick_in_force(rows, D(2024, 5, 15)) == {(7, "中通"): 20.0, (7, ALL_CARRIERS): 40.0}
    assert pick_in_force(rows, D(2024, 4, 30)) == {(7, ALL_CARRIERS): 40.0}
    assert pick_in_force(rows, None)[(8, ALL_CARRIERS)] == 9.0


def test_the_share_calendar_uses_the_same_rule():
    import pyarrow as pa

    estimates = pa.Table.from_pylist([
        {"market_id": 1, "carrier": ALL_CARRIERS, "valid_from": D(2024, 6, 1), "daily_volume": 50.0},
        {"market_id": 1, "carrier": ALL_CARRIERS, "valid_from": D(2024, 1, 1), "daily_volume": 40.0},
    ], share.ESTIMATES)
    cal = share.estimate_calendar(estimates, D(2024, 5, 30), D(2024, 6, 2)).to_pylist()
    assert [r["daily_volume"] for r in cal] == [
        in_force([(D(2024, 1, 1), 40.0), (D(2024, 6, 1), 50.0)], D(2024, 5, 30) + dt.timedelta(i))
        for i in range(4)] == [40.0, 40.0, 50.0, 50.0]


def test_iso_weeks_parse_strictly_and_name_the_bulletins_default():
    assert str(IsoWeek.parse("2026w7")) == "2026-W07"
    assert IsoWeek.parse("2024-W24").monday == D(2024, 6, 10)
    for bad in ("2025-W53", "2024-W00", "2024-W２４", "24-W10", ""):
        with pytest.raises(ValueError):
            IsoWeek.parse(bad)
    # A Saturday's last complete week ended the Sunday before; a Sunday's is its own week.
    assert IsoWeek.last_complete_by(D(2024, 6, 15)) == IsoWeek(2024, 23)
    assert IsoWeek.last_complete_by(D(2024, 6, 16)) == IsoWeek(2024, 24)


def test_the_bulletins_weeks_are_the_last_of_the_trends():
    assert share.BULLETIN_WEEKS < share.TREND_WEEKS
    page = share.trend_weeks(D(2024, 6, 15))
    assert len(page) == share.TREND_WEEKS and page[-1] == D(2024, 6, 10)
    assert share.trend_weeks(D(2024, 6, 15), share.BULLETIN_WEEKS) == page[-share.BULLETIN_WEEKS:]
