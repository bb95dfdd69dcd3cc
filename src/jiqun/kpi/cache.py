"""Figures computed once per data version: what many users open at once is worked out once.

The web app keeps one :class:`FigureCache` per process. A figure (a KPI table, the dashboard's
trend) is stored under its name, its arguments, the viewer's scope and the **data version**: a
fingerprint of the lake's files and of the store rows the figures read. Any import, aggregate
refresh or store edit changes the version, so a cached figure is never served for data that has
changed since; old entries simply age out of the LRU.

A burst of requests for the same missing figure computes it once: the others wait for that
result (``cachetools.cached`` with a condition) instead of each running the same DuckDB query.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Hashable, Iterable
from pathlib import Path
from typing import TypeVar

from cachetools import LRUCache, cached
from sqlalchemy import Engine, func, select

from jiqun.lake.aggregates import DAILY_DATASET, LANES_DATASET
from jiqun.store.models import (
    AuditEntry,
    Customer,
    Grid,
    Market,
    MarketVolumeEstimate,
    OrgUnit,
    Target,
    Team,
    User,
)

T = TypeVar("T")
AGGREGATES = (DAILY_DATASET, LANES_DATASET)

# The store tables behind the figures. Every ORM insert, update and delete of them writes an
# audit entry in the same transaction (jiqun.store.audit), so the newest audit entry changes
# with each; the row counts and highest ids catch Core inserts and deletes as well. (A Core
# UPDATE of these tables that bypasses the ORM would go unseen: the code has none.)
_COUNTED = (Customer, Grid, Market, MarketVolumeEstimate, OrgUnit, Target, Team, User)


def lake_version(lake: Path, datasets: Iterable[str] | None = None) -> tuple:
    """Name, size, modification time and inode of every Parquet file of ``datasets`` (by
    default the daily aggregates, which every cached figure reads, never the raw waybills;
    :func:`all_datasets` names every dataset of the lake): an append refreshes the
    aggregates, a rebuild replaces them (files are replaced, never edited in place), either
    changes the version."""
    names = [d.name for d in AGGREGATES] if datasets is None else datasets
    found = []
    for name in names:
        for month in _entries(Path(lake) / name):
            if month.name.startswith("month=") and month.is_dir():
                found.extend((name, month.name, f.name, *_stamp(f))
                             for f in _entries(Path(month.path)) if f.name.endswith(".parquet"))
    return tuple(sorted(found))


def all_datasets(lake: Path) -> list[str]:
    """Every dataset folder of the lake (waybills, events and their aggregates)."""
    return sorted(e.name for e in _entries(Path(lake))
                  if e.is_dir() and not e.name.startswith(("_", ".")))


def _entries(folder: Path) -> list[os.DirEntry]:
    try:
        with os.scandir(folder) as it:
            return list(it)
    except FileNotFoundError:  # no such dataset (yet), or a month replaced while we looked
        return []


def _stamp(entry: os.DirEntry) -> tuple[int, int, int]:
    try:
        st = entry.stat()
    except FileNotFoundError:  # replaced while we looked: the next request sees the new one
        return (-1, -1, -1)
    return (st.st_size, st.st_mtime_ns, st.st_ino)


_STORE_FINGERPRINT = select(
    select(func.max(AuditEntry.id)).scalar_subquery(),
    *(select(func.count()).select_from(m).scalar_subquery() for m in _COUNTED),
    *(select(func.max(m.id)).scalar_subquery() for m in _COUNTED),
)


def store_version(engine: Engine) -> tuple:
    """A fingerprint of the store rows the figures read, in one query on its own connection
    (Core, outside any scoped session: the fingerprint is the whole store's)."""
    with engine.connect() as connection:
        return tuple(connection.execute(_STORE_FINGERPRINT).one())


def data_version(engine: Engine, lake: Path) -> str:
    """The version of everything the figures are computed from (a digest of both parts)."""
    parts = repr((lake_version(lake), store_version(engine))).encode()
    return hashlib.blake2b(parts, digest_size=16).hexdigest()


class FigureCache:
    """An LRU of figures shared by the request threads of one process; ``maxsize=0``: off."""

    def __init__(self, maxsize: int = 1024):
        self.maxsize = maxsize
        self._entries: LRUCache = LRUCache(maxsize=max(maxsize, 1))
        self._computed = 0  # figures computed (not served from the cache), for the tests
        self._count_lock = threading.Lock()
        # The key is the first argument; the second computes the figure on a miss.
        self._get = cached(self._entries, key=lambda key, _compute: key,
                           condition=threading.Condition())(self._compute)

    def _compute(self, _key: Hashable, compute: Callable[[], T]) -> T:
        with self._count_lock:
            self._computed += 1
        return compute()

    @property
    def computed(self) -> int:
        return self._computed

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The figure stored under ``key``, computed by ``compute`` once when missing.

        The result is shared: callers must not change it (copy first)."""
        if self.maxsize == 0:
            return compute()
        return self._get(key, compute)

    def clear(self) -> None:
        self._get.cache_clear()
