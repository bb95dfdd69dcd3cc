"""Values out of physical range are rejected per row, with their reason; the rest is imported.

Limits: weight in (0, 1,000] kg, fee in [0, ¥100,000], finite numbers, times within
jiqun.bounds (2000-01-01 … 2100-12-31) and at most a day after the import (jiqun.ingest.checks).
"""

from __future__ import annotations

import datetime as dt

import duckdb

from jiqun.ingest import import_file
from jiqun.ingest.checks import MAX_FEE_YUAN, MAX_WEIGHT_KG
from jiqun.ingest.report import REASONS
from jiqun.lake import DAILY_DATASET
from jiqun.lake.writer import dataset_files
from tests.ingest.helpers import lake_rows, read_rejects, write_csv

HEADER = ["运单号", "客户编码", "产品", "寄件时间", "目的省", "重量", "资费", "妥投时间"]
NOW = dt.datetime(2026, 12, 1, 9, 0)


def row(no: str, ship="2024-06-18 10:00:00", weight="0.5", fee="4.5", delivered=""):
    return [no, "ZL-000001", "快包", ship, "广东省", weight, fee, delivered]




def _import(archived, lake, tmp_path, rows, **kwargs):
    path = write_csv(tmp_path / "w.csv", HEADER, rows)
    return import_file("waybills", path, archived, lake, now=NOW, locale="en", **kwargs)


WEIGHTS = {
    "0": "not_positive", "-1": "not_positive", "nan": "not_finite", "NaN": "not_finite",
    "inf": "not_finite", "-inf": "not_finite", "Infinity": "not_finite", "1e39": "weight_too_high",
    "100000": "weight_too_high", "1000.5": "weight_too_high", "1e400": None,
}
FEES = {"-0.01": "negative", "1e23": "fee_too_high", "100000.01": "fee_too_high",
        "inf": "not_finite", "nan": "not_finite"}
TIMES = {
    "2099-01-01 00:00:00": "in_the_future", "1970-01-01 08:00:00": "date_out_of_range",
    "1999-12-31 23:59:59": "date_out_of_range", "2101-01-01": "date_out_of_range",
    "9999-12-31": "date_out_of_range", "2026-12-02 09:00:01": "in_the_future",
}


def test_weights_fees_and_times_out_of_range_are_rejected_row_by_row(archived, lake, tmp_path):
    rows = [row("OK1", weight=str(MAX_WEIGHT_KG), fee=str(MAX_FEE_YUAN)),
            row("OK2", ship="2000-01-01 00:00:00", fee="0"),
            row("OK3", ship="2026-12-02 09:00:00", weight="0.001")]  # a day ahead: clocks differ
    expected = {}
    for i, (value, reason) in enumerate(WEIGHTS.items()):
        rows.append(row(f"W{i}", weight=value))
        expected[str(len(rows) + 1)] = ("重量", reason)
    for i, (value, reason) in enumerate(FEES.items()):
        rows.append(row(f"F{i}", fee=value))
        expected[str(len(rows) + 1)] = ("资费", reason)
    for i, (value, reason) in enumerate(TIMES.items()):
        rows.append(row(f"T{i}", ship=value))
        expected[str(len(rows) + 1)] = ("寄件时间", reason)
    rows.append(row("D1", delivered="2099-06-01 00:00:00"))
    expected[str(len(rows) + 1)] = ("妥投时间", "in_the_future")

    report = _import(archived, lake, tmp_path, rows)

    got = {line[0]: (line[1], line[3]) for line in read_rejects(report.rejects_path)[1:]}
    # 1e400 overflows the double: unreadable as a number, or infinite, but never accepted
    overflow = str(list(WEIGHTS).index("1e400") + 5)
    assert got.pop(overflow)[1] in (REASONS["not_a_number"], REASONS["not_finite"])
    expected.pop(overflow)
    assert got == {k: (c, REASONS[r]) for k, (c, r) in expected.items()}
    assert sorted(r[0] for r in lake_rows(lake)) == ["OK1", "OK2", "OK3"]
    assert report.accepted == 3 and report.rejected == len(rows) - 3


def _data_date(lake):
    """The last day in the daily aggregate: what the dashboards show as "the data date"."""
    files = ", ".join(f"'{f}'" for f in dataset_files(lake, DAILY_DATASET))
    return duckdb.sql(f"SELECT max(day) FROM read_parquet([{files}])").fetchall()[0][0]


def test_one_waybill_dated_2099_does_not_move_the_data_date(archived, lake, tmp_path):
    """The reproduction: one 2099 ship time made 2099-01-01 the data date, with 1 parcel."""
    _import(archived, lake, tmp_path, [row("A1", ship="2024-06-20 08:00:00")])
    assert _data_date(lake) == dt.date(2024, 6, 20)

    report = _import(archived, lake, tmp_path, [row("A2", ship="2024-06-19 08:00:00"),
                                                row("A3", ship="2099-01-01 00:00:00")])

    assert report.reasons == {"in_the_future": 1}
    assert _data_date(lake) == dt.date(2024, 6, 20)
    assert sorted(r[0] for r in lake_rows(lake)) == ["A1", "A2"]
    assert not list((lake / "daily").glob("month=2099-*"))


def test_the_clock_bounds_ship_times_by_default(archived, lake, tmp_path):
    tomorrow_and_more = dt.datetime.now() + dt.timedelta(days=2)
    later = f"{tomorrow_and_more:%Y-%m-%d %H:%M:%S}"
    path = write_csv(tmp_path / "w.csv", HEADER, [row("N1"), row("N2", ship=later)])
    report = import_file("waybills", path, archived, lake)
    assert report.reasons == {"in_the_future": 1}


def test_event_times_out_of_range_are_rejected(archived, lake, tmp_path):
    _import(archived, lake, tmp_path, [row("E1")])
    path = write_csv(tmp_path / "e.csv", ["运单号", "时间", "事件"], [
        ["E1", "2024-06-18 18:00:00", "揽收"], ["E1", "2099-06-18 18:00:00", "发出"],
        ["E1", "1970-01-01 00:00:00", "到达"]])
    report = import_file("events", path, archived, lake, now=NOW)
    assert (report.accepted, report.reasons) == (1, {"in_the_future": 1, "date_out_of_range": 1})
    assert [r[0] for r in read_rejects(report.rejects_path)[1:]] == ["3", "4"]


def test_market_numbers_must_be_finite_and_dates_plausible(store, org, lake, tmp_path):
    header = ["市场编码", "市场名称", "市场类型", "行业", "机构编码", "年收入目标", "市场日均总量", "估算日期"]
    path = write_csv(tmp_path / "m.csv", header, [
        ["M1", "甲", "产业集群", "童装", "ZJ-HUZ", "1000000", "300", "2024-05-01"],
        ["M2", "乙", "产业集群", "童装", "ZJ-HUZ", "inf", "300", "2024-05-01"],
        ["M3", "丙", "产业集群", "童装", "ZJ-HUZ", "1e6", "nan", "2024-05-01"],
        ["M4", "丁", "产业集群", "童装", "ZJ-HUZ", "1e6", "300", "0001-01-02"],
    ])
    report = import_file("markets", path, store, lake)
    assert [(r[0], r[1], r[3]) for r in read_rejects(report.rejects_path)[1:]] == [
        ("3", "年收入目标", "不是有限数值（NaN 或无穷大）"),
        ("4", "市场日均总量", "不是有限数值（NaN 或无穷大）"),
        ("5", "估算日期", "不在 2000 至 2100 年之间"),
    ]
    assert report.written == 1
