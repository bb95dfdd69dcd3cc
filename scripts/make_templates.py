"""Write the import templates ``docs/templates/{kind}.csv`` and their ``.xlsx`` twins.

Run ``.venv/bin/python scripts/make_templates.py`` after changing a format: both files of every
kind come from the rows below, so they stay in sync. Headers are the Chinese ones of
``jiqun.ingest.columns``; the rows are real places (湖州织里 kids' clothing, 商丘虞城 hardware)
and import cleanly, in this order, into a store with the org tree of ``tests/conftest.build_org``.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from pathlib import Path

from openpyxl import Workbook

from jiqun.ingest.columns import FORMATS

TEMPLATES = Path(__file__).resolve().parent.parent / "docs" / "templates"

ROWS: dict[str, list[dict[str, str]]] = {
    "markets": [
        {"code": "ZJ-HUZ-ZLTZ", "name": "织里童装产业集群", "name_en": "Zhili kids' clothing",
         "type": "产业集群", "industry": "童装", "org_unit": "ZJ-HUZ-WX", "adcode": "330502",
         "province": "", "city": "", "county": "", "address": "浙江省湖州市吴兴区织里镇",
         "lon": "120.26", "lat": "30.84", "tier": "A", "key_area": "是",
         "yearly_revenue_target": "10000000", "daily_volume_estimate": "300000",
         "estimate_date": "2023-05-01"},
        {"code": "ZJ-HUZ-ZLZB", "name": "织里童装直播基地", "name_en": "Zhili livestream base",
         "type": "直播基地", "industry": "童装", "org_unit": "ZJ-HUZ-WX-ZL", "adcode": "",
         "province": "浙江", "city": "湖州", "county": "吴兴区", "address": "",
         "lon": "", "lat": "", "tier": "B", "key_area": "否",
         "yearly_revenue_target": "5000000", "daily_volume_estimate": "40000",
         "estimate_date": "2023-05-01"},
        {"code": "HA-SQ-YCWJ", "name": "虞城稍岗五金工具产业集群", "name_en": "Yucheng hardware tools",
         "type": "产业集群", "industry": "五金工具", "org_unit": "HQ", "adcode": "",
         "province": "", "city": "", "county": "", "address": "河南省商丘市虞城县稍岗镇",
         "lon": "", "lat": "", "tier": "A", "key_area": "是",
         "yearly_revenue_target": "10000000", "daily_volume_estimate": "120000",
         "estimate_date": "2023-05-01"},
    ],
    "customers": [
        {"code": "ZL-000001", "name": "织里小萌童装店", "contact": "王丽", "phone": "13800000001",
         "address": "浙江省湖州市吴兴区织里镇珍贝路18号", "market": "ZJ-HUZ-ZLTZ", "grid": "",
         "org_unit": "ZJ-HUZ-WX-ZL", "platforms": "淘系、直播", "categories": "童装",
         "est_daily_volume": "800", "lifecycle_stage": "合作", "tier": "二级", "owner": "",
         "vip": "否"},
        {"code": "ZL-000002", "name": "湖州贝贝乐服饰有限公司", "contact": "沈强", "phone": "13800000002",
         "address": "湖州市吴兴区织里镇大港路66号", "market": "ZJ-HUZ-ZLTZ", "grid": "",
         "org_unit": "ZJ-HUZ-WX-ZL", "platforms": "拼系", "categories": "童装、童鞋",
         "est_daily_volume": "3500", "lifecycle_stage": "提升", "tier": "一级", "owner": "",
         "vip": "是"},
        {"code": "YC-000001", "name": "虞城稍岗工具商行", "contact": "李明", "phone": "13900000001",
         "address": "河南省商丘市虞城县稍岗镇", "market": "HA-SQ-YCWJ", "grid": "",
         "org_unit": "", "platforms": "拼系、淘系", "categories": "五金工具",
         "est_daily_volume": "2000", "lifecycle_stage": "试寄", "tier": "一级", "owner": "",
         "vip": "否"},
    ],
    "waybills": [
        {"waybill_no": "1180000000001", "customer_code": "ZL-000001", "outlet_code": "",
         "product": "快包", "platform": "淘系", "ship_time": "2024-06-18 09:30:00",
         "dest_province": "广东省", "dest_city": "广州市", "dest_county": "天河区", "dest_address": "",
         "weight_kg": "0.45", "fee": "4.5", "line_code": "", "status": "已妥投",
         "delivered_time": "2024-06-20 15:10:00"},
        {"waybill_no": "1180000000002", "customer_code": "ZL-000002", "outlet_code": "",
         "product": "快包", "platform": "拼系", "ship_time": "2024-06-18 10:05:00",
         "dest_province": "江苏", "dest_city": "南京", "dest_county": "鼓楼区", "dest_address": "",
         "weight_kg": "0.6", "fee": "3.8", "line_code": "", "status": "运输中",
         "delivered_time": ""},
        {"waybill_no": "1180000000003", "customer_code": "ZL-000002", "outlet_code": "",
         "product": "特快", "platform": "直播", "ship_time": "2024-06-18 11:20:00",
         "dest_province": "", "dest_city": "", "dest_county": "",
         "dest_address": "上海市浦东新区世纪大道100号", "weight_kg": "1.2", "fee": "18",
         "line_code": "", "status": "", "delivered_time": ""},
        {"waybill_no": "1180000000004", "customer_code": "YC-000001", "outlet_code": "",
         "product": "标快", "platform": "拼系", "ship_time": "2024-06-18 16:45:00",
         "dest_province": "广东省", "dest_city": "广州市", "dest_county": "白云区", "dest_address": "",
         "weight_kg": "3.5", "fee": "9", "line_code": "", "status": "", "delivered_time": ""},
        {"waybill_no": "1180000000005", "customer_code": "YC-000001", "outlet_code": "",
         "product": "快包", "platform": "淘系", "ship_time": "2024-06-19 08:15:00",
         "dest_province": "浙江省", "dest_city": "杭州市", "dest_county": "西湖区", "dest_address": "",
         "weight_kg": "2.2", "fee": "6.5", "line_code": "", "status": "", "delivered_time": ""},
    ],
    "events": [
        {"waybill_no": "1180000000001", "event_time": "2024-06-18 18:00:00", "event_code": "揽收",
         "location": "湖州市吴兴区", "facility_code": "", "note": "织里揽投部收寄"},
        {"waybill_no": "1180000000001", "event_time": "2024-06-18 23:40:00", "event_code": "发出",
         "location": "湖州市", "facility_code": "", "note": ""},
        {"waybill_no": "1180000000001", "event_time": "2024-06-20 07:30:00", "event_code": "派送",
         "location": "广州市天河区", "facility_code": "", "note": ""},
        {"waybill_no": "1180000000001", "event_time": "2024-06-20 15:10:00", "event_code": "妥投",
         "location": "440106", "facility_code": "", "note": "本人签收"},
    ],
}

_NUMBER = re.compile(r"^-?(0|[1-9]\d{0,11})(\.\d+)?$")  # not codes such as 1180000000001


def _cell(value: str):
    """The value as Excel would hold it: numbers as numbers, times as date-times."""
    if _NUMBER.match(value):
        return float(value) if "." in value else int(value)
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
        try:
            parsed = dt.datetime.strptime(value, fmt)
            return parsed if " " in value else parsed.date()
        except ValueError:
            pass
    return value or None


def write(kind: str, rows: list[dict[str, str]], folder: Path = TEMPLATES) -> tuple[Path, Path]:
    columns = FORMATS[kind].columns
    folder.mkdir(parents=True, exist_ok=True)
    csv_path, xlsx_path = folder / f"{kind}.csv", folder / f"{kind}.xlsx"
    with open(csv_path, "w", encoding="utf-8-sig", newline="") as fh:  # BOM: Excel reads UTF-8
        writer = csv.writer(fh, lineterminator="\r\n")
        writer.writerow([c.zh for c in columns])
        writer.writerows([[row.get(c.name, "") for c in columns] for row in rows])
    book = Workbook()
    sheet = book.active
    sheet.title = kind
    sheet.append([c.zh for c in columns])
    for row in rows:
        sheet.append([_cell(row.get(c.name, "")) for c in columns])
    book.save(xlsx_path)
    return csv_path, xlsx_path


def main() -> None:
    for kind, rows in ROWS.items():
        for path in write(kind, rows):
            print(path)


if __name__ == "__main__":
    main()
