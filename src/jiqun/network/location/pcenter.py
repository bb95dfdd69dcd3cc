"""Vertex p-center 选址 (p-中心): with p centres, the radius every client is guaranteed.

Open p of the candidate sites so that the largest distance from a client to its nearest open
site is as small as possible. The optimum is one of the distinct distances, and "p sites cover
every client within r" only gets easier as r grows, so the answer is found by bisection over
the sorted distinct distances (Minieka 1970; Daskin 2013, ch. 5): at each r a greedy cover that
needs ≤ p sites proves r feasible at once, otherwise the set-covering MIP (HiGHS) decides
whether the fewest sites covering everyone within r number ≤ p.

The result's objective is the radius; its bound the smallest radius not proven infeasible, so
objective = bound means proven optimal. Work is counted in set-covering MIPs, which do not
depend on the machine's load.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from jiqun.network.location.covering import CoveringProblem, solve_set_covering
from jiqun.network.location.result import LocationResult, SolveOptions, SolveStatus


@dataclass(frozen=True)
class PCenterProblem:
    """`distance` is clients × candidate sites (∞ where a site cannot serve a client)."""

    distance: np.ndarray
    p: int


def greedy_cover_size(cover: np.ndarray, limit: int) -> list[int] | None:
    """Sites of a greedy cover of every client, or None when it needs more than `limit`."""
    uncovered = np.ones(cover.shape[0], dtype=bool)
    chosen: list[int] = []
    while uncovered.any():
        if len(chosen) == limit:
            return None
        gain = uncovered @ cover
        j = int(np.argmax(gain))
        if gain[j] == 0:
            return None  # some client no site reaches within this radius
        chosen.append(j)
        uncovered &= ~cover[:, j]
    return chosen


def farthest_first(distance: np.ndarray, p: int) -> list[int]:
    """Gonzalez's farthest-first traversal: a quick incumbent for the radius bisection."""
    first = int(np.argmin(distance.max(axis=0)))  # the best single centre
    chosen = [first]
    taken = np.zeros(distance.shape[1], dtype=bool)
    taken[first] = True
    near = distance[:, first].copy()
    while len(chosen) < p:
        client = int(np.argmax(near))  # the worst-served client gets the site nearest it
        site = int(np.argmin(np.where(taken, np.inf, distance[client])))
        chosen.append(site)
        taken[site] = True
        near = np.minimum(near, distance[:, site])
    return chosen


def _radius(distance: np.ndarray, sites) -> float:
    return float(distance[:, list(sites)].min(axis=1).max())


def solve_pcenter(problem: PCenterProblem, options: SolveOptions | None = None) -> LocationResult:
    """Smallest radius within which p open sites reach every client (proven by bisection)."""
    opts = options or SolveOptions()
    t0 = time.perf_counter()
    deadline = t0 + opts.time_limit
    dist = np.asarray(problem.distance, dtype=np.float64)
    p = int(problem.p)
    n, m = dist.shape
    if not 1 <= p <= m:
        raise ValueError(f"p={p} must lie between 1 and the {m} candidate sites")
    radii = np.unique(dist[np.isfinite(dist)])
    best = farthest_first(dist, p)
    hi = int(np.searchsorted(radii, _radius(dist, best)))  # feasible
    # No radius below each client's nearest site can work.
    lo = int(np.searchsorted(radii, dist.min(axis=1).max())) - 1  # largest known infeasible
    work = {"covering_mips": 0}
    unknown = False
    while hi - lo > 1 and time.perf_counter() < deadline:
        mid = (lo + hi) // 2
        sites = _cover_within(dist, radii[mid], p, deadline, work)
        if sites is None:
            lo = mid
        elif sites == "unknown":
            unknown = True
            break
        else:
            hi, best = mid, sites
    radius = float(radii[hi])
    bound = radius if hi - lo <= 1 and not unknown else float(radii[lo + 1])
    status = SolveStatus.OPTIMAL if bound >= radius else SolveStatus.TIME_LIMIT
    best = sorted(int(j) for j in best)
    assign = np.asarray(best)[np.argmin(dist[:, best], axis=1)]
    return LocationResult(radius, bound, time.perf_counter() - t0, status, np.asarray(best),
                          assign, details={"work": work})


def _cover_within(dist: np.ndarray, radius: float, p: int, deadline: float, work: dict):
    """p sites covering every client within `radius`, None when none exist, "unknown" when the
    MIP ran out of time before deciding."""
    cover = dist <= radius
    if not cover.any(axis=1).all():
        return None
    quick = greedy_cover_size(cover, p)
    if quick is not None:
        return _pad(quick, p, dist.shape[1])
    result = solve_set_covering(CoveringProblem(dist, radius),
                                SolveOptions(time_limit=max(0.01, deadline - time.perf_counter())))
    work["covering_mips"] += 1
    if result.status == SolveStatus.INFEASIBLE:
        return None
    if math.isfinite(result.bound) and result.bound > p + 1e-6:
        return None
    if math.isfinite(result.objective) and result.objective <= p + 1e-6:
        return _pad([int(j) for j in result.open_facilities], p, dist.shape[1])
    if result.status == SolveStatus.OPTIMAL:
        return None
    return "unknown"


def _pad(sites: list[int], p: int, m: int) -> list[int]:
    """Fewer than p sites cover everyone: open the lowest-numbered others too (any will do)."""
    rest = [j for j in range(m) if j not in set(sites)]
    return sites + rest[: p - len(sites)]
