"""The tracking state machine on hand timelines (jiqun.service.tracking.parcel_state)."""

from __future__ import annotations

import datetime as dt

import pytest

from jiqun.service.tracking import LOST_AFTER, PARCEL_STATES, Scan, parcel_state

DAY = dt.datetime(2026, 11, 20)
HUZHOU, GUANGZHOU = "330500", "440106"


def at(hours: float) -> dt.datetime:
    return DAY + dt.timedelta(hours=hours)


def scan(code: str, hours: float, place: str = GUANGZHOU, note: str | None = None,
         facility: int | None = None) -> Scan:
    return Scan(at=at(hours), code=code, location=place, facility_id=facility, note=note)


NORMAL = [
    scan("picked_up", 0, HUZHOU, facility=1),
    scan("departed", 3, HUZHOU, facility=2),
    scan("arrived", 20, "440100", facility=7),
    scan("departed", 22, "440100", facility=7),
    scan("arrived", 30),
    scan("out_for_delivery", 31),
    scan("delivered", 34),
]


def states(result) -> list[tuple[str, bool]]:
    return [(s.state, s.counted) for s in result.scans]


def test_the_states_are_the_ten_of_the_interface():
    assert PARCEL_STATES == ("picked_up", "in_transit", "at_hub", "out_for_delivery",
                             "delivered", "failed_attempt", "in_locker", "exception",
                             "returned", "lost")


def test_normal_path_hub_by_hub_ends_delivered():
    result = parcel_state(NORMAL)
    assert (result.state, result.since, result.terminal) == ("delivered", at(34), True)
    assert [s.state for s in result.scans] == [
        "picked_up", "in_transit", "at_hub", "in_transit", "at_hub", "out_for_delivery",
        "delivered"]
    assert all(s.counted for s in result.scans)
    assert (result.reason, result.responsibility, result.duplicates) == (None, None, 0)
    assert result.scans[0].place == "湖州市"


@pytest.mark.parametrize("stop,expected", [(1, "picked_up"), (2, "in_transit"), (3, "at_hub"),
                                           (6, "out_for_delivery")])
def test_each_step_of_the_way(stop, expected):
    assert parcel_state(NORMAL[:stop]).state == expected


def test_lake_rows_are_read_like_scans():
    rows = [{"event_time": s.at, "event_code": s.code, "location_adcode": s.location,
             "facility_id": s.facility_id, "note": s.note, "waybill_no": "9001"} for s in NORMAL]
    assert parcel_state(rows) == parcel_state(NORMAL)


def test_duplicates_same_time_or_minutes_apart_at_the_same_place_are_dropped():
    events = [
        *NORMAL[:2],
        scan("departed", 3, HUZHOU, facility=2),  # the same scan again
        scan("departed", 3 + 5 / 60, HUZHOU, facility=2),  # a double read 5 minutes later
        scan("arrived", 20, "440100", facility=7),
        scan("arrived", 20, "440100", facility=8),  # same code and time, other facility
    ]
    result = parcel_state(events)
    assert result.duplicates == 3
    assert [(s.code, s.at) for s in result.scans] == [
        ("picked_up", at(0)), ("departed", at(3)), ("arrived", at(20))]


def test_the_same_code_later_or_elsewhere_is_not_a_duplicate():
    events = [scan("departed", 3, HUZHOU, facility=2),
              scan("departed", 3.5, HUZHOU, facility=2),  # 30 minutes later: a new departure
              scan("departed", 3 + 5 / 60, "440100", facility=7)]  # another place
    assert parcel_state(events).duplicates == 0


def test_out_of_order_arrival_gives_the_same_state():
    shuffled = [NORMAL[6], NORMAL[2], NORMAL[0], NORMAL[5], NORMAL[1], NORMAL[4], NORMAL[3]]
    assert parcel_state(shuffled) == parcel_state(NORMAL)


def test_a_late_hub_scan_after_delivery_does_not_move_the_state_back():
    events = [*NORMAL, scan("arrived", 35)]  # a hub's upload, stamped after the delivery
    result = parcel_state(events)
    assert (result.state, result.since) == ("delivered", at(34))
    assert states(result)[-1] == ("at_hub", False)


def test_a_hub_scan_in_the_last_mile_is_out_of_sequence():
    events = [*NORMAL[:6], scan("arrived", 32)]  # skewed clock at the station
    result = parcel_state(events)
    assert (result.state, states(result)[-1]) == ("out_for_delivery", ("at_hub", False))


def test_same_second_scans_follow_the_journey():
    events = [scan("departed", 0, HUZHOU), scan("picked_up", 0, HUZHOU)]
    assert [s.code for s in parcel_state(events).scans] == ["picked_up", "departed"]
    assert parcel_state(events).state == "in_transit"


def test_failed_attempt_then_delivered():
    events = [*NORMAL[:6], scan("failed_attempt", 33, note="电话无人接听"),
              scan("out_for_delivery", 55), scan("delivered", 57)]
    result = parcel_state(events)
    assert (result.state, result.attempts, result.reason) == ("delivered", 1, None)
    failed = parcel_state(events[:7])
    assert (failed.state, failed.reason, failed.responsibility, failed.reason_label) == (
        "failed_attempt", "unreachable", "recipient", "Recipient unreachable")
    assert failed.terminal is False


def test_locker_then_collected():
    events = [*NORMAL[:6], scan("in_locker", 32), scan("delivered", 50)]
    assert parcel_state(events[:7]).state == "in_locker"
    result = parcel_state(events)
    assert (result.state, result.since) == ("delivered", at(50))


def test_exception_then_returned_keeps_the_cause():
    events = [*NORMAL[:3], scan("exception", 24, note="地址不详"), scan("returned", 48, HUZHOU),
              scan("departed", 49, "440100"), scan("arrived", 60, HUZHOU),
              scan("delivered", 62, HUZHOU)]  # the way back, delivered to the shipper
    exception = parcel_state(events[:4])
    assert (exception.state, exception.reason, exception.responsibility) == (
        "exception", "address_unknown", "shipper")
    result = parcel_state(events)
    assert (result.state, result.since, result.terminal) == ("returned", at(48), True)
    assert (result.reason, result.responsibility) == ("address_unknown", "shipper")
    assert [c for _, c in states(result)][-3:] == [False, False, False]


def test_a_return_after_delivery_counts():
    events = [*NORMAL, scan("returned", 80, note="收件人拒收")]
    result = parcel_state(events)
    assert (result.state, result.reason, result.responsibility) == (
        "returned", "refused", "recipient")


def test_an_exception_after_delivery_does_not_undo_it():
    result = parcel_state([*NORMAL, scan("exception", 40, note="包装破损")])
    assert result.state == "delivered"
    assert result.scans[-1].reason == "damaged" and not result.scans[-1].counted


def test_after_an_exception_the_parcel_may_go_back_to_a_hub():
    events = [*NORMAL[:6], scan("exception", 32, note="错分"), scan("arrived", 40, "440100"),
              scan("out_for_delivery", 45)]
    assert parcel_state(events[:7]).responsibility == "carrier"
    assert parcel_state(events[:8]).state == "at_hub"  # missorted, back at the hub: counts
    assert parcel_state(events).state == "out_for_delivery"


def test_lost_by_a_scan_and_found_again():
    events = [*NORMAL[:3], scan("exception", 30, note="邮件丢失")]
    lost = parcel_state(events)
    assert (lost.state, lost.reason, lost.responsibility) == ("lost", "lost", "carrier")
    assert parcel_state([*events, scan("departed", 50, "440100")]).state == "in_transit"


def test_lost_when_silent_for_a_week_in_flight_only():
    events = NORMAL[:3]
    assert parcel_state(events, as_of=at(20) + LOST_AFTER).state == "at_hub"
    lost = parcel_state(events, as_of=at(21) + LOST_AFTER)
    assert (lost.state, lost.since, lost.reason) == ("lost", at(20) + LOST_AFTER, "lost")
    assert parcel_state(NORMAL, as_of=at(1000)).state == "delivered"  # final stays final


@pytest.mark.parametrize("held,state", [(scan("exception", 33, note="地址不详"), "exception"),
                                        (scan("failed_attempt", 33), "failed_attempt"),
                                        (scan("in_locker", 33), "in_locker")])
def test_a_parcel_held_for_a_known_reason_is_not_lost_by_silence(held, state):
    result = parcel_state([*NORMAL[:6], held], as_of=at(33) + 3 * LOST_AFTER)
    assert result.state == state


def test_no_scans_at_all():
    result = parcel_state([])
    assert (result.state, result.label, result.since, result.terminal, result.scans) == (
        None, "No scans yet", None, False, ())
    assert parcel_state([], as_of=at(1000)).state is None


def test_an_unknown_code_is_refused():
    with pytest.raises(ValueError, match="teleported"):
        parcel_state([scan("teleported", 1)])
