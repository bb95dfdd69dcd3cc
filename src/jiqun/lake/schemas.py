"""Explicit Arrow schemas of the lake: waybills and tracking events.

Codes are strings of admin-division codes (adcode, 6 digits: ``330502`` is Wuxing, Huzhou).
Money is in yuan, weights in kg, times are local (Asia/Shanghai) without a zone.
"""

from __future__ import annotations

import pyarrow as pa

PRODUCTS = ("express", "parcel", "standard")  # 特快 / 快包 / 标快
PLATFORMS = ("taobao", "pdd", "live", "other")  # 淘系 / 拼系 / 直播 / 其他
WAYBILL_STATUSES = ("created", "in_transit", "delivered", "exception", "returned")
EVENT_CODES = (
    "picked_up",  # 揽收
    "departed",  # 发出
    "arrived",  # 到达
    "out_for_delivery",  # 派送
    "delivered",  # 妥投
    "failed_attempt",  # 投递失败 (a delivery attempt that did not reach the recipient)
    "in_locker",  # 入柜 / 驿站: waiting for the recipient to collect it
    "exception",  # 异常
    "returned",  # 退回
)

WAYBILLS = pa.schema(
    [
        pa.field("waybill_no", pa.string(), nullable=False),
        pa.field("org_unit_id", pa.int32(), nullable=False),  # owning unit (outlet); scoping key
        pa.field("customer_id", pa.int64()),
        pa.field("market_id", pa.int32()),
        pa.field("grid_id", pa.int32()),
        pa.field("outlet_id", pa.int32()),
        pa.field("product", pa.string(), nullable=False),
        pa.field("platform", pa.string()),
        pa.field("ship_time", pa.timestamp("s"), nullable=False),
        pa.field("origin_adcode", pa.string()),
        pa.field("dest_province", pa.string(), nullable=False),
        pa.field("dest_city", pa.string()),
        pa.field("dest_county", pa.string()),
        pa.field("weight_kg", pa.float32(), nullable=False),
        pa.field("fee", pa.float64(), nullable=False),
        pa.field("line_id", pa.int32()),
        pa.field("status", pa.string(), nullable=False),
        pa.field("delivered_time", pa.timestamp("s")),
    ]
)

EVENTS = pa.schema(
    [
        pa.field("waybill_no", pa.string(), nullable=False),
        pa.field("org_unit_id", pa.int32(), nullable=False),
        pa.field("event_time", pa.timestamp("s"), nullable=False),
        pa.field("event_code", pa.string(), nullable=False),
        pa.field("location_adcode", pa.string()),
        pa.field("facility_id", pa.int32()),
        pa.field("note", pa.string()),
    ]
)


class Dataset:
    """A lake dataset: its folder name, schema, time column and identity key."""

    def __init__(self, name: str, schema: pa.Schema, time_column: str, key: tuple[str, ...]):
        self.name, self.schema, self.time_column, self.key = name, schema, time_column, key


WAYBILL_DATASET = Dataset("waybills", WAYBILLS, "ship_time", ("waybill_no",))
EVENT_DATASET = Dataset("events", EVENTS, "event_time", ("waybill_no", "event_time", "event_code"))
DATASETS = {d.name: d for d in (WAYBILL_DATASET, EVENT_DATASET)}
