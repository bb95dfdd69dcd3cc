"""Lake (OLAP): waybills and tracking events as Parquet, read through Ibis."""

from jiqun.lake.aggregates import DAILY, DAILY_DATASET, LANES, LANES_DATASET
from jiqun.lake.engine import connect, daily, events, lanes, memtable, scope_filter, waybills
from jiqun.lake.schemas import EVENT_DATASET, EVENTS, WAYBILL_DATASET, WAYBILLS
from jiqun.lake.writer import AppendResult, append

__all__ = [
    "DAILY", "DAILY_DATASET", "EVENTS", "LANES", "LANES_DATASET", "EVENT_DATASET", "WAYBILLS", "WAYBILL_DATASET", "AppendResult", "append",
    "connect", "daily", "events", "lanes", "memtable", "scope_filter", "waybills",
]
