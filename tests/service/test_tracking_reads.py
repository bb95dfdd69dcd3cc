"""Timelines and parcels in flight read from a lake and a store (jiqun.service.tracking)."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from jiqun.errors import NotFound
from jiqun.lake import EVENT_DATASET, WAYBILL_DATASET, append, connect
from jiqun.service.tracking import in_flight, timeline
from jiqun.store import Scope
from jiqun.store.models import (
    Customer,
    ExceptionKind,
    LifecycleStage,
    Market,
    MarketType,
    ParcelException,
    Responsibility,
)

LAST_DAY = dt.date(2026, 11, 28)
NOW = dt.datetime(2026, 11, 29)  # the end of the lake's last day


def t(day: int, hour: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour)


@pytest.fixture
def world(store, org, tmp_path):
    lake = tmp_path / "lake"
    with store.transaction() as s:
        market = Market(code="M-ZL", name="织里童装产业带", type=MarketType.INDUSTRIAL_CLUSTER,
                        industry="童装", org_unit_id=org.wuxing.id)
        s.add(market)
        s.flush()
        zl = Customer(code="C-ZL-1", name="童趣服饰", market_id=market.id,
                      org_unit_id=org.zhili_outlet.id, lifecycle_stage=LifecycleStage.VIP)
        xh = Customer(code="C-XH-1", name="西湖主播甄选", org_unit_id=org.xihu.id,
                      lifecycle_stage=LifecycleStage.GROWING)
        s.add_all([zl, xh])
        s.flush()
        ids = {"market": market.id, "zl": zl.id, "xh": xh.id}
        s.add(ParcelException(
            waybill_no="W-TRANSIT", org_unit_id=org.zhili_outlet.id, customer_id=zl.id,
            market_id=market.id, kind=ExceptionKind.STALLED,
            responsibility=Responsibility.CARRIER, reason="held_at_hub",
            leg="arrived→departed", detected_at=t(27, 9)))
        for number, cleared in (("W-BAG", None), ("W-FOUND", t(28, 9))):  # a lost bag's parcels
            s.add(ParcelException(
                waybill_no=number, org_unit_id=org.zhili_outlet.id, customer_id=zl.id,
                kind=ExceptionKind.LOST, responsibility=Responsibility.CARRIER,
                detected_at=t(27, 12), cleared_at=cleared))
    waybills = []

    def waybill(no, customer, unit, shipped, status="in_transit", delivered=None):
        waybills.append({
            "waybill_no": no, "org_unit_id": unit, "customer_id": ids[customer],
            "market_id": ids["market"] if customer == "zl" else None, "product": "express",
            "ship_time": shipped, "origin_adcode": "330502", "dest_province": "440000",
            "dest_city": "440100", "dest_county": "440106", "weight_kg": 1.25, "fee": 12.0,
            "status": status, "delivered_time": delivered})

    zl_unit, xh_unit = org.zhili_outlet.id, org.xihu.id
    waybill("W-DONE", "zl", zl_unit, t(20, 10))
    waybill("W-TRANSIT", "zl", zl_unit, t(25, 10))
    waybill("W-BACK", "zl", zl_unit, t(22, 10))
    waybill("W-SILENT", "zl", zl_unit, t(12, 10))
    waybill("W-MARKED", "zl", zl_unit, t(24, 10), status="delivered", delivered=t(26, 10))
    waybill("W-NOSCAN", "zl", zl_unit, t(28, 20), status="created")
    waybill("W-OLD", "zl", zl_unit, dt.datetime(2026, 10, 1, 10))
    waybill("W-HGZ", "xh", xh_unit, t(25, 10))
    waybill("W-BAG", "zl", zl_unit, t(26, 10))
    waybill("W-FOUND", "zl", zl_unit, t(26, 10))
    append(lake, WAYBILL_DATASET, pa.Table.from_pylist(waybills))
    events = []

    def event(no, unit, when, code, place="440106", note=None):
        events.append({"waybill_no": no, "org_unit_id": unit, "event_time": when,
                       "event_code": code, "location_adcode": place, "note": note})

    for code, when in [("picked_up", t(20, 10)), ("departed", t(20, 14)),
                       ("arrived", t(21, 20)), ("out_for_delivery", t(22, 8)),
                       ("delivered", t(22, 11))]:
        event("W-DONE", zl_unit, when, code)
    event("W-DONE", zl_unit, t(22, 11), "delivered")  # a repeat in the same batch
    # W-TRANSIT: its scans arrive out of order
    event("W-TRANSIT", zl_unit, t(26, 22), "arrived", "440100")
    event("W-TRANSIT", zl_unit, t(25, 10), "picked_up", "330502")
    event("W-TRANSIT", zl_unit, t(25, 15), "departed", "330502")
    event("W-BACK", zl_unit, t(22, 10), "picked_up", "330502")
    event("W-BACK", zl_unit, t(23, 10), "exception", note="收件人拒收")
    event("W-BACK", zl_unit, t(24, 10), "returned", "330502")
    event("W-SILENT", zl_unit, t(12, 10), "picked_up", "330502")
    event("W-SILENT", zl_unit, t(12, 14), "departed", "330502")
    event("W-HGZ", xh_unit, t(25, 10), "picked_up", "330106")
    for number in ("W-BAG", "W-FOUND"):
        event(number, zl_unit, t(26, 10), "picked_up", "330502")
        event(number, zl_unit, t(26, 14), "departed", "330502")
    append(lake, EVENT_DATASET, pa.Table.from_pylist(events))
    con = connect(engine="duckdb")
    with store.session() as s:
        huzhou = Scope.for_unit(s, org.huzhou)
    return {"lake": lake, "con": con, "ids": ids, "huzhou": huzhou, "store": store}


def test_timeline_of_a_parcel_with_its_facts_state_and_exceptions(world):
    with world["store"].session(scope=world["huzhou"]) as s:
        found = timeline(world["con"], world["lake"], world["huzhou"], "W-TRANSIT", session=s)
    w = found.waybill
    assert (w.customer_name, w.market_name, w.product, w.weight_kg, w.ship_time) == (
        "童趣服饰", "织里童装产业带", "express", 1.25, t(25, 10))
    assert (w.origin, w.destination) == ("吴兴区", "天河区")
    assert found.as_of == NOW  # the end of the last day with waybills
    assert [s.code for s in found.state.scans] == ["picked_up", "departed", "arrived"]
    assert (found.state.state, found.state.since) == ("at_hub", t(26, 22))
    (exc,) = found.exceptions
    assert (exc.kind, exc.reason, exc.reason_label, exc.responsibility) == (
        "stalled", "held_at_hub", "Held at a hub", "carrier")


def test_timeline_without_a_session_has_no_store_facts(world):
    found = timeline(world["con"], world["lake"], Scope.WHOLE, "W-TRANSIT")
    assert (found.waybill.customer_name, found.exceptions) == (None, ())


def test_a_returned_parcel_names_the_cause_and_who_is_responsible(world):
    found = timeline(world["con"], world["lake"], world["huzhou"], "W-BACK")
    assert (found.state.state, found.state.reason, found.state.responsibility) == (
        "returned", "refused", "recipient")


def test_a_repeated_scan_in_the_lake_batch_was_dropped_by_the_writer(world):
    found = timeline(world["con"], world["lake"], world["huzhou"], "W-DONE")
    assert [s.code for s in found.state.scans].count("delivered") == 1
    assert found.state.state == "delivered"


@pytest.mark.parametrize("number", ["W-NOPE", "W-HGZ"])  # not in the lake; in Hangzhou
def test_unknown_or_foreign_waybills_are_not_found(world, number):
    with pytest.raises(NotFound):
        timeline(world["con"], world["lake"], world["huzhou"], number)


def test_an_open_lost_exception_of_the_detector_makes_the_parcel_lost(world):
    with world["store"].session(scope=world["huzhou"]) as s:
        bag = timeline(world["con"], world["lake"], world["huzhou"], "W-BAG", session=s)
        found = timeline(world["con"], world["lake"], world["huzhou"], "W-FOUND", session=s)
    assert (bag.state.state, bag.state.since, bag.state.reason, bag.state.responsibility) == (
        "lost", t(27, 12), "lost", "carrier")
    assert found.state.state == "in_transit"  # its exception was cleared


def test_hq_sees_the_foreign_one(world):
    found = timeline(world["con"], world["lake"], Scope.WHOLE, "W-HGZ")
    assert found.state.state == "picked_up"


def test_in_flight_lists_open_parcels_oldest_first(world):
    flight = in_flight(world["con"], world["lake"], world["huzhou"], world["ids"]["zl"])
    # delivered and returned scans are final; a waybill marked delivered is done; W-OLD was
    # shipped before the 30-day window
    assert [p.waybill_no for p in flight.items] == [
        "W-SILENT", "W-TRANSIT", "W-BAG", "W-FOUND", "W-NOSCAN"]
    assert (flight.total, flight.as_of) == (5, NOW)
    silent, transit, *_, noscan = flight.items
    assert (silent.state, silent.reason, silent.responsibility) == ("lost", "lost", "carrier")
    assert (transit.state, transit.age_hours) == ("at_hub", 86.0)
    assert (noscan.state, noscan.label, noscan.age_hours) == (None, "No scans yet", 4.0)
    assert transit.destination == "天河区"


def test_in_flight_with_the_store_knows_the_lost_bag(world):
    with world["store"].session(scope=world["huzhou"]) as s:
        flight = in_flight(world["con"], world["lake"], world["huzhou"], world["ids"]["zl"],
                           session=s)
    states = {p.waybill_no: p.state for p in flight.items}
    assert (states["W-BAG"], states["W-FOUND"], states["W-TRANSIT"]) == (
        "lost", "in_transit", "at_hub")


def test_in_flight_pages(world):
    page = in_flight(world["con"], world["lake"], world["huzhou"], world["ids"]["zl"],
                     limit=1, offset=1)
    assert (page.total, [p.waybill_no for p in page.items]) == (5, ["W-TRANSIT"])


def test_in_flight_of_a_customer_outside_the_scope_is_empty(world):
    flight = in_flight(world["con"], world["lake"], world["huzhou"], world["ids"]["xh"])
    assert (flight.total, flight.items) == (0, ())
    assert in_flight(world["con"], world["lake"], Scope.WHOLE, world["ids"]["xh"]).total == 1
