"""Long computations of the pages (line proposals, the weekly bulletin, the centres' what-if),
computed once per version of what they read, and then served from memory.

A page's figures are cached by :mod:`jiqun.kpi.cache` (the lake's aggregates and the store rows
the KPIs read). The computations here read more: the lanes, the raw waybills and events, and
store tables the KPIs do not (facilities, problems, service cases, prices). Each names what it
reads (:class:`Reads`), and its result is kept under

    (computation, its parameters, the viewer's scope, the lake's version, the version of the
    store tables it reads, the version of the app's rules and planning files)

so an import (new lake files) or an edit of one of those tables makes the next request compute
it again, and an edit of anything else (a visit logged, a line accepted: the line proposals
apply the recorded lines afresh on every request) leaves it in place. The cached value is the
same function's output for the same inputs: the cache changes when a page answers, never what it
answers. A burst of requests for a missing result computes it once (the others wait for it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from fastapi import Request
from sqlalchemy import Engine, Integer, func, select

from jiqun.kpi.cache import FigureCache, all_datasets
from jiqun.kpi.cache import lake_version as cache_lake_version
from jiqun.store.models import Base, JobLease, JobRun, LoginAttempt, LoginGuard, WebSession

T = TypeVar("T")
# Results kept per server process: each can be large (every lane of a plan, a PDF), and a
# data change leaves the old ones to age out. With the warm-up on, room for every warmed
# viewer's (jiqun.web.warmup: a viewer's pages keep about a dozen).
KEPT = 64
KEPT_PER_WARMED_VIEWER = 16
# Tables no computation reads: sign-in bookkeeping and the jobs' own records.
_BOOKKEEPING = {m.__tablename__ for m in (WebSession, LoginAttempt, LoginGuard, JobRun, JobLease)}


@dataclass(frozen=True)
class Reads:
    """What a computation reads: the lake (every dataset) and these store tables (by name);
    ``every_table``: the whole store (a report that gathers from every capability)."""

    tables: tuple[str, ...] = ()
    every_table: bool = False

    def table_names(self) -> list[str]:
        if self.every_table:
            return sorted(t for t in Base.metadata.tables if t not in _BOOKKEEPING)
        return sorted(self.tables)


def lake_version(lake: Path) -> tuple:
    """The version of every dataset of the lake (waybills, events and their aggregates): a
    long computation may read the raw waybills, so any append changes it."""
    return cache_lake_version(lake, all_datasets(lake))


def store_version(engine: Engine, tables: Iterable[str]) -> tuple:
    """Per table: its row count, highest id and, for versioned rows, the sum of their versions
    (every ORM update of a versioned row raises its version, so an edit is seen even where the
    count and ids stay); one query on its own connection, over the whole store (unscoped)."""
    parts = []
    for name in tables:
        table = Base.metadata.tables[name]
        parts.append(select(func.count()).select_from(table).scalar_subquery())
        if "id" in table.c and isinstance(table.c.id.type, Integer):
            parts.append(select(func.max(table.c.id)).scalar_subquery())
        if "version" in table.c:
            parts.append(select(func.coalesce(func.sum(table.c.version), 0)).scalar_subquery())
    if not parts:
        return ()
    with engine.connect() as connection:
        return tuple(connection.execute(select(*parts)).one())


def files_version(paths: Iterable[Path]) -> tuple:
    """Size and modification time of each settings file (rules, planning parameters): a
    computation follows an edited file without a restart."""
    out = []
    for path in paths:
        try:
            st = Path(path).stat()
        except OSError:  # no file: the defaults
            out.append((str(path), None))
        else:
            out.append((str(path), st.st_size, st.st_mtime_ns))
    return tuple(out)


def version(engine: Engine, lake: Path, reads: Reads, files: Iterable[Path] = ()) -> str:
    """The version of everything a computation reads: a digest of the lake's files, the store
    tables' and the settings files'."""
    parts = repr((lake_version(lake), store_version(engine, reads.table_names()),
                  files_version(files))).encode()
    return hashlib.blake2b(parts, digest_size=16).hexdigest()


def computations(request: Request) -> FigureCache:
    """The app's cache of computations (off, like the figures', when
    ``JIQUN_FIGURE_CACHE_SIZE`` is 0)."""
    state = request.app.state
    found = getattr(state, "computations", None)
    if found is None:
        settings = state.settings
        warmed = settings.warmup_viewers * KEPT_PER_WARMED_VIEWER if settings.serve_warmup else 0
        size = max(KEPT, warmed) if settings.figure_cache_size else 0
        found = state.__dict__.setdefault("computations", FigureCache(size))
    return found


def computed(request: Request, ctx, name: str, compute: Callable[[], T], *args: Hashable,
             reads: Reads) -> T:
    """``compute()`` — the computation ``name`` of ``args`` in the request's scope — once per
    version of what it ``reads``; the result is shared by every request: never change it."""
    cache = computations(request)
    if cache.maxsize == 0:
        return compute()
    settings = request.app.state.settings
    files = (settings.rules_file, settings.planning_file)
    key = (name, args, ctx.scope.root_path, version(ctx.store.engine, ctx.lake, reads, files))
    return cache.get(key, compute)
