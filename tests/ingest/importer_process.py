"""Import processes for the kill tests (tests/ingest/test_kill.py), forked from a fork server
that has imported jiqun already, so that each killed process costs milliseconds, not a start."""

from __future__ import annotations

import datetime as dt
import os
import signal

NOW = dt.datetime(2026, 12, 1, 9, 0)


def run_import(store_url: str, lake: str, path: str, kind: str = "waybills") -> None:
    """One import, as ``jiqun import waybills`` (or ``kind``) does it."""
    from jiqun.ingest import import_file
    from jiqun.store import Store

    store = Store(store_url)
    try:
        import_file(kind, path, store, lake, now=NOW)
    finally:
        store.engine.dispose()


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def crash_at(point: str, store_url: str, lake: str, path: str) -> None:
    """Run an import that is killed at a named point of its commit:

    * ``rename``: after the first of its files was renamed into place;
    * ``refresh``: after every rename, before the aggregates are recomputed;
    * ``aggregate``: after the first month's aggregate file was replaced.
    """
    from jiqun.lake import aggregates, writer

    if point == "rename":
        real = os.replace

        def replace(src, dst):
            real(src, dst)
            if str(src).endswith(".parquet.tmp"):
                _die()

        writer.os.replace = replace
    elif point == "refresh":
        aggregates.refresh = lambda *_: _die()
    elif point == "aggregate":
        real_month = aggregates._replace_month

        def replace_month(*args):
            real_month(*args)
            _die()

        aggregates._replace_month = replace_month
    run_import(store_url, lake, path)
