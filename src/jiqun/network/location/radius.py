"""Exact p-median 精确求解 through the radius formulation, grown level by level.

Elloumi's (2010) radius formulation describes client i by its distinct site distances
D_1 < D_2 < …; z_ik = 1 when no open site lies within D_k, and the chained rows

    z_i1 + Σ_{d_ij = D_1} y_j ≥ 1,        z_ik − z_i,k−1 + Σ_{d_ij = D_k} y_j ≥ 0

name each (client, site) pair once. Its LP bound equals the classical formulation's, with one
row per level instead of one per pair.

Most levels never matter: an optimal solution serves client i near where a good solution does.
So each client starts with the levels up to its distance in the incumbent, and its last z is
charged only up to the next distinct distance — a relaxation (García, Labbé & Marín 2011). When a
solution of the relaxation uses a last z, that client gets its next level: one new column and one
new row, added to the live HiGHS model so the dual simplex restarts from its basis. Once the LP
needs no more levels its bound is the full LP bound; sites and levels whose reduced cost lifts
that bound above the incumbent are fixed, and the remaining MIP runs with the incumbent as a
cut-off. The answer is exact when the MIP's optimum needs no more levels either.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import highspy
import numpy as np

from jiqun.network.location.highs import new_highs
from jiqun.network.location.pmedian_lagrangian import SiteClosing

_EPS = 1e-7
MIP_MARGIN_LEVELS = 1  # measured on the pmed-family lookalikes: fewer MIP rounds than 0, faster than 2


@dataclass
class RadiusOutcome:
    sites: list[int]  # the best solution known (the incumbent unless a better one was found)
    cost: float
    bound: float
    proven: bool
    details: dict


class RadiusModel:
    """The truncated radius model of one p-median instance, kept live in one HiGHS object."""

    def __init__(self, dist: np.ndarray, weight: np.ndarray, p: int, radius: np.ndarray,
                 fixed_open=(), fixed_closed=(), threads: int = 1) -> None:
        self.dist, self.weight, self.p = dist, weight, p
        n, m = dist.shape
        self.levels = [np.unique(row[np.isfinite(row)]) for row in dist]
        self.depth = np.array([np.searchsorted(lv, r, side="right")
                               for lv, r in zip(self.levels, radius, strict=True)], dtype=np.int64)
        self.depth = np.maximum(self.depth, 1)
        self.z_cols: list[list[int]] = [[] for _ in range(n)]
        self.rounds = 0  # MIP rounds
        self.lp_iterations = 0  # simplex and interior point iterations, all runs together
        self.mip_nodes = 0
        self.site_bounds = np.full(m, -math.inf)  # Lagrangian bound of opening each site
        self.h = new_highs()
        # HiGHS fixes its thread count at the first run, so it is set here, not per solve.
        for key, value in {"output_flag": False, "mip_abs_gap": 1e-6, "threads": threads}.items():
            self.h.setOptionValue(key, value)
        self._build(fixed_open, fixed_closed)

    # -- building ---------------------------------------------------------------------------
    def _step(self, client: int, k: int) -> tuple[float, float]:
        """Cost and upper bound of z_ik: weight × gap to the next distinct distance."""
        lv = self.levels[client]
        if k + 1 < lv.size:
            return float(self.weight[client] * (lv[k + 1] - lv[k])), 1.0
        return 0.0, 0.0  # every site lies within D_k: "none open so near" cannot happen

    def _build(self, fixed_open, fixed_closed) -> None:
        n, m = self.dist.shape
        h = self.h
        y_lb = np.zeros(m)
        y_lb[list(fixed_open)] = 1.0
        y_ub = np.ones(m)
        y_ub[list(fixed_closed)] = 0.0
        h.addCols(m, np.zeros(m), y_lb, y_ub, 0, np.zeros(0, np.int32), np.zeros(0, np.int32),
                  np.zeros(0))
        self.n_y = m
        h.addRows(1, np.array([self.p], float), np.array([self.p], float), m,
                  np.array([0], np.int32), np.arange(m, dtype=np.int32), np.ones(m))
        self.offset = float(sum(self.weight[i] * self.levels[i][0] for i in range(n)))
        h.changeObjectiveOffset(self.offset)
        self._add_levels([(i, k) for i in range(n) for k in range(self.depth[i])])

    def _add_levels(self, pairs: list[tuple[int, int]]) -> None:
        """Add z_ik and its chained row for each (client, level index), in level order."""
        if not pairs:
            return
        h = self.h
        first_col = h.getNumCol()
        costs = np.empty(len(pairs))
        ubs = np.empty(len(pairs))
        for t, (i, k) in enumerate(pairs):
            costs[t], ubs[t] = self._step(i, k)
        h.addCols(len(pairs), costs, np.zeros(len(pairs)), ubs, 0, np.zeros(0, np.int32),
                  np.zeros(0, np.int32), np.zeros(0))
        starts, index, value, lower = [], [], [], []
        for t, (i, k) in enumerate(pairs):
            col = first_col + t
            starts.append(len(index))
            index.append(col)
            value.append(1.0)
            if k > 0:
                index.append(self.z_cols[i][k - 1])
                value.append(-1.0)
            sites = np.flatnonzero(self.dist[i] == self.levels[i][k])
            index.extend(sites.tolist())
            value.extend([1.0] * sites.size)
            lower.append(1.0 if k == 0 else 0.0)
            self.z_cols[i].append(col)
        h.addRows(len(pairs), np.asarray(lower), np.full(len(pairs), highspy.kHighsInf),
                  len(index), np.asarray(starts, np.int32), np.asarray(index, np.int32),
                  np.asarray(value))

    def widen(self, values: np.ndarray, sites: list[int] | None = None) -> int:
        """Give every client whose last z is used its next level; return how many grew.

        With an integer solution's `sites`, such a client grows to the distance of its nearest
        open site at once, so that solution is priced exactly in the next round.
        """
        nearest = self.dist[:, sites].min(axis=1) if sites else None
        pairs = []
        for i, cols in enumerate(self.z_cols):
            have = len(cols)
            if values[cols[-1]] <= _EPS or have >= self.levels[i].size:
                continue
            want = have + 1
            if nearest is not None:
                want = max(want, int(np.searchsorted(self.levels[i], nearest[i], side="right")))
            pairs += [(i, k) for k in range(have, min(want, self.levels[i].size))]
        self._add_levels(pairs)
        return len({i for i, _ in pairs})

    # -- solving ----------------------------------------------------------------------------
    def _run(self, time_limit: float) -> tuple[highspy.HighsModelStatus, np.ndarray | None]:
        self.h.setOptionValue("time_limit", max(0.01, time_limit))
        self.h.run()
        info = self.h.getInfo()
        self.lp_iterations += max(0, info.simplex_iteration_count) + max(0, info.ipm_iteration_count)
        self.mip_nodes += max(0, info.mip_node_count)
        status = self.h.getModelStatus()
        sol = self.h.getSolution()
        values = np.asarray(sol.col_value) if sol.value_valid else None
        return status, values

    def solve_lp(self, deadline: float) -> tuple[float, int] | None:
        """Grow levels until the LP needs no more; return (LP bound, rounds) or None on time."""
        rounds = 0
        while time.perf_counter() < deadline:
            rounds += 1
            # The first LP from scratch is degenerate for the simplex (4× slower here); the
            # interior point method with crossover leaves a basis the later rounds start from.
            self.h.setOptionValue("solver", "ipm" if rounds == 1 else "simplex")
            status, values = self._run(deadline - time.perf_counter())
            if status != highspy.HighsModelStatus.kOptimal or values is None:
                return None
            if self.widen(values) == 0:
                return self.h.getInfo().objective_function_value, rounds
        return None

    def add_margin(self, levels: int) -> None:
        """Give every client `levels` more levels: a MIP optimum often serves a few clients a
        little beyond the incumbent's radius, and each such miss costs a whole new MIP round."""
        self._add_levels([(i, k) for i, cols in enumerate(self.z_cols)
                          for k in range(len(cols), min(len(cols) + levels, self.levels[i].size))])

    def close_sites(self, cutoff: float) -> int:
        """Close the sites whose Lagrangian bound exceeds the cut-off (re-run as it falls)."""
        close = np.flatnonzero(self.site_bounds > cutoff)
        if close.size:
            self.h.changeColsBounds(close.size, close.astype(np.int32), np.zeros(close.size),
                                    np.zeros(close.size))
        return int(close.size)

    def fix_by_reduced_cost(self, lp_bound: float, cutoff: float) -> int:
        """Fix at 0 every column whose reduced cost lifts the LP bound past the cut-off."""
        sol = self.h.getSolution()
        values, duals = np.asarray(sol.col_value), np.asarray(sol.col_dual)
        fix = np.flatnonzero((values < _EPS) & (lp_bound + duals > cutoff))
        if fix.size:
            self.h.changeColsBounds(fix.size, fix.astype(np.int32), np.zeros(fix.size),
                                    np.zeros(fix.size))
        return int(fix.size)

    def solve_mip(self, incumbent_cost: float, deadline: float, gap: float,
                  max_nodes: int | None = None):
        """Branch and bound under the incumbent as a cut-off, growing levels until the optimum
        needs none. Returns (sites or None when nothing beat the incumbent, cost, bound,
        proven); each round's optimum is a valid bound (the model is a relaxation). Each round
        explores at most `max_nodes` nodes."""
        h = self.h
        if max_nodes is not None:
            h.setOptionValue("mip_max_nodes", int(max_nodes))
        h.changeColsIntegrality(self.n_y, np.arange(self.n_y, dtype=np.int32),
                                np.full(self.n_y, highspy.HighsVarType.kInteger, np.uint8))
        # The incumbent is usually optimal already, so primal heuristics only cost time (they
        # took over half the LP iterations), and restarts repeat the costly root cut loop.
        for key in ("mip_allow_restart", "mip_heuristic_run_rins", "mip_heuristic_run_rens",
                    "mip_heuristic_run_root_reduced_cost", "mip_heuristic_run_feasibility_jump"):
            h.setOptionValue(key, False)
        h.setOptionValue("mip_heuristic_effort", 0.0)
        # Once the Lagrangian has closed most sites the tree is a few nodes and the root LP is
        # the cost; the interior point method solves it 1.5–2× faster than the dual simplex.
        h.setOptionValue("mip_lp_solver", "ipm")
        h.setOptionValue("mip_rel_gap", gap)
        sites, cost = None, incumbent_cost
        lower = -math.inf
        ms = highspy.HighsModelStatus
        while True:
            self.rounds += 1
            cutoff = improvement_cutoff(self.dist, self.weight, cost)
            self.close_sites(cutoff)
            h.setOptionValue("objective_bound", cutoff)
            status, values = self._run(deadline - time.perf_counter())
            if status == ms.kInfeasible:  # nothing under the cut-off: the incumbent is optimal
                return sites, cost, cost, True
            if values is not None:
                found = self.open_sites(values)
                found_cost = float(self.weight @ self.dist[:, found].min(axis=1))
                if found_cost < cost:
                    sites, cost = found, found_cost
            if status != ms.kOptimal:
                return sites, cost, max(lower, h.getInfo().mip_dual_bound), False
            # With a relative gap allowed, "optimal" only means within it: use the dual bound.
            lower = max(lower, h.getInfo().mip_dual_bound)
            if lower > improvement_cutoff(self.dist, self.weight, cost):
                return sites, cost, cost, True  # nothing strictly better exists
            if self.widen(values, found) == 0:
                return sites, cost, min(lower, cost), True
            if time.perf_counter() >= deadline:
                return sites, cost, lower, False

    def open_sites(self, values: np.ndarray) -> list[int]:
        return [int(j) for j in np.flatnonzero(values[: self.n_y] > 0.5)]

    def size(self) -> dict:
        return {"columns": self.h.getNumCol(), "rows": self.h.getNumRow(),
                "nonzeros": self.h.getNumNz()}


def prove_pmedian(dist: np.ndarray, weight: np.ndarray, p: int, incumbent: list[int],
                  incumbent_cost: float, deadline: float, gap: float = 0.0, threads: int = 1,
                  fixed_open=(), fixed_closed=(),
                  search: Callable[..., list[int]] | None = None,
                  mip_nodes: int | None = None) -> RadiusOutcome:
    """Prove the incumbent optimal or find a better solution, before `deadline`.

    `search(sites, must_open, starts)` is a local search among `sites` (global indices) keeping
    `must_open` open, from the best of `starts` that lies among them; it runs whenever site closing has shrunk the candidates, because a better
    incumbent found among few sites lowers the cut-off, which closes more. `mip_nodes` bounds
    each branch-and-bound round (a work limit: the same answer on a busy machine).
    """
    details: dict = {}
    best = [list(incumbent), float(incumbent_cost)]

    def cutoff_of(cost: float) -> float:
        return improvement_cutoff(dist, weight, cost)

    closing = SiteClosing(weighted_cost(dist, weight), p, cutoff_of(incumbent_cost),
                          tuple(fixed_open), tuple(fixed_closed), deadline=deadline,
                          cutoff_of=cutoff_of)

    def offer(sites) -> None:
        cost = float(weight @ dist[:, sites].min(axis=1))
        if cost < best[1]:
            best[:] = [sorted(int(j) for j in sites), cost]
            closing.cutoff = min(closing.cutoff, cutoff_of(cost))

    def restricted_search() -> None:
        kept = closing.kept()
        if search is not None and kept.size >= p:
            starts = [best[0]] + ([closing.best_primal[1]] if closing.best_primal else [])
            offer(search(kept, np.flatnonzero(closing.forced), starts))

    lagrangian_bound = closing.run(between=restricted_search)
    if closing.best_primal is not None:
        offer(closing.best_primal[1])
    if closing.bound <= closing.cutoff:  # the strong tests shrank the sites: search again
        before = best[1]
        restricted_search()
        if best[1] < before:
            lagrangian_bound = closing.run()
    incumbent, incumbent_cost = best
    cutoff = cutoff_of(incumbent_cost)
    details["lagrangian_bound"] = float(lagrangian_bound)
    details["work"] = {"lagrangian": dict(closing.work)}
    # Only sites some better solution could open take part: the model is built on their
    # distances alone, so its levels (and LP) shrink with them. Every bound below then holds for
    # min(optimum, best known), the only figure the caller reports.
    keep = closing.kept()
    details["closed_sites"] = int(dist.shape[1] - keep.size)
    details["fixed_open"] = int(closing.forced.sum())
    if lagrangian_bound > cutoff or keep.size < p:  # nothing beats the incumbent
        return RadiusOutcome(incumbent, incumbent_cost, incumbent_cost, True, details)
    position = {int(j): k for k, j in enumerate(keep)}
    radius = dist[:, incumbent].min(axis=1)
    model = RadiusModel(dist[:, keep], weight, p, radius,
                        [position[int(j)] for j in np.flatnonzero(closing.forced)], (), threads)
    model.site_bounds = closing.site_bound[keep]
    lp = model.solve_lp(deadline)
    details["work"]["lp_iterations"] = model.lp_iterations
    if lp is None:
        return RadiusOutcome(incumbent, incumbent_cost, lagrangian_bound, False,
                             details | {"stage": "lp", **model.size()})
    lp_bound, details["lp_rounds"] = lp
    details["lp_bound"] = lp_bound
    if lp_bound > cutoff:
        return RadiusOutcome(incumbent, incumbent_cost, incumbent_cost, True,
                             details | model.size())
    details["fixed"] = model.fix_by_reduced_cost(lp_bound, cutoff)
    model.add_margin(MIP_MARGIN_LEVELS)
    sites, cost, bound, proven = model.solve_mip(incumbent_cost, deadline, gap, mip_nodes)
    details["mip_rounds"] = model.rounds
    details["work"]["lp_iterations"] = model.lp_iterations
    details["work"]["mip_nodes"] = model.mip_nodes
    found = incumbent if sites is None else [int(keep[k]) for k in sites]
    bound = max(bound, lp_bound, lagrangian_bound)
    return RadiusOutcome(found, cost, bound, proven, details | model.size())


def weighted_cost(dist: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """weight × distance, ∞ where the distance is (a zero weight must not make ∞ × 0 = nan)."""
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(dist), weight[:, None] * dist, np.inf)


def improvement_cutoff(dist: np.ndarray, weight: np.ndarray, cost: float) -> float:
    """Largest objective a strictly better solution can have: with integral data, cost − 1."""
    finite = dist[np.isfinite(dist)]
    integral = np.all(finite == np.round(finite)) and np.all(weight == np.round(weight))
    if integral:
        return cost - 1.0 + 1e-6
    return cost - max(1e-6, 1e-9 * abs(cost))
