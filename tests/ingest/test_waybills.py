"""Waybill import: bad rows reported row by row, good rows committed once, nothing twice."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from jiqun.ingest import ImportFileError, import_file
from jiqun.store.models import AuditEntry, Customer
from tests.ingest.helpers import lake_rows, read_rejects, write_csv

HEADER = ["运单号", "客户编码", "产品", "平台", "寄件时间", "目的省", "目的市", "目的区县", "收件地址",
          "重量", "资费"]
GOOD = ["W001", "ZL-000001", "快包", "淘系", "2024-06-18 09:30:00", "广东省", "广州市", "天河区", "",
        "0.5", "4.5"]
ROWS = [
    GOOD,                                                                                     # row 2
    ["W002", "ZL-000001", "快包", "淘系", "2024-13-45", "广东省", "广州市", "天河区", "", "0.5", "4"],  # 3
    ["W003", "ZL-000001", "快包", "淘系", "2024-06-18 10:00", "浙江", "杭州", "西湖区", "", "-1", "4"],  # 4
    ["W004", "ZL-999999", "快包", "淘系", "2024-06-18 10:00", "浙江", "杭州", "西湖区", "", "1", "4"],  # 5
    ["W005", "ZL-000002", "空运", "淘系", "2024-06-18 10:00", "浙江", "杭州", "西湖区", "", "1", "4"],  # 6
    GOOD,                                                                                     # row 7
    ["W006", "ZL-000002", "快包", "拼系", "2024-06-18 11:00", "", "", "", "", "1", "4"],           # 8
    ["W007", "ZL-000002", "快包", "拼系", "2024-06-18 12:00", "", "", "", "北京市朝阳区建国路1号",
     "0.3", "3"],                                                                             # row 9
    ["W008", "YC-000001", "特快", "直播", "2024/6/18 9:05", "江苏", "南京", "鼓楼区", "", "1.2", "12"],  # 10
]
EXPECTED_REJECTS_ZH = [
    ["3", "寄件时间", "2024-13-45", "不是有效的日期时间（例如 2024-06-18 09:30:00）"],
    ["4", "重量", "-1", "必须大于零"],
    ["5", "客户编码", "ZL-999999", "客户编码不存在"],
    ["6", "产品", "空运", "产品无法识别（特快/快包/标快）"],
    ["7", "运单号", "W001", "与本文件前面的行重复"],
    ["8", "目的省", "", "缺少目的地（省/市或收件地址）"],
]




@pytest.fixture
def bad_file(tmp_path):
    return write_csv(tmp_path / "waybills.csv", HEADER, ROWS)


def test_bad_rows_are_reported_and_good_rows_committed(archived, org, lake, bad_file):
    report = import_file("waybills", bad_file, archived, lake)

    assert (report.total, report.accepted, report.rejected, report.written) == (9, 3, 6, 3)
    assert report.exit_code == 1
    assert report.rejects_path == bad_file.with_name("waybills.csv.rejects.csv")
    assert report.reasons == {"bad_datetime": 1, "not_positive": 1, "unknown_customer": 1,
                              "unknown_product": 1, "duplicate_in_file": 1, "missing_destination": 1}
    rejects = read_rejects(report.rejects_path)
    assert rejects[0] == ["行号", "列", "值", "原因"]
    assert rejects[1:] == EXPECTED_REJECTS_ZH

    with archived.session() as s:
        customers = dict(s.execute(select(Customer.code, Customer.id)).all())
    rows = {r[0]: r for r in lake_rows(lake)}
    assert sorted(rows) == ["W001", "W007", "W008"]
    w1, w7, w8 = rows["W001"], rows["W007"], rows["W008"]
    # (waybill_no, org_unit_id, customer_id, market_id, grid_id, outlet_id, product, platform,
    #  ship_time, origin_adcode, dest_province, dest_city, dest_county, weight, fee, line_id, status, …)
    assert w1[1:3] == (org.zhili_outlet.id, customers["ZL-000001"])
    assert w1[6:9] == ("parcel", "taobao", dt.datetime(2024, 6, 18, 9, 30))
    assert w1[9:13] == ("330502", "440000", "440100", "440106")
    assert w7[10:13] == ("110000", "110100", "110105")  # parsed from the free-text address
    assert w8[1] == org.hq.id  # Yucheng's customer belongs to its market's unit (HQ in the tree)
    assert w8[6:9] == ("express", "live", dt.datetime(2024, 6, 18, 9, 5))
    assert w8[10:13] == ("320000", "320100", "320106")  # 鼓楼区 of Nanjing, not of Kaifeng
    assert (round(w8[13], 3), w8[14], w8[16]) == (1.2, 12.0, "created")


def test_importing_the_same_file_again_changes_nothing(archived, lake, bad_file):
    import_file("waybills", bad_file, archived, lake)
    before = lake_rows(lake)
    files_before = sorted((lake / "waybills").rglob("*.parquet"))
    with archived.session() as s:
        audits = s.scalar(select(func.count()).select_from(AuditEntry))

    again = import_file("waybills", bad_file, archived, lake)

    assert (again.written, again.duplicates, again.rejected) == (0, 3, 6)
    assert lake_rows(lake) == before
    assert sorted((lake / "waybills").rglob("*.parquet")) == files_before
    with archived.session() as s:
        assert s.scalar(select(func.count()).select_from(AuditEntry)) == audits


def test_dry_run_writes_nothing(archived, lake, bad_file):
    report = import_file("waybills", bad_file, archived, lake, dry_run=True)

    assert (report.accepted, report.rejected, report.written, report.dry_run) == (3, 6, 0, True)
    assert lake_rows(lake) == []
    import_file("waybills", bad_file, archived, lake)
    assert import_file("waybills", bad_file, archived, lake, dry_run=True).duplicates == 3


def test_gbk_file_with_english_reasons(archived, lake, tmp_path):
    path = write_csv(tmp_path / "gbk.csv", HEADER, ROWS[:5], encoding="gbk")
    rejects = tmp_path / "out" / "problems.csv"

    report = import_file("waybills", path, archived, lake, rejects=rejects, locale="en")

    assert (report.accepted, report.rejected) == (1, 4)
    assert report.rejects_path == rejects
    lines = read_rejects(rejects)
    assert lines[0] == ["row", "column", "value", "reason"]
    assert lines[2] == ["4", "重量", "-1", "must be greater than zero"]
    assert lines[3] == ["5", "客户编码", "ZL-999999", "unknown customer code"]
    assert lake_rows(lake)[0][0] == "W001"


def test_english_headers_and_utf8_bom(archived, org, lake, tmp_path):
    header = ["waybill_no", "customer_code", "product", "platform", "ship_time", "dest_province",
              "dest_city", "dest_county", "weight_kg", "fee", "status", "delivered_time"]
    rows = [["E1", "ZL-000002", "parcel", "pdd", "2024-11-11 00:05:00", "330000", "330100", "330106",
             "0.8", "3.2", "delivered", "2024-11-12 10:00:00"],
            ["E2", "ZL-000002", "standard", "taobao", "2024-11-11 00:06:00", "浙江省", "杭州市", "",
             "1", "3", "", "2024-11-10 10:00:00"]]
    path = write_csv(tmp_path / "en.csv", header, rows, encoding="utf-8-sig")

    report = import_file("waybills", path, archived, lake)

    assert (report.accepted, report.rejected, report.reasons) == (1, 1, {"delivered_before_shipped": 1})
    (row,) = lake_rows(lake)
    assert row[10:13] == ("330000", "330100", "330106")
    assert row[16:] == ("delivered", dt.datetime(2024, 11, 12, 10, 0))
    assert read_rejects(report.rejects_path)[1][:2] == ["3", "delivered_time"]


def test_missing_required_column_is_a_file_error_and_nothing_is_applied(archived, lake, tmp_path):
    header = [h for h in HEADER if h != "重量"]
    path = write_csv(tmp_path / "w.csv", header, [[c for h, c in zip(HEADER, GOOD, strict=True)
                                                     if h != "重量"]])
    with pytest.raises(ImportFileError) as error:
        import_file("waybills", path, archived, lake)
    assert "重量/weight_kg" in error.value.message("zh-CN")
    assert error.value.message("zh-CN").startswith("缺少必填列")
    assert error.value.message("en").startswith("missing required columns")
    assert lake_rows(lake) == []
    assert not path.with_name("w.csv.rejects.csv").exists()


def test_unknown_column_is_a_file_error(archived, lake, tmp_path):
    path = write_csv(tmp_path / "w.csv", [*HEADER, "颜色"], [[*GOOD, "红"]])
    with pytest.raises(ImportFileError, match="颜色"):
        import_file("waybills", path, archived, lake)
    assert lake_rows(lake) == []


def test_waybill_without_customer_or_outlet_has_no_org_unit(archived, lake, tmp_path):
    path = write_csv(tmp_path / "w.csv", HEADER, [["N1", "", *GOOD[2:]]])
    report = import_file("waybills", path, archived, lake)
    assert report.reasons == {"no_org_unit": 1}
    assert lake_rows(lake) == []
