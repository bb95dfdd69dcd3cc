"""Lake (OLAP): waybills and tracking events as Parquet, read through Ibis."""

from jiqun.lake.engine import connect, events, memtable, waybills
from jiqun.lake.schemas import EVENT_DATASET, EVENTS, WAYBILL_DATASET, WAYBILLS
from jiqun.lake.writer import AppendResult, append

__all__ = [
    "EVENTS", "EVENT_DATASET", "WAYBILLS", "WAYBILL_DATASET", "AppendResult", "append",
    "connect", "events", "memtable", "waybills",
]
