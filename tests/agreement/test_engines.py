"""The demo lake read by PySpark gives the same JSON as DuckDB, record for record (issue 12:
``dataset_table`` handed Ibis a list of files, which PySpark took as one path string, and the
Spark tests only ever used in-memory tables)."""

from __future__ import annotations

import importlib.util
import json

import pytest

pytestmark = pytest.mark.spark

COMMANDS = [
    ["kpi", "volume", "--by", "market"],
    ["kpi", "share", "--period", "week"],
    ["kpi", "customers", "--by", "grid"],
    ["kpi", "grids"],
    ["kpi", "tiers"],
]


@pytest.fixture(scope="module", autouse=True)
def _spark_installed():
    if importlib.util.find_spec("pyspark") is None:
        pytest.skip("PySpark is not installed: pip install 'jiqun[spark]' (make test does)")


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_pyspark_reads_the_lake_as_duckdb_does(command, cli):
    def run(engine: str) -> list[dict]:
        return json.loads(cli([*command, "--user", "demo-province", "--engine", engine,
                               "--format", "json"]))

    duck = run("duckdb")
    assert duck, "the demo lake gave no rows"
    assert _same(run("pyspark"), duck)


def _same(spark: list[dict], duck: list[dict]) -> bool:
    assert len(spark) == len(duck)
    for a, b in zip(spark, duck, strict=True):
        assert a.keys() == b.keys()
        for k in a:
            if isinstance(b[k], float) and a[k] is not None:
                assert a[k] == pytest.approx(b[k], rel=1e-9), (k, a, b)
            else:
                assert a[k] == b[k], (k, a, b)
    return True
