"""Lagrangian relaxation 拉格朗日松弛 for the multi-source capacitated facility location problem.

Relaxing "every client fully served" with multipliers λ_j splits the problem per site into a
continuous knapsack, plus a knapsack choosing which sites to open under the cover row
Σ Q_i y_i ≥ Σ d_j. Subgradient optimisation of λ gives, in seconds, a bound as strong as the
strong LP relaxation (which alone takes over a minute on capa). Each Lagrangian site choice is
repaired into a feasible plan by a transportation LP, and the bound lets us fix most sites open or
closed (reduced-cost fixing) before the exact MIP runs on the few sites that remain undecided.

`solve_capacitated` now proves large instances with the Lagrangian branch-and-bound of
`cflp_bnb` (exact site knapsack, probing, branching on sites); this plain subgradient remains as
a simple, independent bound.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from jiqun.network.location.highs import MipModel


@dataclass
class LagrangianOutcome:
    lower: float
    upper: float
    best_open: np.ndarray  # bool per site of the best feasible plan
    best_shares: np.ndarray | None
    site_value: np.ndarray  # v_i(λ*) — site's Lagrangian value incl. its fixed cost
    multipliers: np.ndarray
    iterations: int


def site_values(cost, fixed, capacity, demand, lam):
    """v_i(λ) = f_i + min Σ_j (c_ij − λ_j) x_ij over 0 ≤ x ≤ 1, Σ_j d_j x_ij ≤ Q_i; and x."""
    reduced = cost - lam[None, :]
    ratio = np.where(reduced < 0, reduced / demand[None, :], np.inf)
    order = np.argsort(ratio, axis=1, kind="stable")
    r_sorted = np.take_along_axis(reduced, order, axis=1)
    d_sorted = demand[order]
    useful = r_sorted < 0
    d_used = np.where(useful, d_sorted, 0.0)
    before = np.cumsum(d_used, axis=1) - d_used
    frac = np.clip((capacity[:, None] - before) / d_sorted, 0.0, 1.0) * useful
    values = fixed + (frac * r_sorted).sum(axis=1)
    x = np.zeros_like(frac)
    np.put_along_axis(x, order, frac, axis=1)
    return values, x


def choose_sites(values, capacity, need, forced_open=None, forced_closed=None):
    """min Σ v_i y_i, Σ Q_i y_i ≥ need: exact 0-1 when all capacities are equal (the count of
    sites is then what binds), else the knapsack LP (greedy by v_i / Q_i) — a valid bound."""
    m = values.size
    y = np.zeros(m)
    lo = np.zeros(m, bool) if forced_open is None else forced_open.copy()
    hi_block = np.zeros(m, bool) if forced_closed is None else forced_closed
    take = (values < 0) & ~hi_block | lo
    y[take] = 1.0
    short = need - capacity[take].sum()
    if short > 1e-9 and np.ptp(capacity) == 0:
        # Equal capacities: the 0-1 knapsack is exact — open the cheapest sites up to the count.
        cand = np.flatnonzero(~take & ~hi_block)
        count = math.ceil(short / capacity[0] - 1e-9)
        if cand.size < count:
            return math.inf, y
        y[cand[np.argsort(values[cand], kind="stable")[:count]]] = 1.0
        short = 0.0
    if short > 1e-9:
        cand = np.flatnonzero(~take & ~hi_block)
        order = cand[np.argsort(values[cand] / capacity[cand], kind="stable")]
        for i in order:
            use = min(1.0, short / capacity[i])
            y[i] = use
            short -= use * capacity[i]
            if short <= 1e-9:
                break
        if short > 1e-9:
            return math.inf, y
    return float(values @ y), y


def transport_plan(cost, capacity, demand, open_sites, fixed):
    """Cheapest multi-source assignment to the given open sites (a transportation LP)."""
    sites = np.flatnonzero(open_sites)
    if capacity[sites].sum() < demand.sum() - 1e-9:
        return math.inf, None
    k, n = sites.size, demand.size
    model = MipModel()
    x = model.add_columns(cost[sites].ravel(), 0.0, 1.0)
    ii, jj = np.divmod(np.arange(k * n), n)
    model.add_rows(jj, x, 1.0, 1.0, 1.0, n)
    model.add_rows(ii, x, demand[jj], -np.inf, capacity[sites], k)
    out = model.solve(time_limit=60.0, relax=True)
    if out.values is None:
        return math.inf, None
    shares = np.zeros_like(cost)
    shares[sites] = out.values.reshape(k, n)
    return out.objective + float(fixed[sites].sum()), shares


def subgradient(cost, fixed, capacity, demand, *, iterations: int = 600,
                deadline: float = math.inf, upper: float = math.inf,
                repair_every: int = 25) -> LagrangianOutcome:
    """Subgradient optimisation with Polyak steps; repairs site choices into feasible plans."""
    m, n = cost.shape
    need = float(demand.sum())
    # Start λ_j at the cheapest way to serve j: a common, good starting point.
    lam = cost.min(axis=0).astype(np.float64)
    best_lower, best_lam, best_values = -math.inf, lam.copy(), None
    best_open, best_shares = None, None
    tried: set[bytes] = set()
    theta, stall = 2.0, 0
    it = 0
    for it in range(1, iterations + 1):
        if time.perf_counter() > deadline:
            break
        values, x = site_values(cost, fixed, capacity, demand, lam)
        ksum, y = choose_sites(values, capacity, need)
        lower = float(lam.sum()) + ksum
        if lower > best_lower + 1e-9 * abs(lower):
            best_lower, best_lam, best_values, stall = lower, lam.copy(), values, 0
        else:
            stall += 1
            if stall >= 20:
                theta, stall = theta / 2, 0
        opened = y > 1e-9
        key = opened.tobytes()
        if (it % repair_every == 1 or it <= 3) and key not in tried:
            tried.add(key)
            value, shares = transport_plan(cost, capacity, demand, opened, fixed)
            value, opened, shares = _drop_idle(cost, capacity, demand, fixed, value, opened, shares)
            if value < upper:
                upper, best_open, best_shares = value, opened.copy(), shares
        served = (y[:, None] * x).sum(axis=0)
        g = 1.0 - served
        norm = float(g @ g)
        if norm < 1e-12 or theta < 1e-4:
            break
        gap_target = (upper if math.isfinite(upper) else abs(lower) * 1.05 + 1) - lower
        lam = lam + theta * max(gap_target, 1e-6) / norm * g
        if math.isfinite(upper) and best_lower >= upper - 1e-9 * abs(upper):
            break
    if best_values is None:
        best_values = site_values(cost, fixed, capacity, demand, best_lam)[0]
    return LagrangianOutcome(best_lower, upper,
                             best_open if best_open is not None else np.zeros(m, bool),
                             best_shares, best_values, best_lam, it)


def _drop_idle(cost, capacity, demand, fixed, value, opened, shares):
    """Close open sites that the transportation plan leaves unused (pure saving)."""
    if shares is None:
        return value, opened, shares
    idle = opened & (shares.sum(axis=1) < 1e-9)
    if idle.any():
        opened = opened & ~idle
        value -= float(fixed[idle].sum())
    return value, opened, shares


def fix_sites(outcome: LagrangianOutcome, capacity, need, upper: float, tol: float):
    """Reduced-cost fixing: a site whose flip pushes the Lagrangian bound above `upper` keeps its
    Lagrangian state in every better plan. Returns (forced_open, forced_closed) masks."""
    values = outcome.site_value
    lam_sum = float(outcome.multipliers.sum())
    m = values.size
    forced_open = np.zeros(m, bool)
    forced_closed = np.zeros(m, bool)
    for i in range(m):
        mask = np.zeros(m, bool)
        mask[i] = True
        opened_val, _ = choose_sites(values, capacity, need, forced_open=mask)
        closed_val, _ = choose_sites(values, capacity, need, forced_closed=mask)
        if lam_sum + opened_val > upper - tol:
            forced_closed[i] = True
        elif lam_sum + closed_val > upper - tol:
            forced_open[i] = True
    return forced_open, forced_closed
