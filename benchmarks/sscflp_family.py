"""Benchmark: the single-source capacitated solvers on families of realistic size 单源容量选址算例族.

    .venv/bin/python -m benchmarks.sscflp_family [--only holmberg,cpmp] [--time-limit 60]
                                                 [--seeds 1] [--classes 30x200,...] [--p 10,15,20,25]
                                                 [--variants v,e,t] [--baseline]

`../shared/data/orlib` holds Holmberg p1–p10 (10 × 50) and pmedcap01–05 (n = 50); the issue runs
the larger members of both families, which are not here. The script draws instances of the same
shape, writes them in the OR-Library format, reads them back through `benchmarks.orlib` and solves
them single-source:

* ``hlike_<m>x<n>_<variant>_s<seed>`` — Holmberg, Rönnqvist & Yuan (1999) classes 10 × 50 (p1–p12),
  20 × 50 (p13–p24), 30 × 150 (p25–p40), 10 × 90 / 20 × 80 / 30 × 70 (p41–p55) and 30 × 200
  (p56–p71). As in their files: facilities and customers uniform in a square, c_ij the rounded
  Euclidean distance (their cost matrices have rank 4 when squared, and do not grow with demand:
  correlation −0.07 in p1), demand U[10, 50] (U[10, 30] in the 30 × 150 class), capacities either
  drawn U[100, 500] and scaled to a total capacity / total demand ratio, or all equal; fixed costs
  drawn U[300, 700] or all equal. Variants: ``v`` drawn capacities and fixed costs (ratio 1.75),
  ``e`` equal capacity at ratio 2 and equal fixed cost 500, ``t`` equal capacity at ratio 1.4
  (tight) and fixed cost 300.
* ``cpmp_n<n>_p<p>_s<seed>`` — capacitated p-median drawn as Osman & Christofides (1994) did for
  pmedcap (and Lorena & Senne's n = 200 class): points with integer coordinates U[1, 100]²,
  demand U[1, 20], one capacity Q = ceil(Σd / (τ p)) with tightness τ = 0.9, distance
  floor(Euclidean), objective Σ distance.

Prints a table (instance, n, p or m, objective, bound, gap, status, seconds, nodes) and writes
`benchmarks/out/sscflp_family.md`.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time
from pathlib import Path

import numpy as np

from benchmarks import orlib
from jiqun.network.location import (
    CapacitatedProblem,
    SolveOptions,
    capacitated,
    capacitated_pmedian,
    solve_capacitated,
)

OUT = Path(__file__).resolve().parent / "out"
# (facilities, customers, demand range) of Holmberg's size classes.
HOLMBERG_CLASSES = {
    "10x50": (10, 50, (10, 50)), "20x50": (20, 50, (10, 50)), "30x150": (30, 150, (10, 30)),
    "10x90": (10, 90, (10, 50)), "20x80": (20, 80, (10, 50)), "30x70": (30, 70, (10, 50)),
    "30x200": (30, 200, (10, 50)),
}
VARIANTS = ("v", "e", "t")
CPMP_P = (10, 15, 20, 25)
CPMP_TIGHTNESS = 0.9


def holmberg_like(m: int, n: int, demand_range=(10, 50), variant: str = "v",
                  seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(capacity, fixed cost, demand, cost m × n) of one Holmberg-shaped SSCFLP instance."""
    rng = np.random.default_rng(seed)
    side = 600.0  # their p1 costs run to 850 ≈ the diagonal of a 600 × 600 square
    fac = rng.uniform(0, side, size=(m, 2))
    cus = rng.uniform(0, side, size=(n, 2))
    demand = rng.integers(demand_range[0], demand_range[1] + 1, size=n).astype(np.float64)
    cost = np.rint(np.linalg.norm(fac[:, None, :] - cus[None, :, :], axis=2))
    total = demand.sum()
    if variant == "v":
        raw = rng.uniform(100, 500, size=m)
        capacity = np.ceil(raw * 1.75 * total / raw.sum())
        fixed = np.rint(rng.uniform(300, 700, size=m))
    else:
        ratio, fix = (2.0, 500.0) if variant == "e" else (1.4, 300.0)
        capacity = np.full(m, math.ceil(ratio * total / m))
        fixed = np.full(m, fix)
    # Every customer must fit somewhere (single-source): the largest demand fits every site.
    capacity = np.maximum(capacity, demand.max())
    return capacity, fixed, demand, cost


def write_sscflp(path: Path, capacity, fixed, demand, cost) -> Path:
    """Holmberg's file layout: m n; m × (capacity fixed); n demands; the m × n costs."""
    m, n = cost.shape
    lines = [f"{m} {n}"]
    lines += [f"{int(q)} {int(f)}" for q, f in zip(capacity, fixed, strict=True)]
    lines += [" ".join(str(int(v)) for v in demand[k : k + 10]) for k in range(0, n, 10)]
    flat = cost.ravel()
    lines += [" ".join(str(int(v)) for v in flat[k : k + 10]) for k in range(0, flat.size, 10)]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_cpmp(path: Path, n: int, p: int, seed: int, tightness: float = CPMP_TIGHTNESS) -> Path:
    """An Osman–Christofides-style capacitated p-median in the OR-Library pmedcap layout."""
    rng = np.random.default_rng(seed)
    xy = rng.integers(1, 101, size=(n, 2))
    demand = rng.integers(1, 21, size=n)
    capacity = math.ceil(demand.sum() / (tightness * p))
    lines = [" 1 0", f" {n} {p} {capacity}"]
    lines += [f" {k + 1} {x} {y} {d}" for k, ((x, y), d) in enumerate(zip(xy, demand, strict=True))]
    path.write_text("\n".join(lines) + "\n")
    return path


def family(only=("holmberg", "cpmp"), classes=tuple(HOLMBERG_CLASSES), variants=VARIANTS,
           seeds=(1,), ps=CPMP_P, n_cpmp: int = 200):
    """(name, size label, problem) of every instance, written to and read back from files."""
    folder = OUT / "sscflp_family"
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    if "holmberg" in only:
        for label in classes:
            m, n, drange = HOLMBERG_CLASSES[label]
            for variant in variants:
                for s in seeds:
                    name = f"hlike_{label}_{variant}_s{s}"
                    seed = s * 10_000 + m * 1000 + n + VARIANTS.index(variant)
                    path = write_sscflp(folder / f"{name}.txt",
                                        *holmberg_like(m, n, drange, variant, seed))
                    inst = orlib.read_sscflp(path)
                    problem = CapacitatedProblem(inst.capacity, inst.fixed_cost, inst.demand,
                                                 inst.cost)
                    out.append((name, f"{m}×{n}", problem))
    if "cpmp" in only:
        for p in ps:
            for s in seeds:
                name = f"cpmp_n{n_cpmp}_p{p}_s{s}"
                path = write_cpmp(folder / f"{name}.txt", n_cpmp, p, seed=s * 1000 + p)
                inst = orlib.read_pmedcap(path)
                problem = capacitated_pmedian(inst.distance, inst.demand, inst.capacity, inst.p)
                out.append((name, f"n={n_cpmp} p={p}", problem))
    return out


def run(instances, time_limit: float):
    rows = []
    for name, size, problem in instances:
        load = os.getloadavg()[0]
        t0 = time.perf_counter()
        res = solve_capacitated(problem, SolveOptions(time_limit=time_limit), single_source=True)
        seconds = time.perf_counter() - t0
        row = {"instance": name, "size": size, "objective": res.objective, "bound": res.bound,
               "gap": res.gap, "status": str(res.status), "seconds": seconds,
               "nodes": res.details.get("nodes", "–"), "method": res.details.get("method", "mip"),
               "load": load}
        rows.append(row)
        print(_line(row), flush=True)
    return rows


HEADER = ("| instance | size | objective | bound | gap | status | seconds | nodes | method "
          "| load (1 min) |\n|---|---|---:|---:|---:|---|---:|---:|---|---:|")


def _line(r) -> str:
    return (f"| {r['instance']} | {r['size']} | {r['objective']:.0f} | {r['bound']:.1f} | "
            f"{r['gap']:.1e} | {r['status']} | {r['seconds']:.2f} | {r['nodes']} | "
            f"{r['method']} | {r['load']:.2f} |")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--only", default="holmberg,cpmp")
    ap.add_argument("--classes", default=",".join(HOLMBERG_CLASSES))
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--seeds", default="1")
    ap.add_argument("--p", default=",".join(map(str, CPMP_P)))
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--baseline", action="store_true",
                    help="solve by the strong MIP alone (the route before single_source.py)")
    args = ap.parse_args(argv)
    if args.baseline:
        capacitated.SINGLE_SOURCE_SIZE = math.inf
    nums = lambda text: [int(t) for t in text.split(",") if t.strip()]  # noqa: E731
    instances = family(tuple(args.only.split(",")), args.classes.split(","),
                       args.variants.split(","), nums(args.seeds), nums(args.p), args.n)
    print(HEADER, flush=True)
    rows = run(instances, args.time_limit)
    worst = max((r["seconds"] for r in rows), default=math.nan)
    proven = sum(r["status"] == "optimal" for r in rows)
    close = sum(r["gap"] <= 1e-3 for r in rows)
    text = (f"Measured on {platform.machine()} ({os.cpu_count()} cores shared), Python "
            f"{platform.python_version()}, time limit {args.time_limit:g} s per instance. "
            f"{proven}/{len(rows)} proven optimal, {close}/{len(rows)} within 0.1 %; slowest "
            f"{worst:.1f} s.\n\n" + HEADER + "\n" + "\n".join(_line(r) for r in rows))
    OUT.mkdir(exist_ok=True)
    (OUT / ("sscflp_family_baseline.md" if args.baseline else "sscflp_family.md")).write_text(
        text + "\n")
    print(text)


if __name__ == "__main__":
    main()
