"""Tracking events: English codes, unknown waybills, idempotence."""

from __future__ import annotations

import datetime as dt

from jiqun.ingest import import_file
from tests.ingest.helpers import import_templates, lake_rows, read_rejects, write_csv


def test_events_validated_and_deduplicated(store, org, tmp_path):
    lake = tmp_path / "lake"
    import_templates(store, lake, kinds=("markets", "customers", "waybills"))
    path = write_csv(tmp_path / "e.csv", ["waybill_no", "event_time", "event_code", "location", "note"], [
        ["1180000000002", "2024-06-18 18:00:00", "picked_up", "湖州市", ""],
        ["1180000000002", "2024-06-18 18:00:00", "picked_up", "湖州市", ""],  # same event again
        ["9999", "2024-06-18 18:00:00", "揽收", "", ""],
        ["1180000000002", "2024-06-19", "lost", "", ""],
        ["1180000000002", "yesterday", "到达", "月球", ""],
    ])

    report = import_file("events", path, store, lake, locale="en")

    assert (report.total, report.accepted, report.rejected, report.written, report.duplicates) == (
        5, 2, 3, 1, 1)
    assert read_rejects(report.rejects_path)[1:] == [
        ["4", "waybill_no", "9999", "unknown waybill and no facility code: import the waybill first"],
        ["5", "event_code", "lost", "unknown event (揽收/发出/到达/派送/投递失败/入柜/妥投/异常/退回)"],
        ["6", "event_time", "yesterday", "not a date and time (e.g. 2024-06-18 09:30:00)"],
        ["6", "location", "月球", "unknown place"],
    ]
    (event,) = lake_rows(lake, "events")
    assert event[:5] == ("1180000000002", org.zhili_outlet.id, dt.datetime(2024, 6, 18, 18, 0),
                         "picked_up", "330500")
    again = import_file("events", path, store, lake)
    assert (again.written, again.duplicates) == (0, 2)
    assert lake_rows(lake, "events") == [event]
