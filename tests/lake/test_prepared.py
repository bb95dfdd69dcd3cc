"""A query compiled once runs again as SQL alone, on any connection, and a different key
(different data) never gets another key's answer."""

from __future__ import annotations

import datetime as dt

import ibis
import pyarrow as pa

from jiqun.lake import WAYBILL_DATASET, append, connect, waybills
from jiqun.lake.engine import run_prepared
from jiqun.store import Scope

DAY = dt.datetime(2026, 3, 2, 10)


def _lake(tmp_path, fees):
    lake = tmp_path / "lake"
    append(lake, WAYBILL_DATASET, pa.table({
        "waybill_no": [f"W{i}" for i in range(len(fees))],
        "org_unit_id": pa.array([1] * len(fees), pa.int32()),
        "product": ["express"] * len(fees), "ship_time": [DAY] * len(fees),
        "dest_province": ["440000"] * len(fees), "weight_kg": [0.5] * len(fees),
        "fee": fees, "status": ["delivered"] * len(fees)}))
    return lake


def test_a_repeat_runs_the_kept_sql_with_its_tables_on_a_new_connection(tmp_path):
    lake = _lake(tmp_path, [3.0, 4.0, 5.0])
    builds = []

    def build(rate):
        def expr():
            builds.append(rate)
            w = waybills(con, lake, Scope.WHOLE)
            rates = ibis.memtable(pa.table({"r_unit": pa.array([1], pa.int32()),
                                            "rate": [rate]}))
            j = w.inner_join(rates, w.org_unit_id == rates.r_unit)
            return j.aggregate(cost=(j.fee * j.rate).sum())
        return expr

    con = connect(engine="duckdb")
    first = run_prepared(con, ("test", lake, 2.0), build(2.0)).to_pylist()
    repeat = run_prepared(con, ("test", lake, 2.0), build(2.0)).to_pylist()
    assert builds == [2.0]  # the repeat ran the kept SQL
    con = connect(engine="duckdb")  # no lake view, no tables registered yet
    again = run_prepared(con, ("test", lake, 2.0), build(2.0)).to_pylist()
    other = run_prepared(con, ("test", lake, 3.0), build(3.0)).to_pylist()
    assert first == repeat == again == [{"cost": 24.0}]
    assert other == [{"cost": 36.0}]
    # The new connection built the expression again only for the lake's view it creates.
    assert builds == [2.0, 2.0, 3.0]
    # The tables were registered for the run only: the connection keeps the lake's view.
    views = con.con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()
    assert views == [("waybills_lake",)]


def test_tables_ibis_registered_on_the_connection_stay_registered(tmp_path):
    """The scope's unit table is one cached memtable, which Ibis registers once per
    connection: a prepared run that shares it must leave it there for Ibis's next query."""
    lake = _lake(tmp_path, [3.0, 4.0])
    con = connect(engine="duckdb")
    shared = ibis.memtable(pa.table({"r_unit": pa.array([1], pa.int32()), "rate": [2.0]}))
    assert con.execute(shared.count()) == 1  # Ibis registers it

    def build():
        w = waybills(con, lake, Scope.WHOLE)
        j = w.inner_join(shared, w.org_unit_id == shared.r_unit)
        return j.aggregate(cost=(j.fee * j.rate).sum())

    assert run_prepared(con, ("shared", lake), build).to_pylist() == [{"cost": 14.0}]
    assert con.execute(shared.rate.sum()) == 2.0
