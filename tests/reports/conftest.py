"""The demo province at scale "tiny", built once for the report tests, and helpers that read
the lake's daily aggregates with plain DuckDB SQL (an independent check of the reports)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from jiqun.config import get_settings
from jiqun.demo import build_demo
from jiqun.kpi.service import OperatingPicture
from jiqun.store import Scope, Store
from jiqun.store.org import unit_by_code

UNTIL = dt.date(2026, 11, 26)  # a Thursday: the week is not over on the data date


class Demo:
    def __init__(self, root: Path):
        self.root = root
        self.url = f"sqlite:///{root}/store.db"
        self.store = Store(self.url)
        self.lake = root / "lake"
        build_demo(self.store, self.lake, scale="tiny", seed=7, until=UNTIL, progress=False)

    def scope(self, code: str) -> Scope:
        with self.store.session() as s:
            return Scope.for_unit(s, unit_by_code(s, code))

    def picture(self, code: str | None = None) -> OperatingPicture:
        return OperatingPicture(self.store, self.lake, self.scope(code) if code else Scope.WHOLE)

    def sql(self, query: str, *params) -> list[tuple]:
        """``query`` over the view ``daily`` of the lake's daily aggregates."""
        con = duckdb.connect()
        con.execute(f"CREATE VIEW daily AS SELECT * FROM read_parquet('{self.lake}/daily/*/*.parquet')")
        return con.execute(query, list(params)).fetchall()


@pytest.fixture(scope="package")
def demo(tmp_path_factory) -> Demo:
    return Demo(tmp_path_factory.mktemp("reports-demo"))


@pytest.fixture
def cli_env(demo, monkeypatch):
    """Environment for ``jiqun report …`` to read the demo store and lake."""
    monkeypatch.setenv("JIQUN_STORE_URL", demo.url)
    monkeypatch.setenv("JIQUN_LAKE_PATH", str(demo.lake))
    get_settings.cache_clear()
    yield demo
    get_settings.cache_clear()
