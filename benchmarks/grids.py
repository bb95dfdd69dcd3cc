"""Benchmark: jiqun's grid design against PySAL spopt's regionalisers (max-p, SKATER).

    .venv/bin/python -m benchmarks.grids [--store sqlite:///…] [--k 4] [--tolerance 0.2]

Takes the demo market with the most merchants (default store: the small demo of
``benchmarks/out/kpi-small``; ``jiqun demo build --scale small`` makes one), builds jiqun's
spatial base units once, and on those same units and adjacency runs
- jiqun's design (region growing + local search, :mod:`jiqun.grids.design`),
- spopt SKATER with ``n_clusters = k`` (attributes: workload and potential),
- spopt max-p with the floor ``0.8 · total workload / k`` (it chooses the number of regions),
then reports max/min of workload and potential, compactness (mean merchant distance to its
region centre) and time; then jiqun alone on a synthetic 20,000-merchant market.
Writes ``benchmarks/out/grids.md`` and prints it (``pip install -e .[bench]`` for spopt).
"""

from __future__ import annotations

import argparse
import platform
import random
import time
import warnings
from pathlib import Path

import numpy as np

from jiqun.grids.design import Merchant, build_units, design_grids, max_min_ratio

OUT = Path(__file__).resolve().parent / "out"
DEFAULT_STORE = f"sqlite:///{OUT / 'kpi-small' / 'jiqun.db'}"


def biggest_market(url: str) -> tuple[str, list[Merchant]]:
    from sqlalchemy import func, select

    from jiqun.grids.redraw import market_merchants
    from jiqun.store import Store
    from jiqun.store.models import Customer, Market

    store = Store(url)
    with store.session() as s:
        mid = s.execute(select(Customer.market_id, func.count()).where(
            Customer.market_id.is_not(None)).group_by(Customer.market_id)
            .order_by(func.count().desc())).first()[0]
        return s.get(Market, mid).code, market_merchants(s, mid).merchants


def _score(name: str, labels_of_merchant: np.ndarray, merchants, xy, seconds) -> dict:
    regions = sorted(set(labels_of_merchant.tolist()))
    work = [sum(merchants[i].workload for i in np.flatnonzero(labels_of_merchant == r))
            for r in regions]
    pot = [sum(merchants[i].potential for i in np.flatnonzero(labels_of_merchant == r))
           for r in regions]
    dist = []
    for r in regions:
        pts = xy[labels_of_merchant == r]
        dist.extend(np.linalg.norm(pts - pts.mean(axis=0), axis=1))
    return {"method": name, "regions": len(regions), "workload_ratio": max_min_ratio(work),
            "potential_ratio": max_min_ratio(pot), "mean_distance_m": float(np.mean(dist)),
            "seconds": seconds}


def spopt_runs(merchants, k: int, cell_size_m: float) -> list[dict]:
    import geopandas as gpd
    import libpysal
    from shapely.geometry import Point
    from spopt.region import MaxPHeuristic, Skater

    units = build_units(merchants, k, cell_size_m=cell_size_m)
    gdf = gpd.GeoDataFrame({"workload": units.workload, "potential": units.potential},
                           geometry=[Point(x, y) for x, y in units.centre])
    w = libpysal.weights.W({u: sorted(n) for u, n in enumerate(units.neighbours)},
                           silence_warnings=True)
    attrs = ["workload", "potential"]
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = time.perf_counter()
        sk = Skater(gdf, w, attrs, n_clusters=k, floor=1, trace=False, islands="increase")
        sk.solve()
        out.append(("spopt SKATER", np.asarray(sk.labels_), time.perf_counter() - t))
        gdf["floor"] = units.workload
        t = time.perf_counter()
        # Fewer construction tries than the default 99: each is slow in pure Python.
        mp = MaxPHeuristic(gdf, w, attrs, "floor", 0.8 * units.workload.sum() / k, top_n=2,
                           max_iterations_construction=10, max_iterations_sa=3)
        mp.solve()
        out.append(("spopt max-p", np.asarray(mp.labels_), time.perf_counter() - t))
    return [_score(n, lab[units.unit_of], merchants, units.xy, s) for n, lab, s in out]


def synthetic(n: int, seed: int = 7) -> list[Merchant]:
    """A market of ``n`` shops in a few dense streets and a sparse fringe (about 8 × 6 km)."""
    rng = random.Random(seed)
    streets = [(120.10 + rng.random() * 0.06, 30.85 + rng.random() * 0.04) for _ in range(12)]
    tiers = ["special"] * 1 + ["first"] * 3 + ["second"] * 6 + ["third"] * 10 + ["micro"] * 20
    out = []
    for i in range(n):
        if rng.random() < 0.8:
            lon0, lat0 = rng.choice(streets)
            lon, lat = rng.gauss(lon0, 0.004), rng.gauss(lat0, 0.003)
        else:
            lon, lat = 120.08 + rng.random() * 0.1, 30.83 + rng.random() * 0.08
        out.append(Merchant(i, lon, lat, rng.choice(tiers), rng.lognormvariate(2.5, 1.0)))
    return out


def _fmt(x: float) -> str:
    return "∞" if x == float("inf") else f"{x:.3f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", default=DEFAULT_STORE)
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--tolerance", type=float, default=0.2)
    ap.add_argument("--synthetic", type=int, default=20_000)
    args = ap.parse_args()
    code, merchants = biggest_market(args.store)
    plan = design_grids(merchants, args.k, args.tolerance)
    labels = np.array([plan.assignment[m.id] for m in merchants])
    rows = [_score("jiqun", labels, merchants, build_units(
        merchants, args.k, cell_size_m=plan.cell_size_m).xy, plan.seconds)]
    rows += spopt_runs(merchants, args.k, plan.cell_size_m)
    lines = [f"Market {code}: {len(merchants)} merchants, {plan.units} base units "
             f"({plan.cell_size_m:.0f} m cells), k = {args.k}, tolerance {args.tolerance} "
             f"(jiqun within tolerance: {plan.within_tolerance}).", "",
             "| method | regions | workload max/min | potential max/min | mean distance to centre (m) | seconds |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {r['method']} | {r['regions']} | {_fmt(r['workload_ratio'])} | "
              f"{_fmt(r['potential_ratio'])} | {r['mean_distance_m']:.0f} | {r['seconds']:.2f} |"
              for r in rows]
    big = synthetic(args.synthetic)
    for k in (10, 20):
        p = design_grids(big, k, args.tolerance)
        lines.append("")
        lines.append(f"Synthetic {len(big):,} merchants, k = {k}: {p.seconds:.2f} s, {p.units} units, "
                     f"workload max/min {_fmt(p.workload_ratio)}, potential max/min "
                     f"{_fmt(p.potential_ratio)}, within tolerance {p.within_tolerance}, "
                     f"contiguous {p.contiguous}.")
    lines += ["", f"Machine: {platform.processor() or platform.machine()}, Python "
              f"{platform.python_version()}."]
    text = "\n".join(lines) + "\n"
    OUT.mkdir(exist_ok=True)
    (OUT / "grids.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
