"""Multi-source CFLP 多源容量选址: Lagrangian branch-and-bound against enumeration, and the capa
family at the capacity the old MIP route could not prove (12000)."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import linprog

from jiqun.network.location import CapacitatedProblem, SolveOptions, SolveStatus, solve_capacitated
from jiqun.network.location import capacitated as cap_module
from jiqun.network.location.cflp_bnb import (
    CLOSED,
    FREE,
    OPEN,
    CflpBranchAndBound,
    CoverKnapsack,
    Transport,
)

ORLIB = Path(__file__).resolve().parents[2].parent / "shared/data/orlib"


def random_cflp(seed: int, m: int = 6, n: int = 12, ratio: float = 1.6,
                equal_capacity: bool = False) -> CapacitatedProblem:
    """A small Cornuéjols-style instance: points in the unit square, integral demand/capacity."""
    rng = np.random.default_rng(seed)
    sites, clients = rng.uniform(size=(m, 2)), rng.uniform(size=(n, 2))
    demand = rng.integers(5, 36, size=n).astype(float)
    raw = np.full(m, 80.0) if equal_capacity else rng.uniform(10, 160, size=m)
    capacity = np.ceil(raw * ratio * demand.sum() / raw.sum())
    fixed = rng.uniform(0, 90, size=m) + rng.uniform(100, 110, size=m) * np.sqrt(capacity) / 4
    cost = 10 * np.linalg.norm(sites[:, None] - clients[None], axis=2) * demand[None, :]
    return CapacitatedProblem(capacity, fixed, demand, cost)


def transport_lp(problem: CapacitatedProblem, opened) -> float:
    """Cheapest assignment to the open set by scipy's LP (independent of the solver's HiGHS)."""
    s = list(opened)
    cost, cap, dem = problem.cost[s], problem.capacity[s], problem.demand
    k, n = cost.shape
    lp = linprog(cost.ravel(), A_ub=np.kron(np.eye(k), dem[None, :]), b_ub=cap,
                 A_eq=np.kron(np.ones((1, k)), np.eye(n)), b_eq=np.ones(n), bounds=(0, 1))
    return lp.fun + problem.fixed_cost[s].sum() if lp.status == 0 else math.inf


def enumerate_optimum(problem: CapacitatedProblem) -> float:
    m = problem.cost.shape[0]
    best = math.inf
    for size in range(1, m + 1):
        for combo in itertools.combinations(range(m), size):
            if problem.capacity[list(combo)].sum() >= problem.demand.sum():
                best = min(best, transport_lp(problem, combo))
    return best


@pytest.fixture
def lagrangian_route(monkeypatch):
    """Send every multi-source instance, however small, through the branch-and-bound."""
    monkeypatch.setattr(cap_module, "LAGRANGIAN_SIZE", 0)


@pytest.mark.parametrize("seed", range(6))
def test_branch_and_bound_matches_enumeration(seed, lagrangian_route):
    problem = random_cflp(seed, equal_capacity=seed % 3 == 0)
    expected = enumerate_optimum(problem)
    result = solve_capacitated(problem)
    assert result.details["method"] == "lagrangian_branch_and_bound"
    assert result.status == SolveStatus.OPTIMAL
    assert result.objective == pytest.approx(expected, rel=1e-7)
    assert result.bound <= result.objective + 1e-9
    assert result.bound >= expected * (1 - 1e-6)
    # The plan itself is feasible and costs what it claims.
    shares = result.shares
    assert np.allclose(shares.sum(axis=0), 1.0)
    assert np.all(shares @ problem.demand <= problem.capacity + 1e-6)
    assert np.all(shares[~np.isin(np.arange(6), result.open_facilities)] < 1e-9)
    paid = (shares * problem.cost).sum() + problem.fixed_cost[result.open_facilities].sum()
    assert paid == pytest.approx(result.objective, rel=1e-9)


@pytest.mark.parametrize("seed", range(4))
def test_lagrangian_bound_never_exceeds_the_optimum(seed):
    problem = random_cflp(seed + 10, ratio=1.3)
    expected = enumerate_optimum(problem)
    tree = CflpBranchAndBound(problem.cost, problem.fixed_cost, problem.capacity, problem.demand,
                              deadline=math.inf)
    state = np.full(6, FREE, np.int8)
    rng = np.random.default_rng(seed)
    for _ in range(20):  # any multipliers give a valid bound, not just good ones
        lam = rng.uniform(0, 2, size=12) * problem.cost.mean(axis=0)
        bound, *_ = tree.lagrangian(lam, state)
        assert bound <= expected + 1e-6
    tree.try_plan(np.ones(6, bool))
    best, *_ = tree.ascend(problem.cost.min(axis=0), state, 500, 30, theta=2.0)
    assert best <= expected + 1e-6
    assert best >= expected * 0.8  # and the ascent actually climbs


def test_fixed_sites_are_honoured(lagrangian_route):
    problem = random_cflp(3)
    free = solve_capacitated(problem)
    shut = int(free.open_facilities[0])
    keep = int(np.setdiff1d(np.arange(6), free.open_facilities)[0])
    result = solve_capacitated(problem, SolveOptions(fixed_closed=(shut,), fixed_open=(keep,)))
    assert shut not in result.open_facilities and keep in result.open_facilities
    best = math.inf
    for size in range(1, 7):
        for combo in itertools.combinations(range(6), size):
            if shut not in combo and keep in combo and \
                    problem.capacity[list(combo)].sum() >= problem.demand.sum():
                best = min(best, transport_lp(problem, combo))
    assert result.status == SolveStatus.OPTIMAL
    assert result.objective == pytest.approx(best, rel=1e-7)


def test_too_little_capacity_is_infeasible(lagrangian_route):
    problem = random_cflp(1)
    allowed = np.argsort(problem.capacity)[:1]
    closed = tuple(int(i) for i in np.setdiff1d(np.arange(6), allowed))
    result = solve_capacitated(problem, SolveOptions(fixed_closed=closed))
    assert result.status == SolveStatus.INFEASIBLE


def test_time_limit_keeps_the_bound_honest(lagrangian_route):
    problem = random_cflp(4)
    expected = enumerate_optimum(problem)
    result = solve_capacitated(problem, SolveOptions(time_limit=1e-4))
    assert result.status in (SolveStatus.OPTIMAL, SolveStatus.TIME_LIMIT)
    if math.isfinite(result.bound):
        assert result.bound <= expected + 1e-6
    if result.status == SolveStatus.OPTIMAL:
        assert result.objective == pytest.approx(expected, rel=1e-6)


def test_cover_knapsack_matches_enumeration():
    rng = np.random.default_rng(5)
    for _ in range(30):
        cap = rng.integers(3, 40, size=8).astype(float)
        need = float(rng.integers(10, int(cap.sum())))
        values = rng.normal(0, 10, size=8)
        state = rng.choice([FREE, FREE, FREE, OPEN, CLOSED], size=8).astype(np.int8)
        knap = CoverKnapsack(cap, need)
        best = math.inf
        for bits in itertools.product((0, 1), repeat=8):
            y = np.array(bits, bool)
            if np.any(y & (state == CLOSED)) or np.any(~y & (state == OPEN)):
                continue
            if cap[y].sum() >= need:
                best = min(best, values[y].sum())
        got, y = knap.solve(values, state)
        assert got == pytest.approx(best) if math.isfinite(best) else got == math.inf
        if math.isfinite(best):
            assert cap[y].sum() >= need and values[y].sum() == pytest.approx(got)
        up, down = knap.flips(values, state)
        for i in np.flatnonzero(state == FREE):
            forced = state.copy()
            forced[i] = OPEN
            assert up[i] == pytest.approx(knap.solve(values, forced)[0])
            forced[i] = CLOSED
            assert down[i] == pytest.approx(knap.solve(values, forced)[0])


def test_min_cost_flow_transport_equals_the_lp():
    problem = random_cflp(8, m=6, n=40, ratio=1.2)
    transport = Transport(problem.cost, problem.capacity, problem.demand)
    opened = np.array([1, 1, 0, 1, 1, 1], bool)
    if problem.capacity[opened].sum() < problem.demand.sum():
        opened[:] = True
    flow_value, shares = transport(opened)
    lp_value, _ = transport.exact(opened)
    assert flow_value == pytest.approx(lp_value, rel=1e-8)
    assert np.allclose(shares.sum(axis=0), 1.0)


@pytest.mark.slow
def test_capa_at_12000_is_proven_optimal():
    if not (ORLIB / "cap/capa.txt").exists():
        pytest.skip(f"OR-Library capa not found under {ORLIB} (shared benchmark data absent)")
    from benchmarks import orlib

    inst = orlib.read_cap(ORLIB / "cap/capa.txt", 12000)
    problem = CapacitatedProblem(inst.capacity, inst.fixed_cost, inst.demand, inst.cost)
    result = solve_capacitated(problem, SolveOptions(time_limit=60))
    assert result.status == SolveStatus.OPTIMAL
    assert result.objective == pytest.approx(17765201.949, abs=0.01)
    assert result.bound >= result.objective * (1 - 1e-6)
    assert result.bound <= 17765201.949 + 0.01
