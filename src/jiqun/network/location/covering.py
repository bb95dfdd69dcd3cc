"""Covering models 覆盖选址: set covering (集合覆盖, every client within radius R with the fewest
sites) and maximal covering (最大覆盖, most demand within R with p sites)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from jiqun.network.location.highs import MipModel
from jiqun.network.location.result import LocationResult, Sense, SolveOptions, SolveStatus


@dataclass(frozen=True)
class CoveringProblem:
    """`distance` clients × sites (e.g. minutes or metres); covered iff distance ≤ `radius`.

    `site_cost` weights the set-covering objective (all ones: fewest sites).
    """

    distance: np.ndarray
    radius: float
    demand: np.ndarray | None = None
    site_cost: np.ndarray | None = None

    def coverage(self) -> np.ndarray:
        return np.asarray(self.distance) <= self.radius + 1e-9

    def demands(self) -> np.ndarray:
        n = self.distance.shape[0]
        return np.ones(n) if self.demand is None else np.asarray(self.demand, dtype=np.float64)


def greedy_cover(cover: np.ndarray, demand: np.ndarray, p: int, fixed_open=(),
                 fixed_closed=()) -> list[int]:
    """Greedy maximal covering: repeatedly open the site covering the most uncovered demand."""
    chosen = [int(j) for j in fixed_open]
    covered = cover[:, chosen].any(axis=1) if chosen else np.zeros(cover.shape[0], bool)
    banned = np.zeros(cover.shape[1], bool)
    banned[list(fixed_closed)] = True
    banned[chosen] = True
    while len(chosen) < p:
        gain = (demand * ~covered) @ cover
        gain = np.where(banned, -1.0, gain)
        j = int(np.argmax(gain))
        chosen.append(j)
        banned[j] = True
        covered |= cover[:, j]
    return chosen


def solve_max_covering(problem: CoveringProblem, p: int,
                       options: SolveOptions | None = None) -> LocationResult:
    """Maximise demand covered within the radius by p sites (MCLP, Church & ReVelle)."""
    opts = options or SolveOptions()
    t0 = time.perf_counter()
    cover = problem.coverage()
    demand = problem.demands()
    n, m = cover.shape
    model = MipModel(Sense.MAXIMISE)
    y = model.add_columns(np.zeros(m), 0.0, 1.0, integer=True)
    z = model.add_columns(demand, 0.0, 1.0)
    ci, sj = np.nonzero(cover)
    # z_i ≤ Σ_{j covers i} y_j.
    model.add_rows(np.concatenate([np.arange(n), ci]), np.concatenate([z, y[sj]]),
                   np.concatenate([np.ones(n), -np.ones(ci.size)]), -np.inf, 0.0, n)
    model.add_rows(np.zeros(m), y, 1.0, -np.inf, p, 1)
    _fix(model, y, opts)
    start_sites = greedy_cover(cover, demand, p, opts.fixed_open, opts.fixed_closed)
    start = np.zeros(model.n_cols)
    start[y[start_sites]] = 1.0
    start[z] = cover[:, start_sites].any(axis=1)
    out = model.solve(opts.time_limit, opts.gap, opts.threads, start=start, verbose=opts.verbose)
    return _result(out, y, cover, t0, Sense.MAXIMISE)


def solve_set_covering(problem: CoveringProblem,
                       options: SolveOptions | None = None) -> LocationResult:
    """Fewest (or cheapest) sites such that every client lies within the radius (LSCP)."""
    opts = options or SolveOptions()
    t0 = time.perf_counter()
    cover = problem.coverage()
    n, m = cover.shape
    blocked = np.zeros(m, bool)
    blocked[list(opts.fixed_closed)] = True
    if not (cover & ~blocked).any(axis=1).all():
        return LocationResult(math.inf, math.inf, time.perf_counter() - t0,
                              SolveStatus.INFEASIBLE, np.zeros(0, np.int64), np.full(n, -1))
    cost = np.ones(m) if problem.site_cost is None else np.asarray(problem.site_cost, float)
    model = MipModel()
    y = model.add_columns(cost, 0.0, 1.0, integer=True)
    ci, sj = np.nonzero(cover)
    model.add_rows(ci, y[sj], 1.0, 1.0, np.inf, n)
    _fix(model, y, opts)
    out = model.solve(opts.time_limit, opts.gap, opts.threads, verbose=opts.verbose)
    return _result(out, y, cover, t0, Sense.MINIMISE)


def _fix(model: MipModel, y: np.ndarray, opts: SolveOptions) -> None:
    if opts.fixed_open:
        model.set_bounds(y[list(opts.fixed_open)], lb=1.0)
    if opts.fixed_closed:
        model.set_bounds(y[list(opts.fixed_closed)], ub=0.0)


def _result(out, y, cover, t0, sense) -> LocationResult:
    n = cover.shape[0]
    seconds = time.perf_counter() - t0
    if out.values is None:
        return LocationResult(math.nan, out.bound, seconds, out.status, np.zeros(0, np.int64),
                              np.full(n, -1), sense=sense)
    sites = np.flatnonzero(out.values[y] > 0.5)
    sub = cover[:, sites]
    assign = np.where(sub.any(axis=1), sites[np.argmax(sub, axis=1)] if sites.size else -1, -1)
    status = out.status
    if status == SolveStatus.OPTIMAL and abs(out.objective - out.bound) > 1e-6 * max(
            1.0, abs(out.objective)):
        status = SolveStatus.FEASIBLE
    return LocationResult(out.objective, out.bound, seconds, status, sites, assign, sense=sense)
