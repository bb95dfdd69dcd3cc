"""The KPI suite runs on every engine with the same fixtures and expected values (DuckDB always,
PySpark local mode as in CI), like ibis's own backend test suite."""

from __future__ import annotations

import importlib.util

import pytest

from jiqun.lake import connect


@pytest.fixture(
    scope="session",
    params=["duckdb", pytest.param("pyspark", marks=pytest.mark.spark)],
)
def engine(request):
    """An Ibis backend to run KPI expressions on."""
    if request.param == "pyspark" and importlib.util.find_spec("pyspark") is None:
        pytest.skip("PySpark is not installed: pip install 'jiqun[spark]' (make test does)")
    con = connect(engine=request.param)
    yield con
    if request.param == "pyspark":
        con._session.stop()


@pytest.fixture
def run(engine):
    """Execute an expression on the engine under test and return a pandas DataFrame."""
    return engine.execute
