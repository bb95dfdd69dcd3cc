"""Expected time of each leg and of the dwell at each hub, learned from history (percentiles).

A parcel's journey is four legs, each from one scan to the next:

- ``origin_dwell``  picked_up → departed: waiting at the outlet or consolidation centre for a truck
- ``linehaul``      departed → arrived: the road to the destination hub
- ``hub_dwell``     arrived → out_for_delivery: sorting and waiting for a delivery wave
- ``last_mile``     out_for_delivery → the first try (delivered, failed_attempt or in_locker)

Each leg's hours are summarised as p50, p90, p95 and p99 by lane (origin market × destination
province) × product × weekday of the leg's start, with coarser groups beside them (lane ×
product, destination province × product, product, the leg alone), so a group with too few
parcels (:attr:`LegRules.min_parcels`) falls back to the next coarser one. One DuckDB query with
``GROUPING SETS`` over the lake's events, never a Python loop over parcels.

Only legs that *started* at least ``settle_days`` before ``as_of`` are learned from: what is
going wrong right now must not teach the model that it is normal.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from pathlib import Path
from typing import ClassVar

import pyarrow as pa
from pydantic import Field

from jiqun.config import FileRules, get_settings
from jiqun.lake import events, waybills
from jiqun.lake.schemas import EVENT_DATASET, WAYBILL_DATASET
from jiqun.lake.writer import dataset_files
from jiqun.store.scope import Scope

LEGS = ("origin_dwell", "linehaul", "hub_dwell", "last_mile")
LEG_SCANS = {  # the scan a leg starts with → the leg
    "picked_up": "origin_dwell", "departed": "linehaul", "arrived": "hub_dwell",
    "out_for_delivery": "last_mile",
}
LEG_LABELS = {  # what ParcelException.leg shows
    "origin_dwell": "picked_up→departed", "linehaul": "departed→arrived",
    "hub_dwell": "arrived→out_for_delivery", "last_mile": "out_for_delivery→delivered",
}
PERCENTILES = ("p50", "p90", "p95", "p99")
# Group levels, finest first: the columns each level keeps (the others are NULL).
LEVELS = (
    ("market_id", "dest_province", "product", "dow"),
    ("market_id", "dest_province", "product"),
    ("dest_province", "product"),
    ("product",),
    (),
)
KEYS = ("market_id", "dest_province", "product", "dow")


class LegRules(FileRules):
    """How leg times are learned (``[service.legs]`` of the rules file)."""

    toml_table: ClassVar[tuple[str, ...]] = ("service", "legs")

    history_days: int = Field(56, ge=7, le=400, description="Days of legs learned from.")
    settle_days: int = Field(
        7, ge=0, le=30, description="Legs that started this recently are not learned from "
        "(an incident of the last days must not teach the model that it is normal).")
    min_parcels: int = Field(
        100, ge=1, description="Parcels a group needs (a p99 of fewer is little more than "
        "their maximum); fewer: the next coarser group is used.")


def milestones_sql(events_view: str, as_of: dt.datetime, since: dt.datetime) -> str:
    """One row per waybill with the first time of each scan (events up to ``as_of``)."""
    return f"""
    SELECT waybill_no,
      min(event_time) FILTER (event_code = 'picked_up') AS picked,
      min(event_time) FILTER (event_code = 'departed') AS departed,
      min(event_time) FILTER (event_code = 'arrived') AS arrived,
      min(event_time) FILTER (event_code = 'out_for_delivery') AS out_first,
      min(event_time) FILTER (event_code IN ('delivered', 'failed_attempt', 'in_locker'))
        AS first_try
    FROM {events_view}
    WHERE event_time <= TIMESTAMP '{as_of:%Y-%m-%d %H:%M:%S}'
      AND event_time >= TIMESTAMP '{since:%Y-%m-%d %H:%M:%S}'
    GROUP BY waybill_no
    """


def learn_sql(events_view: str, waybills_view: str, as_of: dt.datetime, rules: LegRules) -> str:
    since = as_of - dt.timedelta(days=rules.history_days)
    settled = as_of - dt.timedelta(days=rules.settle_days)
    legs = " UNION ALL ".join(
        f"SELECT waybill_no, '{leg}' AS leg, {start} AS started, "
        f"date_diff('second', {start}, {stop}) / 3600.0 AS hours FROM m "
        f"WHERE {start} IS NOT NULL AND {stop} IS NOT NULL AND {stop} >= {start}"
        for leg, start, stop in (("origin_dwell", "picked", "departed"),
                                 ("linehaul", "departed", "arrived"),
                                 ("hub_dwell", "arrived", "out_first"),
                                 ("last_mile", "out_first", "first_try"))
    )
    sets = ", ".join("(leg" + "".join(f", {c}" for c in level) + ")" for level in LEVELS)
    # one list-valued quantile per group: one sort of the group's hours, not one per percentile
    fractions = ", ".join(str(int(p[1:]) / 100) for p in PERCENTILES)
    quantiles = ", ".join(f"q[{i + 1}] AS {p}" for i, p in enumerate(PERCENTILES))
    return f"""
    WITH m AS ({milestones_sql(events_view, as_of, since)}),
    l AS ({legs}),
    g AS (
      SELECT l.leg, w.market_id, w.dest_province, w.product,
             CAST(dayofweek(l.started) AS INTEGER) AS dow, l.hours
      FROM l JOIN {waybills_view} w USING (waybill_no)
      WHERE l.started < TIMESTAMP '{settled:%Y-%m-%d %H:%M:%S}'
        AND w.ship_time >= TIMESTAMP '{since - dt.timedelta(days=30):%Y-%m-%d %H:%M:%S}'
    )
    SELECT leg, grouping_id, market_id, dest_province, product, dow, parcels, {quantiles}
    FROM (
      SELECT leg, CAST(GROUPING(market_id, dest_province, product, dow) AS INTEGER)
               AS grouping_id, market_id, dest_province, product, dow, count(*) AS parcels,
             approx_quantile(hours, [{fractions}]) AS q
      FROM g
      GROUP BY GROUPING SETS ({sets})
    )
    """


def _level_of_grouping() -> dict[int, int]:
    """DuckDB's GROUPING bitmask (1 = column rolled up, first column highest) → level index."""
    out = {}
    for i, level in enumerate(LEVELS):
        mask = 0
        for bit, col in enumerate(KEYS):
            if col not in level:
                mask |= 1 << (len(KEYS) - 1 - bit)
        out[mask] = i
    return out


def register_lake_views(con, lake: Path | None, scope: Scope, prefix: str = "jq") -> tuple[str, str]:
    """The scoped events and waybills as views of ``con`` (DuckDB), named ``<prefix>_events``
    and ``<prefix>_waybills``."""
    ev, wb = f"{prefix}_events", f"{prefix}_waybills"
    con.create_view(ev, events(con, lake, scope), overwrite=True)
    con.create_view(wb, waybills(con, lake, scope), overwrite=True)
    return ev, wb


def learn(con, lake: Path | None, scope: Scope, as_of: dt.datetime,
          rules: LegRules | None = None) -> pa.Table:
    """Percentiles of every leg by group (:data:`LEVELS`), from the legs of ``scope``'s parcels
    that started in the ``history_days`` before ``as_of``.

    Columns: leg, level (0 finest … 4 the leg alone), market_id, dest_province, product, dow
    (0 Sunday … 6 Saturday), parcels, p50, p90, p95, p99 (hours).
    """
    rules = rules or LegRules()
    ev, wb = register_lake_views(con, lake, scope)
    return learn_from_views(con, ev, wb, as_of, rules)


def learn_from_views(con, events_view: str, waybills_view: str, as_of: dt.datetime,
                     rules: LegRules) -> pa.Table:
    table = con.con.sql(learn_sql(events_view, waybills_view, as_of, rules)).to_arrow_table()
    levels = _level_of_grouping()
    level = pa.array([levels[g] for g in table["grouping_id"].to_pylist()], pa.int32())
    table = table.drop_columns(["grouping_id"]).append_column("level", level)
    return table.select(["leg", "level", *KEYS, "parcels", *PERCENTILES]).sort_by(
        [("leg", "ascending"), ("level", "ascending")])


# Learned stats by (lake files, scope, day, rules): legs that started ``settle_days`` ago change
# only with the day and the lake's files, so an hourly detection learns once a day.
_CACHE: OrderedDict[tuple, pa.Table] = OrderedDict()
_CACHE_SIZE = 16
_LOCK = threading.Lock()


def _lake_signature(lake: Path | None) -> tuple:
    lake = Path(lake or get_settings().lake_path)
    files = dataset_files(lake, EVENT_DATASET) + dataset_files(lake, WAYBILL_DATASET)
    return (str(lake.resolve()), tuple((f.name, f.stat().st_size, f.stat().st_mtime_ns)
                                       for f in files))


def learned(con, lake: Path | None, scope: Scope, as_of: dt.datetime,
            rules: LegRules) -> pa.Table:
    """:func:`learn_from_views` over the views of :func:`register_lake_views`, kept per day of
    ``as_of`` for the same lake files, scope and rules."""
    key = (_lake_signature(lake), scope, as_of.date(),
           rules.model_dump_json())
    with _LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    # a whole day of history: the same stats for every hour of the day
    day = dt.datetime.combine(as_of.date(), dt.time())
    table = learn_from_views(con, "jq_events", "jq_waybills", day, rules)
    with _LOCK:
        _CACHE[key] = table
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return table
