"""In-province share, dedicated-line daily average and rankings."""

from __future__ import annotations

import datetime as dt

import ibis
import pyarrow as pa
import pytest

from jiqun.kpi.network import in_province_and_lines
from jiqun.kpi.rankings import ranked
from tests.kpi.fixtures import frame_of

D = dt.date


def test_in_province_share_and_line_daily_average(run):
    frame = frame_of([
        {"day": D(2026, 5, 1), "grid_id": 1, "parcels": 30, "in_province_parcels": 30},
        {"day": D(2026, 5, 2), "grid_id": 1, "parcels": 70, "line_parcels": 70},
        {"day": D(2026, 5, 3), "grid_id": 2, "parcels": 10, "line_parcels": 10},
        {"day": D(2026, 6, 1), "grid_id": 1, "parcels": 500, "in_province_parcels": 500},  # after
    ])
    got = run(in_province_and_lines(frame, "grid", D(2026, 5, 1), D(2026, 5, 10)))
    got = got.set_index("grid_id")
    assert got.loc[1, "in_province_parcels"] == 30
    assert got.loc[1, "in_province_share"] == pytest.approx(0.3)
    assert got.loc[1, "line_daily_average"] == pytest.approx(7.0)  # 70 parcels / 10 days
    assert got.loc[2, "in_province_share"] == 0


def test_ranking_is_descending_with_ties_and_nulls_last(run):
    t = ibis.memtable(pa.table({"id": [1, 2, 3, 4, 5],
                                "progress": [0.8, None, 1.2, 0.8, 0.1]}))
    got = run(ranked(t, "progress")).set_index("id")["rank"].to_dict()
    assert got == {3: 1, 1: 2, 4: 2, 5: 4, 2: 5}
