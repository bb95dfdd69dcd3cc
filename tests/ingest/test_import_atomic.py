"""A streamed lake import is one atomic unit: killed after its rows were staged it leaves the
lake as it was, a re-run imports everything once, and a file streamed through DuckDB's
parallel reader ends exactly as the same file read row by row by the tolerant reader (rows,
rejects, counts, aggregates).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from jiqun.ingest import import_file, source
from jiqun.lake import DAILY_DATASET, LANES_DATASET, WAYBILL_DATASET
from jiqun.lake.writer import JOURNAL, STAGING, dataset_files
from tests.ingest.helpers import import_templates, write_csv
from tests.ingest.importer_process import NOW

ROOT = Path(__file__).resolve().parents[2]
HEADER = ["运单号", "客户编码", "产品", "寄件时间", "目的省", "目的市", "重量", "资费"]
PLACES = [("广东省", "广州市"), ("江苏省", "南京市"), ("浙江省", "杭州市"), ("北京市", "北京市")]


def _rows(start: int, count: int) -> list[list[str]]:
    """Waybills over four months of 2024, two customers, four destinations."""
    rows = []
    for i in range(start, start + count):
        province, city = PLACES[i % len(PLACES)]
        rows.append([f"C{i:05d}", "ZL-000001" if i % 3 else "ZL-000002", "快包",
                     f"2024-{5 + i % 4:02d}-{1 + i % 28:02d} {i % 24:02d}:00:00", province, city,
                     f"{0.2 + (i % 7) / 10:.1f}", f"{3 + i % 5}"])
    return rows


def _seen(lake: Path) -> tuple:
    """Waybills, daily and lanes as every reader sees them (through dataset_files)."""
    out = []
    for dataset in (WAYBILL_DATASET, DAILY_DATASET, LANES_DATASET):
        files = dataset_files(lake, dataset)
        listing = ", ".join(f"'{f}'" for f in files)
        out.append(tuple(duckdb.sql(f"SELECT * FROM read_parquet([{listing}], hive_partitioning "
                                    "= false) ORDER BY ALL").fetchall()) if files else ())
    return tuple(out)


def _url(store) -> str:
    return store.engine.url.render_as_string(hide_password=False)


@pytest.fixture
def lakes(store, org, tmp_path):
    """A lake holding a first file of 300 waybills, and a second file of 1,200 rows: 3 rejected,
    39 of the good ones in the lake already, so 1,158 new."""
    lake = tmp_path / "lake"
    import_templates(store, lake)
    first = write_csv(tmp_path / "first.csv", HEADER, _rows(0, 300))
    assert import_file("waybills", first, store, lake, now=NOW).written == 300
    rows = _rows(260, 1200)  # C00260…C00299 are in the lake already
    rows[5][6] = "1e39"  # weight beyond any parcel (and beyond FLOAT)
    rows[700][2] = "火箭"  # unknown product
    rows[1100][0] = rows[20][0]  # a repeat (of C00280), chunks apart from its first row
    second = write_csv(tmp_path / "second.csv", HEADER, rows)
    return store, lake, second


def _child(store, lake: Path, path: Path, kill_after_parts: int) -> subprocess.CompletedProcess:
    """``import_file`` in a fresh process, killed (SIGKILL) right after the writer staged its
    ``kill_after_parts``-th part (the file's rows, four months of them)."""
    script = textwrap.dedent(f"""
        import os, signal
        from jiqun.lake import writer
        staged = writer.StagedAppend.part
        def part(self, con, query):
            n = staged(self, con, query)
            if self.parts == {kill_after_parts}:
                os.kill(os.getpid(), signal.SIGKILL)
            return n
        writer.StagedAppend.part = part
        from tests.ingest.importer_process import run_import
        run_import({_url(store)!r}, {str(lake)!r}, {str(path)!r})
    """)
    scratch = lake.parent / "child-tmp"  # what the killed import leaves there goes with the test
    scratch.mkdir(exist_ok=True)
    return subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "TMPDIR": str(scratch)})


def test_a_kill_after_the_rows_were_staged_applies_nothing(lakes):
    store, lake, second = lakes
    before = _seen(lake)
    done = _child(store, lake, second, kill_after_parts=1)
    assert done.returncode == -signal.SIGKILL, done.stderr
    staged = list((lake / STAGING).glob("*/part-*/_month=*/*.parquet.tmp"))
    assert len({f.parent.name for f in staged}) == 4  # four months written, uncommitted
    assert not list((lake / JOURNAL).glob("*.json"))
    assert _seen(lake) == before  # no reader sees any of them

    report = import_file("waybills", second, store, lake, now=NOW)
    assert (report.total, report.rejected, report.duplicates, report.written) == (1200, 3, 39, 1158)
    assert not (lake / STAGING).exists() or not any((lake / STAGING).iterdir())
    waybills = _seen(lake)[0]
    assert len(waybills) == 300 + 1158 == len({row[0] for row in waybills})  # each once
    parcels = duckdb.sql(f"SELECT sum(parcels) FROM read_parquet("
                         f"{[str(f) for f in dataset_files(lake, DAILY_DATASET)]})").fetchall()
    assert parcels == [(1458,)]  # the aggregates count every waybill once too

    again = import_file("waybills", second, store, lake, now=NOW)
    assert (again.written, again.duplicates) == (0, 1197)
    assert _seen(lake)[0] == waybills


def test_the_stream_ends_exactly_as_the_tolerant_reader(lakes, tmp_path, monkeypatch):
    store, lake, second = lakes
    one, many = tmp_path / "one", tmp_path / "many"
    shutil.copytree(lake, one)
    shutil.copytree(lake, many)
    reports = {}
    for name, tolerant in (("one", True), ("many", False)):
        with monkeypatch.context() as m:
            if tolerant:  # as if the file had a blank line: read row by row, into a table
                m.setattr(source, "_has_blank_lines", lambda _path: True)
            dry = import_file("waybills", second, store, tmp_path / name, dry_run=True, now=NOW)
            done = import_file("waybills", second, store, tmp_path / name, now=NOW,
                               expect=dry.fingerprint, rejects=tmp_path / f"{name}.rejects.csv")
        reports[name] = dry, done
    (dry_one, one_done), (dry_many, many_done) = reports["one"], reports["many"]
    assert dry_one.fingerprint == dry_many.fingerprint  # the same counts and reject lines
    assert [(r[0], r[3]) for r in many_done.reject_lines] == [
        (7, "weight_too_high"), (702, "unknown_product"), (1102, "duplicate_in_file")]
    assert many_done.reject_lines == one_done.reject_lines
    assert many_done.reasons == one_done.reasons
    counts = ("total", "accepted", "rejected", "duplicates", "inserted", "written")
    assert [getattr(many_done, c) for c in counts] == [getattr(one_done, c) for c in counts] \
        == [1200, 1197, 3, 39, 1158, 1158]
    assert (tmp_path / "many.rejects.csv").read_bytes() == (tmp_path / "one.rejects.csv").read_bytes()
    assert _seen(many) == _seen(one)  # the same waybills, daily and lanes
