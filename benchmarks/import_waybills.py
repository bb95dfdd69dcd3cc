"""Benchmark: import synthetic waybill CSVs, against a bare DuckDB ``COPY … TO parquet``.

    .venv/bin/python -m benchmarks.import_waybills [--rows 10000000 30000000] [--runs 2]

For each size:

1. Generates the CSV (vectorised with NumPy/Arrow) into a temporary folder that is removed at
   the end, after checking that the disk holds it (~100 bytes a row) and what the runs write:
   Chinese headers, 2,000 customers of one outlet, real destination counties, ISO times.
2. Times (a) ``COPY (SELECT * FROM read_csv(file)) TO 'x.parquet'`` in DuckDB and (b)
   ``jiqun.ingest.import_file("waybills", …)`` into an empty lake (a plain file: imported in one
   read, ``jiqun.ingest.at_once``; the table says), ``--runs`` times each (default 2), (a) and
   (b) alternating; each side's fastest run counts. Each run is a child process of its own; its
   peak RSS is the child's ``ru_maxrss`` as ``os.wait4`` reports it for that child alone.
3. Writes the table to ``benchmarks/out/import_waybills.md`` and prints it.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

OUT = Path(__file__).resolve().parent / "out"
CUSTOMERS = 2000
HEADERS = ["运单号", "客户编码", "产品", "平台", "寄件时间", "目的省", "目的市", "目的区县", "重量", "资费"]


def _destinations() -> list[tuple[str, str, str]]:
    from jiqun.geo import all_divisions, division

    counties = [d for d in all_divisions().values() if d.level == "county"]
    return [(division(d.province).name, division(d.city).name, d.name) for d in counties[::5]
            if division(d.province) and division(d.city)]


def generate(rows: int, path: Path, seed: int = 7) -> Path:
    """A CSV of ``rows`` waybills, built in chunks of 1M rows without a Python loop per row."""
    rng = np.random.default_rng(seed)
    dests = _destinations()
    start = np.datetime64("2024-01-01T00:00:00", "s")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    options = pacsv.WriteOptions(include_header=False, quoting_style="none")
    with open(tmp, "wb") as fh:
        fh.write((",".join(HEADERS) + "\n").encode())
        for offset in range(0, rows, 1_000_000):
            n = min(1_000_000, rows - offset)
            idx = np.arange(offset, offset + n, dtype=np.int64)
            pick = rng.integers(0, len(dests), n)
            # heavy-tailed merchants: a few customers ship most parcels
            customer = np.minimum(rng.zipf(1.3, n), CUSTOMERS) - 1
            seconds = rng.integers(0, 365 * 86400, n)
            weight = np.round(rng.lognormal(-0.5, 0.6, n) + 0.05, 2)
            table = pa.table({
                "waybill_no": pc.cast(pa.array(1_180_000_000_000 + idx), pa.string()),
                "customer": pc.binary_join_element_wise(
                    "BM-", pc.utf8_lpad(pc.cast(pa.array(customer), pa.string()), 5, "0"), ""),
                "product": pa.array(np.array(["快包", "特快", "标快"])[rng.choice(3, n, p=[.8, .1, .1])]),
                "platform": pa.array(np.array(["淘系", "拼系", "直播"])[rng.choice(3, n, p=[.5, .3, .2])]),
                "ship_time": pc.strftime(pa.array(start + seconds.astype("timedelta64[s]")),
                                         "%Y-%m-%d %H:%M:%S"),
                "province": pa.array([d[0] for d in dests]).take(pick),
                "city": pa.array([d[1] for d in dests]).take(pick),
                "county": pa.array([d[2] for d in dests]).take(pick),
                "weight": pc.cast(pa.array(weight), pa.string()),
                "fee": pc.cast(pa.array(np.round(3 + weight * 2.5, 1)), pa.string()),
            })
            pacsv.write_csv(table, fh, options)
    tmp.replace(path)
    return path


def _setup_store(folder: Path):
    from jiqun.store import Store
    from jiqun.store.models import Customer
    from jiqun.store.org import add_unit

    store = Store(f"sqlite:///{folder}/store.db")
    store.upgrade()
    with store.transaction() as s:
        hq = add_unit(s, None, "HQ", "集团总部", adcode="100000")
        zj = add_unit(s, hq, "ZJ", "浙江省分公司", adcode="330000")
        hz = add_unit(s, zj, "ZJ-HUZ", "湖州市分公司", adcode="330500")
        wx = add_unit(s, hz, "ZJ-HUZ-WX", "吴兴区分公司", adcode="330502")
        zl = add_unit(s, wx, "ZJ-HUZ-WX-ZL", "织里揽投部", adcode="330502")
        s.add_all(Customer(code=f"BM-{i:05d}", name=f"商家{i}", org_unit_id=zl.id, adcode="330502")
                  for i in range(CUSTOMERS))
    return store


def phase_copy(csv: Path, work: Path) -> dict:
    import duckdb

    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    began = time.perf_counter()
    con.execute(f"COPY (SELECT * FROM read_csv('{csv}')) TO '{work}/bare.parquet' (FORMAT parquet)")
    return {"seconds": time.perf_counter() - began}


# The import's progress stages, and what happens between one and the next (the breakdown).
STAGES = {"reading": "reading: the file scanned for quotes and for spaces to trim (the usual import: the "
                      "file checked and counted)",
          "validating": "store dimensions, lookups coded (usual: destinations resolved, lake keys)",
          "writing": "one query: every row checked and written (COPY, stopped by a bad row); the staged "
                     "numbers checked for repeats",
          "committing": "commit: journal, renames, aggregate refresh"}


def phase_import(csv: Path, work: Path) -> dict:
    from jiqun.ingest import at_once, import_file

    store = _setup_store(work)
    kept: list[bool] = []  # whether the file was imported in one read (jiqun.ingest.at_once)
    first_try = at_once.import_at_once

    def one_read(*args) -> bool:
        kept.append(first_try(*args))
        return kept[-1]

    at_once.import_at_once = one_read
    marks: list[tuple[str, float]] = []

    def progress(stage: str, done: int, total: int) -> None:
        if stage == "writing" and done == total:
            stage = "committing"
        if not marks or marks[-1][0] != stage:
            marks.append((stage, time.perf_counter()))

    began = time.perf_counter()
    report = import_file("waybills", csv, store, work / "lake", progress=progress)
    seconds = time.perf_counter() - began
    stages = {name: end - start for (name, start), (_, end) in itertools.pairwise(marks)}
    return {"seconds": seconds, "written": report.written, "rejected": report.rejected,
            "stages": stages, "one_read": kept == [True]}


def _run_phase(name: str, csv: Path, scratch: Path) -> dict:
    """Run one phase in a child process; its own peak RSS comes back with the timing."""
    with tempfile.TemporaryDirectory(prefix="phase-", dir=scratch) as work:
        child = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.import_waybills", "--phase", name,
             "--csv", str(csv), "--work", work],
            stdout=subprocess.PIPE, text=True, env={**os.environ, "TMPDIR": work},
        )
        out = child.stdout.read()
        _, status, usage = os.wait4(child.pid, 0)  # this child's resources, not all children's
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode:
            raise SystemExit(f"phase {name} failed ({child.returncode})")
    result = json.loads(out.strip().splitlines()[-1])
    result["rss_mib"] = usage.ru_maxrss / 1024  # KiB on Linux
    return result


def _check_disk(rows: int, folder: Path) -> None:
    """The CSV (~100 B a row) and what the runs write beside it (DuckDB's spill, the lake, the
    bare Parquet): about four times the CSV."""
    needed = rows * 100 * 4
    free = shutil.disk_usage(folder).free
    print(f"{folder}: {free / 2**30:,.1f} GiB free, {needed / 2**30:,.1f} GiB needed for "
          f"{rows:,} rows", file=sys.stderr)
    if free < needed:
        raise SystemExit(f"not enough disk space in {folder} for {rows:,} rows")


def measure(rows: int, scratch_root: Path | None = None, runs: int = 2) -> dict:
    """Generate the CSV of ``rows`` waybills in a temporary folder, time both sides ``runs``
    times each, clean up."""
    root = scratch_root or Path(tempfile.gettempdir())
    _check_disk(rows, root)
    with tempfile.TemporaryDirectory(prefix="jiqun-bench-", dir=root) as scratch:
        scratch = Path(scratch)
        csv = scratch / f"waybills-{rows}.csv"
        began = time.perf_counter()
        generate(rows, csv)
        print(f"generated {csv} in {time.perf_counter() - began:.1f} s", file=sys.stderr)
        # Each side runs ``runs`` times, the two alternating, and each side's fastest run
        # counts: a burst of other work on a shared machine (its noise here is ±5 %) then
        # slows one run of a side, not the side. Written pages are flushed before each run, so
        # that one run's writeback does not fall on the next.
        results: dict[str, list[dict]] = {"copy": [], "import": []}
        for _ in range(runs):
            for phase in results:
                os.sync()
                results[phase].append(_run_phase(phase, csv, scratch))
        copy, imp = (min(results[p], key=lambda r: r["seconds"]) for p in ("copy", "import"))
        return {"rows": rows, "csv_mib": csv.stat().st_size / 2**20, "copy": copy, "import": imp,
                "runs": runs}


def _table(results: list[dict]) -> str:
    lines = [
        f"Waybill import benchmark on {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; jiqun's DuckDB memory limit {_memory_limit()}; each "
        f"side the fastest of {results[0]['runs']} runs, (a) and (b) alternating.",
        "",
        "| rows | CSV (MiB) | (a) bare DuckDB COPY (s) | (a) peak RSS (MiB) "
        "| (b) jiqun import (s) | (b) peak RSS (MiB) | ratio (b)/(a) | written | rejected |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        copy, imp = r["copy"], r["import"]
        lines.append(
            f"| {r['rows']:,} | {r['csv_mib']:,.0f} | {copy['seconds']:.1f} | "
            f"{copy['rss_mib']:,.0f} | {imp['seconds']:.1f} | {imp['rss_mib']:,.0f} | "
            f"{imp['seconds'] / copy['seconds']:.2f}× | {imp['written']:,} | {imp['rejected']:,} |")
    for r in results:
        stages = r["import"].get("stages", {})
        parts = ", ".join(f"{STAGES.get(k, k)} {v:.1f} s" for k, v in stages.items())
        how = "in one read" if r["import"].get("one_read") else "the usual way (two reads)"
        lines += ["", f"(b) at {r['rows']:,} rows, imported {how}: {parts}."]
    return "\n".join(lines)


def _memory_limit() -> str:
    from jiqun.ingest.api import MEMORY_LIMIT

    return MEMORY_LIMIT


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000_000, 30_000_000])
    parser.add_argument("--scratch", type=Path, help="folder for the temporary CSV and runs")
    parser.add_argument("--runs", type=int, default=2, help="runs of each side (the fastest counts)")
    parser.add_argument("--phase", choices=["copy", "import"])
    parser.add_argument("--csv", type=Path)
    parser.add_argument("--work", type=Path)
    args = parser.parse_args(argv)
    if args.phase:
        result = (phase_copy if args.phase == "copy" else phase_import)(args.csv, args.work)
        print(json.dumps(result))
        return
    results = []
    for rows in args.rows:
        results.append(measure(rows, args.scratch, args.runs))
        table = _table(results)
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / "import_waybills.md").write_text(table + "\n", encoding="utf-8")
        print(table, flush=True)


if __name__ == "__main__":
    main()
