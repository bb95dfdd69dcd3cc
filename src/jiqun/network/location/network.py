"""Fixed-charge network flow 固定费用网络流 (single commodity): choose which arcs (lines) to open,
paying a fixed charge per opened arc plus a cost per unit of flow — the model behind pooling
neighbouring origins onto a shared dedicated line.

Method (after Ortega & Wolsey 2003, "A branch-and-cut algorithm for the single-commodity,
uncapacitated, fixed-charge network flow problem"):

1. **strong big-M**: an arc never carries more than its capacity, the supply that can reach its
   tail, or the demand reachable from its head (an optimal flow with non-negative costs has no
   cycle, so it is a sum of source → sink paths);
2. **forest rows** when uncapacitated: the cost is concave, so some optimal flow is a vertex of
   the flow polyhedron, whose arcs with flow form a forest — at most one open arc per pair of
   nodes (either direction, any parallel sub-arc) and at most n − 1 in all;
3. **dicut inequalities** at the root, in rounds (a fixed number, or until a round lifts the
   bound by < 0.001 %): for a node set S of net demand D(S) > 0 (demand inside minus supply
   inside) and any D ≤ D(S), at least D(S) ≥ D flows into S, so
   Σ_{a into S} min(x_a, D·y_a) ≥ D, linearised per arc (D·y_a where D·y_a < x_a, else x_a);
   symmetrically for the flow out of a set of net supply. The sets come from minimum cuts
   (scipy) with capacities min(x*_a, D·y*_a) from every sink (every source, on the reversed
   network): supply nodes kept out of S, then allowed in at the price of their supply, then
   nested sets (S contracted into the sink, D raised to D(S));
4. HiGHS branch and cut on the strong model with the dicuts the root's last LP holds with
   equality, under a node limit (the work limit; `SolveOptions.node_limit`), the wall clock a
   guard.

`LocationResult.details` reports the bound at each stage: `lp_weak` (big-M = capacity or total
supply, no forest rows), `lp_strong` (steps 1–2), `root_bound` (step 3), the cut rounds, the
cuts found and the cuts kept.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import breadth_first_order, maximum_flow

from jiqun.network.location.highs import MipModel
from jiqun.network.location.result import LocationResult, SolveOptions, SolveStatus

# Root separation stops after this many rounds, or once a round lifts the bound by less than
# STALL_GAIN (relative) — both counted in rounds, not seconds, so a busy machine finds the same cuts.
CUT_ROUNDS = 40
STALL_GAIN = 1e-5
# Branch-and-cut nodes HiGHS may explore (the work limit); the time limit remains a guard.
NODE_LIMIT = 200_000
_CUT_SCALE = 1e6  # min-cut capacities are integers: min(x, D·y) in units of total supply / 1e6
_TOL = 1e-6


@dataclass(frozen=True)
class FixedChargeFlowProblem:
    """Nodes with demand (inflow − outflow; negative = supply) and arcs tail → head."""

    demand: np.ndarray
    tail: np.ndarray
    head: np.ndarray
    fixed_cost: np.ndarray
    unit_cost: np.ndarray
    capacity: np.ndarray


@dataclass(frozen=True)
class Dicut:
    """Σ_{a in arcs} coef_a · (y_a if uses_y[a] else x_a) ≥ rhs: a linearised dicut inequality.

    `nodes` is the set S; `inward` says whether the arcs enter S (demand side) or leave it."""

    nodes: frozenset[int]
    inward: bool
    rhs: float
    arcs: np.ndarray
    uses_y: np.ndarray

    def lhs(self, x: np.ndarray, y: np.ndarray) -> float:
        return float(np.where(self.uses_y, self.rhs * y[self.arcs], x[self.arcs]).sum())


def solve_fixed_charge_flow(problem: FixedChargeFlowProblem,
                            options: SolveOptions | None = None, *,
                            cut_rounds: int = CUT_ROUNDS,
                            keep_cuts: str = "binding") -> LocationResult:
    """Exact branch and cut (see the module's docstring). `open_facilities` lists the opened
    arcs; `shares[0]` is the flow on every arc. `SolveOptions.node_limit` overrides the
    branch-and-cut node limit; `keep_cuts` is "binding" (the cuts the root's last LP meets with
    equality), "all" or "none"."""
    opts = options or SolveOptions()
    t0 = time.perf_counter()
    demand = np.asarray(problem.demand, dtype=np.float64)
    tail = np.asarray(problem.tail, dtype=np.int64)
    head = np.asarray(problem.head, dtype=np.int64)
    capacity = np.asarray(problem.capacity, dtype=np.float64)
    supply = float(np.clip(-demand, 0, None).sum())
    weak_m = np.minimum(capacity, supply)
    big_m = arc_flow_bounds(demand, tail, head, capacity) if _nonnegative(problem) else weak_m
    model, flow, used = _model(problem, big_m, opts)
    details: dict = {"lp_weak": _lp_bound(problem, weak_m, opts)}
    cuts, root, point = _separate_root(model, flow, used, demand, tail, head, opts, t0,
                                       cut_rounds)
    kept = _kept(cuts, point[flow], point[used], keep_cuts) if point is not None else []
    details.update(lp_strong=root[0], root_bound=root[-1], cut_rounds=len(root) - 1,
                   cuts=len(cuts), cuts_kept=len(kept))
    # The branch and cut starts from the strong model and the cuts the root's last LP needs:
    # slack ones only slow down every node's LP.
    model, flow, used = _model(problem, big_m, opts)
    for cut in kept:
        _add_cut(model, flow, used, cut)
    left = max(0.01, opts.time_limit - (time.perf_counter() - t0))
    out = model.solve(left, opts.gap, opts.threads, verbose=opts.verbose,
                      options={"mip_max_nodes": int(opts.node_limit or NODE_LIMIT)})
    seconds = time.perf_counter() - t0
    if out.values is None:
        return LocationResult(math.inf, out.bound, seconds, out.status, np.zeros(0, np.int64),
                              np.zeros(0, np.int64), details=details)
    status = out.status
    if status == SolveStatus.OPTIMAL and out.objective - out.bound > 1e-6 * max(1, out.objective):
        status = SolveStatus.FEASIBLE
    flows = out.values[flow]
    return LocationResult(out.objective, out.bound, seconds, status,
                          np.flatnonzero(out.values[used] > 0.5), np.zeros(0, np.int64),
                          shares=flows[None, :], details=details)


def arc_flow_bounds(demand: np.ndarray, tail: np.ndarray, head: np.ndarray,
                    capacity: np.ndarray) -> np.ndarray:
    """Per arc, the most flow it carries in a cycle-free flow: min(capacity, supply of the nodes
    that reach its tail, demand of the nodes its head reaches)."""
    n = demand.size
    graph = csr_matrix((np.ones(tail.size), (tail, head)), shape=(n, n))
    reach = _reachability(graph)  # reach[i, j]: j reachable from i (i itself included)
    supply_to = np.clip(-demand, 0, None) @ reach  # supply able to reach each node
    demand_from = reach @ np.clip(demand, 0, None)  # demand each node can reach
    return np.minimum(capacity, np.minimum(supply_to[tail], demand_from[head]))


def separate_dicuts(demand: np.ndarray, tail: np.ndarray, head: np.ndarray, x: np.ndarray,
                    y: np.ndarray) -> list[Dicut]:
    """Dicut inequalities violated by the LP point (x, y), found by minimum cuts from every
    sink (flow into S) and, on the reversed network, from every source (flow out of S)."""
    cuts: dict[tuple[frozenset[int], bool, float], Dicut] = {}
    for inward, nodes in ((True, np.flatnonzero(demand > _TOL)),
                          (False, np.flatnonzero(demand < -_TOL))):
        # The supply side is the demand side of the reversed network.
        t, h, d = (tail, head, demand) if inward else (head, tail, -demand)
        for k in nodes:
            for cut in _dicuts_at(d, t, h, x, y, int(k), inward):
                cuts.setdefault((cut.nodes, inward, cut.rhs), cut)
    return list(cuts.values())


def _dicuts_at(d, t, h, x, y, k, inward) -> list[Dicut]:
    """Violated dicuts of sets S ∋ k. Any S of net demand D(S) > 0 and any D ≤ D(S) give one;
    minimum cuts with capacities min(x*, D·y*) propose the sets: first for D = d_k with supply
    nodes kept out of S, then with them allowed in at the price of their supply (a supply inside
    lowers D(S)), then nested: S contracted into k, D raised to D(S), cut again while it grows."""
    found = []
    for supplies_inside in (False, True):
        inside, rhs = np.zeros(d.size, dtype=bool), float(d[k])
        inside[k] = True
        while True:
            members = _min_cut_side(d, t, h, np.minimum(x, rhs * y), inside, supplies_inside)
            if members is None:
                break
            cut = _most_violated(d, t, h, x, y, members, inward, float(d[k]))
            if cut is None:
                break
            found.append(cut)
            grown = float(d[members].sum())
            if grown <= rhs + _TOL or members.sum() == inside.sum():
                break
            inside, rhs = members, grown
    return found


def _min_cut_side(d, t, h, weight, inside, supplies_inside) -> np.ndarray | None:
    """The sink side of a minimum cut separating the supply nodes from the nodes `inside`
    (contracted into one sink); supply nodes cost their supply to put on the sink side when
    `supplies_inside`, else they cannot be. None when the cut holds no supply at all."""
    n = d.size
    source, sink = n, n + 1
    scale = _CUT_SCALE / max(float(np.clip(d, 0, None).sum()), _TOL)
    supplies = np.flatnonzero((d < -_TOL) & ~inside)
    big = 2**30
    src_cap = np.floor(-d[supplies] * scale) if supplies_inside else np.full(supplies.size, big)
    members = np.flatnonzero(inside)
    rows = np.concatenate([t, np.full(supplies.size, source), members])
    cols = np.concatenate([h, supplies, np.full(members.size, sink)])
    vals = np.concatenate([np.floor(weight * scale), src_cap, np.full(members.size, big)])
    graph = csr_matrix((vals.astype(np.int64).clip(0, big).astype(np.int32), (rows, cols)),
                       shape=(n + 2, n + 2))
    graph.sum_duplicates()
    if supplies.size == 0:
        return None
    result = maximum_flow(graph, source, sink)
    residual = graph - result.flow
    residual.data = np.where(residual.data > 0, residual.data, 0)
    residual.eliminate_zeros()
    reached = np.zeros(n + 2, dtype=bool)
    reached[breadth_first_order(residual, source, directed=True, return_predecessors=False)] = True
    return ~reached[:n]


def _most_violated(d, t, h, x, y, members, inward, d_k) -> Dicut | None:
    """The most violated (relative) dicut of the set `members` over the valid right-hand
    sides D(S) and min(d_k, D(S)); None when neither is violated."""
    net = float(d[members].sum())  # D(S): demand inside minus supply inside
    if net <= _TOL:
        return None
    crossing = np.flatnonzero(members[h] & ~members[t])
    best = None
    for rhs in {net, min(d_k, net)}:
        uses_y = rhs * y[crossing] < x[crossing]
        cut = Dicut(frozenset(int(i) for i in np.flatnonzero(members)), inward, rhs, crossing,
                    uses_y)
        violation = (rhs - cut.lhs(x, y)) / rhs
        if violation > 1e-4 and (best is None or violation > best[0]):
            best = (violation, cut)
    return None if best is None else best[1]


def _reachability(graph: csr_matrix) -> np.ndarray:
    n = graph.shape[0]
    reach = np.zeros((n, n))
    for i in range(n):
        reach[i, breadth_first_order(graph, i, directed=True, return_predecessors=False)] = 1.0
    return reach


def _nonnegative(problem: FixedChargeFlowProblem) -> bool:
    # The cycle-free argument of `arc_flow_bounds` needs costs that a cycle cannot lower.
    return bool((np.asarray(problem.unit_cost) >= 0).all()
                and (np.asarray(problem.fixed_cost) >= 0).all())


def _model(problem: FixedChargeFlowProblem, big_m: np.ndarray, opts: SolveOptions,
           forest: bool = True) -> tuple[MipModel, np.ndarray, np.ndarray]:
    demand = np.asarray(problem.demand, dtype=np.float64)
    n_nodes, n_arcs = demand.size, problem.tail.size
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
    if forest and _uncapacitated(problem):
        _add_forest_rows(model, used, problem)
    if opts.fixed_open:
        model.set_bounds(used[list(opts.fixed_open)], lb=1.0)
    if opts.fixed_closed:
        model.set_bounds(used[list(opts.fixed_closed)], ub=0.0)
    return model, flow, used


def _uncapacitated(problem: FixedChargeFlowProblem) -> bool:
    supply = float(np.clip(-np.asarray(problem.demand, dtype=np.float64), 0, None).sum())
    return bool((np.asarray(problem.capacity) >= supply - _TOL).all()) and _nonnegative(problem)


def _add_forest_rows(model: MipModel, used: np.ndarray, problem: FixedChargeFlowProblem) -> None:
    """Uncapacitated, the cost is concave and some optimal flow is a vertex of the flow
    polyhedron, whose arcs with flow form a forest: at most one arc per pair of nodes (either
    direction, any sub-arc) and at most n − 1 arcs in all."""
    tail, head = np.asarray(problem.tail), np.asarray(problem.head)
    n = np.asarray(problem.demand).size
    pair = np.minimum(tail, head) * n + np.maximum(tail, head)
    keys, row, counts = np.unique(pair, return_inverse=True, return_counts=True)
    if (counts > 1).any():
        model.add_rows(row, used, 1.0, -np.inf, 1.0, keys.size)
    model.add_rows(np.zeros(used.size, np.int64), used, 1.0, -np.inf, n - 1.0, 1)


def _lp_bound(problem: FixedChargeFlowProblem, big_m: np.ndarray, opts: SolveOptions) -> float:
    model, _, _ = _model(problem, big_m, opts, forest=False)
    return model.solve(opts.time_limit, relax=True).bound


def _separate_root(model, flow, used, demand, tail, head, opts, t0,
                   rounds: int) -> tuple[list[Dicut], list[float], np.ndarray | None]:
    """Add violated dicuts to `model` round by round; returns the cuts, the LP bound after
    each round (first: the strong LP without cuts) and the last LP's point."""
    cuts: list[Dicut] = []
    bounds: list[float] = []
    point = None
    for _ in range(rounds + 1):
        lp = model.solve(max(0.01, opts.time_limit - (time.perf_counter() - t0)), relax=True)
        if lp.values is None or not math.isfinite(lp.bound):
            break
        bounds.append(lp.bound)
        point = lp.values
        stalled = len(bounds) > 1 and lp.bound - bounds[-2] <= STALL_GAIN * max(1.0, abs(lp.bound))
        if len(bounds) > rounds or stalled:
            break
        found = separate_dicuts(demand, tail, head, lp.values[flow], lp.values[used])
        if not found:
            break
        for cut in found:
            _add_cut(model, flow, used, cut)
        cuts.extend(found)
        if time.perf_counter() - t0 > opts.time_limit / 2:  # guard: leave time to branch
            break
    return cuts, bounds or [-math.inf], point


def _kept(cuts: list[Dicut], x: np.ndarray, y: np.ndarray, policy: str) -> list[Dicut]:
    if policy == "all":
        return cuts
    if policy == "none":
        return []
    return [c for c in cuts if c.lhs(x, y) - c.rhs <= 1e-6 * max(1.0, c.rhs)]


def _add_cut(model: MipModel, flow: np.ndarray, used: np.ndarray, cut: Dicut) -> None:
    cols = np.where(cut.uses_y, used[cut.arcs], flow[cut.arcs])
    vals = np.where(cut.uses_y, cut.rhs, 1.0)
    model.add_rows(np.zeros(cols.size, np.int64), cols, vals, cut.rhs, np.inf, 1)
