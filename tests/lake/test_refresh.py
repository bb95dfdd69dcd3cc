"""Incremental aggregate refresh: an append recomputes only what it touched, and the result is
always what a full rebuild gives."""

from __future__ import annotations

import datetime as dt
import os
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jiqun.lake import DAILY_DATASET, LANES_DATASET, WAYBILL_DATASET, aggregates, append
from jiqun.lake.writer import _conform as conform
from jiqun.lake.writer import dataset_files

AGGREGATES = (DAILY_DATASET, LANES_DATASET)


def _waybills(prefix: str, days: list[dt.date], per_day: int = 6) -> pa.Table:
    """``per_day`` waybills on each of ``days``: three customers, two products, two
    destinations, some on a dedicated line."""
    rows = [(day, i) for day in days for i in range(per_day)]
    return pa.table({
        "waybill_no": [f"{prefix}{day:%Y%m%d}-{i}" for day, i in rows],
        "org_unit_id": pa.array([10 + i % 2 for _, i in rows], pa.int32()),
        "customer_id": pa.array([100 + i % 3 for _, i in rows], pa.int64()),
        "product": ["parcel" if i % 4 else "express" for _, i in rows],
        "ship_time": [dt.datetime.combine(day, dt.time(8 + i)) for day, i in rows],
        "origin_adcode": ["410102"] * len(rows),
        "dest_province": ["410000" if i % 2 else "440000" for _, i in rows],
        "dest_city": ["410100" if i % 2 else "440300" for _, i in rows],
        "weight_kg": [0.5 + i for _, i in rows],
        "fee": [3.2 + i for _, i in rows],
        "line_id": pa.array([7 if i % 3 == 0 else None for _, i in rows], pa.int32()),
        "status": ["delivered"] * len(rows),
    })


def _days(month: str, first: int, last: int) -> list[dt.date]:
    year, mon = map(int, month.split("-"))
    return [dt.date(year, mon, d) for d in range(first, last + 1)]


def _rows(lake, dataset) -> list[tuple]:
    table = pq.ParquetDataset([str(f) for f in dataset_files(lake, dataset)]).read()
    table = table.select([f.name for f in dataset.schema])
    rows = [tuple(round(v, 6) if isinstance(v, float) else v for v in row.values())
            for row in table.to_pylist()]
    return sorted(rows, key=repr)


def _stamps(lake, dataset) -> dict[str, tuple[int, int]]:
    """Month → (inode, modification time) of the month's aggregate file."""
    out = {}
    for file in dataset_files(lake, dataset):
        st = file.stat()
        out[file.parent.name] = (st.st_ino, st.st_mtime_ns)
    return out


def _equals_rebuild(lake, tmp_path) -> None:
    copy = tmp_path / "rebuilt"
    shutil.copytree(lake, copy)
    aggregates.rebuild(copy)
    for dataset in AGGREGATES:
        assert _rows(lake, dataset) == _rows(copy, dataset), dataset.name


@pytest.fixture
def lake(tmp_path):
    """Three months of waybills, each month appended on its own a while ago."""
    lake = tmp_path / "lake"
    for month in ("2026-01", "2026-02", "2026-03"):
        append(lake, WAYBILL_DATASET, _waybills("A", _days(month, 1, 20)))
    # A file's time ticks coarsely (a few ms): keep the waybill files visibly older than the
    # aggregates computed from them, as they are when a day's load follows yesterday's.
    for file in dataset_files(lake, WAYBILL_DATASET):
        st = file.stat()
        os.utime(file, ns=(st.st_atime_ns, st.st_mtime_ns - 10**9))
    return lake


def test_an_append_rewrites_only_the_aggregates_of_its_month(lake, tmp_path):
    before = {d.name: _stamps(lake, d) for d in AGGREGATES}
    result = append(lake, WAYBILL_DATASET, _waybills("B", _days("2026-02", 21, 22)))
    assert result.months == ("2026-02",)
    for dataset in AGGREGATES:
        after = _stamps(lake, dataset)
        assert set(after) == {"month=2026-01", "month=2026-02", "month=2026-03"}
        assert after["month=2026-01"] == before[dataset.name]["month=2026-01"]
        assert after["month=2026-03"] == before[dataset.name]["month=2026-03"]
        assert after["month=2026-02"] != before[dataset.name]["month=2026-02"]
    _equals_rebuild(lake, tmp_path)


def test_late_waybills_of_an_older_month_and_day_refresh_that_month(lake, tmp_path):
    jan = [r for r in _rows(lake, DAILY_DATASET) if r[0] == dt.date(2026, 1, 5)]
    before = _stamps(lake, DAILY_DATASET)
    # a late scan: waybills of 5 January, a day that already has aggregates, loaded in March
    append(lake, WAYBILL_DATASET, _waybills("LATE", [dt.date(2026, 1, 5)], per_day=3))
    after = _stamps(lake, DAILY_DATASET)
    assert after["month=2026-01"] != before["month=2026-01"]
    assert after["month=2026-03"] == before["month=2026-03"]
    jan_now = [r for r in _rows(lake, DAILY_DATASET) if r[0] == dt.date(2026, 1, 5)]
    assert sum(r[8] for r in jan_now) == sum(r[8] for r in jan) + 3  # parcels
    _equals_rebuild(lake, tmp_path)


def test_a_current_month_is_merged_by_day_and_a_stale_one_recomputed_whole(lake, tmp_path,
                                                                          monkeypatch):
    recomputed: list[list[str]] = []
    whole = aggregates._recompute_months

    def spy(con, lake_, dataset, query, months, staging):
        recomputed.append(list(months))
        return whole(con, lake_, dataset, query, months, staging)

    monkeypatch.setattr(aggregates, "_recompute_months", spy)
    append(lake, WAYBILL_DATASET, _waybills("B", _days("2026-02", 3, 3)))
    assert recomputed == [[], []]  # both aggregates of February merged on 3 February alone
    _equals_rebuild(lake, tmp_path)

    # A file put into February by hand (a restore) is newer than February's aggregates: the
    # next append into February cannot trust them on the other days and recomputes the month.
    hand = conform(_waybills("HAND", _days("2026-02", 10, 11)), WAYBILL_DATASET)
    pq.write_table(hand, lake / "waybills" / "month=2026-02" / "part-by-hand.parquet")
    recomputed.clear()
    append(lake, WAYBILL_DATASET, _waybills("C", _days("2026-02", 25, 25)))
    assert recomputed == [["2026-02"], ["2026-02"]]
    shutil.rmtree(tmp_path / "rebuilt")
    _equals_rebuild(lake, tmp_path)


def test_a_refresh_redone_after_a_crash_gives_the_same_aggregates(lake, tmp_path):
    result = append(lake, WAYBILL_DATASET, _waybills("B", _days("2026-02", 21, 22)))
    added = sorted((lake / "waybills" / "month=2026-02").glob("part-*.parquet"))[-1:]
    # as the next writer does when a crash cut the refresh short (jiqun.lake.writer.recover)
    aggregates.refresh(lake, result.months, added)
    aggregates.refresh(lake, result.months, added)
    _equals_rebuild(lake, tmp_path)


def test_an_append_across_a_known_and_a_new_month(tmp_path):
    lake = tmp_path / "lake"
    append(lake, WAYBILL_DATASET, _waybills("A", _days("2026-01", 1, 3)))
    append(lake, WAYBILL_DATASET, _waybills("B", _days("2026-01", 4, 4) + _days("2026-04", 1, 2)))
    assert set(_stamps(lake, DAILY_DATASET)) == {"month=2026-01", "month=2026-04"}
    _equals_rebuild(lake, tmp_path)
