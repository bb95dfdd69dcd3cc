"""Capacitated facility location 容量限制选址 (multi-source and single-source) and the
capacitated p-median 容量限制p-中位, as strong MIPs solved by HiGHS.

Small models are strong MIPs: besides the aggregated capacity row Σ_j d_j x_ij ≤ Q_i y_i, every
assignment is linked to its site, x_ij ≤ y_i (disaggregated linking), plus the cover row
Σ_i Q_i y_i ≥ Σ_j d_j; HiGHS proves those in milliseconds. Large multi-source instances (the
OR-Library capa/capb/capc family, 100 sites × 1000 clients) go to a Lagrangian branch-and-bound
on the sites (`cflp_bnb`, Görtz & Klose 2012), whose bound — an exact site knapsack on top of
the strong LP — closes in seconds where the MIP's LP alone takes over a minute. Single-source
models from 1,000 site × client pairs (Holmberg's SSCFLP classes, capacitated p-median at
n = 200) go to `single_source`: Lagrangian relaxation with exact 0-1 site knapsacks, a core MIP
for the incumbent, reduced-cost fixing, then the strong MIP on what is left.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import numpy as np

from jiqun.network.location.cflp_bnb import CLOSED, FREE, OPEN, CflpBranchAndBound
from jiqun.network.location.highs import MipModel
from jiqun.network.location.result import LocationResult, SolveOptions, SolveStatus
from jiqun.network.location.single_source import applicable, solve_single_source


@dataclass(frozen=True)
class CapacitatedProblem:
    """Sites with capacity Q_i (产能) and fixed cost f_i (固定成本); clients with demand d_j.

    `cost[i, j]` is the cost of serving *all* of client j's demand from site i. `p`, when set,
    fixes the number of open sites (capacitated p-median).
    """

    capacity: np.ndarray
    fixed_cost: np.ndarray
    demand: np.ndarray
    cost: np.ndarray
    p: int | None = None


def solve_capacitated(problem: CapacitatedProblem, options: SolveOptions | None = None,
                      single_source: bool = False) -> LocationResult:
    """Minimise fixed + assignment cost; multi-source splits demand, single-source does not."""
    opts = options or SolveOptions()
    t0 = time.perf_counter()
    m, n = problem.cost.shape
    if not single_source and problem.p is None and m * n >= LAGRANGIAN_SIZE:
        return _solve_with_lagrangian(problem, opts, t0)
    if single_source and single_source_route(problem):
        result = solve_single_source(problem.cost, problem.fixed_cost, problem.capacity,
                                     problem.demand, problem.p, opts)
        if math.isfinite(result.objective) or result.status == SolveStatus.INFEASIBLE:
            return result
        # No plan found in time by the heuristics: the full MIP takes what time is left.
        left = max(0.5, opts.time_limit - (time.perf_counter() - t0))
        opts = replace(opts, time_limit=left)
    model, cols = _model(problem, opts, single_source)
    out = model.solve(time_limit=opts.time_limit, gap=opts.gap, threads=opts.threads,
                      verbose=opts.verbose, options={"mip_feasibility_tolerance": 1e-7})
    seconds = time.perf_counter() - t0
    if out.values is None:
        status = SolveStatus.INFEASIBLE if out.status == SolveStatus.INFEASIBLE else out.status
        return LocationResult(math.inf, out.bound, seconds, status, np.zeros(0, np.int64),
                              np.full(n, -1))
    y = out.values[cols["y"]] > 0.5
    shares = out.values[cols["x"]].reshape(m, n)
    status = _status(out.objective, out.bound, out.status)
    return LocationResult(out.objective, out.bound, seconds, status, np.flatnonzero(y),
                          np.argmax(shares, axis=0), shares=shares)


LAGRANGIAN_SIZE = 20_000  # site × client pairs above which the Lagrangian route pays off
SINGLE_SOURCE_SIZE = 1_000  # site × client pairs from which single-source goes to `single_source`


def single_source_route(problem: CapacitatedProblem) -> bool:
    """Single-source models of realistic size with integral demands and capacities are proven by
    Lagrangian relaxation with exact site knapsacks, fixing and a reduced MIP; tiny ones by the
    strong MIP directly."""
    m, n = problem.cost.shape
    return m * n >= SINGLE_SOURCE_SIZE and applicable(np.asarray(problem.capacity, float),
                                                      np.asarray(problem.demand, float))


def _solve_with_lagrangian(problem: CapacitatedProblem, opts: SolveOptions,
                           t0: float) -> LocationResult:
    """Multi-source CFLP by Lagrangian branch-and-bound on the sites (see `cflp_bnb`)."""
    m, n = problem.cost.shape
    state = np.full(m, FREE, np.int8)
    state[list(opts.fixed_closed)] = CLOSED
    state[list(opts.fixed_open)] = OPEN
    tree = CflpBranchAndBound(problem.cost, problem.fixed_cost, problem.capacity, problem.demand,
                              deadline=t0 + opts.time_limit, gap=opts.gap)
    out = tree.run(state)
    seconds = time.perf_counter() - t0
    details = {**out.details, "method": "lagrangian_branch_and_bound"}
    if out.infeasible:
        return LocationResult(math.inf, math.inf, seconds, SolveStatus.INFEASIBLE,
                              np.zeros(0, np.int64), np.full(n, -1), details=details)
    if out.shares is None:
        return LocationResult(math.inf, out.bound, seconds, SolveStatus.TIME_LIMIT,
                              np.zeros(0, np.int64), np.full(n, -1), details=details)
    # Proven means within the tree's relative tolerance (1e-6 unless `gap` asks for more).
    status = SolveStatus.OPTIMAL if out.proven else SolveStatus.TIME_LIMIT
    return LocationResult(out.objective, out.bound, seconds, status,
                          np.flatnonzero(out.open_sites), np.argmax(out.shares, axis=0),
                          shares=out.shares, details=details)


def _status(objective: float, bound: float, raw: SolveStatus) -> SolveStatus:
    if raw == SolveStatus.OPTIMAL:
        close = abs(objective - bound) <= max(1e-6, 1e-6 * abs(objective))
        return SolveStatus.OPTIMAL if close else SolveStatus.FEASIBLE
    return raw


def _model(problem: CapacitatedProblem, opts: SolveOptions, single_source: bool):
    cap = np.asarray(problem.capacity, dtype=np.float64)
    dem = np.asarray(problem.demand, dtype=np.float64)
    cost = np.asarray(problem.cost, dtype=np.float64)
    m, n = cost.shape
    model = MipModel()
    y = model.add_columns(problem.fixed_cost, 0.0, 1.0, integer=True)
    x = model.add_columns(cost.ravel(), 0.0, 1.0, integer=single_source)  # x[i*n + j]
    ii, jj = np.divmod(np.arange(m * n), n)
    # Every client fully served (需求全部满足).
    model.add_rows(jj, x, 1.0, 1.0, 1.0, n)
    # Capacity of open sites: Σ_j d_j x_ij − Q_i y_i ≤ 0.
    model.add_rows(np.concatenate([ii, np.arange(m)]), np.concatenate([x, y]),
                   np.concatenate([dem[jj], -cap]), -np.inf, 0.0, m)
    # Strong link x_ij ≤ y_i; a client too big for a site cannot use it at all.
    k = m * n
    model.add_rows(np.concatenate([np.arange(k), np.arange(k)]), np.concatenate([x, y[ii]]),
                   np.concatenate([np.ones(k), -np.ones(k)]), -np.inf, 0.0, k)
    if single_source:
        too_big = dem[jj] > cap[ii] + 1e-9
        if too_big.any():
            model.set_bounds(x[too_big], ub=0.0)
    # Enough capacity opened in total (a valid cover row the LP would otherwise miss).
    model.add_rows(np.zeros(m), y, cap, dem.sum(), np.inf, 1)
    if problem.p is not None:
        model.add_rows(np.zeros(m), y, 1.0, problem.p, problem.p, 1)
    if opts.fixed_open:
        model.set_bounds(y[list(opts.fixed_open)], lb=1.0)
    if opts.fixed_closed:
        model.set_bounds(y[list(opts.fixed_closed)], ub=0.0)
    return model, {"y": y, "x": x}


def capacitated_pmedian(distance: np.ndarray, demand: np.ndarray, capacity: float | np.ndarray,
                        p: int) -> CapacitatedProblem:
    """Capacitated p-median as a CFLP: no fixed cost, cost = distance, p sites, single-source.

    The OR-Library (Osman & Christofides) objective sums distances, not demand × distance.
    """
    m = distance.shape[1]
    cap = np.broadcast_to(np.asarray(capacity, dtype=np.float64), (m,)).copy()
    return CapacitatedProblem(cap, np.zeros(m), np.asarray(demand, dtype=np.float64),
                              np.asarray(distance, dtype=np.float64).T.copy(), p=p)
