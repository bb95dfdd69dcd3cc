"""p-median 选址 (p-中位): open p sites minimising weighted client-to-nearest-site distance.

Two parts, both vectorised with numpy:

- a heuristic — greedy construction then Teitz–Bart best-improvement interchange (交换法), each
  pass evaluating every (in, out) swap at once as a matrix — gives a strong incumbent fast;
- an exact MIP on a *truncated* model (row/column generation): each client only sees the sites
  no farther than its distance in the incumbent, plus a slack `s_i` priced at the next distinct
  distance beyond that radius. That model is a relaxation of the full one, so its bound is a
  proven lower bound; when no slack is used by its optimum, the optimum is the true optimum.
  Otherwise the radii of the clients that used slack are widened and the MIP re-solved.

The truncated model has a few columns per client instead of one per client–site pair (pmed40:
≈ 20 instead of 900), which is what makes proving optimality fast.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix

from jiqun.planning.location.highs import MipModel
from jiqun.planning.location.result import LocationResult, SolveOptions, SolveStatus


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
    best_sites, best = sites, assignment_cost(work, w, sites)
    radius = work[:, sites].min(axis=1)
    lower = -math.inf
    rounds = 0
    status = SolveStatus.TIME_LIMIT
    while time.perf_counter() < deadline:
        rounds += 1
        model, cols = _truncated_model(work, w, p, radius, opts)
        start = _start_vector(model, cols, work, best_sites, radius)
        out = model.solve(time_limit=deadline - time.perf_counter(), gap=opts.gap,
                          threads=opts.threads, start=start, verbose=opts.verbose)
        if out.values is None:
            break
        y = out.values[cols["y"]] > 0.5
        chosen = list(np.flatnonzero(y))
        cost = assignment_cost(work, w, chosen)
        if cost < best - 1e-9:
            best, best_sites = cost, chosen
        if out.status == SolveStatus.OPTIMAL:
            lower = max(lower, out.bound if math.isfinite(out.bound) else out.objective)
            slack_used = out.values[cols["s"]] > 1e-6 if cols["s"].size else np.zeros(0, bool)
            if not slack_used.any() or best <= lower + 1e-9 * max(1.0, abs(best)):
                lower = max(lower, min(best, out.objective))
                status = SolveStatus.OPTIMAL if best <= lower + _tol(best, opts) else status
                break
            # Widen the radius of clients that fell outside theirs, up to their true distance.
            nearest_now = work[:, chosen].min(axis=1)
            widen = cols["s_client"][slack_used]
            radius[widen] = np.maximum(radius[widen], nearest_now[widen])
            radius = np.maximum(radius, _next_level(work, radius, widen))
        else:
            lower = max(lower, out.bound)
            break
    seconds = time.perf_counter() - t0
    if status != SolveStatus.OPTIMAL and best <= lower + _tol(best, opts):
        status = SolveStatus.OPTIMAL
    if status != SolveStatus.OPTIMAL and opts.gap > 0 and best - lower <= opts.gap * abs(best):
        status = SolveStatus.FEASIBLE
    assign = np.asarray(best_sites)[np.argmin(work[:, best_sites], axis=1)]
    return LocationResult(best, lower, seconds, status, np.sort(np.asarray(best_sites)),
                          assign, details={"rounds": rounds})


def _tol(value: float, opts: SolveOptions) -> float:
    return max(1e-6, 1e-9 * abs(value))


def _next_level(dist: np.ndarray, radius: np.ndarray, clients: np.ndarray) -> np.ndarray:
    """For `clients`, the smallest distance strictly above the radius (keeps others' radius)."""
    out = radius.copy()
    if clients.size:
        sub = dist[clients]
        above = np.where(sub > radius[clients, None], sub, np.inf).min(axis=1)
        # Grow geometrically in count too, so repeated widening converges quickly.
        out[clients] = np.where(np.isfinite(above), above, radius[clients])
    return out


def _truncated_model(dist, w, p, radius, opts):
    """Classic p-median restricted to sites within each client's radius, plus priced slack."""
    n, m = dist.shape
    inside = dist <= radius[:, None] + 1e-9
    ci, sj = np.nonzero(inside)
    beyond = np.where(dist > radius[:, None] + 1e-9, dist, np.inf).min(axis=1)
    has_slack = np.isfinite(beyond)
    model = MipModel()
    y = model.add_columns(np.zeros(m), 0.0, 1.0, integer=True)
    x = model.add_columns(w[ci] * dist[ci, sj], 0.0, 1.0)
    s_client = np.flatnonzero(has_slack)
    s = model.add_columns(w[s_client] * beyond[s_client], 0.0, 1.0)
    # Each client is served once: Σ_j x_ij + s_i = 1 (分配约束).
    model.add_rows(np.concatenate([ci, s_client]), np.concatenate([x, s]), 1.0, 1.0, 1.0, n)
    # Serve only from open sites: x_ij ≤ y_j (the strong, disaggregated link).
    k = ci.size
    model.add_rows(np.concatenate([np.arange(k), np.arange(k)]), np.concatenate([x, y[sj]]),
                   np.concatenate([np.ones(k), -np.ones(k)]), -np.inf, 0.0, k)
    model.add_rows(np.zeros(m), y, 1.0, p, p, 1)
    if opts.fixed_open:
        model.set_bounds(y[list(opts.fixed_open)], lb=1.0)
    if opts.fixed_closed:
        model.set_bounds(y[list(opts.fixed_closed)], ub=0.0)
    return model, {"y": y, "x": x, "s": s, "s_client": s_client, "ci": ci, "sj": sj}


def _start_vector(model, cols, dist, sites, radius):
    """The incumbent as a model point; None if a client's site lies outside its radius."""
    n = dist.shape[0]
    start = np.zeros(model.n_cols)
    start[cols["y"][list(sites)]] = 1.0
    sub = dist[:, sites]
    serve = np.asarray(sites)[np.argmin(sub, axis=1)]
    ci, sj = cols["ci"], cols["sj"]
    pick = sj == serve[ci]
    # Several x_ij can match when a site is listed once per client: take the first per client.
    first = np.zeros(n, dtype=bool)
    for idx in np.flatnonzero(pick):
        if not first[ci[idx]]:
            start[cols["x"][idx]] = 1.0
            first[ci[idx]] = True
    missing = np.flatnonzero(~first)
    if missing.size:
        slack_of = {int(c): k for k, c in enumerate(cols["s_client"])}
        for c in missing:
            if int(c) not in slack_of:
                return None
            start[cols["s"][slack_of[int(c)]]] = 1.0
    return start
