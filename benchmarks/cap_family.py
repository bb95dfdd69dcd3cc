"""Benchmark: the multi-source CFLP solver on the whole capa/capb/capc-style family 容量选址算例族.

    .venv/bin/python -m benchmarks.cap_family [--time-limit 60] [--only capa,cst]
                                              [--capacities 5000,...] [--seeds 1,2] [--ratios 3,5,10]

capb and capc are not in `shared/data/orlib` (no network), so the family is rebuilt two ways:

* ``capa_<Q>``: OR-Library capa (100 sites × 1000 clients) at many capacities Q — capb is solved
  at 5000/6000/7000/8000 and capc at 5000/5750/6500/7250, so those capacities are covered too;
* ``cst_r<r>_s<seed>``: instances drawn as Cornuéjols, Sridharan & Thizy (1991) describe them,
  at the capa/capb/capc size (100 × 1000): sites and clients uniform in the unit square, demand
  U[5, 35], capacity U[10, 160] scaled so that Σ capacity / Σ demand = r, fixed cost
  U[0, 90] + U[100, 110]·√capacity, cost of serving *all* of a client = 10 × distance × demand.

Prints a table (instance, objective, bound, gap, seconds, status) and writes
`benchmarks/out/cap_family.md`.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import platform
import time
from pathlib import Path

import numpy as np

from benchmarks import orlib
from jiqun.network.location import CapacitatedProblem, SolveOptions, solve_capacitated

ORLIB = Path(__file__).resolve().parents[1].parent / "shared/data/orlib"
OUT = Path(__file__).resolve().parent / "out"
# capa's published capacities, capb's (5000–8000) and capc's (5000–7250), and a few in between.
CAPA_CAPACITIES = (5000, 5750, 6000, 6500, 7000, 7250, 8000, 9000, 10000, 11000, 12000, 13000,
                   14000)
RATIOS = (3, 5, 10)
SEEDS = (1, 2)


def capa_at(capacity: float, path: Path | None = None) -> CapacitatedProblem:
    """OR-Library capa with every site at `capacity` (must cover the 50886 units of demand)."""
    inst = orlib.read_cap(path or ORLIB / "cap/capa.txt", capacity)
    if inst.capacity.sum() < inst.demand.sum():
        raise ValueError(f"capa at capacity {capacity} cannot serve the total demand")
    return CapacitatedProblem(inst.capacity, inst.fixed_cost, inst.demand, inst.cost)


def cornuejols_instance(sites: int = 100, clients: int = 1000, ratio: float = 5.0,
                        seed: int = 1) -> CapacitatedProblem:
    """A random CFLP drawn as in Cornuéjols, Sridharan & Thizy (1991) (integral demand and
    capacity, so the transportation problem is an integer flow)."""
    rng = np.random.default_rng(seed)
    site_xy = rng.uniform(0.0, 1.0, size=(sites, 2))
    client_xy = rng.uniform(0.0, 1.0, size=(clients, 2))
    demand = rng.integers(5, 36, size=clients).astype(np.float64)
    raw = rng.uniform(10.0, 160.0, size=sites)
    # Scale to the ratio, rounding up so that Σ capacity ≥ ratio × Σ demand still holds.
    capacity = np.ceil(raw * ratio * demand.sum() / raw.sum())
    fixed = rng.uniform(0.0, 90.0, size=sites) + rng.uniform(100.0, 110.0, size=sites) * np.sqrt(
        capacity)
    distance = np.linalg.norm(site_xy[:, None, :] - client_xy[None, :, :], axis=2)
    cost = 10.0 * distance * demand[None, :]
    return CapacitatedProblem(capacity, fixed, demand, cost)


def family(only=("capa", "cst"), capacities=CAPA_CAPACITIES, ratios=RATIOS, seeds=SEEDS):
    """(name, problem, published optimum or None) for every instance of the family."""
    optima = _optima()
    out = []
    if "capa" in only and (ORLIB / "cap/capa.txt").exists():
        for q in capacities:
            out.append((f"capa_{q}", capa_at(q), optima.get(f"capa_{q}")))
    if "cst" in only:
        for r in ratios:
            for s in seeds:
                out.append((f"cst_r{r}_s{s}", cornuejols_instance(ratio=r, seed=s), None))
    return out


def _optima() -> dict[str, float]:
    path = ORLIB / "optima.csv"
    if not path.exists():
        return {}
    with path.open() as fh:
        return {r["instance"]: float(r["optimal_value"]) for r in csv.DictReader(fh)}


def run(instances, time_limit: float):
    rows = []
    for name, problem, optimum in instances:
        load = os.getloadavg()[0]
        t0 = time.perf_counter()
        res = solve_capacitated(problem, SolveOptions(time_limit=time_limit))
        seconds = time.perf_counter() - t0
        row = {"instance": name, "objective": res.objective, "bound": res.bound, "gap": res.gap,
               "seconds": seconds, "status": str(res.status), "optimum": optimum,
               "nodes": res.details.get("nodes", "–"), "load": load}
        rows.append(row)
        print(_line(row), flush=True)
    return rows


def _line(r) -> str:
    opt = "–" if r["optimum"] is None else f"{r['optimum']:.3f}"
    return (f"| {r['instance']} | {r['objective']:.3f} | {r['bound']:.3f} | {r['gap']:.1e} | "
            f"{r['seconds']:.2f} | {r['status']} | {opt} | {r['nodes']} | {r['load']:.2f} |")


HEADER = ("| instance | objective | bound | gap | seconds | status | published optimum | nodes "
          "| load (1 min) |\n|---|---:|---:|---:|---:|---|---:|---:|---:|")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--only", default="capa,cst")
    ap.add_argument("--capacities", default=",".join(map(str, CAPA_CAPACITIES)))
    ap.add_argument("--ratios", default=",".join(map(str, RATIOS)))
    ap.add_argument("--seeds", default=",".join(map(str, SEEDS)))
    args = ap.parse_args()
    nums = lambda text: [int(t) for t in text.split(",") if t.strip()]  # noqa: E731
    instances = family(tuple(args.only.split(",")), nums(args.capacities), nums(args.ratios),
                       nums(args.seeds))
    print(HEADER, flush=True)
    rows = run(instances, args.time_limit)
    worst = max((r["seconds"] for r in rows), default=math.nan)
    proven = sum(r["status"] == "optimal" for r in rows)
    text = (f"Measured on {platform.machine()} ({os.cpu_count()} cores shared), Python "
            f"{platform.python_version()}, numpy {np.__version__}, time limit "
            f"{args.time_limit:g} s per instance. {proven}/{len(rows)} proven optimal "
            f"(relative gap ≤ 1e-6); slowest {worst:.1f} s.\n\n" + HEADER + "\n"
            + "\n".join(_line(r) for r in rows))
    OUT.mkdir(exist_ok=True)
    (OUT / "cap_family.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
