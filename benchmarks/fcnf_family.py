"""Benchmark: the fixed-charge network flow solver on FCNetLib-shaped instances 固定费用网络流算例族.

    .venv/bin/python -m benchmarks.fcnf_family [--only g,k,r,sp or names] [--seed 1]
                                               [--time-limit 60] [--real] [--files F ...]

`../shared/data/orlib/fcnf` holds four FCNetLib files (g40x132, k10x90, r20x100, sp50x100);
FCNetLib (Ortega & Wolsey 2003) has many more of the same four families. This builds an
instance of the same shape as each FCNetLib instance of those families up to 100 nodes — the
same node and arc counts, graph kind, cost ranges and total demand as the real files — writes
it in the `.fcnf.txt` format and solves it through `orlib.read_fcnf`, so the reader is exercised
too. The families, as the four real files show them:

* ``g`` grid: rows × columns, both directions of every edge; fixed U[100, 1000], total demand 1000;
* ``k`` complete digraph, 1–3 parallel sub-arcs per ordered pair; fixed U[10, 40], demand 100;
* ``r`` random: a Hamiltonian cycle (so every supply reaches every demand) plus random arcs;
  fixed U[500, 1000], demand 1000;
* ``sp`` series–parallel: grown from one arc s → t by subdividing arcs, adding parallel paths
  and parallel sub-arcs; one large sink t and a skewed demand; fixed U[500, 1000], demand 3000.

Unit costs are U[1, 9] everywhere and capacities equal the total demand (uncapacitated). Letter
variants (names as FCNetLib's; what each letter changes is ours, FCNetLib does not say):
``b`` ten times the fixed costs, ``c`` one source, ``d`` one source and five sinks, ``e`` one
source, five sinks and fixed costs 50× the family's (k20x380e's U[1000, 2000] fixed against k's
U[10, 40]). `--real` solves the four real files too and checks them against optima.csv.

The table reports the bound at each stage (`LocationResult.details`): the weak LP, the strong LP
(tight big-M), the root bound after the dicut rounds, with each one's gap to the proven optimum.
Writes `benchmarks/out/fcnf_family.md`; the instances go to `benchmarks/out/fcnf_family/`.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_flow

from benchmarks import orlib
from jiqun.network.location import FixedChargeFlowProblem, SolveOptions, solve_fixed_charge_flow

ORLIB = Path(__file__).resolve().parents[1].parent / "shared/data/orlib"
OUT = Path(__file__).resolve().parent / "out"

@dataclass(frozen=True)
class Profile:
    """Costs and demand as one real FCNetLib file has them (read from its GAMS include)."""

    fixed: tuple[int, int]  # fixed cost U[lo, hi]
    total: int  # total demand
    sources: float  # share of nodes that supply (or a count when ≥ 1)
    sinks: float  # share of nodes with demand (or a count when ≥ 1)
    sigma: float = 0.5  # spread of the lognormal weights of supplies and demands
    first: float = 0.0  # share of the total demand at the first sink (sp: the end node t)


PROFILES = {
    "g40x132": Profile((100, 1000), 1000, 0.25, 0.375),
    "k10x90": Profile((10, 40), 100, 0.6, 0.4),
    "k14x182": Profile((500, 1000), 1000, 4, 6, sigma=1.5),
    "k20x380e": Profile((1000, 2000), 100, 1, 5),
    "r20x100": Profile((500, 1000), 1000, 0.4, 0.4),
    "r50x360": Profile((20, 50), 100, 0.6, 0.3, sigma=0.7),
    "sp50x100": Profile((500, 1000), 3000, 0.36, 0.42, sigma=1.5, first=0.7),
    "sp100x200": Profile((500, 1000), 470, 0.12, 0.13, sigma=1.5, first=0.9),
}


@dataclass(frozen=True)
class Shape:
    """One FCNetLib instance's shape: family, node and arc counts, the real file whose costs
    and demand it copies, variant letter."""

    name: str
    family: str
    nodes: int
    arcs: int
    profile: str
    variant: str = ""
    rows: int = 0  # grids only: rows × (nodes / rows)
    subarcs: int = 1  # complete graphs only: parallel sub-arcs per ordered pair
    undirected: bool = False  # random graphs: both directions of every edge (r50x360)


# Every FCNetLib instance of the g, k, r and sp families with at most 100 nodes. Profiles of
# files not read (k15x420, k20x380, sp80x160, …) are the nearest read file's, chosen so that
# the optimum has the published one's order of magnitude.
SHAPES = [
    Shape("g40x132", "g", 40, 132, "g40x132", rows=4),
    Shape("g50x170", "g", 50, 170, "g40x132", rows=5),
    Shape("g55x188", "g", 55, 188, "g40x132", rows=5),
    Shape("g55x188c", "g", 55, 188, "g40x132", "c", rows=5),
    Shape("k10x90", "k", 10, 90, "k10x90"),
    Shape("k14x182", "k", 14, 182, "k14x182"), Shape("k14x182b", "k", 14, 182, "k14x182", "b"),
    Shape("k15x210", "k", 15, 210, "k14x182"),
    Shape("k15x420", "k", 15, 420, "k10x90", subarcs=2),
    Shape("k15x630", "k", 15, 630, "k10x90", subarcs=3),
    Shape("k16x240", "k", 16, 240, "k14x182"), Shape("k16x240b", "k", 16, 240, "k14x182", "b"),
    Shape("k20x380", "k", 20, 380, "k10x90"),
    Shape("k20x380b", "k", 20, 380, "k14x182", "b"),
    Shape("k20x380c", "k", 20, 380, "k14x182", "c"),
    Shape("k20x380d", "k", 20, 380, "k14x182", "d"),
    Shape("k20x380e", "k", 20, 380, "k20x380e"),
    Shape("r20x100", "r", 20, 100, "r20x100"), Shape("r20x200", "r", 20, 200, "r20x100"),
    Shape("r30x160", "r", 30, 160, "r20x100"),
    Shape("r50x360", "r", 50, 360, "r50x360", undirected=True),
    Shape("r80x800", "r", 80, 800, "r50x360", undirected=True),
    Shape("sp50x100", "sp", 50, 100, "sp50x100"), Shape("sp80x160", "sp", 80, 160, "sp100x200"),
    Shape("sp90x180", "sp", 90, 180, "sp100x200"), Shape("sp90x250", "sp", 90, 250, "sp100x200"),
    Shape("sp100x200", "sp", 100, 200, "sp100x200"),
]


@dataclass(frozen=True)
class Network:
    demand: np.ndarray  # inflow − outflow per node
    tail: np.ndarray
    head: np.ndarray
    subarc: np.ndarray  # 1, 2, … for parallel arcs
    fixed: np.ndarray
    unit: np.ndarray


def generate(shape: Shape, seed: int = 1) -> Network:
    """A random instance of `shape` (same seed, same instance)."""
    rng = np.random.default_rng([seed, _stable(shape.name)])
    tail, head, subarc = _graph(shape, rng)
    lo, hi = PROFILES[shape.profile].fixed
    fixed = rng.integers(lo, hi + 1, size=tail.size)
    unit = rng.integers(1, 10, size=tail.size)
    demand = _demand(shape, tail, head, rng)
    return Network(demand, tail, head, subarc, fixed, unit)


def to_text(shape: Shape, net: Network, seed: int) -> str:
    """The instance in the `.fcnf.txt` format of `../shared/data/orlib/fcnf`."""
    total = int(np.clip(net.demand, 0, None).sum())
    lines = [f"# single-commodity fixed-charge network flow; generated by benchmarks/fcnf_family.py "
             f"(seed {seed}) in the shape of FCNetLib {shape.name}",
             "# node lines: N id demand  (flow balance: inflow - outflow = demand)",
             "# arc lines:  A from to subarc fixed_cost var_cost capacity(inf=uncapacitated)",
             f"NODES {net.demand.size}", f"ARCS {net.tail.size}"]
    lines += [f"N n{i + 1} {int(d)}" for i, d in enumerate(net.demand)]
    lines += [f"A n{t + 1} n{h + 1} a{s} {int(f)} {int(u)} {total}" for t, h, s, f, u in
              zip(net.tail, net.head, net.subarc, net.fixed, net.unit, strict=True)]
    return "\n".join(lines) + "\n"


def write(shape: Shape, seed: int, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{shape.name}.fcnf.txt"
    path.write_text(to_text(shape, generate(shape, seed), seed))
    return path


# --------------------------------------------------------------------------- graphs


def _graph(shape: Shape, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if shape.family == "g":
        arcs = _grid(shape.rows, shape.nodes // shape.rows)
    elif shape.family == "k":
        pairs = [(i, j) for i in range(shape.nodes) for j in range(shape.nodes) if i != j]
        arcs = [(i, j, s) for s in range(1, shape.subarcs + 1) for i, j in pairs]
    elif shape.family == "r":
        arcs = _random_digraph(shape.nodes, shape.arcs, rng, shape.undirected)
    else:
        arcs = _series_parallel(shape.nodes, shape.arcs, rng)
    if len(arcs) != shape.arcs:
        raise ValueError(f"{shape.name}: built {len(arcs)} arcs, expected {shape.arcs}")
    a = np.array(arcs, dtype=np.int64)
    return a[:, 0], a[:, 1], a[:, 2]


def _grid(rows: int, cols: int) -> list[tuple[int, int, int]]:
    arcs = []
    for r in range(rows):
        for c in range(cols):
            v = r * cols + c
            for dr, dc in ((0, 1), (1, 0)):
                if r + dr < rows and c + dc < cols:
                    w = (r + dr) * cols + c + dc
                    arcs += [(v, w, 1), (w, v, 1)]
    return arcs


def _random_digraph(n: int, m: int, rng, undirected: bool) -> list[tuple[int, int, int]]:
    """A Hamiltonian cycle (every node reaches every other) plus random arcs; `undirected`:
    a random spanning path and random edges, each in both directions."""
    order = [int(v) for v in rng.permutation(n)]
    if undirected:
        edges = {tuple(sorted((order[i], order[i + 1]))) for i in range(n - 1)}
        while 2 * len(edges) < m:
            i, j = sorted(int(v) for v in rng.integers(0, n, size=2))
            if i != j:
                edges.add((i, j))
        arcs = {a for i, j in edges for a in ((i, j), (j, i))}
    else:
        arcs = {(order[i], order[(i + 1) % n]) for i in range(n)}
        while len(arcs) < m:
            i, j = (int(v) for v in rng.integers(0, n, size=2))
            if i != j:
                arcs.add((i, j))
    return [(i, j, 1) for i, j in sorted(arcs)]


def _series_parallel(n: int, m: int, rng) -> list[tuple[int, int, int]]:
    """Grow s → t: `series` subdivides an arc (+1 node, +1 arc), `path` adds a parallel path
    through a new node (+1 node, +2 arcs), `twin` a parallel sub-arc (+1 arc)."""
    # sp50x100 has 17 second sub-arcs in 100 arcs; denser shapes (sp90x250) need more.
    paths = min(m - n + 1 - round(0.17 * m), n - 2)
    twins, series = m - n + 1 - paths, n - 2 - paths
    if paths < 0 or twins > n - 1 + paths:
        raise ValueError(f"no series-parallel graph with {n} nodes and {m} arcs")
    ops = ["series"] * series + ["path"] * paths
    rng.shuffle(ops)
    arcs: list[list[int]] = [[0, 1]]
    for k, op in enumerate(ops):
        v = k + 2
        i = int(rng.integers(len(arcs)))
        a, b = arcs[i]
        if op == "series":
            arcs[i] = [a, v]
            arcs.append([v, b])
        else:
            arcs += [[a, v], [v, b]]
    out = [(a, b, 1) for a, b in arcs]
    singles = [i for i, _ in enumerate(arcs)]
    for i in rng.choice(singles, size=twins, replace=False):
        out.append((arcs[i][0], arcs[i][1], 2))
    return sorted(out)


# --------------------------------------------------------------------------- demand


def _demand(shape: Shape, tail, head, rng, tries: int = 200) -> np.ndarray:
    prof = PROFILES[shape.profile]
    if shape.variant == "b":  # the same graph and costs, demand spread over many nodes
        prof = Profile(prof.fixed, prof.total, 0.4, 0.4)
    n = shape.nodes
    count = lambda share: max(1, round(share if share >= 1 else share * n))  # noqa: E731
    n_src = 1 if shape.variant in ("c", "d") else count(prof.sources)
    n_sink = 5 if shape.variant == "d" else count(prof.sinks)
    for _ in range(tries):
        nodes = rng.permutation(n)
        if shape.family == "sp":  # t (node 1) is the large sink of every sp instance
            nodes = np.concatenate([[1], nodes[nodes != 1]])
        sinks, sources = nodes[:n_sink], nodes[n_sink:n_sink + n_src]
        demand = np.zeros(n, dtype=np.int64)
        demand[sinks] = _split(prof.total, n_sink, prof.sigma, rng, first=prof.first)
        demand[sources] = -_split(prof.total, n_src, prof.sigma, rng)
        if _feasible(demand, tail, head):
            return demand
    raise ValueError(f"{shape.name}: no feasible demand in {tries} draws")


def _split(total: int, parts: int, sigma: float, rng, first: float = 0.0) -> np.ndarray:
    """`total` as `parts` positive integers with lognormal weights; `first` share to the first."""
    weights = rng.lognormal(0.0, sigma, size=parts)
    if first and parts > 1:
        weights = np.concatenate([[first], (1 - first) * weights[1:] / weights[1:].sum()])
    amounts = np.maximum(1, np.floor(weights / weights.sum() * (total - parts))).astype(np.int64)
    amounts[np.argmax(amounts)] += total - amounts.sum()
    return amounts


def _feasible(demand: np.ndarray, tail: np.ndarray, head: np.ndarray) -> bool:
    """Can every demand be met? One maximum flow from a super-source to a super-sink."""
    n = demand.size
    src, snk = n, n + 1
    total = int(np.clip(demand, 0, None).sum())
    sup, dem = np.flatnonzero(demand < 0), np.flatnonzero(demand > 0)
    rows = np.concatenate([tail, np.full(sup.size, src), dem])
    cols = np.concatenate([head, sup, np.full(dem.size, snk)])
    vals = np.concatenate([np.full(tail.size, total), -demand[sup], demand[dem]])
    graph = csr_matrix((vals.astype(np.int32), (rows, cols)), shape=(n + 2, n + 2))
    graph.sum_duplicates()
    return maximum_flow(graph, src, snk).flow_value == total


def _stable(name: str) -> int:
    # Python's hash() of a string changes per process; the seed must not.
    return int.from_bytes(name.encode(), "little") % (2**31)


# --------------------------------------------------------------------------- run


def solve_path(path: Path, time_limit: float) -> dict:
    net = orlib.read_fcnf(path)
    problem = FixedChargeFlowProblem(net.demand, net.tail, net.head, net.fixed_cost,
                                     net.unit_cost, net.capacity)
    load = os.getloadavg()[0]
    t0, c0 = time.perf_counter(), time.process_time()
    res = solve_fixed_charge_flow(problem, SolveOptions(time_limit=time_limit))
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"instance": net.name, "nodes": len(net.nodes), "arcs": int(net.tail.size),
            "objective": res.objective, "bound": res.bound, "status": str(res.status),
            "seconds": seconds, "cpu": cpu, "load": load, **res.details}


def _gap(bound: float, optimum: float) -> str:
    return f"{100 * max(0.0, optimum - bound) / max(abs(optimum), 1e-9):.2f}"


def _line(r: dict, optimum: float | None = None) -> str:
    opt = r["objective"] if optimum is None else optimum
    pub = "–" if optimum is None else f"{optimum:g}"
    return (f"| {r['instance']} | {r['nodes']} | {r['arcs']} | {r['objective']:.0f} | "
            f"{r['bound']:.1f} | {r['status']} | {r['seconds']:.2f} | {r['cpu']:.2f} | "
            f"{r['lp_weak']:.1f} | "
            f"{_gap(r['lp_weak'], opt)} | {r['lp_strong']:.1f} | {_gap(r['lp_strong'], opt)} | "
            f"{r['root_bound']:.1f} | {_gap(r['root_bound'], opt)} | {r['cut_rounds']} | "
            f"{r['cuts']} | {pub} | {r['load']:.2f} |")


HEADER = ("| instance | nodes | arcs | objective | bound | status | seconds | CPU s | weak LP | "
          "gap % | "
          "strong LP | gap % | root (dicuts) | gap % | rounds | cuts | published optimum | "
          "load (1 min) |\n|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"
          "---:|---:|---:|---:|")


def _optima() -> dict[str, float]:
    path = ORLIB / "optima.csv"
    if not path.exists():
        return {}
    with path.open() as fh:
        return {r["instance"]: float(r["optimal_value"]) for r in csv.DictReader(fh)}


def select(only: str) -> list[Shape]:
    keys = [k.strip() for k in only.split(",") if k.strip()]
    return [s for s in SHAPES if not keys or s.family in keys or s.name in keys]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="", help="families (g,k,r,sp) or instance names")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--real", action="store_true", help="also the real files in shared/data")
    ap.add_argument("--files", nargs="*", default=[], type=Path,
                    help="also these .fcnf.txt files (e.g. other FCNetLib instances converted)")
    args = ap.parse_args()
    folder = OUT / "fcnf_family"
    print(HEADER, flush=True)
    lines, rows = [], []
    if args.real and (ORLIB / "fcnf").is_dir():
        optima = _optima()
        for path in sorted((ORLIB / "fcnf").glob("*.fcnf.txt")):
            row = solve_path(path, args.time_limit)
            optimum = optima.get(f"fcnet_{row['instance']}")
            row["instance"] = f"{row['instance']} (real)"
            lines.append(_line(row, optimum))
            rows.append(row)
            print(lines[-1], flush=True)
    for path in args.files:
        row = solve_path(path, args.time_limit)
        row["instance"] = f"{row['instance']} (file)"
        lines.append(_line(row))
        rows.append(row)
        print(lines[-1], flush=True)
    for shape in select(args.only):
        row = solve_path(write(shape, args.seed, folder), args.time_limit)
        row["instance"] = f"{shape.name}-like"
        lines.append(_line(row))
        rows.append(row)
        print(lines[-1], flush=True)
    proven = sum(r["status"] == "optimal" for r in rows)
    worst = max((r["seconds"] for r in rows), default=float("nan"))
    text = (f"Measured on {platform.machine()} ({os.cpu_count()} cores shared), Python "
            f"{platform.python_version()}, seed {args.seed}, time limit {args.time_limit:g} s. "
            f"{proven}/{len(rows)} proven optimal; slowest {worst:.1f} s.\n\n" + HEADER + "\n"
            + "\n".join(lines))
    OUT.mkdir(exist_ok=True)
    (OUT / "fcnf_family.md").write_text(text + "\n")
    print(f"\n{proven}/{len(rows)} proven optimal; slowest {worst:.1f} s", flush=True)


if __name__ == "__main__":
    main()
