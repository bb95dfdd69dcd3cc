"""Tracking (邮件跟踪): a parcel's scans → one state, its timeline, a customer's parcels in flight.

The state machine (:func:`parcel_state`) is pure: it takes the scans of one parcel in any order,
with repeats, and answers one state of :data:`PARCEL_STATES`. The readers below it
(:func:`timeline`, :func:`in_flight`) fetch the scans from the lake in the caller's scope and
hand them to it; the pages, the JSON API and ``jiqun parcel`` show what they return.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ibis
from sqlalchemy import select
from sqlalchemy.orm import Session

from jiqun.errors import NotFound
from jiqun.geo.divisions import division
from jiqun.lake.engine import events as lake_events
from jiqun.lake.engine import waybills as lake_waybills
from jiqun.service.reasons import Reason, reason, reason_of_note
from jiqun.store.models import Customer, Market, ParcelException
from jiqun.store.scope import Scope

# -- the states -----------------------------------------------------------------------------------
PARCEL_STATES = (
    "picked_up",  # 揽收
    "in_transit",  # 运输中 (departed)
    "at_hub",  # 到达 (arrived at a hub or the delivery station)
    "out_for_delivery",  # 派送中
    "delivered",  # 妥投 (also: collected from a locker)
    "failed_attempt",  # 投递失败
    "in_locker",  # 入柜 / 驿站, waiting to be collected
    "exception",  # 异常
    "returned",  # 退回
    "lost",  # 丢失 (said so by a scan, or silent for LOST_AFTER)
)
STATE_OF_CODE = {
    "picked_up": "picked_up", "departed": "in_transit", "arrived": "at_hub",
    "out_for_delivery": "out_for_delivery", "delivered": "delivered",
    "failed_attempt": "failed_attempt", "in_locker": "in_locker", "exception": "exception",
    "returned": "returned",
}
STATE_LABELS = {
    "picked_up": "Picked up", "in_transit": "In transit", "at_hub": "Arrived at hub",
    "out_for_delivery": "Out for delivery", "delivered": "Delivered",
    "failed_attempt": "Delivery attempt failed", "in_locker": "In a locker or station",
    "exception": "Exception", "returned": "Returned", "lost": "Lost",
}
NO_SCAN_LABEL = "No scans yet"
TERMINAL = frozenset({"delivered", "returned"})
MOVING = frozenset({"picked_up", "in_transit", "at_hub", "out_for_delivery"})  # may go silent
# How far along the journey a state is: first mile, trunk (departing and arriving alternate
# from hub to hub), last mile (attempts, lockers, new attempts alternate), delivered, returned.
# Exception and lost have no phase: they overlay the phase the parcel had reached.
PHASE = {"picked_up": 0, "in_transit": 1, "at_hub": 1, "out_for_delivery": 2,
         "failed_attempt": 2, "in_locker": 2, "delivered": 3, "returned": 4}
PROBLEM_CODES = frozenset({"exception", "failed_attempt", "returned"})
# Scans at the same time sort in the order of the journey (a pick-up and its departure).
_CODE_ORDER = {code: n for n, code in enumerate(
    ("picked_up", "departed", "arrived", "out_for_delivery", "failed_attempt", "in_locker",
     "exception", "delivered", "returned"))}

DUPLICATE_WINDOW = dt.timedelta(minutes=10)  # a scanner's double read, or a re-upload
# A parcel in flight without any scan for a week is treated as lost: a domestic parcel crosses
# the country in 3–5 days, and no leg or dwell of a working network lasts seven.
LOST_AFTER = dt.timedelta(days=7)
IN_FLIGHT_DAYS = 30  # a customer's parcels in flight: those shipped in the last 30 days


# -- the scans ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Scan:
    """One tracking event as the lake records it (``EVENTS``)."""

    at: dt.datetime
    code: str  # lake event code (lake.schemas.EVENT_CODES)
    location: str | None = None  # adcode
    facility_id: int | None = None
    note: str | None = None

    @classmethod
    def of(cls, row: Scan | Mapping[str, Any]) -> Scan:
        if isinstance(row, Scan):
            return row
        return cls(at=row["event_time"], code=row["event_code"],
                   location=row.get("location_adcode"), facility_id=row.get("facility_id"),
                   note=row.get("note"))


@dataclass(frozen=True)
class TrackedScan:
    """A scan of the timeline, normalised: its state, its reason, and whether it counted."""

    at: dt.datetime
    code: str
    state: str
    label: str  # msgid of the state
    location: str | None
    place: str | None  # the location's name
    facility_id: int | None
    note: str | None
    reason: str | None  # reason code of a problem scan (exception, failed attempt, return)
    responsibility: str | None
    counted: bool  # False: out of sequence, the state did not follow it (see parcel_state)


@dataclass(frozen=True)
class ParcelState:
    """Where a parcel stands: one state of :data:`PARCEL_STATES` (``None``: no scan yet)."""

    state: str | None
    label: str  # msgid
    since: dt.datetime | None  # when the parcel entered the state
    last_scan_at: dt.datetime | None
    reason: str | None  # why, for exception / failed_attempt / returned / lost
    reason_label: str | None
    responsibility: str | None  # carrier / shipper / recipient / force_majeure / unknown
    terminal: bool
    attempts: int  # failed delivery attempts
    duplicates: int  # scans dropped as repeats
    scans: tuple[TrackedScan, ...] = field(default=())


def _sorted(events: Iterable[Scan | Mapping[str, Any]]) -> list[Scan]:
    scans = [Scan.of(e) for e in events]
    unknown = {s.code for s in scans} - STATE_OF_CODE.keys()
    if unknown:
        raise ValueError(f"unknown event codes {sorted(unknown)}")
    return sorted(scans, key=lambda s: (s.at, _CODE_ORDER[s.code]))


def dedupe(scans: list[Scan]) -> tuple[list[Scan], int]:
    """Sorted scans without repeats: a scan is dropped when the same code was scanned at the
    same time, or within :data:`DUPLICATE_WINDOW` at the same place (adcode and facility)."""
    kept: list[Scan] = []
    last: dict[str, Scan] = {}
    for scan in scans:
        before = last.get(scan.code)
        if before is not None and (
            before.at == scan.at
            or (scan.at - before.at <= DUPLICATE_WINDOW and before.location == scan.location
                and before.facility_id == scan.facility_id)):
            continue
        kept.append(scan)
        last[scan.code] = scan
    return kept, len(scans) - len(kept)


def _reason_of(scan: Scan) -> Reason | None:
    return reason_of_note(scan.note) if scan.code in PROBLEM_CODES else None


def _place(adcode: str | None) -> str | None:
    found = division(adcode) if adcode else None
    return found.name if found else None


def parcel_state(events: Iterable[Scan | Mapping[str, Any]], as_of: dt.datetime | None = None,
                 lost_after: dt.timedelta = LOST_AFTER) -> ParcelState:
    """The state of one parcel from its scans (揽收 → 发出 → 到达 → 派送 → 妥投 …).

    ``events`` are :class:`Scan` objects or lake rows (``event_time``, ``event_code``,
    ``location_adcode``, ``facility_id``, ``note``), in any order. The rules:

    1. **Order**: scans are read by their time, not by their arrival; scans at the same second
       in the order of the journey (picked up before departed …). A scan uploaded late takes its
       place in time, so it cannot overwrite a later state.
    2. **Duplicates**: a repeat of a code at the same time, or within
       :data:`DUPLICATE_WINDOW` (10 min) at the same place, is dropped (``duplicates``).
    3. **No going back**: each state has a phase — first mile, trunk (``in_transit`` and
       ``at_hub`` alternate hub by hub), last mile (``out_for_delivery``, ``failed_attempt``,
       ``in_locker`` alternate), delivered, returned. A scan of an earlier phase than the one
       reached (a hub scan after the parcel went out for delivery, a skewed clock) is shown but
       does not move the state (``counted`` False). An **exception** scan is the exception:
       after it the parcel may legitimately go back (missorted, sent back to the hub), so the
       next scan of any phase counts.
    4. **Terminal states**: ``delivered`` stays delivered unless a later ``returned`` scan says
       the parcel went back (refused after signing); ``returned`` stays returned (the scans of
       the way back to the shipper are shown, the state does not change).
    5. **Lost**: an exception scan whose note says so (丢失, 遗失) makes the parcel ``lost``;
       and, given ``as_of``, a parcel on the move (picked up, in transit, at a hub, out for
       delivery) without any scan for ``lost_after`` (7 days) is ``lost`` from then on. One
       held for a known reason (an exception, a failed attempt, in a locker) keeps its state
       and its cause however long it waits. A later movement scan finds it again.
    6. **Reasons**: the note of a problem scan (exception, failed attempt, return) becomes a
       reason with who is responsible (:mod:`jiqun.service.reasons`); a return without its own
       note takes the reason of the problem before it. Other states have no reason.

    No scan at all: state ``None`` ("No scans yet").
    """
    scans, duplicates = dedupe(_sorted(events))
    state: str | None = None
    since: dt.datetime | None = None
    phase = -1
    current: Reason | None = None  # reason of the current problem state
    last_problem: Reason | None = None
    attempts = 0
    tracked: list[TrackedScan] = []
    for scan in scans:
        new = STATE_OF_CODE[scan.code]
        why = _reason_of(scan)
        if state in TERMINAL:
            counted = state == "delivered" and new == "returned"
        elif new == "exception":
            counted = True
        else:
            counted = PHASE[new] >= phase
        if counted:
            if new == "exception":
                new = "lost" if why is not None and why.code == "lost" else "exception"
                phase = min(phase, 0)  # whatever comes next may count (rule 3)
            else:
                phase = PHASE[new]
            if new == "failed_attempt":
                attempts += 1
            if new == "returned" and (why is None or why.code == "unknown"):
                why = last_problem or why
            state, since = new, scan.at
            current = why if new in ("exception", "lost", "failed_attempt", "returned") else None
            if why is not None and why.code != "unknown":
                last_problem = why
        tracked.append(TrackedScan(
            at=scan.at, code=scan.code, state=STATE_OF_CODE[scan.code],
            label=STATE_LABELS[STATE_OF_CODE[scan.code]], location=scan.location,
            place=_place(scan.location), facility_id=scan.facility_id, note=scan.note,
            reason=why.code if why else None,
            responsibility=why.responsibility.value if why else None, counted=counted))
    last_at = scans[-1].at if scans else None
    if (as_of is not None and state in MOVING and last_at is not None
            and as_of - last_at > lost_after):
        state, since, current = "lost", last_at + lost_after, reason("lost")
    return ParcelState(
        state=state, label=STATE_LABELS[state] if state else NO_SCAN_LABEL, since=since,
        last_scan_at=last_at, reason=current.code if current else None,
        reason_label=current.label if current else None,
        responsibility=current.responsibility.value if current else None,
        terminal=state in TERMINAL, attempts=attempts, duplicates=duplicates,
        scans=tuple(tracked))


# -- the readers ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class WaybillFacts:
    waybill_no: str
    customer_id: int | None
    customer_name: str | None
    market_id: int | None
    market_name: str | None
    product: str
    ship_time: dt.datetime
    weight_kg: float
    origin: str | None  # place names
    destination: str | None
    dest_adcode: str  # the finest division known: county, city or province


@dataclass(frozen=True)
class ExceptionRow:
    """A :class:`~jiqun.store.models.ParcelException` of the parcel, as the timeline shows it."""

    kind: str
    responsibility: str
    reason: str | None
    reason_label: str | None
    leg: str | None
    detected_at: dt.datetime
    promised_at: dt.datetime | None
    cleared_at: dt.datetime | None
    case_id: int | None


@dataclass(frozen=True)
class ParcelTimeline:
    waybill: WaybillFacts
    state: ParcelState
    exceptions: tuple[ExceptionRow, ...]
    as_of: dt.datetime | None  # the end of the lake's last day: what "silent for a week" counts to


def lake_now(con: ibis.BaseBackend, lake: Path | None, scope: Scope) -> dt.datetime | None:
    """The end of the last day with waybills in the scope (the lake's "now"; demo data stop on
    a day in the past, so the clock of the machine would call every parcel lost)."""
    from jiqun.kpi.overview import data_date  # the one definition of the data date

    day = data_date(con, Path(lake) if lake else _configured_lake(), scope)
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time()) if day else None


def _configured_lake() -> Path:
    from jiqun.config import get_settings

    return Path(get_settings().lake_path)


def _facts(row: dict, session: Session | None) -> WaybillFacts:
    customer = market = None
    if session is not None:  # scoped: a customer outside the reader's subtree has no name here
        if row["customer_id"] is not None:
            customer = session.execute(select(Customer.name).where(
                Customer.id == row["customer_id"])).scalar_one_or_none()
        if row["market_id"] is not None:
            market = session.execute(select(Market.name).where(
                Market.id == row["market_id"])).scalar_one_or_none()
    dest = row["dest_county"] or row["dest_city"] or row["dest_province"]
    return WaybillFacts(
        waybill_no=row["waybill_no"], customer_id=row["customer_id"], customer_name=customer,
        market_id=row["market_id"], market_name=market, product=row["product"],
        ship_time=row["ship_time"], weight_kg=float(row["weight_kg"]),
        origin=_place(row["origin_adcode"]), destination=_place(dest) or dest, dest_adcode=dest)


def _exception_row(r: ParcelException) -> ExceptionRow:
    return ExceptionRow(
        kind=r.kind.value, responsibility=r.responsibility.value, reason=r.reason,
        reason_label=reason(r.reason).label if r.reason else None, leg=r.leg,
        detected_at=r.detected_at, promised_at=r.promised_at, cleared_at=r.cleared_at,
        case_id=r.case_id)


def _exceptions(session: Session, waybill_no: str) -> tuple[ExceptionRow, ...]:
    rows = session.scalars(select(ParcelException).where(
        ParcelException.waybill_no == waybill_no).order_by(ParcelException.detected_at,
                                                           ParcelException.id)).all()
    return tuple(_exception_row(r) for r in rows)


def _open_lost(session: Session, numbers: list[str]) -> dict[str, ExceptionRow]:
    rows = session.scalars(select(ParcelException).where(
        ParcelException.waybill_no.in_(numbers), ParcelException.kind == "lost",
        ParcelException.cleared_at.is_(None))).all()
    return {r.waybill_no: _exception_row(r) for r in rows}


def _scans_of(con: ibis.BaseBackend, lake: Path | None, scope: Scope, numbers: list[str],
              since: dt.datetime | None = None) -> dict[str, list[dict]]:
    """The scans of ``numbers`` from ``since`` on (callers pass a day before the earliest ship
    time, as a pick-up may be stamped before the waybill): the engine skips the files and row
    groups of earlier months by their statistics."""
    ev = lake_events(con, lake, scope)
    ev = ev.filter(ev.waybill_no.isin(numbers))
    if since is not None:
        ev = ev.filter(ev.event_time >= since)
    out: dict[str, list[dict]] = {n: [] for n in numbers}
    for row in con.to_pyarrow(ev).to_pylist():
        out[row["waybill_no"]].append(row)
    return out


def timeline(con: ibis.BaseBackend, lake: Path | None, scope: Scope, waybill_no: str, *,
             session: Session | None = None, as_of: dt.datetime | None = None) -> ParcelTimeline:
    """One parcel: its waybill, its scans and state, and the exceptions the store holds for it
    (read through ``session``, scoped like the reader; none without a session).

    A waybill that is not in the lake or lies outside ``scope`` is :class:`NotFound`. ``as_of``
    (default: the end of the lake's last day) decides when a silent parcel counts as lost."""
    wb = lake_waybills(con, lake, scope)
    rows = con.to_pyarrow(wb.filter(wb.waybill_no == waybill_no).limit(1)).to_pylist()
    if not rows:
        raise NotFound(waybill_no)
    as_of = as_of or lake_now(con, lake, scope)
    shipped = rows[0]["ship_time"]
    state = parcel_state(_scans_of(con, lake, scope, [waybill_no], shipped - dt.timedelta(
        days=1))[waybill_no], as_of)
    exceptions = _exceptions(session, waybill_no) if session is not None else ()
    if (state.state is not None and not state.terminal
            and any(e.kind == "lost" and e.cleared_at is None for e in exceptions)):
        state = _lost_by_detection(state, exceptions)
    return ParcelTimeline(waybill=_facts(rows[0], session), state=state,
                          exceptions=exceptions, as_of=as_of)


def _lost_by_detection(state: ParcelState, exceptions: tuple[ExceptionRow, ...]) -> ParcelState:
    """The detector's open ``lost`` exception (a lost bag) overrides a state still in flight."""
    found = next(e for e in exceptions if e.kind == "lost" and e.cleared_at is None)
    why = reason(found.reason) if found.reason else reason("lost")
    return dataclasses.replace(state, state="lost", label=STATE_LABELS["lost"],
                             since=found.detected_at, reason=why.code, reason_label=why.label,
                             responsibility=found.responsibility)


@dataclass(frozen=True)
class InFlightParcel:
    waybill_no: str
    product: str
    ship_time: dt.datetime
    destination: str | None
    age_hours: float  # since shipping, to the lake's now
    state: str | None
    label: str  # msgid
    since: dt.datetime | None
    last_scan_at: dt.datetime | None
    reason: str | None
    reason_label: str | None
    responsibility: str | None


@dataclass(frozen=True)
class InFlight:
    customer_id: int
    as_of: dt.datetime | None
    days: int
    total: int
    items: tuple[InFlightParcel, ...]


def in_flight(con: ibis.BaseBackend, lake: Path | None, scope: Scope, customer_id: int, *,
              limit: int = 50, offset: int = 0, as_of: dt.datetime | None = None,
              days: int = IN_FLIGHT_DAYS, session: Session | None = None) -> InFlight:
    """A customer's parcels not yet delivered or returned, oldest first, with their state and
    age: those shipped in the ``days`` before ``as_of`` (default: the lake's now) that have no
    delivered or returned scan — by the rules of :func:`parcel_state` such a scan is final —
    and are not marked delivered or returned on the waybill itself (a waybill imported with its
    outcome, whose scans were never loaded).

    The list is counted in the engine; the state is computed for the page shown only. With
    ``session`` (scoped like the reader) an open ``lost`` exception of the detector makes a
    parcel lost, as on its timeline."""
    as_of = as_of or lake_now(con, lake, scope)
    if as_of is None:
        return InFlight(customer_id, None, days, 0, ())
    wb = lake_waybills(con, lake, scope)
    wb = wb.filter((wb.customer_id == customer_id)
                   & (wb.ship_time >= as_of - dt.timedelta(days=days)) & (wb.ship_time < as_of)
                   & ~wb.status.isin(("delivered", "returned")) & wb.delivered_time.isnull())
    ev = lake_events(con, lake, scope)
    done = ev.filter(ev.event_code.isin(("delivered", "returned"))
                     & (ev.event_time >= as_of - dt.timedelta(days=days + 1))).select("waybill_no")
    open_ = wb.anti_join(done, "waybill_no")
    total = int(con.execute(open_.count()))
    page = open_.order_by([open_.ship_time, open_.waybill_no]).limit(limit, offset=offset)
    rows = con.to_pyarrow(page.select("waybill_no", "product", "ship_time", "dest_province",
                                      "dest_city", "dest_county")).to_pylist()
    scans = _scans_of(con, lake, scope, [r["waybill_no"] for r in rows],
                      min(r["ship_time"] for r in rows) - dt.timedelta(days=1)) if rows else {}
    lost = _open_lost(session, [r["waybill_no"] for r in rows]) if session and rows else {}
    items = []
    for r in rows:
        s = parcel_state(scans[r["waybill_no"]], as_of)
        if r["waybill_no"] in lost and s.state is not None and not s.terminal:
            s = _lost_by_detection(s, (lost[r["waybill_no"]],))
        dest = r["dest_county"] or r["dest_city"] or r["dest_province"]
        items.append(InFlightParcel(
            waybill_no=r["waybill_no"], product=r["product"], ship_time=r["ship_time"],
            destination=_place(dest) or dest,
            age_hours=round((as_of - r["ship_time"]).total_seconds() / 3600, 1),
            state=s.state, label=s.label, since=s.since, last_scan_at=s.last_scan_at,
            reason=s.reason, reason_label=s.reason_label, responsibility=s.responsibility))
    return InFlight(customer_id, as_of, days, total, tuple(items))


__all__ = [
    "IN_FLIGHT_DAYS", "LOST_AFTER", "PARCEL_STATES", "STATE_LABELS", "InFlight",
    "InFlightParcel", "ParcelState", "ParcelTimeline", "Scan", "TrackedScan", "WaybillFacts",
    "in_flight", "parcel_state", "timeline",
]
