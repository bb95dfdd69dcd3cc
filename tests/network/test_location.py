"""Optimisers pinned to brute-force optima computed here by enumeration."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.optimize import linprog

from jiqun.network.location import (
    CapacitatedProblem,
    CoveringProblem,
    PMedianProblem,
    SolveOptions,
    SolveStatus,
    solve_capacitated,
    solve_max_covering,
    solve_pmedian,
    solve_set_covering,
)
from jiqun.network.location import capacitated as cap_module
from jiqun.network.location.lagrangian import subgradient


def brute_pmedian(distance, weight, p, must=()):
    best = np.inf
    for combo in itertools.combinations(range(distance.shape[1]), p):
        if set(must) <= set(combo):
            best = min(best, float(weight @ distance[:, list(combo)].min(axis=1)))
    return best


@pytest.mark.parametrize("p", [1, 2, 3, 5])
def test_pmedian_matches_enumeration(ok_small, p):
    d, w = ok_small["distance"], ok_small["demand"]
    result = solve_pmedian(PMedianProblem(d, p, w))
    assert result.status == SolveStatus.OPTIMAL
    assert result.objective == pytest.approx(brute_pmedian(d, w, p))
    assert result.bound == pytest.approx(result.objective) and result.gap < 1e-9
    assert len(result.open_facilities) == p
    assert set(result.assignment) <= set(result.open_facilities)


def test_pmedian_keeps_existing_centre_open(ok_small):
    d, w = ok_small["distance"], ok_small["demand"]
    free = solve_pmedian(PMedianProblem(d, 2, w))
    existing = next(j for j in range(7) if j not in free.open_facilities)
    kept = solve_pmedian(PMedianProblem(d, 2, w), SolveOptions(fixed_open=(existing,)))
    assert existing in kept.open_facilities
    assert kept.objective == pytest.approx(brute_pmedian(d, w, 2, must=(existing,)))
    assert kept.objective > free.objective


def brute_mclp(cover, demand, p):
    return max(float(demand @ cover[:, list(c)].any(axis=1))
               for c in itertools.combinations(range(cover.shape[1]), p))


@pytest.mark.parametrize(("radius", "p"), [(25.0, 1), (25.0, 2), (40.0, 2), (40.0, 3)])
def test_max_covering_matches_enumeration(ok_small, radius, p):
    problem = CoveringProblem(ok_small["distance"], radius, ok_small["demand"])
    result = solve_max_covering(problem, p)
    assert result.status == SolveStatus.OPTIMAL
    assert result.objective == pytest.approx(brute_mclp(problem.coverage(), problem.demands(), p))
    assert result.bound == pytest.approx(result.objective)


def brute_set_cover(cover):
    for k in range(1, cover.shape[1] + 1):
        for c in itertools.combinations(range(cover.shape[1]), k):
            if cover[:, list(c)].any(axis=1).all():
                return k
    return np.inf


@pytest.mark.parametrize("radius", [45.0, 60.0, 90.0])
def test_set_covering_matches_enumeration(ok_small, radius):
    problem = CoveringProblem(ok_small["distance"], radius)
    expected = brute_set_cover(problem.coverage())
    result = solve_set_covering(problem)
    if not np.isfinite(expected):
        assert result.status == SolveStatus.INFEASIBLE
        return
    assert result.status == SolveStatus.OPTIMAL
    assert result.objective == expected
    assert problem.coverage()[:, result.open_facilities].any(axis=1).all()


def brute_cflp_multi(inst):
    """Every subset of sites, each with its transportation LP (scipy's solver, not ours)."""
    cap, fixed, dem, cost = (inst[k] for k in ("capacity", "fixed_cost", "demand", "cost"))
    m, n = cost.shape
    best = np.inf
    for k in range(1, m + 1):
        for subset in itertools.combinations(range(m), k):
            s = list(subset)
            if cap[s].sum() < dem.sum():
                continue
            a_eq = np.kron(np.ones((1, k)), np.eye(n))
            a_ub = np.kron(np.eye(k), dem[None, :])
            lp = linprog(cost[s].ravel(), A_ub=a_ub, b_ub=cap[s], A_eq=a_eq, b_eq=np.ones(n),
                         bounds=(0, 1))
            if lp.status == 0:
                best = min(best, lp.fun + fixed[s].sum())
    return best


def brute_cflp_single(inst):
    cap, fixed, dem, cost = (inst[k] for k in ("capacity", "fixed_cost", "demand", "cost"))
    m, n = cost.shape
    best = np.inf
    for assign in itertools.product(range(m), repeat=n):
        a = np.array(assign)
        load = np.bincount(a, weights=dem, minlength=m)
        if np.all(load <= cap):
            best = min(best, cost[a, np.arange(n)].sum() + fixed[np.unique(a)].sum())
    return best


def test_cflp_multi_source_matches_enumeration(ok_small_capacitated):
    inst = ok_small_capacitated
    result = solve_capacitated(CapacitatedProblem(**inst))
    assert result.status == SolveStatus.OPTIMAL
    assert result.objective == pytest.approx(brute_cflp_multi(inst), rel=1e-7)
    shares = result.shares
    assert np.allclose(shares.sum(axis=0), 1.0)
    assert np.all(shares @ inst["demand"] <= inst["capacity"] + 1e-6)


def test_cflp_lagrangian_route_matches_enumeration(ok_small_capacitated, monkeypatch):
    inst = ok_small_capacitated
    monkeypatch.setattr(cap_module, "LAGRANGIAN_SIZE", 0)
    result = solve_capacitated(CapacitatedProblem(**inst))
    expected = brute_cflp_multi(inst)
    assert result.status == SolveStatus.OPTIMAL
    assert result.objective == pytest.approx(expected, rel=1e-7)
    lr = subgradient(inst["cost"], inst["fixed_cost"], inst["capacity"], inst["demand"])
    assert lr.lower <= expected + 1e-6 <= lr.upper + 2e-6


def test_cflp_single_source_matches_enumeration(ok_small_capacitated):
    inst = ok_small_capacitated
    result = solve_capacitated(CapacitatedProblem(**inst), single_source=True)
    assert result.status == SolveStatus.OPTIMAL
    assert result.objective == pytest.approx(brute_cflp_single(inst), rel=1e-7)
    assert np.all(np.isin(result.shares.round(6), (0.0, 1.0)))
    multi = solve_capacitated(CapacitatedProblem(**inst))
    assert result.objective >= multi.objective - 1e-6  # single-source is a restriction


def test_cflp_existing_site_closed_and_open(ok_small_capacitated):
    inst = ok_small_capacitated
    free = solve_capacitated(CapacitatedProblem(**inst))
    shut = int(free.open_facilities[0])
    result = solve_capacitated(CapacitatedProblem(**inst), SolveOptions(fixed_closed=(shut,)))
    assert shut not in result.open_facilities
    assert result.objective >= free.objective - 1e-6
