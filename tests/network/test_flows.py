"""Flows by origin and destination, and peak windows found from the data."""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd

from jiqun.bounds import FIRST_DATE
from jiqun.lake import connect
from jiqun.network.flows import flow_records, peak_windows, scope_peak_windows
from jiqun.network.params import PlanningParams
from jiqun.store import Scope
from tests.network.demo_province import UNTIL, demo_province


def test_peak_windows_on_a_made_up_series():
    days = pd.date_range("2025-01-01", "2025-12-31", freq="D")
    s = pd.Series(100, index=days)
    s["2025-06-16":"2025-06-19"] = 170
    s["2025-11-10":"2025-11-13"] = 250
    s["2025-08-04"] = 200  # a lone spike is not a window
    windows = peak_windows(s, PlanningParams())
    assert [(w.name, w.start, w.end) for w in windows] == [
        ("618", dt.date(2025, 6, 16), dt.date(2025, 6, 19)),
        ("Double 11", dt.date(2025, 11, 10), dt.date(2025, 11, 13)),
    ]
    assert windows[1].peak_ratio == 2.5


def test_demo_finds_618_and_double_11_each_year():
    demo = demo_province()
    windows = scope_peak_windows(connect(engine="duckdb"), demo.lake, Scope.WHOLE, demo.params)
    for year in (UNTIL.year - 1, UNTIL.year):
        names = {w.name for w in windows if w.start.year == year}
        assert {"618", "Double 11"} <= names
    d11 = [w for w in windows if w.name == "Double 11" and w.start.year == UNTIL.year]
    assert any(w.contains(dt.date(UNTIL.year, 11, 11)) for w in d11)


def test_flows_add_up_to_the_lanes_aggregate():
    demo = demo_province()
    lanes = f"{demo.lake}/lanes/*/*.parquet"
    total, = duckdb.sql(f"SELECT sum(parcels) FROM read_parquet('{lanes}') "
                        "WHERE dest_city = '440100' AND market_id = 2").fetchall()[0]
    with demo.store.session() as s:
        rows = flow_records(s, connect(engine="duckdb"), demo.lake, Scope.WHOLE, by="market", to="city",
                           start=FIRST_DATE)  # the whole history, as the aggregate
        monthly = flow_records(s, connect(engine="duckdb"), demo.lake, Scope.WHOLE, period="month",
                               to="province", product="express")
    gz = [r for r in rows if r["origin_id"] == 2 and r["dest_code"] == "440100"]
    assert gz[0]["parcels"] == total and gz[0]["dest"] == "广州市"
    assert rows[0]["parcels"] == max(r["parcels"] for r in rows)
    assert {r["product"] for r in monthly} == {"express"}
    assert all(r["dest_code"].endswith("0000") for r in monthly)
