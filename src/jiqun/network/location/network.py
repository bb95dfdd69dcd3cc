"""Fixed-charge network flow 固定费用网络流 (single commodity): choose which arcs (lines) to open,
paying a fixed charge per opened arc plus a cost per unit of flow — the model behind pooling
neighbouring origins onto a shared dedicated line."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from jiqun.network.location.highs import MipModel
from jiqun.network.location.result import LocationResult, SolveOptions, SolveStatus


@dataclass(frozen=True)
class FixedChargeFlowProblem:
    """Nodes with demand (inflow − outflow; negative = supply) and arcs tail → head."""

    demand: np.ndarray
    tail: np.ndarray
    head: np.ndarray
    fixed_cost: np.ndarray
    unit_cost: np.ndarray
    capacity: np.ndarray


def solve_fixed_charge_flow(problem: FixedChargeFlowProblem,
                            options: SolveOptions | None = None) -> LocationResult:
    """Exact MIP; the arc's big-M is the smaller of its capacity and the total supply, the
    tightest valid value for a single commodity. `open_facilities` lists the opened arcs."""
    opts = options or SolveOptions()
    t0 = time.perf_counter()
    demand = np.asarray(problem.demand, dtype=np.float64)
    n_nodes, n_arcs = demand.size, problem.tail.size
    supply = float(np.clip(-demand, 0, None).sum())
    big_m = np.minimum(np.asarray(problem.capacity, dtype=np.float64), supply)
    model = MipModel()
    flow = model.add_columns(problem.unit_cost, 0.0, big_m)
    used = model.add_columns(problem.fixed_cost, 0.0, 1.0, integer=True)
    # Flow balance: inflow − outflow = demand at every node (流量守恒).
    arcs = np.arange(n_arcs)
    model.add_rows(np.concatenate([problem.head, problem.tail]), np.concatenate([flow[arcs],
                   flow[arcs]]), np.concatenate([np.ones(n_arcs), -np.ones(n_arcs)]),
                   demand, demand, n_nodes)
    # Flow only on opened arcs: f_a ≤ M_a u_a.
    model.add_rows(np.concatenate([arcs, arcs]), np.concatenate([flow, used]),
                   np.concatenate([np.ones(n_arcs), -big_m]), -np.inf, 0.0, n_arcs)
    if opts.fixed_open:
        model.set_bounds(used[list(opts.fixed_open)], lb=1.0)
    if opts.fixed_closed:
        model.set_bounds(used[list(opts.fixed_closed)], ub=0.0)
    out = model.solve(opts.time_limit, opts.gap, opts.threads, verbose=opts.verbose)
    seconds = time.perf_counter() - t0
    if out.values is None:
        return LocationResult(math.inf, out.bound, seconds, out.status, np.zeros(0, np.int64),
                              np.zeros(0, np.int64))
    status = out.status
    if status == SolveStatus.OPTIMAL and out.objective - out.bound > 1e-6 * max(1, out.objective):
        status = SolveStatus.FEASIBLE
    flows = out.values[flow]
    return LocationResult(out.objective, out.bound, seconds, status,
                          np.flatnonzero(out.values[used] > 0.5), np.zeros(0, np.int64),
                          shares=flows[None, :])
