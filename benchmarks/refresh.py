"""Benchmark: a daily load of 1M waybills into a lake of 100M, and the aggregate refresh it costs.

    .venv/bin/python -m benchmarks.refresh [--rows 100000000] [--daily 1000000]

1. Builds (once, cached in ``benchmarks/out/refresh-<n>m/base/``) a store of 20,000 merchants
   under 20 outlets of Henan and a lake of ``--rows`` synthetic waybills over the 24 months
   2024-12-01 … 2026-11-29 (~137k a day), written straight by DuckDB in the lake's schema and
   layout (``waybills/month=YYYY-MM/part-*.parquet``, one file per month in time order, as daily
   loads leave it), then ``jiqun.lake.aggregates.rebuild``. Also a daily CSV of ``--daily``
   waybills of 2026-11-30 with Chinese headers, as a user's import file.
2. Each run works on a copy of the base lake made of hard links (files of the lake are
   replaced, never edited in place, so the base stays as it was) and times, in one process:
   (a) ``jiqun.ingest.import_file("waybills", csv)`` as a user would (the whole import, and the
   aggregate refresh of its commit alone); (b) ``jiqun.lake.append`` of ``--daily`` waybills of
   an older day already in the lake (late scans, 2026-11-20) as an Arrow table; (c) a refresh
   of the whole touched month; (d) a full ``aggregates.rebuild`` of the same lake (the
   baseline). Then checks that the aggregates left by (a) and (b) hold the same rows as (d)'s.
3. Writes ``benchmarks/out/refresh.md`` and prints it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import sys
import time
from contextlib import contextmanager
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"
FIRST_DAY = dt.date(2024, 12, 1)
LAST_DAY = dt.date(2026, 11, 29)  # the lake's last day; the daily file is the day after
DAILY_DAY = dt.date(2026, 11, 30)
LATE_DAY = dt.date(2026, 11, 20)
NOW = dt.datetime(2026, 12, 1, 6, 0)  # the import's clock: the daily file is yesterday's
CUSTOMERS = 20_000
CITIES = ("410100", "410300", "411300", "411400", "411700")  # 郑州 洛阳 南阳 商丘 驻马店
HEADERS = {"waybill_no": "运单号", "customer": "客户编码", "product": "产品", "platform": "平台",
           "ship_time": "寄件时间", "province": "目的省", "city": "目的市", "county": "目的区县",
           "weight": "重量", "fee": "资费"}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def setup_store(folder: Path):
    """HQ → 河南 → five cities → four counties each → an outlet each; 20,000 merchants."""
    from sqlalchemy.schema import CreateTable

    from jiqun.geo import all_divisions
    from jiqun.store import Store
    from jiqun.store.models import Base, Customer
    from jiqun.store.org import add_unit

    store = Store(f"sqlite:///{folder}/store.db")
    # The models' tables without their indexes, not the migrations: the benchmark measures the
    # lake, and a store migration or index being written elsewhere must not stop it.
    with store.engine.begin() as conn:
        for model_table in Base.metadata.sorted_tables:
            conn.execute(CreateTable(model_table))
    counties = [d for d in all_divisions().values() if d.level == "county"]
    outlets = []
    with store.transaction() as s:
        hq = add_unit(s, None, "HQ", "集团总部", adcode="100000")
        ha = add_unit(s, hq, "HA", "河南省分公司", adcode="410000")
        for city_code in CITIES:
            city = add_unit(s, ha, f"HA-{city_code}", f"{city_code}市分公司", adcode=city_code)
            for county in [d for d in counties if d.city == city_code][:4]:
                unit = add_unit(s, city, f"HA-{county.adcode}", county.name, adcode=county.adcode)
                outlets.append(add_unit(s, unit, f"HA-{county.adcode}-1", f"{county.name}揽投部",
                                        adcode=county.adcode))
        s.flush()
        s.add_all(Customer(code=f"BM-{i:05d}", name=f"商家{i}", org_unit_id=outlets[i % 20].id,
                           adcode=outlets[i % 20].adcode) for i in range(CUSTOMERS))
    return store


def _register_dimensions(con, store) -> None:
    """``customers`` (idx, code, ids, adcode) and ``dests`` (idx, names, codes) for the SQL."""
    import pyarrow as pa

    from jiqun.geo import all_divisions, division
    from jiqun.ingest.dimensions import customers

    with store.session() as s:
        con.register("customers_dim", customers(s))
    con.execute("CREATE TEMP TABLE customers AS SELECT CAST(substr(code, 4) AS INTEGER) AS idx, * "
                "FROM customers_dim")
    counties = [d for d in all_divisions().values()
                if d.level == "county" and division(d.city) and division(d.province)][::5]
    con.register("dests", pa.table({
        "idx": list(range(len(counties))),
        "province": [division(d.province).name for d in counties],
        "city": [division(d.city).name for d in counties],
        "county": [d.name for d in counties],
        "p": [d.province for d in counties], "c": [d.city for d in counties],
        "k": [d.adcode for d in counties],
    }))


def _rows_sql(first: int, count: int, start: dt.datetime, seconds: int, number_base: int) -> str:
    """``count`` waybills numbered from ``number_base + first``, their ship times spread evenly
    over ``seconds`` from ``start``: heavy-tailed merchants (u³), 80% 快包, three platforms."""
    return f"""
    WITH r AS (SELECT i, hash(i) AS h1, hash(i + 7919000000007) AS h2
               FROM range({first}, {first + count}) t(i)),
    g AS (SELECT i, h1, h2,
                 CAST(floor({CUSTOMERS} * pow(((h1 >> 20) % 1000000) / 1e6, 3)) AS INTEGER) AS cust,
                 CAST(h2 % (SELECT count(*) FROM dests) AS INTEGER) AS dest,
                 0.2 + 4 * pow(((h2 >> 24) % 10000) / 1e4, 2) AS w
          FROM r)
    SELECT CAST({number_base} + i AS VARCHAR) AS waybill_no, c.code, c.org_unit_id, c.customer_id,
      c.market_id, c.grid_id, c.adcode AS origin_adcode,
      CASE WHEN h1 % 10 < 8 THEN 'parcel' WHEN h1 % 10 = 8 THEN 'express' ELSE 'standard' END
        AS product,
      CASE WHEN (h1 // 10) % 10 < 5 THEN 'taobao' WHEN (h1 // 10) % 10 < 8 THEN 'pdd'
        ELSE 'live' END AS platform,
      CAST(TIMESTAMP '{start}' + to_seconds(CAST((i - {first}) * {seconds} // {count} AS BIGINT))
        AS TIMESTAMP_S) AS ship_time,
      d.province, d.city, d.county, d.p AS dest_province, d.c AS dest_city, d.k AS dest_county,
      CAST(round(w, 2) AS FLOAT) AS weight_kg, round(3 + round(w, 2) * 2.5, 1) AS fee
    FROM g JOIN customers c ON c.idx = g.cust JOIN dests d ON d.idx = g.dest
    """


_LAKE_COLUMNS = ("waybill_no, org_unit_id, customer_id, market_id, grid_id, "
                 "CAST(NULL AS INTEGER) AS outlet_id, product, platform, ship_time, origin_adcode, "
                 "dest_province, dest_city, dest_county, weight_kg, fee, "
                 "CAST(NULL AS INTEGER) AS line_id, 'delivered' AS status, "
                 "CAST(NULL AS TIMESTAMP_S) AS delivered_time")


def _months() -> list[tuple[dt.date, int]]:
    """Each month of the lake: its first day and its number of days in the lake."""
    months, day = [], FIRST_DAY
    while day <= LAST_DAY:
        following = (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        months.append((day, (min(following, LAST_DAY + dt.timedelta(days=1)) - day).days))
        day = following
    return months


def build_lake(folder: Path, rows: int, daily: int) -> None:
    """The store, the lake of ``rows`` waybills with its aggregates, and the daily CSV."""
    import duckdb

    from jiqun.lake import aggregates

    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    store = setup_store(folder)
    con = duckdb.connect()
    con.execute("SET threads = 2")
    con.execute("SET preserve_insertion_order = true")
    _register_dimensions(con, store)
    lake = folder / "lake"
    days = (LAST_DAY - FIRST_DAY).days + 1
    first = 0
    began = time.perf_counter()
    for start, month_days in _months():
        count = rows * month_days // days if start.month != LAST_DAY.month or \
            start.year != LAST_DAY.year else rows - first
        month_folder = lake / "waybills" / f"month={start:%Y-%m}"
        month_folder.mkdir(parents=True)
        tmp = month_folder / ".part-bench.parquet.tmp"
        query = _rows_sql(first, count, dt.datetime.combine(start, dt.time()), month_days * 86400,
                          1_000_000_000_000)
        con.execute(f"COPY (SELECT {_LAKE_COLUMNS} FROM ({query}) ORDER BY ship_time, waybill_no) "
                    f"TO '{tmp}' (FORMAT parquet, COMPRESSION zstd)")
        tmp.rename(month_folder / "part-bench.parquet")
        first += count
        log(f"month {start:%Y-%m}: {count:,} waybills ({first:,} of {rows:,}, "
            f"{time.perf_counter() - began:.0f} s)")
    write_daily_csv(con, folder / "daily.csv", daily)
    con.close()
    log("rebuilding the aggregates")
    t = time.perf_counter()
    aggregates.rebuild(lake)
    log(f"rebuilt in {time.perf_counter() - t:.1f} s")


def write_daily_csv(con, path: Path, daily: int) -> None:
    """One day's file (DAILY_DAY) of ``daily`` new waybills, as a user imports it."""
    query = _rows_sql(0, daily, dt.datetime.combine(DAILY_DAY, dt.time()), 86400,
                      2_000_000_000_000)
    labels = {"product": "CASE product WHEN 'parcel' THEN '快包' WHEN 'express' THEN '特快' "
                         "ELSE '标快' END",
              "platform": "CASE platform WHEN 'taobao' THEN '淘系' WHEN 'pdd' THEN '拼系' "
                          "ELSE '直播' END",
              "customer": "code", "ship_time": "strftime(ship_time, '%Y-%m-%d %H:%M:%S')",
              "weight": "weight_kg", "waybill_no": "waybill_no", "province": "province",
              "city": "city", "county": "county", "fee": "fee"}
    columns = ", ".join(f'{labels[k]} AS "{v}"' for k, v in HEADERS.items())
    con.execute(f"COPY (SELECT {columns} FROM ({query}) ORDER BY waybill_no) TO '{path}' "
                "(FORMAT csv, HEADER)")
    log(f"daily file {path}: {daily:,} waybills, {path.stat().st_size / 2**20:,.0f} MiB")


def late_table(store, daily: int):
    """``daily`` new waybills of LATE_DAY (a day already in the lake) as an Arrow table."""
    import duckdb

    con = duckdb.connect()
    _register_dimensions(con, store)
    query = _rows_sql(0, daily, dt.datetime.combine(LATE_DAY, dt.time()), 86400,
                      3_000_000_000_000)
    table = con.sql(f"SELECT {_LAKE_COLUMNS} FROM ({query})").to_arrow_table()
    con.close()
    return table


class RefreshClock:
    """Times every call of ``jiqun.lake.aggregates.refresh`` (the writer calls it through the
    module), so the refresh inside an import is measured without changing the import."""

    def __init__(self):
        self.calls: list[tuple[float, tuple, dict]] = []

    @contextmanager
    def installed(self):
        from jiqun.lake import aggregates

        original = aggregates.refresh

        def timed(*args, **kwargs):
            began = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.calls.append((time.perf_counter() - began, args, kwargs))

        aggregates.refresh = timed
        try:
            yield self
        finally:
            aggregates.refresh = original

    def seconds(self) -> float:
        return sum(c[0] for c in self.calls)


def _link_copy(source: Path, target: Path) -> None:
    """A copy of ``source`` made of hard links (instant, no room taken)."""
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target, copy_function=os.link)


def _snapshot(lake: Path, target: Path) -> None:
    from jiqun.lake.aggregates import DAILY_DATASET, LANES_DATASET

    if target.exists():
        shutil.rmtree(target)
    for dataset in (DAILY_DATASET, LANES_DATASET):
        _link_copy(lake / dataset.name, target / dataset.name)


def compare(left: Path, right: Path, touched: list[str]) -> dict[str, dict[str, int]]:
    """Each aggregate of ``left`` against ``right``: the ``touched`` months row by row (rows of
    one missing from the other), every month by a fingerprint (rows and the sum of the rows'
    hashes). Sums are rounded to 1e-6: a sum's last bits depend on the order DuckDB adds in."""
    import duckdb

    from jiqun.lake.aggregates import DAILY_DATASET, LANES_DATASET

    con = duckdb.connect()
    out = {}
    for dataset in (DAILY_DATASET, LANES_DATASET):
        names = [f.name for f in dataset.schema]
        cols = ", ".join(f"round({n}, 6) AS {n}" if n in ("revenue", "weight_kg") else n
                         for n in names)

        def rows(folder: Path, months: str = "*", cols=cols, name=dataset.name) -> str:
            return (f"SELECT {cols}, strftime(day, '%Y-%m') AS m FROM read_parquet("
                    f"'{folder / name}/month={months}/*.parquet', hive_partitioning = false)")

        def prints(folder: Path, rows=rows, names=names) -> dict:
            return {m: (n, h) for m, n, h in con.execute(
                f"SELECT m, count(*), sum(CAST(hash({', '.join(names)}) AS HUGEINT)) "
                f"FROM ({rows(folder)}) GROUP BY m").fetchall()}

        left_prints, right_prints = prints(left), prints(right)
        only_l = only_r = 0
        for month in touched:
            a, b = rows(left, month), rows(right, month)
            only_l += con.execute(f"SELECT count(*) FROM ({a} EXCEPT ALL {b})").fetchall()[0][0]
            only_r += con.execute(f"SELECT count(*) FROM ({b} EXCEPT ALL {a})").fetchall()[0][0]
        out[dataset.name] = {
            "incremental": sum(v[0] for v in left_prints.values()),
            "rebuild": sum(v[0] for v in right_prints.values()),
            "months": len(right_prints),
            "months_equal": sum(left_prints.get(m) == v for m, v in right_prints.items())
            if set(left_prints) == set(right_prints) else 0,
            "only_incremental": only_l, "only_rebuild": only_r}
    con.close()
    return out


def measure(base: Path, work: Path, daily: int) -> dict:
    from jiqun.ingest import import_file
    from jiqun.lake import WAYBILL_DATASET, aggregates, append
    from jiqun.store import Store

    store = Store(f"sqlite:///{base}/store.db")
    lake = work / "lake"
    _link_copy(base / "lake", lake)
    late = late_table(store, daily)
    result: dict = {"loadavg": [os.getloadavg()]}

    log("(a) import of the daily file")
    clock = RefreshClock()
    with clock.installed():
        began = time.perf_counter()
        report = import_file("waybills", base / "daily.csv", store, lake, now=NOW,
                             rejects=work / "rejects.csv")
        result["import"] = {"seconds": time.perf_counter() - began, "refresh": clock.seconds(),
                            "written": report.written, "rejected": report.rejected,
                            "months": [list(c[1][1]) for c in clock.calls]}
    result["loadavg"].append(os.getloadavg())

    log("(b) writer append of late waybills")
    clock = RefreshClock()
    with clock.installed():
        began = time.perf_counter()
        appended = append(lake, WAYBILL_DATASET, late)
        result["append"] = {"seconds": time.perf_counter() - began, "refresh": clock.seconds(),
                            "written": appended.added, "months": list(appended.months)}
    result["loadavg"].append(os.getloadavg())
    _snapshot(lake, work / "incremental")

    log("(c) refresh of the whole month")
    month = f"{DAILY_DAY:%Y-%m}"
    began = time.perf_counter()
    aggregates.refresh(lake, [month])
    result["month_refresh"] = time.perf_counter() - began
    result["month_rows"] = _month_rows(lake, month)

    log("(d) full rebuild")
    began = time.perf_counter()
    aggregates.rebuild(lake)
    result["rebuild"] = time.perf_counter() - began
    result["loadavg"].append(os.getloadavg())
    result["lake_rows"] = _lake_rows(lake)
    log("comparing")
    touched = sorted({m for ms in result["import"]["months"] for m in ms}
                     | set(result["append"]["months"]))
    result["compare"] = compare(work / "incremental", lake, touched)
    return result


def _month_rows(lake: Path, month: str) -> int:
    import duckdb

    return duckdb.sql(f"SELECT count(*) FROM read_parquet('{lake}/waybills/month={month}/*.parquet')"
                      ).fetchall()[0][0]


def _lake_rows(lake: Path) -> int:
    import duckdb

    return duckdb.sql(f"SELECT count(*) FROM read_parquet('{lake}/waybills/month=*/*.parquet')"
                      ).fetchall()[0][0]


def table(r: dict, rows: int, daily: int) -> str:
    imp, app = r["import"], r["append"]
    load = " / ".join(f"{a[0]:.1f}" for a in r["loadavg"])
    same = all(c["only_incremental"] == 0 and c["only_rebuild"] == 0
               and c["months_equal"] == c["months"] for c in r["compare"].values())
    lines = [
        f"Incremental refresh on {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; lake of {r['lake_rows'] - imp['written'] - app['written']:,}"
        f" waybills before the loads ({r['lake_rows']:,} after); load average (1 min) at the "
        f"start / after (a) / after (b) / after (d): {load}.",
        "",
        "| step | waybills | months touched | whole step (s) | aggregate refresh (s) "
        "| full rebuild (s) | rebuild / refresh |",
        "|---|---:|---|---:|---:|---:|---:|",
        f"| (a) `import_file(\"waybills\", daily.csv)`, one day ({DAILY_DAY}) | "
        f"{imp['written']:,} | {', '.join(m for ms in imp['months'] for m in ms)} | "
        f"{imp['seconds']:.1f} | {imp['refresh']:.2f} | {r['rebuild']:.1f} | "
        f"{r['rebuild'] / imp['refresh']:.0f}× |",
        f"| (b) `lake.append` (Arrow), late waybills of {LATE_DAY} | {app['written']:,} | "
        f"{', '.join(app['months'])} | {app['seconds']:.1f} | {app['refresh']:.2f} | "
        f"{r['rebuild']:.1f} | {r['rebuild'] / app['refresh']:.0f}× |",
        f"| (c) `aggregates.refresh` of the whole month {DAILY_DAY:%Y-%m} "
        f"({r['month_rows']:,} waybills) | | | {r['month_refresh']:.2f} | {r['month_refresh']:.2f} "
        f"| {r['rebuild']:.1f} | {r['rebuild'] / r['month_refresh']:.0f}× |",
        "",
        "Aggregates after (a) and (b) against the full rebuild (d): " + "; ".join(
            f"`{k}` {c['incremental']:,} rows vs {c['rebuild']:,}, {c['months_equal']} of "
            f"{c['months']} months with the same fingerprint, in the touched months "
            f"{c['only_incremental']} rows only in the incremental and {c['only_rebuild']} only "
            "in the rebuild" for k, c in r["compare"].items())
        + (" — **the same rows**." if same else " — **they differ**."),
    ]
    return "\n".join(lines)


def _check_disk(rows: int) -> None:
    needed = rows * 40  # the lake (~25 B a waybill), its aggregates and the daily file
    free = shutil.disk_usage(OUT).free
    log(f"{OUT}: {free / 2**30:,.1f} GiB free, about {needed / 2**30:,.1f} GiB needed")
    if free < needed * 2:
        raise SystemExit("not enough free disk for the benchmark lake")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000_000)
    parser.add_argument("--daily", type=int, default=1_000_000)
    parser.add_argument("--build-only", action="store_true")
    args = parser.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    root = OUT / f"refresh-{args.rows // 1_000_000}m"
    base = root / "base"
    marker = base / f"built-{args.rows}-{args.daily}"
    if not marker.exists():
        _check_disk(args.rows)
        build_lake(base, args.rows, args.daily)
        marker.touch()
    if args.build_only:
        return
    result = measure(base, root / "work", args.daily)
    text = table(result, args.rows, args.daily)
    (OUT / "refresh.md").write_text(text + "\n", encoding="utf-8")
    print(text)
    shutil.rmtree(root / "work", ignore_errors=True)


if __name__ == "__main__":
    main()
