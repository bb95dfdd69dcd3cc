"""Incidents injected into the demo's last days, with the truth recorded beside the lake.

The exception detector (:mod:`jiqun.service.exceptions`) is measured against what the demo knows
happened. Every incident is placed relative to ``end``, the midnight after the last day of the
history (the moment detection runs in ``benchmarks/exceptions.py``). True parameters:

- **stall** (滞留) at 稍岗前置集包中心 (the departure facility of the Yucheng market, HA-SG):
  parcels picked up from ``end − 30 h`` to ``end − 10 h`` leave the centre
  :data:`STALL_HOURS` (48 h) later than their truck would have.
- **lost bag** (丢袋): the largest bag (same departure facility, destination city and departure
  hour) to a city in the origin's own province that left between ``end − 40 h`` and
  ``end − 24 h``; none of its parcels is scanned again.
- **late line** (专线晚发): every departure of the Yucheng → Guangzhou dedicated line scheduled on
  the day ``end − 72 h … end − 48 h`` leaves :data:`LATE_LINE_HOURS` (40 h) late.
- **late parcels** (个别延误): :data:`LATE_PARCEL_SHARE` of the parcels that left between
  ``end − 60 h`` and ``end − 16 h`` spend :data:`LATE_PARCEL_HOURS` (36 h) more on the road
  (missorted, sent the long way); the truth lists those that should have arrived by ``end``
  (the others are not late yet).
- **missing scan** (漏扫): :data:`MISSING_SCAN_SHARE` of the parcels arrived in the last two days
  lose their arrival scan.
- **locker** (驿站未取): :data:`UNCOLLECTED_SHARE` of the parcels put in a locker in the last
  five days (and at least two days before ``end``) are not collected for 3–6 days.

Besides the incidents, the truth lists what the scans themselves say at ``end`` (a failed
attempt or 异常 as the last scan, a return) and parcels that, with no incident, truly miss
their promise (``natural``: already past it at ``end``, or a failed attempt pushed it a day). The file is
``<lake>/_demo/incidents.parquet`` (:data:`TRUTH_SCHEMA`), deterministic by seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

H = 3600
STALL_HOURS = 48
STALL_WINDOW = (-30, -10)  # hours before ``end``: pickups
STALL_FACILITY_CODE = "F-HA-SG-JB"
LOST_WINDOW = (-40, -24)  # departures
LATE_LINE_HOURS = 40
LATE_LINE_WINDOW = (-72, -48)  # scheduled departures
LATE_LINE_CITY = "440100"  # 虞城 → 广州
LATE_PARCEL_SHARE = 0.01
LATE_PARCEL_HOURS = 36
LATE_PARCEL_WINDOW = (-60, -16)  # departures
MISSING_SCAN_SHARE = 0.01
UNCOLLECTED_SHARE = 0.10
UNCOLLECTED_HOURS = (72, 144)

TRUTH_DAYS = 30  # scan truths of parcels picked up this recently (the detector's lookback)
TRUTH_FOLDER = "_demo"
TRUTH_FILE = "incidents.parquet"
TRUTH_SCHEMA = pa.schema([
    pa.field("waybill_no", pa.string(), nullable=False),
    pa.field("incident", pa.string(), nullable=False),  # stall, lost_bag, late_line, …
    pa.field("kind", pa.string(), nullable=False),  # the ExceptionKind a detector should find
    pa.field("began_at", pa.timestamp("s"), nullable=False),  # when the incident began
    pa.field("promised_at", pa.timestamp("s")),
    pa.field("will_deliver_at", pa.timestamp("s")),  # the generated delivery, maybe after end
])

NONE = -1  # an event that does not happen (times are epoch seconds)


@dataclass
class Legs:
    """The scan times of the recent parcels (epoch seconds, :data:`NONE` when absent), with
    what the incidents need to pick their parcels. Mutated in place by :func:`inject`."""

    picked: np.ndarray
    departed: np.ndarray
    arrived: np.ndarray
    out: np.ndarray
    failed: np.ndarray
    out_again: np.ndarray
    locker: np.ndarray
    delivered: np.ndarray
    problem: np.ndarray
    returned: np.ndarray
    arrival_scanned: np.ndarray  # bool: False when the arrival scan is missing
    departure_facility: np.ndarray
    dest_city: np.ndarray  # str adcodes
    same_province: np.ndarray  # bool
    line_city: np.ndarray  # str: the dedicated line's destination city, "" when none
    promised: np.ndarray  # epoch seconds

    def reached(self) -> np.ndarray:
        """When the parcel reached the recipient (delivered or in the locker), NONE if never."""
        return np.where(self.locker != NONE, self.locker, self.delivered)

    def shift_from_departure(self, rows: np.ndarray, hours: float) -> None:
        for name in ("departed", "arrived", "out", "failed", "out_again", "locker", "delivered",
                     "problem", "returned"):
            _shift(getattr(self, name), rows, hours)

    def shift_from_arrival(self, rows: np.ndarray, hours: float) -> None:
        for name in ("arrived", "out", "failed", "out_again", "locker", "delivered", "problem",
                     "returned"):
            _shift(getattr(self, name), rows, hours)


def _shift(times: np.ndarray, rows: np.ndarray, hours: float) -> None:
    hit = rows[times[rows] != NONE]
    times[hit] += int(hours * H)


def inject(rng: np.random.Generator, legs: Legs, numbers: pa.Array, end: int,
           stall_facility: int | None, normal: np.ndarray) -> pa.Table:
    """Apply the incidents to ``legs`` (rows where ``normal``: no 异常/return of their own)
    and return the truth of this batch of parcels (:data:`TRUTH_SCHEMA`)."""
    truth: list[tuple[np.ndarray, str, np.ndarray]] = []  # rows, incident, began
    taken = ~normal.copy()

    def take(rows: np.ndarray, incident: str, start) -> None:
        taken[rows] = True
        truth.append((rows, incident, np.broadcast_to(np.asarray(start, "int64"), rows.shape).copy()))

    def window(times, bounds) -> np.ndarray:
        return (times != NONE) & (times >= end + bounds[0] * H) & (times < end + bounds[1] * H)

    if stall_facility is not None:
        rows = np.flatnonzero(window(legs.picked, STALL_WINDOW)
                              & (legs.departure_facility == stall_facility) & ~taken)
        legs.shift_from_departure(rows, STALL_HOURS)
        take(rows, "stall", end + STALL_WINDOW[0] * H)
    on_line = np.flatnonzero(window(legs.departed, LATE_LINE_WINDOW)
                             & (legs.line_city == LATE_LINE_CITY) & ~taken)
    if len(on_line):
        start = legs.departed[on_line].min()
        legs.shift_from_departure(on_line, LATE_LINE_HOURS)
        take(on_line, "late_line", start)
    # the whole bag vanishes: its parcels with an 异常 or a return of their own too
    bag = _lost_bag(legs, window(legs.departed, LOST_WINDOW) & legs.same_province
                    & ~(taken & normal))
    if len(bag):
        for name in ("arrived", "out", "failed", "out_again", "locker", "delivered", "problem",
                     "returned"):
            getattr(legs, name)[bag] = NONE
        take(bag, "lost_bag", legs.departed[bag])
    road = np.flatnonzero(window(legs.departed, LATE_PARCEL_WINDOW) & ~taken
                          & (rng.random(len(taken)) < LATE_PARCEL_SHARE))
    due = legs.arrived[road].copy()  # the delay begins when the parcel should have arrived
    legs.shift_from_arrival(road, LATE_PARCEL_HOURS)
    take(road[due <= end], "late_parcel", due[due <= end])
    taken[road] = True
    missing = np.flatnonzero(window(legs.arrived, (-48, 0)) & ~taken
                             & (rng.random(len(taken)) < MISSING_SCAN_SHARE)
                             & (legs.out != NONE) & (legs.out <= end) & (legs.reached() > end))
    legs.arrival_scanned[missing] = False
    take(missing, "missing_scan", legs.arrived[missing])
    lockers = np.flatnonzero(window(legs.locker, (-120, -48)) & ~taken
                             & (rng.random(len(taken)) < UNCOLLECTED_SHARE))
    legs.delivered[lockers] = legs.locker[lockers] + (
        rng.uniform(*UNCOLLECTED_HOURS, len(lockers)) * H).astype("int64")
    take(lockers, "locker", legs.locker[lockers])
    return _truth_table(legs, numbers, end, truth, normal, taken)


def _lost_bag(legs: Legs, candidates: np.ndarray) -> np.ndarray:
    """Rows of the largest bag among ``candidates`` (facility, destination city, hour)."""
    rows = np.flatnonzero(candidates)
    if len(rows) == 0:
        return rows
    hour = legs.departed[rows] // H
    keys = np.char.add(np.char.add(legs.departure_facility[rows].astype(str), ">"),
                       np.char.add(legs.dest_city[rows].astype(str), np.char.add("@", hour.astype(str))))
    values, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    return rows[inverse == np.argmax(counts)]


def _expected(legs: Legs, rows: np.ndarray, end: int) -> np.ndarray:
    """The kind a detector should find: ``late`` when the parcel will miss its promise (or
    has), else ``stalled``."""
    reach = legs.reached()[rows]
    late = (reach == NONE) | (reach > legs.promised[rows])
    return np.where(late, "late", "stalled")


INCIDENT_KIND = {"lost_bag": "lost", "missing_scan": "missing_scan",
                 "locker": "locker_uncollected"}


def _truth_table(legs: Legs, numbers: pa.Array, end: int, truth, normal, taken) -> pa.Table:
    parts = []
    for rows, incident, began in truth:
        seen = (legs.delivered[rows] > end) if incident == "locker" else _in_flight(legs, rows, end)
        rows, began = rows[seen], began[seen]
        kind = (np.full(len(rows), INCIDENT_KIND[incident]) if incident in INCIDENT_KIND
                else _expected(legs, rows, end))
        parts.append((rows, incident, kind, began))
    parts += _scan_truth(legs, end, normal, taken)
    tables = [
        pa.table({
            "waybill_no": numbers.take(pa.array(rows)),
            "incident": pa.repeat(pa.scalar(incident), len(rows)),
            "kind": pa.array(kind.astype(str), pa.string()),
            "began_at": pa.array(began.astype("datetime64[s]"), pa.timestamp("s")),
            "promised_at": pa.array(legs.promised[rows].astype("datetime64[s]"), pa.timestamp("s")),
            "will_deliver_at": _maybe(legs.reached()[rows]),
        }, schema=TRUTH_SCHEMA)
        for rows, incident, kind, began in parts if len(rows)
    ]
    return pa.concat_tables(tables) if tables else TRUTH_SCHEMA.empty_table()


def _maybe(times: np.ndarray) -> pa.Array:
    return pa.array(times.astype("datetime64[s]"), pa.timestamp("s"), mask=times == NONE)


def _in_flight(legs: Legs, rows: np.ndarray, end: int) -> np.ndarray:
    """Picked up and not yet with the recipient at ``end``: what detection can see."""
    reach = legs.reached()[rows]
    return (legs.picked[rows] != NONE) & (legs.picked[rows] <= end) & ((reach == NONE) | (reach > end))


def _scan_truth(legs: Legs, end: int, normal: np.ndarray, taken: np.ndarray):
    """What the scans themselves say at ``end``, and parcels late with no incident."""
    def at(times):
        return (times != NONE) & (times <= end)

    reach = legs.reached()
    still = (reach == NONE) | (reach > end)
    recent = at(legs.picked) & (legs.picked >= end - TRUTH_DAYS * 24 * H)
    returned = np.flatnonzero(recent & at(legs.returned))
    problem = np.flatnonzero(recent & at(legs.problem) & ~at(legs.returned))
    failed = np.flatnonzero(recent & normal & at(legs.failed) & ~at(legs.out_again) & still)
    # late with no incident, as far as ``end`` can tell: the promise already missed, or a
    # failed attempt that pushes the delivery past it (a failed attempt still to come is no
    # one's to foresee)
    late = (reach == NONE) | (reach > legs.promised)
    knowable = (legs.promised <= end) | at(legs.failed)
    natural = np.flatnonzero(recent & normal & ~taken & still & late & knowable)
    return [
        (returned, "return", np.full(len(returned), "returned"), legs.returned[returned]),
        (problem, "exception_scan", np.full(len(problem), "failed_delivery"), legs.problem[problem]),
        (failed, "failed_attempt", np.full(len(failed), "failed_delivery"), legs.failed[failed]),
        (natural, "natural", np.full(len(natural), "late"), legs.picked[natural]),
    ]


def write_truth(lake: Path, truth: pa.Table) -> Path:
    """Write the truth next to the datasets (not a dataset: readers of the lake skip it)."""
    folder = Path(lake) / TRUTH_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / TRUTH_FILE
    pq.write_table(truth.sort_by([("incident", "ascending"), ("waybill_no", "ascending")]), path)
    return path


def read_truth(lake: Path) -> pa.Table:
    return pq.read_table(Path(lake) / TRUTH_FOLDER / TRUTH_FILE)
