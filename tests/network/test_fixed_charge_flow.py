"""Fixed-charge network flow (pooled lines 拼线): the branch and cut against enumeration of
every arc subset, the dicut separation on a hand case, the strong big-M, and FCNetLib's files."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from benchmarks import fcnf_family, orlib
from scipy.optimize import linprog

from jiqun.network.location import FixedChargeFlowProblem, SolveStatus, solve_fixed_charge_flow
from jiqun.network.location.network import arc_flow_bounds, separate_dicuts


def min_cost_flow(problem: FixedChargeFlowProblem, open_arcs: np.ndarray) -> np.ndarray | None:
    """The cheapest flow on `open_arcs` alone (None when none meets the demand)."""
    n, m = problem.demand.size, problem.tail.size
    a_eq = np.zeros((n, m))
    a_eq[problem.head, np.arange(m)] += 1.0
    a_eq[problem.tail, np.arange(m)] -= 1.0
    bounds = [(0.0, float(problem.capacity[a]) if open_arcs[a] else 0.0) for a in range(m)]
    res = linprog(problem.unit_cost, A_eq=a_eq, b_eq=problem.demand, bounds=bounds,
                  method="highs")
    return res.x if res.status == 0 else None


def enumerate_solutions(problem: FixedChargeFlowProblem):
    """(cost, x, y) of the cheapest flow on every arc subset that can carry the demand."""
    m = problem.tail.size
    for mask in itertools.product((0, 1), repeat=m):
        y = np.array(mask, dtype=float)
        x = min_cost_flow(problem, y > 0)
        if x is not None:
            yield float(problem.fixed_cost @ y + problem.unit_cost @ x), x, y


def tiny_problem(seed: int, n: int = 5, m: int = 9, capacitated: bool = False):
    """A random instance small enough to enumerate (2^m subsets); two sources, two sinks, a
    pair of parallel arcs (the truck arcs of a pooled line)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    arcs = [(int(order[i]), int(order[(i + 1) % n])) for i in range(n)]  # every node reaches all
    while len(arcs) < m - 1:
        i, j = (int(v) for v in rng.integers(0, n, size=2))
        if i != j:
            arcs.append((i, j))
    arcs.append(arcs[0])  # a parallel arc
    demand = np.zeros(n)
    demand[order[:2]] = -rng.integers(3, 9, size=2)
    demand[order[2]] = rng.integers(1, 4)
    demand[order[3]] = -demand.sum()
    total = int(-demand[demand < 0].sum())
    tail, head = (np.array(v) for v in zip(*arcs, strict=True))
    fixed, unit = rng.integers(5, 40, size=m).astype(float), rng.integers(1, 6, size=m)
    cap = np.full(m, float(total))
    while capacitated:  # capacities between half and all of the supply, binding yet feasible
        cap = rng.integers(total // 2, total + 1, size=m).astype(float)
        problem = FixedChargeFlowProblem(demand, tail, head, fixed, unit.astype(float), cap)
        if min_cost_flow(problem, np.ones(m, dtype=bool)) is not None:
            return problem
    return FixedChargeFlowProblem(demand, tail, head, fixed, unit.astype(float), cap)


@pytest.mark.parametrize(("seed", "capacitated"), [(1, False), (2, False), (3, True), (4, True)])
def test_matches_enumeration_of_every_arc_subset(seed, capacitated):
    problem = tiny_problem(seed, capacitated=capacitated)
    best = min(cost for cost, _, _ in enumerate_solutions(problem))
    result = solve_fixed_charge_flow(problem)
    assert result.status == SolveStatus.OPTIMAL
    assert result.objective == pytest.approx(best)
    assert result.bound == pytest.approx(best)
    flow = result.shares[0]
    opened = np.zeros(problem.tail.size, dtype=bool)
    opened[result.open_facilities] = True
    assert not (flow[~opened] > 1e-9).any()  # no flow on a closed arc
    assert float(problem.fixed_cost[opened].sum() + problem.unit_cost @ flow) == pytest.approx(best)
    # The bounds are ordered: weak LP ≤ strong LP ≤ root with dicuts ≤ optimum.
    d = result.details
    assert d["lp_weak"] <= d["lp_strong"] + 1e-6 <= d["root_bound"] + 2e-6 <= best + 3e-6


def test_dicuts_on_a_hand_case():
    """Source s (10) feeds t1 (4) and t2 (6); the weak LP opens each arc in proportion to its
    flow (y = x / 10). Each sink alone is a violated dicut: 4·y(s→t1) + x(t2→t1) ≥ 4 reads
    1.6 ≥ 4, 6·y(s→t2) + x(t1→t2) ≥ 6 reads 3.6 ≥ 6; the set {t1, t2} is not violated
    (min(4, 10·0.4) + min(6, 10·0.6) = 10)."""
    s, t1, t2 = 0, 1, 2
    demand = np.array([-10.0, 4.0, 6.0])
    tail, head = np.array([s, s, t1, t2]), np.array([t1, t2, t2, t1])
    x = np.array([4.0, 6.0, 0.0, 0.0])
    y = x / 10.0
    cuts = separate_dicuts(demand, tail, head, x, y)
    assert {(tuple(sorted(c.nodes)), c.rhs) for c in cuts} == {((t1,), 4.0), ((t2,), 6.0)}
    for cut in cuts:
        assert cut.inward
        assert cut.lhs(x, y) < cut.rhs  # violated by the LP point
        assert cut.lhs(x, np.ceil(y)) >= cut.rhs  # and met once the arcs are opened
        into = set(cut.arcs.tolist())
        assert into == {a for a in range(4) if head[a] in cut.nodes and tail[a] not in cut.nodes}


@pytest.mark.parametrize("seed", [5, 6, 7])
def test_dicuts_hold_at_every_feasible_arc_subset(seed):
    """Cuts separated from the weak LP point are valid: no arc subset's cheapest flow
    violates one."""
    problem = tiny_problem(seed, m=8)
    total = -problem.demand[problem.demand < 0].sum()
    x = min_cost_flow(problem, np.ones(problem.tail.size, dtype=bool))
    y = x / total
    cuts = separate_dicuts(problem.demand, problem.tail, problem.head, x, y)
    assert cuts, "the weak LP point should violate some dicut"
    for _, xs, ys in enumerate_solutions(problem):
        for cut in cuts:
            assert cut.lhs(xs, ys) >= cut.rhs - 1e-6


def test_strong_big_m_counts_only_supply_and_demand_in_reach():
    """a → b → c with a second source d → b: arc a→b carries at most a's supply (3), b→c at
    most c's demand (5) — not the total supply 7."""
    a, b, c, d = range(4)
    demand = np.array([-3.0, 2.0, 5.0, -4.0])
    tail, head = np.array([a, b, d]), np.array([b, c, b])
    bounds = arc_flow_bounds(demand, tail, head, np.full(3, np.inf))
    assert bounds.tolist() == [3.0, 5.0, 4.0]
    assert arc_flow_bounds(demand, tail, head, np.array([2.0, 9.0, 9.0])).tolist() == [2.0, 5.0,
                                                                                       4.0]


@pytest.mark.parametrize("name", ["g40x132", "k10x90", "r20x100", "sp50x100"])
def test_fcnetlib_files_reach_their_published_optimum(orlib, optima, name):
    net = orlib_read(orlib / f"fcnf/{name}.fcnf.txt")
    result = solve_fixed_charge_flow(net)
    assert result.status == SolveStatus.OPTIMAL
    assert result.objective == pytest.approx(optima[f"fcnet_{name}"], rel=1e-9)
    assert result.details["root_bound"] > result.details["lp_weak"]  # the dicuts lift the bound


def orlib_read(path) -> FixedChargeFlowProblem:
    net = orlib.read_fcnf(path)
    return FixedChargeFlowProblem(net.demand, net.tail, net.head, net.fixed_cost, net.unit_cost,
                                  net.capacity)


def test_family_generator_writes_the_published_shapes(tmp_path):
    for shape in fcnf_family.SHAPES:
        path = fcnf_family.write(shape, 1, tmp_path)
        net = orlib.read_fcnf(path)
        assert (len(net.nodes), net.tail.size) == (shape.nodes, shape.arcs), shape.name
        assert net.demand.sum() == 0 and (net.demand > 0).any()
        lo, hi = fcnf_family.PROFILES[shape.profile].fixed
        assert lo <= net.fixed_cost.min() and net.fixed_cost.max() <= hi
        assert (net.capacity == net.demand[net.demand > 0].sum()).all()  # uncapacitated
    again = fcnf_family.to_text(fcnf_family.SHAPES[0], fcnf_family.generate(fcnf_family.SHAPES[0]),
                                1)
    assert (tmp_path / "g40x132.fcnf.txt").read_text() == again  # same seed, same file
