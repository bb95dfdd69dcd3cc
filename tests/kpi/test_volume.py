"""Volume and revenue by dimension and period, against a plain-Python reference."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import ibis
import pandas as pd
import pyarrow as pa
import pytest

from jiqun.kpi.frame import Dimensions, kpi_frame
from jiqun.kpi.volume import volume
from jiqun.lake.aggregates import LANES
from tests.kpi.fixtures import random_daily

START = dt.date(2023, 1, 1)


def _period(day: dt.date, period: str) -> dt.date:
    if period == "day":
        return day
    if period == "week":
        return day - dt.timedelta(days=day.weekday())
    return day.replace(day=1)


def _shift(p: dt.date, period: str, what: str) -> dt.date:
    if what == "prev":
        if period == "day":
            return p - dt.timedelta(days=1)
        if period == "week":
            return p - dt.timedelta(weeks=1)
        return (p - dt.timedelta(days=1)).replace(day=1)
    if period == "week":
        return p - dt.timedelta(weeks=52)
    try:
        return p.replace(year=p.year - 1)
    except ValueError:  # 29 Feb
        return p.replace(year=p.year - 1, day=28)


def reference(rows, key, period, start, end):
    totals = defaultdict(lambda: [0, 0.0])
    for r in rows:
        if r["day"] <= end:
            t = totals[(r[key], _period(r["day"], period))]
            t[0] += r["parcels"]
            t[1] += r["revenue"]
    current = defaultdict(lambda: [0, 0.0])
    for r in rows:
        if start <= r["day"] <= end:
            c = current[(r[key], _period(r["day"], period))]
            c[0] += r["parcels"]
            c[1] += r["revenue"]
    out = {}
    for (k, p), (parcels, revenue) in current.items():
        prev = totals.get((k, _shift(p, period, "prev")), [0, 0.0])
        ly = totals.get((k, _shift(p, period, "ly")), [0, 0.0])
        out[(k, p)] = (parcels, round(revenue, 6), prev[0], ly[0])
    return out


@pytest.fixture(scope="module")
def daily():
    return random_daily(seed=3, start=START, days=800)  # covers 29 Feb 2024


@pytest.mark.parametrize("by, key", [("customer", "customer_id"), ("market", "market_id"),
                                     ("product", "product"), ("province", "dest_province")])
@pytest.mark.parametrize("period", ["day", "week", "month"])
def test_volume_matches_the_reference(daily, by, key, period, run):
    start, end = dt.date(2024, 2, 1), dt.date(2024, 3, 31)
    if by == "province":  # destinations live in the lanes aggregate
        daily = random_daily(seed=3, start=START, days=800, schema=LANES)
        frame = ibis.memtable(daily)
    else:
        frame = kpi_frame(ibis.memtable(daily), Dimensions.empty())
    got = run(volume(frame, by, period, start, end))
    expected = reference(daily.to_pylist(), key, period, start, end)
    assert len(got) == len(expected)
    for row in got.itertuples():
        p = row.period.date() if hasattr(row.period, "date") else row.period
        parcels, revenue, prev, ly = expected[(getattr(row, key), p)]
        assert (row.parcels, row.parcels_prev, row.parcels_ly) == (parcels, prev, ly)
        assert row.revenue == pytest.approx(revenue)
        if prev:
            assert row.mom == pytest.approx((parcels - prev) / prev)
        else:
            assert pd.isna(row.mom)


def test_team_and_person_come_from_the_store_dimensions(daily, run):
    dims = Dimensions(
        grids=pa.table({"grid_id": pa.array([10, 11, 12], pa.int32()),
                        "team_id": pa.array([1, 1, 2], pa.int32())}),
        owners=pa.table({"customer_id": pa.array([1, 2, 3, 4, 5, 6], pa.int64()),
                         "owner_id": pa.array([7, 7, 8, 8, 9, 9], pa.int32())}),
    )
    frame = kpi_frame(ibis.memtable(daily), dims)
    start = end = dt.date(2024, 2, 29)
    teams = run(volume(frame, "team", "day", start, end)).set_index("team_id").parcels
    rows = [r for r in daily.to_pylist() if r["day"] == start]
    team_of = {10: 1, 11: 1, 12: 2}
    for team in (1, 2):
        assert teams.get(team, 0) == sum(r["parcels"] for r in rows if team_of[r["grid_id"]] == team)
    people = run(volume(frame, "person", "day", start, end)).set_index("owner_id").parcels
    owner_of = {1: 7, 2: 7, 3: 8, 4: 8, 5: 9, 6: 9}
    for person in (7, 8, 9):
        assert people.get(person, 0) == sum(
            r["parcels"] for r in rows if owner_of[r["customer_id"]] == person)


def test_a_grid_redrawn_mid_month_keeps_each_day_with_the_grid_that_served_it(run):
    from tests.kpi.fixtures import frame_of

    # customer 1 moves from grid 10 to grid 11 on 16 March (the redraw); volumes stay where
    # they were shipped, and the customer counts once, in its current grid.
    frame = frame_of([{"day": dt.date(2026, 3, d), "customer_id": 1, "grid_id": 10 if d < 16 else 11,
                       "parcels": 10} for d in range(1, 32)])
    got = run(volume(frame, "grid", "month", dt.date(2026, 3, 1), dt.date(2026, 3, 31)))
    assert got.set_index("grid_id").parcels.to_dict() == {10: 150, 11: 160}
    from jiqun.kpi.customers import customer_counts
    from jiqun.kpi.rules import KpiRules

    counts = run(customer_counts(frame, "grid", dt.date(2026, 3, 1), dt.date(2026, 3, 31),
                                 KpiRules()))
    assert counts.set_index("grid_id").active_customers.to_dict() == {11: 1}
