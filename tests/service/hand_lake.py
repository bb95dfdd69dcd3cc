"""A hand-made lake for the detector: three weeks of ordinary parcels on one lane, then a few
parcels in flight whose timelines each show one kind of exception (or none)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa

from jiqun.lake import EVENT_DATASET, WAYBILL_DATASET, append
from jiqun.lake.schemas import EVENTS, WAYBILLS

AS_OF = dt.datetime(2026, 11, 30, 12, 0)
ORIGIN, DEST_PROVINCE, DEST_CITY = "411400", "410000", "410100"  # 商丘 → 郑州 (same province)
ORG = 1
FACILITY = 5
H = dt.timedelta(hours=1)

# Ordinary legs (hours): origin dwell 3–5, line haul 8–12, hub dwell 4–8, last mile 1–3.
HISTORY_DAYS, PER_DAY = 21, 40


def _waybill(number: str, picked: dt.datetime, product: str = "parcel") -> dict:
    return {
        "waybill_no": number, "org_unit_id": ORG, "customer_id": None, "market_id": 1,
        "grid_id": None, "outlet_id": FACILITY, "product": product, "platform": "taobao",
        "ship_time": picked, "origin_adcode": ORIGIN, "dest_province": DEST_PROVINCE,
        "dest_city": DEST_CITY, "dest_county": None, "weight_kg": 1.0, "fee": 3.0,
        "line_id": None, "status": "in_transit", "delivered_time": None,
    }


def _event(number: str, at: dt.datetime, code: str, note: str | None = None) -> dict:
    facility = FACILITY if code in ("picked_up", "departed") else None
    return {"waybill_no": number, "org_unit_id": ORG, "event_time": at, "event_code": code,
            "location_adcode": ORIGIN, "facility_id": facility, "note": note}


def history() -> tuple[list[dict], list[dict]]:
    """Delivered parcels with ordinary legs, spread over the weeks before ``AS_OF``."""
    waybills, events = [], []
    for day in range(9, HISTORY_DAYS + 9):  # every leg started before the settle days (7)
        for i in range(PER_DAY):
            number = f"H{day:03d}{i:03d}"
            picked = AS_OF - dt.timedelta(days=day) + dt.timedelta(minutes=17 * i)
            legs = (3 + (i % 5) * 0.5, 8 + (i % 9) * 0.5, 4 + (i % 7) * 0.66, 1 + (i % 3))
            times = [picked]
            for hours in legs:
                times.append(times[-1] + hours * H)
            waybills.append(_waybill(number, picked))
            for at, code in zip(times, ("picked_up", "departed", "arrived", "out_for_delivery",
                                        "delivered"), strict=True):
                events.append(_event(number, at, code))
    return waybills, events


# Each case: waybill number → (scans as (hours before AS_OF, code, note), the kinds expected).
CASES: dict[str, tuple[list[tuple[float, str, str | None]], set[str]]] = {
    # picked up 20 h ago and never left: origin dwell p99 is about 5 h
    "STALLED": ([(20, "picked_up", None)], {"stalled"}),
    # 4.8 h at the outlet: slower than most (p50 4 h) but under its own p99 (5 h)
    "SLOW-OK": ([(4.8, "picked_up", None)], set()),
    # picked up 50 h ago, arrived 3 h ago: the 48 h promise is missed, and the 43 h on the
    # road (p99 12 h) is a stall that is over but still shows
    "LATE": ([(50, "picked_up", None), (46, "departed", None), (3, "arrived", None)],
             {"late", "stalled"}),
    # one bag of three (same facility, city, hour) on the road for 30 h (line haul p99 12 h)
    **{f"BAG-{k}": ([(34, "picked_up", None), (30 - k * 0.1, "departed", None)],
                    {"lost"}) for k in range(3)},
    # out for delivery without an arrival scan
    "NOSCAN": ([(14, "picked_up", None), (10, "departed", None), (1, "out_for_delivery", None)],
               {"missing_scan"}),
    "FAILED": ([(30, "picked_up", None), (26, "departed", None), (16, "arrived", None),
                (10, "out_for_delivery", None), (8, "failed_attempt", "联系不上收件人")],
               {"failed_delivery"}),
    "RETURNED": ([(40, "picked_up", None), (36, "departed", None), (26, "arrived", None),
                  (20, "exception", "收件人拒收"), (2, "returned", None)], {"returned"}),
    "LOCKER": ([(70, "picked_up", None), (66, "departed", None), (58, "arrived", None),
                (55, "out_for_delivery", None), (54, "in_locker", None)],
               {"locker_uncollected"}),
    "DELIVERED": ([(20, "picked_up", None), (16, "departed", None), (6, "arrived", None),
                   (3, "out_for_delivery", None), (1, "delivered", None)], set()),
}


def in_flight() -> tuple[list[dict], list[dict]]:
    waybills, events = [], []
    for number, (scans, _) in CASES.items():
        first = max(h for h, _, _ in scans)
        waybills.append(_waybill(number, AS_OF - first * H))
        events += [_event(number, AS_OF - h * H, code, note) for h, code, note in scans]
    return waybills, events


def build(lake: Path) -> Path:
    hw, he = history()
    fw, fe = in_flight()
    append(lake, WAYBILL_DATASET, pa.Table.from_pylist(hw + fw, schema=WAYBILLS))
    append(lake, EVENT_DATASET, pa.Table.from_pylist(he + fe, schema=EVENTS))
    return lake
