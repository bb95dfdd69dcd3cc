"""Benchmark: the p-median solver on the whole OR-Library pmed family's sizes (pmed1–40).

    .venv/bin/python -m benchmarks.pmed_family [--only 11,16,40] [--time-limit 60] [--seed 1]

`../shared/data/orlib/pmed` holds pmed1–10 only; the issue runs pmed11–40 as well. This builds
instances of the same shape as each of the 40 (Beasley 1985: a random connected graph with
`n` vertices and `m` undirected edges, costs uniform 1–100, written in the OR-Library format and
read back through `orlib.read_pmed`), and solves them. Their optima are unknown, so the table
reports what the solver proves: objective, bound, status, wall and CPU seconds (on a machine
shared with other work the CPU seconds are the figure that repeats), and the work the solver
reports. `--kind pcenter` solves the vertex p-center on the real pmed1–10 instead
(`--real DIR`, default `../shared/data/orlib/pmed`). Writes `benchmarks/out/pmed_family.md`
(`pcenter_pmed.md`).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np

from benchmarks.solve import solve_file

OUT = Path(__file__).resolve().parent / "out"
REAL = Path(__file__).resolve().parents[2] / "shared/data/orlib/pmed"

# (n vertices, m edges, p) of pmed1 … pmed40, from OR-Library's pmedinfo.
SHAPES = [
    (100, 200, 5), (100, 200, 10), (100, 200, 10), (100, 200, 20), (100, 200, 33),
    (200, 800, 5), (200, 800, 10), (200, 800, 20), (200, 800, 40), (200, 800, 67),
    (300, 1800, 5), (300, 1800, 10), (300, 1800, 30), (300, 1800, 60), (300, 1800, 100),
    (400, 3200, 5), (400, 3200, 10), (400, 3200, 40), (400, 3200, 80), (400, 3200, 133),
    (500, 5000, 5), (500, 5000, 10), (500, 5000, 50), (500, 5000, 100), (500, 5000, 167),
    (600, 7200, 5), (600, 7200, 10), (600, 7200, 60), (600, 7200, 120), (600, 7200, 200),
    (700, 9800, 5), (700, 9800, 10), (700, 9800, 70), (700, 9800, 140),
    (800, 12800, 5), (800, 12800, 10), (800, 12800, 80),
    (900, 16200, 5), (900, 16200, 10), (900, 16200, 90),
]


def write_instance(path: Path, n: int, m: int, p: int, seed: int) -> Path:
    """A connected random graph: a random spanning tree, then distinct random extra edges."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    edges = {(min(a, b), max(a, b)) for a, b in
             ((order[k], order[rng.integers(0, k)]) for k in range(1, n))}
    while len(edges) < m:
        a, b = rng.integers(0, n, size=2)
        if a != b:
            edges.add((min(a, b), max(a, b)))
    lines = [f"{n} {m} {p}"]
    lines += [f"{a + 1} {b + 1} {int(rng.integers(1, 101))}" for a, b in sorted(edges)]
    path.write_text("\n".join(lines) + "\n")
    return path


def pcenter_table(real: Path, time_limit: float) -> None:
    """Vertex p-center on the real pmed1–10: radius, bound, status, seconds, covering MIPs."""
    lines = [f"vertex p-center on pmed1–10, {platform.machine()}, load "
             f"{os.getloadavg()[0]:.1f}, time limit {time_limit:.0f} s", "",
             "| instance | n | p | radius | bound | status | wall s | cpu s | covering MIPs |",
             "|---|---:|---:|---:|---:|---|---:|---:|---:|"]
    for k in range(1, 11):
        c0 = time.process_time()
        name, res = solve_file("pcenter", real / f"pmed{k}.txt", time_limit=time_limit)
        cpu = time.process_time() - c0
        n, _, p = SHAPES[k - 1]
        lines.append(f"| {name} | {n} | {p} | {res.objective:.0f} | {res.bound:.0f} | "
                     f"{res.status} | {res.seconds:.2f} | {cpu:.2f} | "
                     f"{res.details['work']['covering_mips']} |")
        print(lines[-1], flush=True)
    (OUT / "pcenter_pmed.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="", help="comma-separated pmed numbers (default: all 40)")
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--kind", choices=("pmed", "pcenter"), default="pmed")
    ap.add_argument("--real", type=Path, default=REAL)
    args = ap.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    if args.kind == "pcenter":
        pcenter_table(args.real, args.time_limit)
        return
    numbers = [int(x) for x in args.only.split(",") if x] or list(range(1, 41))
    folder = OUT / "pmed_family"
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for k in numbers:
        n, m, p = SHAPES[k - 1]
        path = write_instance(folder / f"pmedlike{k}.txt", n, m, p, seed=args.seed * 1000 + k)
        t0, c0 = time.perf_counter(), time.process_time()
        _, res = solve_file("pmed", path, time_limit=args.time_limit)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        rows.append((k, n, p, res, wall, cpu, os.getloadavg()[0]))
        print(f"pmedlike{k} n={n} p={p}: {res.objective:.0f} bound {res.bound:.1f} "
              f"{res.status} {res.seconds:.2f}s (with reading {wall:.2f}s, cpu {cpu:.2f}s) "
              f"{res.details}", flush=True)
    lines = [f"pmed-family lookalikes, seed {args.seed}, {platform.machine()}, "
             f"time limit {args.time_limit:.0f} s", "",
             "| instance | n | p | objective | bound | status | solve s | with reading s | "
             "cpu s | load | Lagrangian iterations | strong tests | closed sites | MIP nodes |",
             "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| pmedlike{k} | {n} | {p} | {r.objective:.0f} | {r.bound:.1f} | {r.status} | "
              f"{r.seconds:.2f} | {w:.2f} | {c:.2f} | {ld:.1f} | "
              f"{r.details['work']['lagrangian']['iterations']} | "
              f"{r.details['work']['lagrangian']['strong_tests']} | "
              f"{r.details.get('closed_sites', '')} | {r.details['work'].get('mip_nodes', '')} |"
              for k, n, p, r, w, c, ld in rows]
    (OUT / "pmed_family.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
