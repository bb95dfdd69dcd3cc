"""Exceptions found before the customer calls (S1): every parcel in flight, at once, in DuckDB.

At ``as_of`` each parcel picked up in the last ``lookback_days`` and not yet with its recipient
is in one leg (:mod:`jiqun.service.legs`). It is

- **stalled** when the time spent in its leg exceeds that leg's own ``stall_percentile`` (p99 by
  default) for its lane × product × weekday (or the coarser group it falls back to);
- **lost** when it is stalled on the road together with its whole bag (parcels of one departure:
  facility, destination city, hour) and no parcel of the bag was scanned since;
- **late** when it has missed its promise (:mod:`jiqun.service.promise`) or will: ``as_of`` + what
  is left of its leg + the p50 of the legs after it is beyond the promised time;
- **missing_scan** when a later scan came without the arrival (or departure) scan before it;
- **failed_delivery** when its last scan is a failed attempt (投递失败) or an 异常;
- **returned** when it was returned (退回);
- **locker_uncollected** when it has waited in a locker / station longer than ``locker_hours``.

:func:`run_detection` writes the findings into ``ParcelException`` (one row per waybill × kind),
updating the rows found before and clearing (``cleared_at``) those whose parcel moved on.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import ClassVar

import pyarrow as pa
from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from jiqun.config import FileRules
from jiqun.geo import zone_of
from jiqun.permissions import Action, require
from jiqun.service.legs import (
    KEYS,
    LEG_LABELS,
    LEGS,
    LEVELS,
    LegRules,
    learned,
    register_lake_views,
)
from jiqun.service.promise import ZONES, PromiseRules
from jiqun.service.reasons import reason, reason_of_note
from jiqun.store.models import ExceptionKind, ParcelException, Responsibility
from jiqun.store.scope import Scope, session_scope

K = ExceptionKind


class DetectionRules(FileRules):
    """Rules of the exception detector (``[service.exceptions]`` of the rules file)."""

    toml_table: ClassVar[tuple[str, ...]] = ("service", "exceptions")

    lookback_days: int = Field(30, ge=1, le=120, description="Parcels picked up this recently "
                               "and not delivered are in flight.")
    stall_percentile: str = Field("p99", pattern="^p(50|90|95|99)$",
                                  description="A leg beyond this percentile of its own group "
                                  "is stalled.")
    late_percentile: str = Field("p50", pattern="^p(50|90|95|99)$",
                                 description="The remaining legs are predicted at this "
                                 "percentile when checking the promise.")
    lost_min_bag: int = Field(2, ge=1, description="A bag needs this many parcels to be called "
                              "lost (a single parcel on the road is stalled).")
    locker_hours: float = Field(48, gt=0, description="Hours in a locker / station (驿站) "
                                "before a parcel is uncollected.")
    past_overrun_hours: float = Field(
        4, ge=0, description="A leg already done counts as a stall when it overran its "
        "percentile by at least this many hours (a few minutes over is no exception).")
    retry_hours: float = Field(24, gt=0, description="After a failed attempt the next try "
                               "comes this many hours later (the next day's wave).")


@dataclass
class Detected:
    """One finding: exactly the columns of ``ParcelException`` that detection sets."""

    waybill_no: str
    org_unit_id: int
    customer_id: int | None
    market_id: int | None
    kind: ExceptionKind
    responsibility: Responsibility
    reason: str | None
    leg: str | None
    facility_id: int | None
    bag_key: str | None
    detected_at: dt.datetime
    promised_at: dt.datetime | None
    details: dict | None


def _ts(value: dt.datetime) -> str:
    return f"TIMESTAMP '{value:%Y-%m-%d %H:%M:%S}'"


def _stats_join(alias: str, leg_expr: str, dow_expr: str) -> tuple[str, str]:
    """LEFT JOINs of the learned stats at every level, and the COALESCE of their columns."""
    joins, levels = [], []
    for i, level in enumerate(LEVELS):
        cond = [f"s{alias}{i}.leg = {leg_expr}", f"s{alias}{i}.level = {i}"]
        for col in level:
            cond.append(f"s{alias}{i}.{col} = " + (dow_expr if col == "dow" else f"f.{col}"))
        joins.append(f"LEFT JOIN jq_stats s{alias}{i} ON " + " AND ".join(cond))
        levels.append(f"s{alias}{i}")
    return "\n".join(joins), levels


def _coalesce(levels: list[str], column: str) -> str:
    return "coalesce(" + ", ".join(f"{s}.{column}" for s in levels) + ")"


def _level(levels: list[str]) -> str:
    return "CASE " + " ".join(f"WHEN {s}.leg IS NOT NULL THEN {i}" for i, s in
                              enumerate(levels)) + " END"


def detection_sql(as_of: dt.datetime, rules: DetectionRules) -> str:
    """Every parcel in flight at ``as_of`` with its leg, thresholds and prediction (one row
    per parcel; the kinds are decided by the flags)."""
    since = as_of - dt.timedelta(days=rules.lookback_days)
    rank = "CASE event_code " + " ".join(
        f"WHEN '{c}' THEN {i}" for i, c in enumerate(
            ("picked_up", "departed", "arrived", "out_for_delivery", "failed_attempt",
             "in_locker", "exception", "returned", "delivered"))) + " END"
    join_cur, cur = _stats_join("c", "f.leg", "f.dow")
    join_next, nxt = _stats_join("n", "r.leg", "f.dow")
    join_past, past = _stats_join("d", "d.leg", "CAST(dayofweek(d.started) AS INTEGER)")
    order = "CASE r.leg " + " ".join(f"WHEN '{leg}' THEN {i}" for i, leg in enumerate(LEGS)) + " END"
    cur_order = "CASE f.leg " + " ".join(f"WHEN '{leg}' THEN {i}" for i, leg in enumerate(LEGS)) + " END"
    stall, late = rules.stall_percentile, rules.late_percentile
    return f"""
    WITH e AS (
      SELECT *, {rank} AS code_rank FROM jq_events
      WHERE event_time <= {_ts(as_of)} AND event_time >= {_ts(since)}
    ),
    p AS (
      SELECT waybill_no,
        arg_max(event_code, epoch(event_time) * 10 + code_rank) AS last_code,
        max(event_time) AS last_time,
        arg_max(note, epoch(event_time) * 10 + code_rank) AS last_note,
        min(event_time) FILTER (event_code = 'picked_up') AS picked,
        min(event_time) FILTER (event_code = 'departed') AS departed,
        min(event_time) FILTER (event_code = 'arrived') AS arrived,
        min(event_time) FILTER (event_code = 'out_for_delivery') AS out_first,
        arg_min(facility_id, event_time) FILTER (event_code = 'departed') AS dep_facility,
        arg_min(facility_id, event_time) FILTER (event_code = 'picked_up') AS pick_facility,
        count(*) FILTER (event_code = 'arrived') AS arrivals,
        count(*) FILTER (event_code IN ('out_for_delivery', 'failed_attempt', 'in_locker',
                                         'delivered')) AS after_arrival,
        max(event_time) FILTER (event_code = 'in_locker') AS locker_time,
        bool_or(event_code = 'delivered') AS delivered,
        bool_or(event_code = 'returned') AS returned,
        max(event_time) FILTER (event_code = 'returned') AS returned_time,
        arg_max(note, event_time) FILTER (event_code IN ('exception', 'failed_attempt'))
          AS problem_note
      FROM e GROUP BY waybill_no
    ),
    f AS (
      SELECT p.*, w.org_unit_id, w.customer_id, w.market_id, w.product, w.dest_province,
             w.dest_city, w.ship_time,
             CASE p.last_code WHEN 'picked_up' THEN 'origin_dwell' WHEN 'departed' THEN 'linehaul'
               WHEN 'arrived' THEN 'hub_dwell' WHEN 'out_for_delivery' THEN 'last_mile' END AS leg,
             CAST(dayofweek(p.last_time) AS INTEGER) AS dow,
             date_diff('second', p.last_time, {_ts(as_of)}) / 3600.0 AS elapsed_h,
             coalesce(p.picked, w.ship_time)
               + to_seconds(CAST(z.promise_hours * 3600 AS BIGINT)) AS promised_at,
             CASE WHEN p.departed IS NOT NULL THEN
               'F' || coalesce(CAST(p.dep_facility AS VARCHAR), '?') || '>'
               || coalesce(w.dest_city, w.dest_province) || '@'
               || strftime(p.departed, '%Y-%m-%dT%H') END AS bag_key
      FROM p JOIN jq_waybills w USING (waybill_no)
      LEFT JOIN jq_zones z ON z.origin_province = substr(w.origin_adcode, 1, 2) || '0000'
        AND z.dest_province = w.dest_province AND z.product = w.product
      WHERE NOT p.delivered AND p.picked IS NOT NULL
        AND w.ship_time >= {_ts(since - dt.timedelta(days=7))}
    ),
    cur AS (
      SELECT f.waybill_no, {_coalesce(cur, stall)} AS stall_h, {_coalesce(cur, late)} AS cur_h,
             {_coalesce(cur, 'parcels')} AS group_parcels, {_level(cur)} AS group_level
      FROM f {join_cur}
      WHERE f.leg IS NOT NULL
    ),
    rest AS (
      SELECT f.waybill_no, sum({_coalesce(nxt, late)}) AS rest_h
      FROM f JOIN (VALUES {", ".join(f"('{leg}')" for leg in LEGS)}) r(leg)
        ON {order} > {cur_order}
      {join_next}
      WHERE f.leg IS NOT NULL
      GROUP BY f.waybill_no
    ),
    dl AS (
      SELECT waybill_no, 'origin_dwell' AS leg, picked AS started, departed AS stopped FROM f
      UNION ALL SELECT waybill_no, 'linehaul', departed, arrived FROM f
      UNION ALL SELECT waybill_no, 'hub_dwell', arrived, out_first FROM f
    ),
    dh AS (
      SELECT f.waybill_no, d.leg, date_diff('second', d.started, d.stopped) / 3600.0 AS hours,
             {_coalesce(past, stall)} AS threshold_h
      FROM f JOIN dl d USING (waybill_no)
      {join_past}
      WHERE d.started IS NOT NULL AND d.stopped IS NOT NULL
    ),
    done AS (
      SELECT waybill_no, arg_max(leg, hours - threshold_h) AS past_leg,
             arg_max(hours, hours - threshold_h) AS past_hours,
             arg_max(threshold_h, hours - threshold_h) AS past_threshold_h
      FROM dh WHERE hours > threshold_h + {float(rules.past_overrun_hours)}
      GROUP BY waybill_no
    ),
    bags AS (
      SELECT bag_key, count(*) AS bag_parcels,
             count(*) FILTER (last_code = 'departed') AS bag_on_road
      FROM f WHERE bag_key IS NOT NULL GROUP BY bag_key
    )
    SELECT f.*, cur.stall_h, cur.cur_h, cur.group_parcels, cur.group_level,
           coalesce(rest.rest_h, 0) AS rest_h, bags.bag_parcels, bags.bag_on_road,
           done.past_leg, done.past_hours, done.past_threshold_h,
           {_ts(as_of)} + to_seconds(CAST(3600 * (greatest(coalesce(cur.cur_h, 0) - f.elapsed_h, 0)
             + coalesce(rest.rest_h, 0)) AS BIGINT)) AS predicted_at
    FROM f
    LEFT JOIN cur USING (waybill_no)
    LEFT JOIN rest USING (waybill_no)
    LEFT JOIN done USING (waybill_no)
    LEFT JOIN bags USING (bag_key)
    """


def _zones_table(con, promise: PromiseRules) -> None:
    """(origin province × destination province × product) → promised hours, for the pairs in
    the lake (zones are a property of the pair, :func:`jiqun.geo.zone_of`)."""
    pairs = con.raw_sql(
        "SELECT DISTINCT substr(origin_adcode, 1, 2) || '0000' AS o, dest_province AS d "
        "FROM jq_waybills WHERE origin_adcode IS NOT NULL AND dest_province IS NOT NULL"
    ).fetchall()
    rows = {"origin_province": [], "dest_province": [], "product": [], "promise_hours": []}
    for o, d in pairs:
        zone = zone_of(o, d).value
        for product in ("express", "parcel", "standard"):
            rows["origin_province"].append(o)
            rows["dest_province"].append(d)
            rows["product"].append(product)
            rows["promise_hours"].append(promise.hours(product, zone))
    con.con.register("jq_zones", pa.table(rows, schema=pa.schema([
        ("origin_province", pa.string()), ("dest_province", pa.string()),
        ("product", pa.string()), ("promise_hours", pa.float64())])))


def flight_table(con, lake: Path | None, scope: Scope, as_of: dt.datetime,
                 rules: DetectionRules | None = None, legs: LegRules | None = None,
                 promise: PromiseRules | None = None) -> pa.Table:
    """The parcels in flight at ``as_of`` with their leg, thresholds and prediction (Arrow)."""
    rules, legs = rules or DetectionRules.configured(), legs or LegRules.configured()
    promise = promise or PromiseRules.configured()
    if con.name != "duckdb":  # the statement is DuckDB SQL (FILTER, arg_max, GROUPING SETS)
        raise NotImplementedError("exception detection runs on the duckdb engine")
    as_of = as_of.replace(tzinfo=None, microsecond=0)
    register_lake_views(con, lake, scope)
    stats = learned(con, lake, scope, as_of, legs)
    stats = stats.filter(pa.compute.greater_equal(stats["parcels"], legs.min_parcels))
    con.con.register("jq_stats", stats)
    _zones_table(con, promise)
    return con.con.sql(detection_sql(as_of, rules)).to_arrow_table()


def detect(con, lake: Path | None, scope: Scope, as_of: dt.datetime,
           rules: DetectionRules | None = None, legs: LegRules | None = None,
           promise: PromiseRules | None = None) -> list[Detected]:
    """Every exception of the parcels in ``scope`` in flight at ``as_of``. Rules not given are
    those of the configured rules file (``[service.exceptions]``, ``[service.legs]``,
    ``[service.promise]``), else the defaults."""
    rules = rules or DetectionRules.configured()
    as_of = as_of.replace(tzinfo=None, microsecond=0)
    flight = flight_table(con, lake, scope, as_of, rules, legs, promise)
    return [d for row in flight.to_pylist() for d in _findings(row, as_of, rules)]


def _detected(row: dict, as_of: dt.datetime, kind: ExceptionKind, responsibility: Responsibility,
              reason_code: str | None, leg: str | None = None, facility: int | None = None,
              **details) -> Detected:
    return Detected(
        waybill_no=row["waybill_no"], org_unit_id=row["org_unit_id"],
        customer_id=row["customer_id"], market_id=row["market_id"], kind=kind,
        responsibility=responsibility, reason=reason_code, leg=leg, facility_id=facility,
        bag_key=row["bag_key"], detected_at=as_of, promised_at=row["promised_at"],
        details={k: (round(v, 1) if isinstance(v, float) else v) for k, v in details.items()
                 if v is not None} or None,
    )


def _iso(value) -> str | None:
    return value.isoformat(timespec="minutes") if value is not None else None


def _findings(row: dict, as_of: dt.datetime, rules: DetectionRules) -> list[Detected]:
    """The kinds one in-flight parcel shows (flags of :func:`detection_sql`)."""
    out: list[Detected] = []
    code, leg = row["last_code"], row["leg"]
    if row["returned"]:
        why = reason_of_note(row["problem_note"])
        out.append(_detected(row, as_of, K.RETURNED, why.responsibility, why.code,
                             returned_at=_iso(row["returned_time"])))
        return out
    if code in ("exception", "failed_attempt"):
        why = reason_of_note(row["last_note"])
        out.append(_detected(row, as_of, K.FAILED_DELIVERY, why.responsibility, why.code,
                             scan=code, note=row["last_note"], at=_iso(row["last_time"])))
    if code == "in_locker" and row["elapsed_h"] > rules.locker_hours:
        out.append(_detected(row, as_of, K.LOCKER_UNCOLLECTED, Responsibility.RECIPIENT, None,
                             hours_in_locker=row["elapsed_h"], limit_h=rules.locker_hours))
    if row["after_arrival"] and not row["arrivals"] and row["departed"] is not None:
        out.append(_detected(row, as_of, K.MISSING_SCAN, Responsibility.CARRIER, None,
                             LEG_LABELS["linehaul"], missing="arrived"))
    promised = row["promised_at"]
    if code == "failed_attempt" and promised is not None:
        retry = row["last_time"] + dt.timedelta(hours=rules.retry_hours)
        if max(as_of, retry) > promised:
            out.append(_detected(row, as_of, K.LATE, Responsibility.CARRIER, None,
                                 LEG_LABELS["last_mile"], predicted_at=_iso(retry),
                                 missed=as_of > promised))
    if leg is None:
        return out
    facility = row["dep_facility"] if leg in ("origin_dwell", "linehaul") else None
    stall_h = row["stall_h"]
    common = dict(elapsed_h=row["elapsed_h"], threshold_h=stall_h,
                  percentile=rules.stall_percentile, group_level=row["group_level"],
                  group_parcels=row["group_parcels"])
    now_stalled = stall_h is not None and row["elapsed_h"] > stall_h
    if not now_stalled and row["past_leg"] is not None:  # an earlier leg took too long
        out.append(_detected(row, as_of, K.STALLED, Responsibility.CARRIER,
                             reason("held_at_hub").code if row["past_leg"] != "linehaul" else None,
                             LEG_LABELS[row["past_leg"]], row["dep_facility"]
                             if row["past_leg"] != "hub_dwell" else None,
                             past_hours=row["past_hours"], threshold_h=row["past_threshold_h"],
                             percentile=rules.stall_percentile))
    if now_stalled:
        on_road = (leg == "linehaul" and row["bag_parcels"] is not None
                   and row["bag_parcels"] >= rules.lost_min_bag
                   and row["bag_on_road"] == row["bag_parcels"])
        if on_road:
            out.append(_detected(row, as_of, K.LOST, Responsibility.CARRIER, None,
                                 LEG_LABELS[leg], facility, bag_parcels=row["bag_parcels"],
                                 **common))
        else:
            held = reason("held_at_hub").code if leg in ("origin_dwell", "hub_dwell") else None
            out.append(_detected(row, as_of, K.STALLED, Responsibility.CARRIER, held,
                                 LEG_LABELS[leg], facility, **common))
    predicted = row["predicted_at"]
    if promised is not None and (as_of > promised or predicted > promised):
        out.append(_detected(row, as_of, K.LATE, Responsibility.CARRIER, None, LEG_LABELS[leg],
                             facility, predicted_at=_iso(predicted), missed=as_of > promised,
                             elapsed_h=row["elapsed_h"]))
    return out


FIELDS = ("org_unit_id", "customer_id", "market_id", "responsibility", "reason", "leg",
          "facility_id", "bag_key", "promised_at", "details")


def run_detection(session: Session, con, lake: Path | None, as_of: dt.datetime) -> dict:
    """Detect at ``as_of`` in the session's scope and write ``ParcelException`` rows: a new
    finding inserts, a known one updates (its first ``detected_at`` kept), a row whose parcel
    no longer shows its kind is cleared (``cleared_at``), one that shows it again reopens.
    Idempotent: a second run at the same ``as_of`` changes nothing."""
    require(session, Action.EXCEPTIONS_RUN)
    as_of = as_of.replace(tzinfo=None, microsecond=0)
    found = {(d.waybill_no, d.kind): d for d in detect(con, lake, session_scope(session), as_of)}
    known = {(r.waybill_no, r.kind): r for r in session.scalars(
        select(ParcelException).where(ParcelException.cleared_at.is_(None)))}
    missing = {key for key in found if key not in known}
    if missing:
        numbers = sorted({w for w, _ in missing})
        for chunk in range(0, len(numbers), 500):
            for r in session.scalars(select(ParcelException).where(
                    ParcelException.waybill_no.in_(numbers[chunk:chunk + 500]))):
                known.setdefault((r.waybill_no, r.kind), r)
    new = cleared = 0
    for key, d in found.items():
        row = known.get(key)
        if row is None:
            session.add(ParcelException(**asdict(d)))
            new += 1
            continue
        for name in FIELDS:
            if getattr(row, name) != getattr(d, name):
                setattr(row, name, getattr(d, name))
        if row.cleared_at is not None:
            row.cleared_at, row.detected_at = None, d.detected_at
    for key, row in known.items():
        if key not in found and row.cleared_at is None:
            row.cleared_at = as_of
            cleared += 1
    session.flush()
    return {"found": len(found), "new": new, "cleared": cleared}


__all__ = ["Detected", "DetectionRules", "detect", "run_detection", "flight_table",
           "ZONES", "KEYS"]
