"""Benchmark: a province-month ledger through jiqun (Ibis on DuckDB) against the same figures
computed by hand-written DuckDB SQL, side by side on one connection.

    .venv/bin/python -m benchmarks.ledger [--scale small|large] [--scope HA] [--repeat 5]

The demo is built once into ``benchmarks/out/kpi-<scale>/`` (shared with ``benchmarks.kpi``).
Both sides get the same inputs — the month's cost parameters resolved per city, the allocation
bases, the distance table, the dedicated lines, the visits and cases — as in-memory tables, and
compute revenue and activity cost per outlet unit and per market of the province's month; the
figures are checked equal before the times count. Median of ``--repeat`` warm runs each.
Writes ``benchmarks/out/ledger-<scale>.md`` and prints it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import time
from pathlib import Path

from benchmarks.kpi import OUT, _env, ensure_demo

# The hand-written query: the same rules as jiqun.money.cost.cost_lines, in one statement.
SQL = """
WITH w AS (
  SELECT w.waybill_no, w.org_unit_id, w.customer_id, w.market_id, w.product, w.weight_kg,
         w.fee, w.line_id, CAST(w.ship_time AS DATE) AS day, u.city_id,
         coalesce(w.dest_city, w.dest_province) AS dest_key
  FROM read_parquet('{lake}/waybills/month=*/*.parquet') w
  JOIN b_scope s ON w.org_unit_id = s.org_unit_id
  LEFT JOIN b_unit_city u ON w.org_unit_id = u.org_unit_id
  WHERE w.ship_time >= TIMESTAMP '{start}' AND w.ship_time < TIMESTAMP '{end}'
), line_month AS (
  SELECT w.line_id, count(DISTINCT w.day) * coalesce(max(l.trips_per_day), 0) AS trips,
         sum(w.weight_kg) AS kg
  FROM w LEFT JOIN b_lines l ON w.line_id = l.line_id
  WHERE w.line_id IS NOT NULL GROUP BY w.line_id
), city_key AS (
  SELECT city_id, count(*) AS pieces, sum(weight_kg) AS weight, sum(fee) AS revenue
  FROM w GROUP BY city_id
), coef AS (
  SELECT g.param_id, any_value(g.fixed) AS fixed, any_value(g.alloc) AS alloc,
         sum(CASE g.alloc WHEN 'pieces' THEN k.pieces WHEN 'weight' THEN k.weight
             ELSE k.revenue END) AS base
  FROM b_governs g JOIN city_key k ON g.city_id = k.city_id GROUP BY g.param_id
), city_fixed AS (
  SELECT g.city_id,
         sum(CASE WHEN c.alloc = 'pieces' AND c.base > 0 THEN c.fixed / c.base ELSE 0 END) AS fp,
         sum(CASE WHEN c.alloc = 'weight' AND c.base > 0 THEN c.fixed / c.base ELSE 0 END) AS fw,
         sum(CASE WHEN c.alloc = 'revenue' AND c.base > 0 THEN c.fixed / c.base ELSE 0 END) AS fr
  FROM b_governs g JOIN coef c ON g.param_id = c.param_id GROUP BY g.city_id
), costed AS (
  SELECT w.org_unit_id, w.market_id, w.fee,
    r.stop * CASE WHEN w.customer_id IS NULL THEN 1.0
                  ELSE 1.0 / count(*) OVER (PARTITION BY w.customer_id, w.day) END
    + r.pickup + r.processing + r.consolidation
    + CASE WHEN lm.kg > 0 THEN r.trip * lm.trips * w.weight_kg / lm.kg
           ELSE r.kg_km * w.weight_kg * coalesce(g.km, 0) END
    + coalesce(CASE g.zone WHEN 'same' THEN r.lm_same WHEN 'neighbour' THEN r.lm_neighbour
               WHEN 'remote' THEN r.lm_remote ELSE r.lm_far END, 0)
    + coalesce(f.fp + f.fw * w.weight_kg + f.fr * w.fee, 0) AS cost
  FROM w
  LEFT JOIN b_rates r ON w.city_id = r.city_id
  LEFT JOIN b_geo g ON w.city_id = g.city_id AND w.dest_key = g.dest_key
  LEFT JOIN line_month lm ON w.line_id = lm.line_id
  LEFT JOIN city_fixed f ON w.city_id = f.city_id
), lines AS (
  SELECT org_unit_id, market_id, fee AS revenue, cost FROM costed
  UNION ALL
  SELECT a.org_unit_id, a.market_id, 0.0, a.visits * coalesce(r.visit, 0)
                                          + a.contacts * coalesce(r.contact, 0)
  FROM b_activity a LEFT JOIN b_unit_city u ON a.org_unit_id = u.org_unit_id
  LEFT JOIN b_rates r ON u.city_id = r.city_id
)
SELECT org_unit_id, market_id, sum(revenue) AS revenue, sum(cost) AS cost
FROM lines GROUP BY org_unit_id, market_id
"""


def _inputs_tables(inputs):
    """The resolved rates, governed cities, units, distances, lines and activity as Arrow."""
    import pyarrow as pa

    from jiqun.money import cost as c
    from jiqun.store.models import CostDriver as D
    from jiqun.store.models import CostPool as P

    def rate(slots, pool, driver, zone="*"):
        p = slots.get((pool, driver, zone))
        return p.rate if p else 0.0

    rates, governs = [], []
    for city, slots in inputs.resolved.items():
        rates.append({
            "city_id": city, "visit": rate(slots, P.MARKETING, D.VISITS),
            "stop": rate(slots, P.PICKUP, D.STOPS), "pickup": rate(slots, P.PICKUP, D.PIECES),
            "contact": rate(slots, P.CUSTOMER_SERVICE, D.CONTACTS),
            "processing": rate(slots, P.PROCESSING, D.PIECES),
            "consolidation": rate(slots, P.CONSOLIDATION, D.PIECES),
            "kg_km": rate(slots, P.LINE_HAUL, D.KG_KM), "trip": rate(slots, P.LINE_HAUL, D.TRIPS),
            **{f"lm_{z}": rate(slots, P.LAST_MILE, D.PIECES, z) for z in c.ZONES}})
        for p in {p.id: p for p in slots.values()}.values():
            governs.append({"param_id": p.id, "city_id": city, "pool": p.pool.value,
                            "fixed": p.fixed_per_month, "alloc": p.allocation_key})
    scope = [{"org_unit_id": u} for u in inputs.units if inputs.scope.allows(u)]
    return {"b_rates": pa.Table.from_pylist(rates), "b_governs": pa.Table.from_pylist(governs),
            "b_scope": pa.Table.from_pylist(scope), "b_unit_city": c._unit_city(inputs),
            "b_geo": c._geography(inputs), "b_lines": inputs.lines,
            "b_activity": inputs.activity}


def _interleaved(sides, repeat: int) -> list[tuple[float, float, object]]:
    """Median wall and CPU seconds (every thread of this process: DuckDB's too) of each side,
    run in turns so that a change of load on a shared machine falls on every side alike."""
    walls = [[] for _ in sides]
    cpus = [[] for _ in sides]
    outs: list[object] = [None] * len(sides)
    for _ in range(repeat):
        for i, fn in enumerate(sides):
            w0, c0 = time.perf_counter(), time.process_time()
            outs[i] = fn()
            cpus[i].append(time.process_time() - c0)
            walls[i].append(time.perf_counter() - w0)
    return [(statistics.median(w), statistics.median(c), o)
            for w, c, o in zip(walls, cpus, outs, strict=True)]


def run(scale: str, seed: int, scope_code: str, repeat: int) -> str:
    folder = ensure_demo(scale, seed)
    env = _env(folder)
    os.environ.update(env)
    from sqlalchemy import select

    from jiqun.lake import connect
    from jiqun.money import cost, ledger
    from jiqun.store import Store
    from jiqun.store.models import OrgUnit
    from jiqun.store.scope import Scope

    store = Store(env["JIQUN_STORE_URL"])
    lake = Path(env["JIQUN_LAKE_PATH"])
    con = connect(engine="duckdb")
    with store.session(scope=Scope.WHOLE) as s:
        unit = s.scalar(select(OrgUnit).where(OrgUnit.code == scope_code))
        scope = Scope.for_unit(s, unit)
    with store.session(scope=scope) as session:
        month = ledger.latest_month(con, lake, scope)
        inputs = cost.CostInputs.load(session, scope, month)
        start, end = cost.month_bounds(month)
        waybills = con.to_pyarrow(cost.month_waybills(con, lake, scope, month).count()).as_py()

        keys = ["org_unit_id", "city_id", "market_id"]

        def jiqun_side():  # the engine query of ledger.statement
            return cost.cost_totals(con, lake, inputs, keys)

        raw = con.con
        for name, table in _inputs_tables(inputs).items():
            raw.register(name, table)
        query = SQL.format(lake=lake.absolute(), start=start, end=end)

        def sql_side():
            return raw.sql(query).to_arrow_table().to_pylist()

        t0 = time.perf_counter()
        jiqun_side()  # the first ask: the expression built and compiled
        t_first = time.perf_counter() - t0
        sql_side()
        (t_sql, c_sql, by_sql), (t_jiqun, c_jiqun, by_jiqun) = _interleaved(
            (sql_side, jiqun_side), repeat)
        (t_statement, _, st), = _interleaved(
            (lambda: ledger.statement(con, lake, session, scope, month),), max(1, repeat // 2))
    _check_equal(by_jiqun, by_sql)
    ratio, cpu_ratio = t_jiqun / t_sql, c_jiqun / c_sql
    load = Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"
    profit = sum(r.profit for r in st.rows if r.level == "city")
    lines = [
        f"#### Ledger — demo scale `{scale}`, scope {scope_code}, month {month:%Y-%m}, "
        f"{waybills:,} waybills of the month",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; median of {repeat} warm runs, the sides in turns; "
        f"load average {load} at the end; {dt.date.today().isoformat()}.",
        "",
        "| side | wall seconds | CPU seconds |",
        "|---|---:|---:|",
        f"| hand-written DuckDB SQL (revenue and cost per outlet × market) | {t_sql:.3f} | "
        f"{c_sql:.3f} |",
        f"| jiqun (`cost.cost_totals` at the statement's grain, Ibis → DuckDB) | {t_jiqun:.3f} | "
        f"{c_jiqun:.3f} |",
        f"| **ratio jiqun / SQL** | **{ratio:.2f}** | **{cpu_ratio:.2f}** |",
        f"| jiqun's first ask of the month (the expression built and compiled, then run) | "
        f"{t_first:.3f} | |",
        f"| whole statement (`ledger.statement`: store reads, incentives, roll-up) | "
        f"{t_statement:.3f} | |",
        "",
        f"Figures equal on both sides ({len(by_sql)} outlet × market rows; the cities' profit "
        f"¥{profit:,.2f}).",
    ]
    text = "\n".join(lines) + "\n"
    OUT.mkdir(exist_ok=True)
    (OUT / f"ledger-{scale}.md").write_text(text, encoding="utf-8")
    return text


def _check_equal(jiqun_rows: list[dict], sql_rows: list[dict]) -> None:
    def index(rows):
        return {(r["org_unit_id"], r["market_id"]): (r["revenue"] or 0.0, r["cost"] or 0.0)
                for r in rows}

    a, b = index(jiqun_rows), index(sql_rows)
    if set(a) != set(b):
        raise AssertionError(f"rows differ: {sorted(set(a) ^ set(b))[:5]}")
    for k in a:
        for x, y in zip(a[k], b[k], strict=True):
            if abs(x - y) > 1e-6 * max(1.0, abs(y)):
                raise AssertionError(f"{k}: jiqun {a[k]} vs SQL {b[k]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="small")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--scope", default="HA")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(run(args.scale, args.seed, args.scope, args.repeat))


if __name__ == "__main__":
    main()
