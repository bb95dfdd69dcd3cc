"""``build_demo``: replace the store and the lake with a freshly generated demo province."""

from __future__ import annotations

import datetime as dt
import shutil
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import MetaData, func, select

from jiqun.demo.archive import ArchiveBuilder, build_org
from jiqun.demo.incidents import TRUTH_FOLDER, TRUTH_SCHEMA, write_truth
from jiqun.demo.merchants import generate_merchants
from jiqun.demo.places import DEMO_LOGINS
from jiqun.demo.scale import get_scale
from jiqun.demo.timeline import Timeline
from jiqun.demo.waybills import month_waybills
from jiqun.lake import DAILY_DATASET, EVENT_DATASET, LANES_DATASET, WAYBILL_DATASET, append
from jiqun.lake.writer import JOURNAL, STAGING
from jiqun.store import Store
from jiqun.store.models import Base

# Months are buffered and appended together up to this many waybills: bounded memory, few files.
APPEND_ROWS = 250_000


@dataclass
class DemoSummary:
    """What a demo build made: scale and factor, period, rows per table, waybills, time."""

    scale: str
    seed: int
    volume_factor: float
    start: dt.date
    until: dt.date
    store_rows: dict[str, int] = field(default_factory=dict)
    waybills: int = 0
    events: int = 0
    seconds: float = 0.0
    logins: list[tuple[str, str, str]] = field(default_factory=lambda: list(DEMO_LOGINS))


def reset_store(store: Store) -> None:
    """Drop every table (alembic_version too) and migrate again from nothing."""
    meta = MetaData()
    meta.reflect(store.engine)
    meta.drop_all(store.engine)
    store.upgrade()


def reset_lake(lake_path: Path) -> None:
    """Remove every dataset of the lake, the aggregates and any unfinished append with them:
    a rebuild must not keep months (or a pending journal) of an earlier build."""
    for name in (WAYBILL_DATASET.name, EVENT_DATASET.name, DAILY_DATASET.name,
                 LANES_DATASET.name, JOURNAL, STAGING, TRUTH_FOLDER):
        shutil.rmtree(Path(lake_path) / name, ignore_errors=True)


def _progress(enabled: bool):
    if not enabled:
        return nullcontext(None)
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(),
    )


def build_demo(
    store: Store,
    lake_path: Path,
    scale: str = "small",
    seed: int = 7,
    until: dt.date | None = None,
    progress: bool = True,
) -> DemoSummary:
    """Build the demo province into ``store`` and ``lake_path``, replacing what is there.

    Deterministic: the same ``(scale, seed, until)`` gives the same data. ``until`` (default
    yesterday) is the last day of the two years of history.
    """
    began = time.perf_counter()
    factor = get_scale(scale).volume_factor
    until = until or dt.date.today() - dt.timedelta(days=1)
    tl = Timeline.ending(until)
    rng = np.random.default_rng(seed)
    lake_path = Path(lake_path)
    summary = DemoSummary(scale, seed, factor, tl.start, until)
    with _progress(progress) as bar:
        step = bar.add_task("store: archive", total=3) if bar else None
        reset_store(store)
        reset_lake(lake_path)
        _advance(bar, step)
        merchants = generate_merchants(rng, tl.start, until)
        with store.transaction() as session:
            units = build_org(session)
            result = ArchiveBuilder(rng, tl, merchants, factor, units).build()
            _advance(bar, step)
            result.rows.write(session)
        _advance(bar, step)
        months = tl.months()
        task = bar.add_task("lake: waybills", total=len(months)) if bar else None
        number = 1
        pending: list[tuple[pa.Table, pa.Table]] = []
        truth = [TRUTH_SCHEMA.empty_table()]
        for k, month in enumerate(months):
            waybills, events, injected = month_waybills(rng, tl, merchants, result.keys, month,
                                                        factor, number)
            number += len(waybills)
            truth.append(injected)
            pending.append((waybills, events))
            if k == len(months) - 1 or sum(len(w) for w, _ in pending) >= APPEND_ROWS:
                summary.waybills, summary.events = _flush(lake_path, pending, summary)
                pending = []
            _advance(bar, task)
        write_truth(lake_path, pa.concat_tables(truth))
    summary.store_rows = store_row_counts(store)
    summary.seconds = round(time.perf_counter() - began, 1)
    return summary


def _flush(lake: Path, pending: list[tuple[pa.Table, pa.Table]], summary: DemoSummary):
    """Append buffered months to the lake in one go (fewer, larger Parquet files)."""
    waybills = pa.concat_tables([w for w, _ in pending])
    events = pa.concat_tables([e for _, e in pending])
    added = append(lake, WAYBILL_DATASET, waybills).added
    added_events = append(lake, EVENT_DATASET, events).added if len(events) else 0
    return summary.waybills + added, summary.events + added_events


def _advance(bar, task) -> None:
    if bar is not None:
        bar.advance(task)


def store_row_counts(store: Store) -> dict[str, int]:
    """Rows per table of the store's domain."""
    with store.session() as session:
        return {
            table.name: session.execute(select(func.count()).select_from(table)).scalar_one()
            for table in Base.metadata.sorted_tables
        }
