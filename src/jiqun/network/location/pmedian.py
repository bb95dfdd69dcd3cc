"""p-median 选址 (p-中位): open p sites minimising weighted client-to-nearest-site distance.

Two parts, both vectorised with numpy:

- a heuristic — greedy construction then Teitz–Bart best-improvement interchange (交换法), each
  pass evaluating every (in, out) swap at once as a matrix — gives a strong incumbent fast;
- an exact proof (`radius.prove_pmedian`): Lagrangian bounds close the sites no better solution
  can open; the radius formulation on the remaining sites, truncated at each client's distance in
  the incumbent and grown level by level; then reduced-cost fixing and branch and bound under
  the incumbent as a cut-off. It has a few rows per client instead of one per client–site pair,
  which is what makes proving optimality fast.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix

from jiqun.network.location.radius import prove_pmedian
from jiqun.network.location.result import LocationResult, SolveOptions, SolveStatus


@dataclass(frozen=True)
class PMedianProblem:
    """`distance` is clients × candidate sites; `weight` the demand of each client (需求量)."""

    distance: np.ndarray
    p: int
    weight: np.ndarray | None = None

    def weights(self) -> np.ndarray:
        n = self.distance.shape[0]
        return np.ones(n) if self.weight is None else np.asarray(self.weight, dtype=np.float64)


def assignment_cost(distance: np.ndarray, weight: np.ndarray, open_sites) -> float:
    """Total weighted distance when every client uses its nearest open site."""
    sites = np.asarray(list(open_sites), dtype=np.int64)
    return float(weight @ distance[:, sites].min(axis=1))


def greedy_medians(distance: np.ndarray, weight: np.ndarray, p: int,
                   fixed_open=(), fixed_closed=()) -> list[int]:
    """Add, one at a time, the site that lowers the total weighted distance most."""
    n, m = distance.shape
    chosen = [int(j) for j in fixed_open]
    current = distance[:, chosen].min(axis=1) if chosen else np.full(n, np.inf)
    banned = np.zeros(m, dtype=bool)
    banned[list(fixed_closed)] = True
    banned[chosen] = True
    while len(chosen) < p:
        totals = weight @ np.minimum(distance, current[:, None])
        totals[banned] = np.inf
        j = int(np.argmin(totals))
        chosen.append(j)
        banned[j] = True
        current = np.minimum(current, distance[:, j])
    return chosen


def interchange(distance: np.ndarray, weight: np.ndarray, sites: list[int],
                fixed_open=(), fixed_closed=(), deadline: float = math.inf) -> list[int]:
    """Teitz–Bart best-improvement swaps until no swap improves (or the deadline passes)."""
    n, m = distance.shape
    sites = list(sites)
    locked = set(int(j) for j in fixed_open)
    closed = np.zeros(m, dtype=bool)
    closed[list(fixed_closed)] = True
    wcol = weight[:, None]
    best_cost = assignment_cost(distance, weight, sites)
    while time.perf_counter() < deadline:
        sub = distance[:, sites]
        order = np.argsort(sub, axis=1)
        near = order[:, 0]
        d1 = sub[np.arange(n), near]
        d2 = sub[np.arange(n), order[:, 1]] if len(sites) > 1 else np.full(n, np.inf)
        with_in = np.minimum(distance, d1[:, None])
        base = weight @ with_in  # cost of adding `in`, removing nobody
        extra = wcol * (np.minimum(distance, d2[:, None]) - with_in)
        owner = csr_matrix((np.ones(n), (near, np.arange(n))), shape=(len(sites), n))
        swap = base[None, :] + owner @ extra  # [out position, in site]
        swap[:, sites] = np.inf
        swap[:, closed] = np.inf
        for pos, j in enumerate(sites):
            if j in locked:
                swap[pos, :] = np.inf
        pos, j_in = np.unravel_index(int(np.argmin(swap)), swap.shape)
        if not swap[pos, j_in] < best_cost - 1e-9 * max(1.0, abs(best_cost)):
            break
        sites[pos] = int(j_in)
        best_cost = float(swap[pos, j_in])
    return sites


def perturbed_search(distance: np.ndarray, weight: np.ndarray, sites: list[int],
                     fixed_open=(), fixed_closed=(), deadline: float = math.inf,
                     patience: int = 50, seed: int = 0) -> list[int]:
    """Iterated local search: swap a few sites at random, re-run the interchange, keep gains.

    Teitz–Bart stops at a local optimum; a better incumbent makes the exact proof's cut-off and
    reduced-cost fixing much stronger. Deterministic for a given seed.
    """
    rng = np.random.default_rng(seed)
    m = distance.shape[1]
    movable = [k for k, j in enumerate(sites) if j not in set(fixed_open)]
    allowed = np.setdiff1d(np.arange(m), np.asarray(list(fixed_closed), dtype=np.int64))
    best, best_cost = list(sites), assignment_cost(distance, weight, sites)
    kick = max(1, round(0.2 * len(movable)))
    stale = 0
    while movable and stale < patience and time.perf_counter() < deadline:
        trial = list(best)
        outside = np.setdiff1d(allowed, trial)
        if outside.size == 0:
            break
        for pos, j in zip(rng.choice(movable, size=min(kick, len(movable)), replace=False),
                          rng.choice(outside, size=min(kick, outside.size), replace=False),
                          strict=False):  # the shorter list bounds the kick
            trial[pos] = int(j)
        trial = interchange(distance, weight, trial, fixed_open, fixed_closed, deadline)
        cost = assignment_cost(distance, weight, trial)
        if cost < best_cost - 1e-9 * max(1.0, abs(best_cost)):
            best, best_cost, stale = trial, cost, 0
        else:
            stale += 1
    return best


def solve_pmedian(problem: PMedianProblem, options: SolveOptions | None = None) -> LocationResult:
    """Solve a p-median problem to proven optimality (or report the bound at the time limit)."""
    opts = options or SolveOptions()
    t0 = time.perf_counter()
    deadline = t0 + opts.time_limit
    dist = np.asarray(problem.distance, dtype=np.float64)
    w = problem.weights()
    n, m = dist.shape
    p = int(problem.p)
    if p < len(opts.fixed_open) or p > m - len(opts.fixed_closed):
        raise ValueError(f"p={p} is not compatible with the fixed open/closed sites")
    work = dist.copy()
    if opts.fixed_closed:
        work[:, list(opts.fixed_closed)] = np.inf
    sites = greedy_medians(work, w, p, opts.fixed_open, opts.fixed_closed)
    sites = interchange(work, w, sites, opts.fixed_open, opts.fixed_closed,
                        deadline=t0 + 0.3 * opts.time_limit)
    sites = perturbed_search(work, w, sites, opts.fixed_open, opts.fixed_closed,
                             deadline=t0 + 0.1 * opts.time_limit)
    best_sites, best = sites, assignment_cost(work, w, sites)
    proof = prove_pmedian(work, w, p, best_sites, best, deadline, gap=opts.gap,
                          threads=opts.threads, fixed_open=opts.fixed_open,
                          fixed_closed=opts.fixed_closed)
    if proof.cost < best:
        best, best_sites = proof.cost, proof.sites
    lower = min(proof.bound, best)
    if proof.proven and best <= lower + _tol(best):
        status = SolveStatus.OPTIMAL
    elif opts.gap > 0 and best - lower <= opts.gap * abs(best):
        status = SolveStatus.FEASIBLE
    else:
        status = SolveStatus.TIME_LIMIT
    seconds = time.perf_counter() - t0
    assign = np.asarray(best_sites)[np.argmin(work[:, best_sites], axis=1)]
    return LocationResult(best, lower, seconds, status, np.sort(np.asarray(best_sites)),
                          assign, details=proof.details)


def _tol(value: float) -> float:
    return max(1e-6, 1e-9 * abs(value))
