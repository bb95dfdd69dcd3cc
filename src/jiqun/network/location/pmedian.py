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

# Kicks without a gain before the iterated local search stops: few on all sites (each kick is an
# interchange over every site), more once site closing has left a few dozen.
FIRST_KICKS = 10
RESTRICTED_KICKS = 50
KICK_SHARE = 0.2
# Interchange passes of one search: ~10⁸ matrix cells (about half a second on one core).
SEARCH_CELLS = 1e8


def _passes(n: int, m: int) -> int:
    return max(20, int(SEARCH_CELLS // max(1, n * m)))


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


@dataclass
class SearchWork:
    """Interchange passes allowed and spent: each pass evaluates every swap once (clients ×
    sites cells), so a pass budget bounds the local search by work, not by seconds."""

    passes: int = 0
    limit: int = 10**9

    def spent(self) -> bool:
        return self.passes >= self.limit


def interchange(distance: np.ndarray, weight: np.ndarray, sites: list[int],
                fixed_open=(), fixed_closed=(), deadline: float = math.inf,
                work: SearchWork | None = None) -> list[int]:
    """Teitz–Bart best-improvement swaps until no swap improves (or the pass budget or the
    deadline runs out)."""
    work = work or SearchWork()
    n, m = distance.shape
    sites = list(sites)
    locked = set(int(j) for j in fixed_open)
    closed = np.zeros(m, dtype=bool)
    closed[list(fixed_closed)] = True
    wcol = weight[:, None]
    best_cost = assignment_cost(distance, weight, sites)
    while time.perf_counter() < deadline and not work.spent():
        work.passes += 1
        sub = distance[:, sites]
        rows = np.arange(n)
        near = np.argmin(sub, axis=1)  # nearest and second nearest: no full sort of n × p
        d1 = sub[rows, near]
        if len(sites) > 1:
            sub[rows, near] = np.inf
            d2 = sub.min(axis=1)
        else:
            d2 = np.full(n, np.inf)
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
                     patience: int = 50, seed: int = 0,
                     work: SearchWork | None = None) -> list[int]:
    """Iterated local search: swap a few sites at random, re-run the interchange, keep gains.

    Teitz–Bart stops at a local optimum; a better incumbent makes the exact proof's cut-off and
    reduced-cost fixing much stronger. Deterministic for a given seed; stops after `patience`
    kicks without a gain or when `work` is spent.
    """
    work = work or SearchWork()
    rng = np.random.default_rng(seed)
    m = distance.shape[1]
    movable = [k for k, j in enumerate(sites) if j not in set(fixed_open)]
    allowed = np.setdiff1d(np.arange(m), np.asarray(list(fixed_closed), dtype=np.int64))
    best, best_cost = list(sites), assignment_cost(distance, weight, sites)
    # A fifth of the sites per kick: within the same interchange passes, kicks of 1 or 3 sites
    # left the 700- to 900-vertex lookalikes with p = 70–140 0.3–0.5 % above what these found.
    kick = max(1, round(KICK_SHARE * len(movable)))
    stale = 0
    while movable and stale < patience and time.perf_counter() < deadline and not work.spent():
        trial = list(best)
        outside = np.setdiff1d(allowed, trial)
        if outside.size == 0:
            break
        for pos, j in zip(rng.choice(movable, size=min(kick, len(movable)), replace=False),
                          rng.choice(outside, size=min(kick, outside.size), replace=False),
                          strict=False):  # the shorter list bounds the kick
            trial[pos] = int(j)
        trial = interchange(distance, weight, trial, fixed_open, fixed_closed, deadline, work)
        cost = assignment_cost(distance, weight, trial)
        if cost < best_cost - 1e-9 * max(1.0, abs(best_cost)):
            best, best_cost, stale = trial, cost, 0
        else:
            stale += 1
    return best


def solve_pmedian(problem: PMedianProblem, options: SolveOptions | None = None) -> LocationResult:
    """Solve a p-median problem to proven optimality (or report the bound at the limit).

    Every step is bounded by work (interchange passes, kicks of the iterated local search,
    Lagrangian iterations, branch-and-bound nodes), so the same problem gets the same answer on
    a busy machine; `options.time_limit` stays as a guard.
    """
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
    search_work = SearchWork(limit=_passes(n, m))
    sites = greedy_medians(work, w, p, opts.fixed_open, opts.fixed_closed)
    sites = interchange(work, w, sites, opts.fixed_open, opts.fixed_closed, deadline=deadline)
    sites = perturbed_search(work, w, sites, opts.fixed_open, opts.fixed_closed,
                             deadline=deadline, patience=FIRST_KICKS, work=search_work)
    best_sites, best = sites, assignment_cost(work, w, sites)
    proof = prove_pmedian(work, w, p, best_sites, best, deadline, gap=opts.gap,
                          threads=opts.threads, fixed_open=opts.fixed_open,
                          fixed_closed=opts.fixed_closed,
                          search=_restricted_search(work, w, p, deadline),
                          mip_nodes=opts.node_limit)
    if proof.cost < best:
        best, best_sites = proof.cost, proof.sites
    proof.details.setdefault("work", {})["first_search_passes"] = search_work.passes
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


def _restricted_search(dist: np.ndarray, weight: np.ndarray, p: int, deadline: float):
    """The local search among the sites the Lagrangian left open to better solutions: with
    few candidates its kicks are cheap, and what it finds there lowers the proof's cut-off.
    It starts from the best of `start` (the incumbent and the Lagrangian's best relaxed
    solution, often an interchange or two from the optimum when p is large) that lies among
    the sites, else from the greedy."""

    def search(sites: np.ndarray, must_open: np.ndarray, start=()) -> list[int]:
        sub = dist[:, sites]
        local = np.searchsorted(sites, must_open).tolist()
        starts = [np.searchsorted(sites, s).tolist() for s in start
                  if len(s) == p and np.isin(s, sites).all() and set(must_open) <= set(s)]
        if not starts:  # no start lies among the sites left
            starts = [greedy_medians(sub, weight, p, local)]
        budget = SearchWork(limit=_passes(*sub.shape))
        found = min((interchange(sub, weight, s, local, deadline=deadline, work=budget)
                     for s in starts), key=lambda s: assignment_cost(sub, weight, s))
        found = perturbed_search(sub, weight, found, local, deadline=deadline,
                                 patience=RESTRICTED_KICKS, work=budget)
        return [int(sites[k]) for k in found]

    return search


def _tol(value: float) -> float:
    return max(1e-6, 1e-9 * abs(value))
