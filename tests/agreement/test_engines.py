"""The demo lake read by a real Spark cluster gives the same JSON as DuckDB, record for record
(issue 12: ``dataset_table`` handed Ibis a list of files, which PySpark took as one path string,
and the Spark tests only ever used in-memory tables on ``local[*]``).

A standalone master and worker run on 127.0.0.1 (``spark_cluster.standalone_cluster``); the
commands run with ``--engine pyspark`` in a fresh interpreter against ``JIQUN_SPARK_MASTER``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.agreement.spark_cluster import standalone_cluster

pytestmark = pytest.mark.spark

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = [
    ["kpi", "volume", "--by", "market"],
    ["kpi", "share", "--period", "week"],
    ["kpi", "customers", "--by", "grid"],
    ["kpi", "grids"],
    ["kpi", "tiers"],
    ["kpi", "rankings", "--by", "team"],
]


def _with(command: list[str], engine: str) -> list[str]:
    return [*command, "--user", "demo-province", "--engine", engine, "--format", "json"]


@pytest.fixture(scope="module")
def spark_outputs(province, tmp_path_factory) -> list[list[dict]]:
    if importlib.util.find_spec("pyspark") is None:
        pytest.skip("PySpark is not installed: pip install 'jiqun[spark]' (make test does)")
    folder = tmp_path_factory.mktemp("spark-cluster")
    with standalone_cluster(folder) as master:
        env = {**os.environ, **province.env, "JIQUN_SPARK_MASTER": master}
        done = subprocess.run(
            [sys.executable, "-m", "tests.agreement.spark_cluster",
             json.dumps([_with(c, "pyspark") for c in COMMANDS])],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("index", range(len(COMMANDS)), ids=lambda i: " ".join(COMMANDS[i]))
def test_a_spark_cluster_reads_the_lake_as_duckdb_does(index, spark_outputs, cli):
    duck = json.loads(cli(_with(COMMANDS[index], "duckdb")))
    spark = spark_outputs[index]
    assert duck, "the demo lake gave no rows"
    assert len(spark) == len(duck)
    for a, b in zip(spark, duck, strict=True):
        assert a.keys() == b.keys()
        for key, value in b.items():
            if isinstance(value, float) and a[key] is not None:
                assert a[key] == pytest.approx(value, rel=1e-9), (key, a, b)
            else:
                assert a[key] == value, (key, a, b)
