"""The templates under docs/templates import cleanly, from CSV and from XLSX, in order."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from jiqun.ingest import import_file
from jiqun.store.models import Customer, CustomerTier, LifecycleStage, Market, MarketVolumeEstimate
from tests.ingest.helpers import TEMPLATES, lake_rows

KINDS = ("markets", "customers", "waybills", "events")


@pytest.mark.parametrize("ext", ["csv", "xlsx"])
def test_every_template_imports_cleanly(store, org, tmp_path, ext):
    lake = tmp_path / "lake"
    reports = {k: import_file(k, TEMPLATES / f"{k}.{ext}", store, lake) for k in KINDS}

    assert {k: (r.total, r.rejected, r.written) for k, r in reports.items()} == {
        "markets": (3, 0, 3), "customers": (3, 0, 3), "waybills": (5, 0, 5), "events": (4, 0, 4)}
    assert all(r.exit_code == 0 and r.rejects_path is None for r in reports.values())

    with store.session() as s:
        markets = {m.code: m for m in s.scalars(select(Market))}
        customers = {c.code: c for c in s.scalars(select(Customer))}
        estimates = s.execute(select(MarketVolumeEstimate.daily_volume, MarketVolumeEstimate.valid_from)
                              .join(Market).where(Market.code == "ZJ-HUZ-ZLTZ")).all()
    zhili = markets["ZJ-HUZ-ZLTZ"]
    assert (zhili.org_unit_id, zhili.adcode, zhili.key_area) == (org.wuxing.id, "330502", True)
    assert estimates == [(300000.0, dt.date(2023, 5, 1))]
    assert markets["HA-SQ-YCWJ"].adcode == "411425"  # 虞城县, parsed from the address
    assert markets["ZJ-HUZ-ZLZB"].adcode == "330502"  # from 浙江 / 湖州 / 吴兴区
    assert markets["ZJ-HUZ-ZLZB"].lon is not None  # centroid of its county
    small = customers["ZL-000001"]
    assert small.platforms == ["taobao", "live"]
    assert (small.tier, small.lifecycle_stage, small.vip) == (
        CustomerTier.SECOND, LifecycleStage.COOPERATING, False)
    assert customers["ZL-000002"].vip is True
    assert customers["YC-000001"].org_unit_id == org.hq.id  # from its market
    assert customers["YC-000001"].adcode == "411425"
    assert customers["ZL-000001"].phone == "13800000001"  # not 13800000001.0 from Excel

    waybills = {r[0]: r for r in lake_rows(lake)}
    assert waybills["1180000000003"][10:13] == ("310000", "310100", "310115")  # 浦东新区 from address
    assert waybills["1180000000001"][16:] == ("delivered", dt.datetime(2024, 6, 20, 15, 10))
    events = lake_rows(lake, "events")
    assert [(e[3], e[4]) for e in events] == [
        ("picked_up", "330502"), ("departed", "330500"), ("out_for_delivery", "440106"),
        ("delivered", "440106")]
    assert {e[1] for e in events} == {org.zhili_outlet.id}  # the waybill's org unit


def test_csv_and_xlsx_templates_hold_the_same_rows(store, org, tmp_path):
    lakes = {}
    for ext in ("csv", "xlsx"):
        lake = tmp_path / ext
        for kind in KINDS:
            import_file(kind, TEMPLATES / f"{kind}.{ext}", store, lake)
        lakes[ext] = (lake_rows(lake), lake_rows(lake, "events"))
    assert lakes["csv"] == lakes["xlsx"]
