"""Markets and customers: upsert by code, unchanged rows untouched, changes audited."""

from __future__ import annotations

from sqlalchemy import func, select

from jiqun.ingest import import_file
from jiqun.store.models import AuditEntry, Customer, Market
from tests.ingest.helpers import TEMPLATES, import_templates, read_rejects, write_csv


def _audit_count(store) -> int:
    with store.session() as s:
        return s.scalar(select(func.count()).select_from(AuditEntry))


def test_reimport_is_unchanged_and_writes_no_audit(store, org, tmp_path):
    import_templates(store, tmp_path / "lake")
    audits = _audit_count(store)

    for kind in ("markets", "customers"):
        report = import_file(kind, TEMPLATES / f"{kind}.csv", store, tmp_path / "lake")
        assert (report.inserted, report.updated, report.duplicates, report.written) == (0, 0, 3, 0)
    assert _audit_count(store) == audits


def test_changed_row_is_updated_and_audited(store, org, tmp_path):
    import_templates(store, tmp_path / "lake")
    audits = _audit_count(store)
    path = write_csv(tmp_path / "c.csv", ["客户编码", "客户名称", "市场编码", "日均件量", "阶段"],
                     [["ZL-000001", "织里小萌童装店", "ZJ-HUZ-ZLTZ", "1200", "提升"],
                      ["ZL-000009", "织里新店", "ZJ-HUZ-ZLTZ", "50", "建档"]])

    report = import_file("customers", path, store, tmp_path / "lake")

    assert (report.inserted, report.updated, report.duplicates) == (1, 1, 0)
    with store.session() as s:
        changed = s.scalars(select(AuditEntry).where(AuditEntry.id > audits)).all()
        customer = s.scalars(select(Customer).where(Customer.code == "ZL-000001")).one()
    assert customer.est_daily_volume == 1200 and customer.lifecycle_stage.value == "growing"
    assert customer.platforms == ["taobao", "live"]  # a column not in the file is left alone
    updates = [e for e in changed if e.action == "update"]
    assert len(updates) == 1 and updates[0].source == "import"
    assert updates[0].changes["est_daily_volume"] == [800.0, 1200.0]
    assert sorted(e.action for e in changed) == ["insert", "update"]


def test_bad_market_rows_rejected_and_good_committed(store, org, tmp_path):
    header = ["市场编码", "市场名称", "市场类型", "行业", "机构编码", "省", "市", "区县", "重点产粮区"]
    path = write_csv(tmp_path / "m.csv", header, [
        ["M1", "好市场", "电商园区", "服装", "ZJ-HGZ-XH", "浙江", "杭州", "西湖区", "否"],
        ["M2", "坏类型", "超市", "服装", "ZJ-HGZ-XH", "", "", "", ""],
        ["M3", "坏机构", "淘宝村", "服装", "NOPE", "", "", "", "也许"],
        ["M1", "重复", "电商园区", "服装", "ZJ-HGZ-XH", "", "", "", ""],
        ["M4", "坏地点", "电商园区", "服装", "ZJ-HGZ-XH", "浙江", "火星市", "", ""],
    ])

    report = import_file("markets", path, store, tmp_path / "lake", locale="en")

    assert (report.accepted, report.rejected, report.inserted, report.exit_code) == (1, 4, 1, 1)
    assert read_rejects(report.rejects_path)[1:] == [
        ["3", "市场类型", "超市", "unknown market type"],
        ["4", "机构编码", "NOPE", "unknown org unit code"],
        ["4", "重点产粮区", "也许", "not yes or no (是/否)"],
        ["5", "市场编码", "M1", "the same code appears earlier in this file"],
        ["6", "市", "火星市", "unknown place"],
    ]
    with store.session() as s:
        (market,) = s.scalars(select(Market)).all()
    assert (market.code, market.adcode, market.org_unit_id) == ("M1", "330106", org.xihu.id)


def test_dry_run_changes_nothing_in_the_store(store, org, tmp_path):
    report = import_file("markets", TEMPLATES / "markets.xlsx", store, tmp_path / "lake", dry_run=True)
    assert (report.accepted, report.inserted, report.written) == (3, 3, 0)
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(Market)) == 0
    assert _audit_count(store) == 0
