"""The lake's scope is required, has one filter, and that filter (the subtree's ids, read once
by org path) gives the old id-list result for every unit of the test tree (issue 9, item 3)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import inspect
import re
from pathlib import Path

import ibis
import pyarrow as pa
import pytest
from sqlalchemy import select

import jiqun
from jiqun.kpi import overview
from jiqun.kpi.service import OperatingPicture
from jiqun.lake import WAYBILL_DATASET, append, connect, daily, events, lanes, waybills
from jiqun.lake.engine import scope_filter
from jiqun.store import Scope
from jiqun.store.models import OrgUnit
from tests.conftest import build_org

DAY = dt.datetime(2026, 3, 2, 10)


def _waybills(units: list[OrgUnit]) -> pa.Table:
    """``i + 1`` waybills for the i-th unit (of customer ``i``), so each subtree counts apart."""
    rows = [(i, u, n) for i, u in enumerate(units) for n in range(i + 1)]
    return pa.table({
        "waybill_no": [f"W{u.id}-{n}" for _, u, n in rows],
        "org_unit_id": pa.array([u.id for _, u, _ in rows], pa.int32()),
        "customer_id": pa.array([i for i, _, _ in rows], pa.int64()),
        "product": ["express"] * len(rows),
        "ship_time": [DAY] * len(rows),
        "dest_province": ["440000"] * len(rows),
        "weight_kg": [0.5] * len(rows),
        "fee": [3.2] * len(rows),
        "status": ["delivered"] * len(rows),
    })


@pytest.fixture
def tree_lake(any_store, tmp_path):
    org = build_org(any_store)
    units = [getattr(org, f.name) for f in dataclasses.fields(org)]
    append(tmp_path, WAYBILL_DATASET, _waybills(units))
    return any_store, units, tmp_path


def test_the_lake_filter_equals_the_old_id_list_for_every_unit(tree_lake):
    store, units, lake = tree_lake
    con = connect(engine="duckdb")
    everything = waybills(con, lake, Scope.WHOLE)
    for unit in units:
        with store.session() as s:  # the old scope: every org id under the unit, as a list
            old_ids = sorted(s.scalars(select(OrgUnit.id).where(
                OrgUnit.path.startswith(unit.path))))
        old = everything.filter(everything.org_unit_id.isin(old_ids))
        scope = Scope.for_unit_id(store, unit.id)
        for read in (waybills, daily, lanes):
            table = read(con, lake, scope)
            assert table.count().execute() == read(con, lake, Scope.WHOLE).filter(
                ibis._.org_unit_id.isin(old_ids)).count().execute(), (unit.code, read.__name__)
        assert sorted(waybills(con, lake, scope).waybill_no.execute()) == sorted(
            old.waybill_no.execute()), unit.code
    assert waybills(con, lake, Scope.for_unit_id(store, units[0].id)).count().execute() == 28


def test_the_whole_organisation_adds_no_filter(tree_lake):
    _, _, lake = tree_lake
    con = connect(engine="duckdb")
    table = con.read_parquet([str(p) for p in Path(lake).rglob("*.parquet")])
    assert scope_filter(table, Scope.WHOLE) is table


@pytest.mark.parametrize("read", [waybills, events, daily, lanes])
def test_the_scope_is_required(tmp_path, read):
    con = connect(engine="duckdb")
    with pytest.raises(TypeError):
        read(con, tmp_path)  # no scope: no silent whole organisation
    with pytest.raises(TypeError, match="Scope.WHOLE"):
        read(con, tmp_path, None)
    assert list(inspect.signature(read).parameters) == ["con", "lake", "scope"]
    assert inspect.signature(read).parameters["scope"].default is inspect.Parameter.empty


def test_the_operating_picture_and_the_overview_need_a_scope_too(tree_lake):
    store, _, lake = tree_lake
    with pytest.raises(TypeError, match="Scope.WHOLE"):
        OperatingPicture(store, lake, None)
    with pytest.raises(TypeError, match="Scope.WHOLE"):
        overview.data_date(connect(engine="duckdb"), lake, None)


def test_the_overview_reads_through_the_one_lake_filter(tree_lake):
    store, units, lake = tree_lake
    con = connect(engine="duckdb")
    city = Scope.for_unit_id(store, units[2].id)  # Huzhou: itself, Wuxing and Zhili
    rows = overview.customer_volumes(con, lake, city, DAY.date(), DAY.date(), limit=100)
    assert {r.customer_id: r.parcels for r in rows} == {2: 3, 4: 5, 5: 6}
    assert overview.data_date(con, lake, city) == DAY.date()


def test_no_second_copy_of_the_lake_filter():
    # The lake is limited to a scope in one place, jiqun.lake.engine.scope_filter; the id list
    # is the store scope's own business.
    src = Path(jiqun.__file__).parent
    copies = [str(p.relative_to(src)) for p in src.rglob("*.py")
              if re.search(r"org_unit_id\.isin\(|\.org_ids\b", p.read_text(encoding="utf-8"))]
    assert sorted(copies) == ["lake/engine.py", "store/scope.py"]


@pytest.mark.parametrize("engine", ["duckdb", pytest.param("pyspark", marks=pytest.mark.spark)])
def test_the_lake_filter_runs_on_every_engine(store, engine):
    org = build_org(store)
    units = [org.hq, org.huzhou, org.wuxing, org.zhili_outlet, org.xihu]
    table = ibis.memtable(_waybills(units))  # 1, 2, 3, 4 and 5 waybills
    con = connect(engine=engine)
    try:
        counts = {u.code: con.execute(scope_filter(table, Scope.for_unit_id(store, u.id)).count())
                  for u in (org.huzhou, org.wuxing, org.xihu, org.hq)}
    finally:
        if engine == "pyspark":
            con._session.stop()
    assert counts == {"ZJ-HUZ": 9, "ZJ-HUZ-WX": 7, "ZJ-HGZ-XH": 5, "HQ": 15}
