"""Benchmark: a full refresh of every KPI through jiqun (Ibis on DuckDB) against the same
results computed by hand-written DuckDB SQL (``benchmarks/kpi_sql.py``), in one run.

    .venv/bin/python -m benchmarks.kpi [--scale large|huge] [--seed 7]

``large`` is the demo generator's ≈22M waybills, ``huge`` ≈100M. The demo is built once into
``benchmarks/out/kpi-<scale>/`` (cached). Each side runs in its own process so that its peak RSS
is its own: rebuilding the daily aggregates from the waybills, then every KPI of the operating
picture (volumes with MoM/YoY by market, team and destination province, share, customer
counts, development rate, plan progress, in-province and line figures, tiers). Then the
dashboard's figures are timed as a page computes them from the aggregates (warm connection,
median of 7). Writes ``benchmarks/out/kpi-<scale>.md`` and prints it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"
UNTIL = dt.date(2026, 11, 26)  # fixed, so every run measures the same data


def _env(folder: Path) -> dict[str, str]:
    return {**os.environ, "JIQUN_STORE_URL": f"sqlite:///{folder}/jiqun.db",
            "JIQUN_LAKE_PATH": str(folder / "lake"),
            "JIQUN_RULES_FILE": str(folder / "kpi-rules.toml"),
            "JIQUN_PLANNING_FILE": str(folder / "planning.toml")}


def ensure_demo(scale: str, seed: int) -> Path:
    folder = OUT / f"kpi-{scale}"
    marker = folder / f"built-{seed}-{UNTIL}"
    if not marker.exists():
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "jiqun.cli", "demo", "build", "--scale", scale,
                        "--seed", str(seed), "--until", str(UNTIL)],
                       env=_env(folder), check=True)
        marker.touch()
    from jiqun.store import Store

    Store(_env(folder)["JIQUN_STORE_URL"]).upgrade()  # a cached demo may predate a migration
    return folder


def _dims(store):
    """The store's dimensions as Arrow tables, as both sides receive them."""
    import pyarrow as pa
    from sqlalchemy import select

    from jiqun.geo import province_code
    from jiqun.kpi.frame import Dimensions
    from jiqun.store.models import Customer, MarketVolumeEstimate, Target

    with store.session() as s:
        dims = Dimensions.load(s)
        customers = s.scalars(select(Customer)).all()
        archive = pa.Table.from_pylist([
            {"customer_id": c.id, "grid_id": c.grid_id, "market_id": c.market_id,
             "province": province_code(c.adcode) if c.adcode else None} for c in customers])
        estimates = pa.Table.from_pylist([
            {"market_id": e.market_id, "carrier": e.carrier, "valid_from": e.valid_from,
             "daily_volume": e.daily_volume} for e in s.scalars(select(MarketVolumeEstimate))])
        targets = pa.Table.from_pylist([
            {"scope_type": t.scope_type.value, "scope_id": t.scope_id, "month": t.month,
             "volume": t.volume, "revenue": t.revenue} for t in s.scalars(select(Target))])
    return {"grids": dims.grids, "owners": dims.owners, "archive": archive,
            "estimates": estimates, "targets": targets}


def _warm_imports() -> None:
    """Import what either side uses before its clock starts (imports are not the work)."""
    import ibis.backends.duckdb  # noqa: F401  (ibis loads backends lazily)
    import sqlalchemy.orm

    from jiqun.kpi import frame  # noqa: F401
    from jiqun.store import models

    sqlalchemy.orm.configure_mappers()
    assert models


def phase_jiqun(folder: Path, as_of: dt.date) -> dict:
    _warm_imports()
    from jiqun.kpi.service import OperatingPicture
    from jiqun.lake import aggregates
    from jiqun.store import Store

    lake = folder / "lake"
    store = Store(f"sqlite:///{folder}/jiqun.db")
    began = time.perf_counter()
    aggregates.rebuild(lake)
    rebuilt = time.perf_counter()
    month = as_of.replace(day=1)
    year_ago = as_of.replace(year=as_of.year - 1, day=1)
    rows = {}
    with OperatingPicture(store, lake) as p:
        rows["volume_market_month"] = len(p.volume("market", "month", year_ago, as_of))
        rows["volume_team_week"] = len(p.volume("team", "week", as_of - dt.timedelta(days=83),
                                                as_of))
        rows["volume_province_month"] = len(p.volume("province", "month", year_ago, as_of))
        rows["share_month"] = len(p.share("month", year_ago, as_of))
        rows["customers_grid"] = len(p.customers("grid", month, as_of))
        rows["development_rate"] = len(p.development_rate(as_of))
        rows["plan_grid"] = len(p.plan("grid", as_of))
        rows["network_grid"] = len(p.network("grid", month, as_of))
        rows["tiers"] = len(p.tiers(as_of))
    done = time.perf_counter()
    return {"seconds": done - began, "aggregate_seconds": rebuilt - began,
            "kpi_seconds": done - rebuilt, "rows": rows}


def phase_sql(folder: Path, as_of: dt.date) -> dict:
    _warm_imports()
    from benchmarks.kpi_sql import run_all
    from jiqun.kpi.rules import KpiRules
    from jiqun.store import Store

    store = Store(f"sqlite:///{folder}/jiqun.db")
    rules = KpiRules.from_file(folder / "kpi-rules.toml")
    with tempfile.TemporaryDirectory(dir=OUT) as out:
        # both sides read the store's dimensions on the clock
        return run_all(folder / "lake", Path(out), lambda: _dims(store), as_of, rules)


def page_latency(folder: Path, as_of: dt.date) -> dict[str, float]:
    """Median milliseconds of the dashboard's figures for a city and a province user."""
    from jiqun.kpi import overview
    from jiqun.lake import connect
    from jiqun.store import Scope, Store
    from jiqun.store.org import unit_by_code

    store = Store(f"sqlite:///{folder}/jiqun.db")
    con = connect(engine="duckdb")
    out = {}
    for code in ("HA-SQ", "HA"):
        with store.session() as s:
            scope = Scope.for_unit(s, unit_by_code(s, code))
        timings = []
        for _ in range(8):
            began = time.perf_counter()
            overview.daily_trend(con, folder / "lake", scope, as_of - dt.timedelta(days=89),
                                 as_of)
            timings.append(time.perf_counter() - began)
        out[code] = statistics.median(timings[1:]) * 1000
    return out


def _child(phase: str, folder: Path, as_of: dt.date) -> dict:
    result = {"jiqun": phase_jiqun, "sql": phase_sql}[phase](folder, as_of)
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def _run_phase(phase: str, folder: Path, as_of: dt.date) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.kpi", "--phase", phase, "--dir", str(folder),
         "--as-of", str(as_of)],
        env=_env(folder), check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _waybill_rows(folder: Path) -> int:
    import duckdb

    return duckdb.sql(
        f"SELECT count(*) FROM read_parquet('{folder}/lake/waybills/*/*.parquet')").fetchall()[0][0]


def report(scale: str, folder: Path, as_of: dt.date) -> str:
    rows = _waybill_rows(folder)
    # Each side twice, interleaved; the faster run of each counts (a busy machine slows either).
    runs = [_run_phase(side, folder, as_of) for side in ("sql", "jiqun", "sql", "jiqun")]
    base = min(runs[0::2], key=lambda r: r["seconds"])
    jiqun = min(runs[1::2], key=lambda r: r["seconds"])
    pages = page_latency(folder, as_of)
    mismatched = {k: (v, base["rows"][k]) for k, v in jiqun["rows"].items()
                  if base["rows"][k] != v}
    lines = [
        f"### KPI refresh — demo scale `{scale}`, {rows:,} waybills, as of {as_of}",
        "",
        f"`.venv/bin/python -m benchmarks.kpi --scale {scale}` on {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}.",
        "",
        "| side | KPIs from the aggregates (s) | rebuild of the aggregates (s) | total (s) "
        "| waybill rows/s (total) | peak RSS (MiB) |",
        "|---|---:|---:|---:|---:|---:|",
        *[f"| {name} | {r['kpi_seconds']:.2f} | {r['aggregate_seconds']:.2f} | "
          f"{r['seconds']:.2f} | {rows / r['seconds']:,.0f} | {r['peak_rss_mib']:,.0f} |"
          for name, r in (("hand-written DuckDB SQL", base), ("jiqun (Ibis → DuckDB)", jiqun))],
        f"| **ratio jiqun / SQL** | **{jiqun['kpi_seconds'] / base['kpi_seconds']:.2f}** "
        f"| {jiqun['aggregate_seconds'] / base['aggregate_seconds']:.2f} "
        f"| {jiqun['seconds'] / base['seconds']:.2f} | | |",
        "",
        "| page figure (dashboard 90-day trend, warm) | median ms |",
        "|---|---:|",
        *[f"| scope {code} | {ms:.1f} |" for code, ms in pages.items()],
        "",
        "KPI result rows (jiqun = SQL): " + ", ".join(f"{k} {v}" for k, v in jiqun["rows"].items())
        + (f". MISMATCH: {mismatched}" if mismatched else "."),
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="large")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--phase", choices=["jiqun", "sql"])
    parser.add_argument("--dir", type=Path)
    parser.add_argument("--as-of", type=dt.date.fromisoformat, default=UNTIL)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(_child(args.phase, args.dir, args.as_of)))
        return
    folder = ensure_demo(args.scale, args.seed)
    table = report(args.scale, folder, args.as_of)
    (OUT / f"kpi-{args.scale}.md").write_text(table, encoding="utf-8")
    print(table)


if __name__ == "__main__":
    main()
