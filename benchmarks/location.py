"""Benchmark: jiqun's location optimisers on the OR-Library instances, and PySAL spopt.

    .venv/bin/python -m benchmarks.location [--families pmed,cap,capa,sscflp,pmedcap,mclp,fcnf]
                                            [--time-limit 60] [--no-spopt]

Runs every file of the given families (capa at capacities 8000/10000/12000/14000; mclp at the
radius/p pairs named in optima.csv), compares with optima.csv, then solves the same p-median and
MCLP instances with spopt (`pip install -e .[bench]`; PuLP + CBC as in spopt's README, model
building included in its time). Writes `benchmarks/out/location.md` and prints it.
"""

from __future__ import annotations

import argparse
import csv
import math
import platform
import re
import time
from pathlib import Path

import numpy as np

from benchmarks import orlib
from benchmarks.solve import solve_file

ORLIB = Path(__file__).resolve().parents[1].parent / "shared/data/orlib"
OUT = Path(__file__).resolve().parent / "out"
FAMILIES = ("pmed", "cap", "capa", "sscflp", "pmedcap", "mclp", "fcnf")
CAPA = (8000, 10000, 12000, 14000)


def _natural(path: Path):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name)]


def read_optima() -> dict[str, float]:
    with (ORLIB / "optima.csv").open() as fh:
        return {r["instance"]: float(r["optimal_value"]) for r in csv.DictReader(fh)}


def jobs(family: str, optima: dict[str, float]):
    """(kind, file, kwargs) for every instance of a family."""
    if family == "pmed":
        return [("pmed", f, {}) for f in sorted((ORLIB / "pmed").glob("*.txt"), key=_natural)]
    if family == "cap":
        return [("cap", f, {}) for f in sorted((ORLIB / "cap").glob("cap[0-9]*.txt"),
                                               key=_natural)]
    if family == "capa":
        return [("cap", ORLIB / "cap/capa.txt", {"capacity": c}) for c in CAPA]
    if family in ("sscflp", "pmedcap"):
        return [(family, f, {}) for f in sorted((ORLIB / family).glob("*.txt"), key=_natural)]
    if family == "fcnf":
        return [("fcnf", f, {}) for f in sorted((ORLIB / "fcnf").glob("*.txt"), key=_natural)]
    out = []
    for name in optima:
        m = re.fullmatch(r"(SJC\d+)_(mclp|lscp)_S(\d+)(?:_p(\d+))?", name)
        if m:
            kw = {"radius": float(m[3])}
            if m[4]:
                kw["p"] = int(m[4])
            out.append(("mclp", ORLIB / f"mclp/{m[1]}.txt", kw))
    return out


def run_jiqun(families, optima, time_limit):
    rows = []
    for family in families:
        for kind, path, kw in jobs(family, optima):
            name, res = solve_file(kind, path, time_limit=time_limit, **kw)
            opt = optima.get(name, optima.get(f"{name}_ss"))
            gap_opt = abs(res.objective - opt) / abs(opt) if opt else math.nan
            rows.append({"instance": name, "kind": kind, "objective": res.objective,
                         "optimum": opt, "gap_to_optimum": gap_opt, "bound": res.bound,
                         "gap": res.gap, "seconds": res.seconds, "status": str(res.status)})
            print(f"{name}: {res.objective:.6g} (opt {opt}) {res.status} {res.seconds:.2f}s",
                  flush=True)
    return rows


def run_spopt(rows, time_limit):
    """Same p-median and MCLP instances through spopt + PuLP/CBC; time includes model building."""
    import pulp
    from spopt.locate import MCLP, PMedian

    out = []
    for row in rows:
        if row["kind"] not in ("pmed", "mclp") or "_lscp_" in row["instance"]:
            continue
        t0 = time.perf_counter()
        solver = pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit)
        if row["kind"] == "pmed":
            inst = orlib.read_pmed(ORLIB / f"pmed/{row['instance']}.txt")
            model = PMedian.from_cost_matrix(inst.distance, inst.weight, p_facilities=inst.p)
        else:
            m = re.fullmatch(r"(SJC\d+)_mclp_S(\d+)_p(\d+)", row["instance"])
            inst = orlib.read_mclp(ORLIB / f"mclp/{m[1]}.txt")
            model = MCLP.from_cost_matrix(inst.distance(), inst.demand,
                                          service_radius=float(m[2]), p_facilities=int(m[3]))
        model = model.solve(solver)
        seconds = time.perf_counter() - t0
        value = pulp.value(model.problem.objective)
        out.append({"instance": row["instance"], "jiqun_objective": row["objective"],
                    "spopt_objective": value, "jiqun_s": row["seconds"], "spopt_s": seconds,
                    "ratio": seconds / max(row["seconds"], 1e-9)})
        print(f"spopt {row['instance']}: {value} in {seconds:.2f}s", flush=True)
    return out


def _fmt(v, digits=6):
    if isinstance(v, str):
        return v
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return f"{v:.{digits}g}" if abs(v) < 1e6 or float(v).is_integer() is False else f"{v:.0f}"


def markdown(rows, spopt_rows) -> str:
    lines = ["| instance | kind | objective | optimum | gap to optimum | bound | gap | seconds | status |",
             "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        lines.append(f"| {r['instance']} | {r['kind']} | {r['objective']:.3f} | "
                     f"{_fmt(r['optimum'], 12)} | {r['gap_to_optimum']:.2e} | {r['bound']:.3f} | "
                     f"{r['gap']:.2e} | {r['seconds']:.2f} | {r['status']} |")
    if spopt_rows:
        lines += ["", "| instance | jiqun objective | spopt objective | jiqun s | spopt s | spopt / jiqun time |",
                  "|---|---:|---:|---:|---:|---:|"]
        for r in spopt_rows:
            lines.append(f"| {r['instance']} | {r['jiqun_objective']:.0f} | "
                         f"{_fmt(r['spopt_objective'], 12)} | {r['jiqun_s']:.2f} | "
                         f"{r['spopt_s']:.2f} | {r['ratio']:.1f}× |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--families", default=",".join(FAMILIES))
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--spopt-time-limit", type=float, default=300.0)
    ap.add_argument("--no-spopt", action="store_true")
    args = ap.parse_args()
    families = [f.strip() for f in args.families.split(",") if f.strip()]
    optima = read_optima()
    rows = run_jiqun(families, optima, args.time_limit)
    spopt_rows = [] if args.no_spopt else run_spopt(rows, args.spopt_time_limit)
    header = (f"Measured on {platform.machine()}, {np.__name__} {np.__version__}, Python "
              f"{platform.python_version()}, time limit {args.time_limit:g}s per instance.\n\n")
    text = header + markdown(rows, spopt_rows)
    OUT.mkdir(exist_ok=True)
    (OUT / "location.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
