"""Tracking events as the state machine needs them: the new codes, scans out of order, repeats
(the lake keeps one row per waybill × time × code; near repeats are the state machine's)."""

from __future__ import annotations

import datetime as dt

import duckdb

from jiqun.ingest import import_file
from jiqun.service.tracking import parcel_state
from tests.ingest.helpers import import_templates, read_rejects, write_csv

HEADER = ["运单号", "时间", "事件", "地点", "备注"]
NUMBER = "1180000000002"  # a template waybill (运输中)


def _events(lake) -> list[dict]:
    files = sorted((lake / "events").glob("month=*/*.parquet"))
    listing = ", ".join(f"'{f}'" for f in files)
    return duckdb.sql(f"SELECT * FROM read_parquet([{listing}], hive_partitioning = false) "
                      "ORDER BY event_time, event_code").to_arrow_table().to_pylist()


def test_failed_attempts_and_lockers_out_of_order_and_repeated(store, org, tmp_path):
    lake = tmp_path / "lake"
    import_templates(store, lake, kinds=("markets", "customers", "waybills"))
    path = write_csv(tmp_path / "e.csv", HEADER, [
        [NUMBER, "2024-06-20 15:00:00", "入柜", "南京市鼓楼区", "丰巢柜"],  # uploaded first
        [NUMBER, "2024-06-18 18:00:00", "揽收", "湖州市", ""],
        [NUMBER, "2024-06-20 09:00:00", "派送", "南京市鼓楼区", ""],
        [NUMBER, "2024-06-20 11:00:00", "投递失败", "南京市鼓楼区", "电话无人接听"],
        [NUMBER, "2024-06-20 11:00:00", "派送失败", "南京市鼓楼区", "电话无人接听"],  # same key
        [NUMBER, "2024-06-20 11:04:00", "failed_attempt", "南京市鼓楼区", ""],  # a double read
        [NUMBER, "2024-06-20 14:00:00", "驿站", "南京市鼓楼区", ""],
        [NUMBER, "2024-06-21 10:00:00", "妥投", "南京市鼓楼区", "已取件"],
    ])

    report = import_file("events", path, store, lake, locale="en")

    # every row is valid; the repeat of a key (waybill, time, code) is dropped by the append
    assert (report.total, report.accepted, report.rejected, report.written,
            report.duplicates) == (8, 8, 0, 7, 1)
    rows = _events(lake)
    assert [r["event_code"] for r in rows] == [
        "picked_up", "out_for_delivery", "failed_attempt", "failed_attempt", "in_locker",
        "in_locker", "delivered"]
    # the double read 4 minutes later is in the lake; the state machine drops it
    state = parcel_state(rows)
    assert (state.state, state.attempts, state.duplicates) == ("delivered", 1, 1)
    assert parcel_state(rows[:-1]).state == "in_locker"
    assert parcel_state(rows[:3]).responsibility == "recipient"

    again = import_file("events", path, store, lake)
    assert (again.written, again.duplicates) == (0, 8)


def test_unknown_codes_are_rejected_with_row_and_reason(store, org, tmp_path):
    lake = tmp_path / "lake"
    import_templates(store, lake, kinds=("markets", "customers", "waybills"))
    path = write_csv(tmp_path / "e.csv", HEADER, [
        [NUMBER, "2024-06-18 18:00:00", "揽收", "湖州市", ""],
        [NUMBER, "2024-06-19 08:00:00", "丢了", "", ""],
        [NUMBER, "2024-06-19 09:00:00", "lost", "", ""],
    ])

    report = import_file("events", path, store, lake, locale="zh-CN")

    assert (report.accepted, report.rejected, report.written) == (1, 2, 1)
    reason = "事件无法识别（揽收/发出/到达/派送/投递失败/入柜/妥投/异常/退回）"
    assert [r[:4] for r in read_rejects(report.rejects_path)[1:]] == [
        ["3", "事件", "丢了", reason], ["4", "事件", "lost", reason]]  # as the file names it
    assert [r["event_time"] for r in _events(lake)] == [dt.datetime(2024, 6, 18, 18)]


def test_the_first_row_of_a_repeated_scan_is_kept(store, org, tmp_path):
    """A key (waybill, time, code) written three times, spelled two ways and far apart in the
    file: only its first row lands, with that row's note."""
    lake = tmp_path / "lake"
    import_templates(store, lake, kinds=("markets", "customers", "waybills"))
    rows = [[NUMBER, f"2024-06-19 {h:02d}:00:00", "到达", "南京市", ""] for h in range(10)]
    rows.insert(2, [NUMBER, "2024/06/20 11:00", "投递失败", "南京市鼓楼区", "first"])
    rows.append([NUMBER, "2024-06-20 11:00:00", "派送失败", "南京市鼓楼区", "second"])
    rows.append([NUMBER, "2024年06月20日 11:00:00", "failed_attempt", "南京市鼓楼区", "third"])
    report = import_file("events", write_csv(tmp_path / "e.csv", HEADER, rows), store, lake)
    assert (report.total, report.written, report.duplicates, report.rejected) == (13, 11, 2, 0)
    assert [r["note"] for r in _events(lake) if r["event_code"] == "failed_attempt"] == ["first"]
