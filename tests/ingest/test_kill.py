"""Kill a real import process (SIGKILL) at random moments: the lake and its aggregates are
always exactly as before the file or exactly as after it, as every reader sees them; a final
import gives the exact count; two imports of the same file at once end as one.

The import processes are forked from a fork server that has imported jiqun (a fresh Python
per kill would spend the test's minute starting interpreters); the concurrent imports are two
``python -m jiqun import waybills`` commands.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from sqlalchemy import func, select

from jiqun.lake import DAILY_DATASET, LANES_DATASET, WAYBILL_DATASET
from jiqun.lake.writer import JOURNAL, dataset_files
from jiqun.store.models import AuditEntry, Customer, Market
from tests.ingest import importer_process
from tests.ingest.helpers import import_templates, write_csv

KILLS = 20
HEADER = ["运单号", "客户编码", "产品", "寄件时间", "目的省", "目的市", "重量", "资费"]
PLACES = [("广东省", "广州市"), ("江苏省", "南京市"), ("浙江省", "杭州市"), ("北京市", "北京市")]


def _rows(start: int, count: int, months: list[int]) -> list[list[str]]:
    rows = []
    for i in range(start, start + count):
        province, city = PLACES[i % len(PLACES)]
        month = months[i % len(months)]
        rows.append([f"K{i:05d}", "ZL-000001" if i % 3 else "ZL-000002", "快包",
                     f"2024-{month:02d}-{1 + i % 28:02d} {i % 24:02d}:00:00", province, city,
                     f"{0.2 + (i % 7) / 10:.1f}", f"{3 + i % 5}"])
    return rows


def state(lake: Path) -> tuple:
    """Waybills, daily and lanes as a reader sees them (dataset_files finishes a pending append)."""
    out = []
    for dataset in (WAYBILL_DATASET, DAILY_DATASET, LANES_DATASET):
        files = dataset_files(lake, dataset)
        if not files:
            out.append(())
            continue
        listing = ", ".join(f"'{f}'" for f in files)
        out.append(tuple(duckdb.sql(f"SELECT * FROM read_parquet([{listing}], "
                                    "hive_partitioning = false) ORDER BY ALL").fetchall()))
    return tuple(out)


@pytest.fixture(scope="module")
def forks():
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["jiqun.ingest.api", "tests.ingest.importer_process"])
    return ctx


@pytest.fixture
def setup(store, org, tmp_path):
    """A store with the templates' customers, a lake with a first file, and a second file that
    adds waybills to two of its months and two new months (and has one bad row)."""
    lake = tmp_path / "lake"
    import_templates(store, lake)
    first = write_csv(tmp_path / "first.csv", HEADER, _rows(0, 300, [4, 5, 6]))
    importer_process.run_import(_url(store), str(lake), str(first))
    second_rows = _rows(300, 900, [5, 6, 7, 8])
    second_rows[17][6] = "1e39"  # rejected: the other 899 rows are the file
    second = write_csv(tmp_path / "second.csv", HEADER, second_rows)
    before = tmp_path / "lake-before"
    shutil.copytree(lake, before)
    reference = tmp_path / "lake-after"
    shutil.copytree(lake, reference)
    importer_process.run_import(_url(store), str(reference), str(second))
    return store, lake, before, second, state(before), state(reference)


def _url(store) -> str:
    return store.engine.url.render_as_string(hide_password=False)


def _store_facts(store) -> tuple[int, int]:
    with store.session() as s:
        return (s.scalar(select(func.count()).select_from(Customer)),
                s.scalar(select(func.count()).select_from(AuditEntry)))


def _run(forks, target, *args) -> tuple[multiprocessing.Process, float]:
    began = time.perf_counter()
    process = forks.Process(target=target, args=args)
    process.start()
    return process, began


def test_kill_an_import_at_random_moments(forks, setup):
    store, lake, before_copy, second, before, after = setup
    assert len(after[0]) == len(before[0]) + 899 and after[1] != before[1]
    facts = _store_facts(store)
    for _ in range(2):  # the first start also starts the fork server: time the second
        shutil.rmtree(lake)
        shutil.copytree(before_copy, lake)
        process, began = _run(forks, importer_process.run_import, _url(store), str(lake),
                              str(second))
        process.join()
        length = time.perf_counter() - began  # one whole import: the span kills are drawn from
        assert process.exitcode == 0 and state(lake) == after

    rng = random.Random(9)
    seen = {"before": 0, "after": 0, "journal left": 0}
    for k in range(KILLS):
        shutil.rmtree(lake)
        shutil.copytree(before_copy, lake)
        process, _ = _run(forks, importer_process.run_import, _url(store), str(lake), str(second))
        # Half the kills anywhere in the import, half around its commit (its last part).
        time.sleep(rng.uniform(0, length) if k % 2 else rng.uniform(0.7 * length, 1.05 * length))
        with contextlib.suppress(ProcessLookupError):  # it may have finished already
            os.kill(process.pid, signal.SIGKILL)
        process.join()
        if any((lake / JOURNAL).glob("*.json")):
            seen["journal left"] += 1  # killed after the commit point, before the end
        now = state(lake)
        assert now in (before, after), "a kill left the lake between before and after"
        seen["before" if now == before else "after"] += 1
        assert _store_facts(store) == facts
    print(f"\n{KILLS} kills over {length:.2f} s imports: {seen}")  # noqa: T201 - for the report

    importer_process.run_import(_url(store), str(lake), str(second))
    assert state(lake) == after
    assert len({r[0] for r in state(lake)[0]}) == len(after[0])


@pytest.mark.parametrize("point", ["rename", "refresh", "aggregate"])
def test_a_kill_during_the_commit_is_finished_by_the_next_reader(forks, setup, point):
    """The old failure: killed during the aggregate refresh, the aggregates stayed stale until
    some later import; now the first reader finishes the append."""
    store, lake, _, second, before, after = setup
    process, _ = _run(forks, importer_process.crash_at, point, _url(store), str(lake), str(second))
    process.join()
    assert process.exitcode == -signal.SIGKILL
    assert list((lake / JOURNAL).glob("*.json"))  # committed, not finished

    from jiqun.lake import connect, daily
    from jiqun.store.scope import Scope

    parcels = daily(connect(engine="duckdb"), lake, Scope.WHOLE).parcels.sum().execute()
    assert parcels == len(after[0])  # the pages' reader saw the finished append
    assert not list((lake / JOURNAL).glob("*.json"))
    assert state(lake) == after


def test_two_imports_of_the_same_file_at_once_end_as_one(setup, tmp_path):
    store, lake, _, second, _, after = setup
    env = {**os.environ, "JIQUN_STORE_URL": _url(store), "JIQUN_LAKE_PATH": str(lake),
           "JIQUN_LOCALE": "en"}
    jiqun = str(Path(sys.executable).with_name("jiqun"))  # the installed command
    command = [jiqun, "import", "waybills", str(second), "--user", "system"]
    both = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=120)[0] for p in both]
    assert [p.returncode for p in both] == [1, 1], outputs  # one row rejected in each
    now = state(lake)
    assert [len(part) for part in now] == [len(part) for part in after], outputs
    assert now == after  # every waybill once
    written = sorted(int(re.search(r"written\D+(\d+)", out).group(1)) for out in outputs)
    assert written == [0, 899]


def _markets(store) -> tuple:
    with store.session() as s:
        rows = s.execute(select(Market.code, Market.name, Market.yearly_revenue_target)
                         .order_by(Market.code)).all()
        return tuple(rows), s.scalar(select(func.count()).select_from(AuditEntry))


def test_kill_a_store_import_at_random_moments(forks, store, org, tmp_path):
    """Markets commit in one store transaction: a kill leaves the store before or after."""
    header = ["市场编码", "市场名称", "市场类型", "行业", "机构编码", "行政区划代码", "年收入目标"]
    rows = [[f"KM-{i:04d}", f"市场{i}", "产业集群", "童装", "ZJ-HUZ-WX", "330502", str(1000 * i)]
            for i in range(400)]
    path = write_csv(tmp_path / "markets.csv", header, rows)
    db = Path(_url(store).split("///", 1)[1])
    before = _markets(store)
    store.engine.dispose()  # the last connection checkpoints the WAL into the file
    pristine = tmp_path / "pristine.db"
    shutil.copy(db, pristine)

    def restore() -> None:
        store.engine.dispose()
        for extra in (db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
            extra.unlink(missing_ok=True)
        shutil.copy(pristine, db)

    lake = str(tmp_path / "lake")
    for _ in range(2):  # the second run is timed (the first may start the fork server)
        restore()
        process, began = _run(forks, importer_process.run_import, _url(store), lake, str(path),
                              "markets")
        process.join()
        length = time.perf_counter() - began
    after = _markets(store)
    assert len(after[0]) == 400 and after[1] > before[1]
    rng = random.Random(11)
    for _ in range(6):
        restore()
        process, _ = _run(forks, importer_process.run_import, _url(store), lake, str(path),
                          "markets")
        time.sleep(rng.uniform(0.5 * length, 1.05 * length))
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)
        process.join()
        assert _markets(store) in (before, after)
    importer_process.run_import(_url(store), lake, str(path), "markets")
    assert _markets(store)[0] == after[0]
