"""Lake appends: partitioned by month, idempotent by key, atomic, readable through Ibis."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jiqun.lake import EVENT_DATASET, WAYBILL_DATASET, append, connect, waybills
from jiqun.lake.writer import _conform as conform
from jiqun.lake.writer import dataset_files, recover
from jiqun.store.scope import Scope


def _waybills(numbers, org=1, day=dt.datetime(2026, 1, 31, 23, 0)):
    n = len(numbers)
    return pa.table({
        "waybill_no": numbers,
        "org_unit_id": pa.array([org] * n, pa.int32()),
        "product": ["parcel"] * n,
        "ship_time": [day + dt.timedelta(hours=i) for i in range(n)],
        "dest_province": ["440000"] * n,
        "weight_kg": [0.5] * n,
        "fee": [3.2] * n,
        "status": ["delivered"] * n,
    })


def _lake_rows(lake):
    return pq.ParquetDataset([str(f) for f in dataset_files(lake, WAYBILL_DATASET)]).read()


def test_append_partitions_by_month_of_ship_time(tmp_path):
    result = append(tmp_path, WAYBILL_DATASET, _waybills(["A1", "A2", "A3"]))
    assert result.added == 3 and result.duplicates == 0
    assert result.months == ("2026-01", "2026-02")  # 23:00, 00:00, 01:00 across midnight
    months = [f.parent.name for f in dataset_files(tmp_path, WAYBILL_DATASET)]
    assert months == ["month=2026-01", "month=2026-02"]
    assert _lake_rows(tmp_path).num_rows == 3


def test_same_file_twice_changes_nothing(tmp_path):
    append(tmp_path, WAYBILL_DATASET, _waybills(["A1", "A2"]))
    before = {f: f.read_bytes() for f in dataset_files(tmp_path, WAYBILL_DATASET)}
    again = append(tmp_path, WAYBILL_DATASET, _waybills(["A1", "A2"]))
    assert (again.added, again.duplicates) == (0, 2)
    assert {f: f.read_bytes() for f in dataset_files(tmp_path, WAYBILL_DATASET)} == before


def test_duplicates_inside_a_batch_and_against_the_lake_are_dropped(tmp_path):
    append(tmp_path, WAYBILL_DATASET, _waybills(["A1"]))
    result = append(tmp_path, WAYBILL_DATASET, _waybills(["A1", "B1", "B1", "B2"]))
    assert (result.added, result.duplicates) == (2, 2)
    assert sorted(_lake_rows(tmp_path)["waybill_no"].to_pylist()) == ["A1", "B1", "B2"]


def test_columns_missing_from_the_input_are_null_and_schema_is_exact(tmp_path):
    append(tmp_path, WAYBILL_DATASET, _waybills(["A1"]))
    table = _lake_rows(tmp_path)
    assert table.column("customer_id").null_count == 1
    file_schema = pq.read_schema(dataset_files(tmp_path, WAYBILL_DATASET)[0])
    assert file_schema.names == WAYBILL_DATASET.schema.names
    assert file_schema.field("weight_kg").type == pa.float32()


def test_events_are_idempotent_by_waybill_time_and_code(tmp_path):
    t = dt.datetime(2026, 3, 1, 8)
    events = pa.table({
        "waybill_no": ["A1", "A1", "A1"],
        "org_unit_id": pa.array([1, 1, 1], pa.int32()),
        "event_time": [t, t, t + dt.timedelta(hours=5)],
        "event_code": ["picked_up", "picked_up", "departed"],
    })
    assert append(tmp_path, EVENT_DATASET, events).added == 2
    assert append(tmp_path, EVENT_DATASET, events).added == 0


def test_interrupted_append_before_its_journal_leaves_the_lake_unchanged(tmp_path):
    append(tmp_path, WAYBILL_DATASET, _waybills(["A1"]))
    folder = dataset_files(tmp_path, WAYBILL_DATASET)[0].parent
    pq.write_table(_waybills(["X9"]), folder / ".part-crashed.parquet.tmp")
    recover(tmp_path)
    assert not list(folder.glob(".*.tmp"))
    assert _lake_rows(tmp_path)["waybill_no"].to_pylist() == ["A1"]


def test_interrupted_append_after_its_journal_is_rolled_forward(tmp_path):
    append(tmp_path, WAYBILL_DATASET, _waybills(["A1"]))
    folder = dataset_files(tmp_path, WAYBILL_DATASET)[0].parent
    tmp = folder / ".part-late.parquet.tmp"
    pq.write_table(conform(_waybills(["X9"]), WAYBILL_DATASET), tmp)
    (tmp_path / "_journal").mkdir(exist_ok=True)
    (tmp_path / "_journal" / "late.json").write_text(json.dumps({
        "dataset": "waybills", "months": ["2026-01"],
        "renames": [[str(tmp), str(folder / "part-late.parquet")]]}))
    recover(tmp_path)
    assert sorted(_lake_rows(tmp_path)["waybill_no"].to_pylist()) == ["A1", "X9"]
    from jiqun.lake import daily
    assert daily(connect(engine="duckdb"), tmp_path, Scope.WHOLE).parcels.sum().execute() == 2


@pytest.mark.parametrize("org_ids, expected", [({1}, 2), ({2}, 1), ({1, 2}, 3), ({3}, 0)])
def test_ibis_reads_are_limited_to_the_scope(tmp_path, org_ids, expected):
    append(tmp_path, WAYBILL_DATASET, _waybills(["A1", "A2"], org=1))
    append(tmp_path, WAYBILL_DATASET, _waybills(["B1"], org=2))
    scope = Scope(root_id=1, root_path="/1/", org_ids=frozenset(org_ids))
    con = connect(engine="duckdb")
    assert waybills(con, tmp_path, scope).count().execute() == expected


def test_an_empty_lake_reads_as_an_empty_table_of_the_schema(tmp_path):
    con = connect(engine="duckdb")
    table = waybills(con, tmp_path, Scope.WHOLE)
    assert table.count().execute() == 0
    assert table.schema().names == tuple(WAYBILL_DATASET.schema.names)


def test_daily_aggregates_follow_every_append(tmp_path):
    from jiqun.lake import daily

    append(tmp_path, WAYBILL_DATASET, _waybills(["A1", "A2", "A3"]))  # Jan 31 23h, Feb 1 0h, 1h
    append(tmp_path, WAYBILL_DATASET, _waybills(["A3", "A4"], day=dt.datetime(2026, 2, 1, 9)))
    con = connect(engine="duckdb")
    rows = daily(con, tmp_path, Scope.WHOLE).order_by("day").execute()
    assert [str(d)[:10] for d in rows["day"]] == ["2026-01-31", "2026-02-01"]
    assert rows["parcels"].tolist() == [1, 3]  # A3 twice in the lake would have made it 4
    assert rows["revenue"].tolist() == pytest.approx([3.2, 9.6])
    assert rows["weight_kg"].tolist() == pytest.approx([0.5, 1.5])
    scoped = Scope(root_id=1, root_path="/1/", org_ids=frozenset({2}))
    assert daily(con, tmp_path, scoped).count().execute() == 0


def test_in_province_and_line_parcels_and_lanes(tmp_path):
    from jiqun.lake import daily, lanes

    table = _waybills(["A1", "A2", "A3"], day=dt.datetime(2026, 3, 1, 8))
    table = table.append_column("origin_adcode", pa.array(["411425"] * 3))
    table = table.set_column(table.schema.get_field_index("dest_province"), "dest_province",
                             pa.array(["410000", "440000", "440000"]))
    table = table.append_column("dest_city", pa.array(["410100", "440100", "440300"]))
    table = table.append_column("line_id", pa.array([None, 7, None], pa.int32()))
    append(tmp_path, WAYBILL_DATASET, table)
    con = connect(engine="duckdb")
    row = daily(con, tmp_path, Scope.WHOLE).execute().iloc[0]
    assert (row.parcels, row.in_province_parcels, row.line_parcels) == (3, 1, 1)
    flows = lanes(con, tmp_path, Scope.WHOLE).order_by("dest_city").execute()
    assert flows.dest_city.tolist() == ["410100", "440100", "440300"]
    assert flows.origin_province.unique().tolist() == ["410000"]
    assert flows.line_id.isna().tolist() == [True, False, True]


def test_rebuild_and_the_demo_reset_leave_no_month_of_an_earlier_lake(tmp_path):
    from jiqun.demo.build import reset_lake
    from jiqun.lake import DAILY_DATASET, LANES_DATASET
    from jiqun.lake.aggregates import rebuild

    append(tmp_path, WAYBILL_DATASET, _waybills(["A1"], day=dt.datetime(2020, 3, 1)))
    append(tmp_path, WAYBILL_DATASET, _waybills(["B1"], day=dt.datetime(2026, 3, 1)))
    import shutil

    shutil.rmtree(tmp_path / "waybills" / "month=2020-03")  # e.g. a restore of a newer lake
    rebuild(tmp_path)
    for dataset in (DAILY_DATASET, LANES_DATASET):
        assert [f.parent.name for f in dataset_files(tmp_path, dataset)] == ["month=2026-03"]

    (tmp_path / "_journal").mkdir(exist_ok=True)
    (tmp_path / "_journal" / "stale.pending").write_text("{}")
    reset_lake(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock"]


def test_a_reader_takes_no_lock_when_nothing_is_pending(tmp_path):
    """Readers list the lake while a writer holds the lock for its (long) write phase."""
    import fcntl

    append(tmp_path, WAYBILL_DATASET, _waybills(["A1"]))
    with open(tmp_path / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another writer, busy writing its files
        assert len(dataset_files(tmp_path, WAYBILL_DATASET)) == 1
        fcntl.flock(lock, fcntl.LOCK_UN)


def test_a_copied_lake_finishes_its_own_pending_append(tmp_path):
    import shutil

    lake = tmp_path / "lake"
    append(lake, WAYBILL_DATASET, _waybills(["A1"]))
    folder = dataset_files(lake, WAYBILL_DATASET)[0].parent
    pq.write_table(conform(_waybills(["X9"]), WAYBILL_DATASET), folder / ".part-late.parquet.tmp")
    (lake / "_journal").mkdir(exist_ok=True)
    (lake / "_journal" / "late.json").write_text(json.dumps({
        "dataset": "waybills", "months": ["2026-01"],
        "renames": [["waybills/month=2026-01/.part-late.parquet.tmp",
                     "waybills/month=2026-01/part-late.parquet"]]}))
    copy = tmp_path / "restored"
    shutil.copytree(lake, copy)
    assert sorted(_lake_rows(copy)["waybill_no"].to_pylist()) == ["A1", "X9"]
    assert (folder / ".part-late.parquet.tmp").exists()  # the original lake was not touched
