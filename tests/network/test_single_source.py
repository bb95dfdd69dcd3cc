"""Single-source capacitated location 单源容量选址: the Lagrangian / fixing / reduced-MIP route
against enumeration of every assignment, against the strong MIP on Holmberg-shaped instances,
and against the published pmedcap optima."""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

import numpy as np
import pytest
from benchmarks import orlib, sscflp_family

from jiqun.network.location import (
    CapacitatedProblem,
    SolveOptions,
    SolveStatus,
    capacitated_pmedian,
    solve_capacitated,
)
from jiqun.network.location import capacitated as cap_module
from jiqun.network.location.single_source import solve_single_source

ORLIB = Path(__file__).resolve().parents[3] / "shared/data/orlib"


def tiny(seed: int, m: int = 4, n: int = 7, p: int | None = None):
    """A tiny single-source instance with integral data (capacity ratio ~1.5, some tight)."""
    rng = np.random.default_rng(seed)
    demand = rng.integers(1, 10, size=n).astype(float)
    capacity = np.ceil(rng.uniform(0.8, 1.2, size=m) * 1.5 * demand.sum() / (p or m / 2))
    capacity = np.maximum(capacity, demand.max())
    fixed = np.zeros(m) if p else rng.integers(5, 40, size=m).astype(float)
    cost = rng.integers(1, 30, size=(m, n)).astype(float)
    return cost, fixed, capacity, demand


def enumerate_optimum(cost, fixed, capacity, demand, p=None) -> float:
    """Every assignment of clients to sites (m^n of them), vectorised."""
    m, n = cost.shape
    sites = np.array(list(itertools.product(range(m), repeat=n)))
    load = np.zeros((sites.shape[0], m))
    for i in range(m):
        load[:, i] = ((sites == i) * demand[None, :]).sum(axis=1)
    opened = load > 0
    ok = np.all(load <= capacity[None, :], axis=1)
    if p is not None:
        ok &= opened.sum(axis=1) <= p
    value = cost[sites, np.arange(n)[None, :]].sum(axis=1) + opened @ fixed
    return float(value[ok].min()) if ok.any() else np.inf


def check_plan(result, cost, fixed, capacity, demand, p=None):
    site = result.assignment
    load = np.bincount(site, weights=demand, minlength=cost.shape[0])
    assert np.all(load <= capacity + 1e-9)
    opened = np.unique(site)
    if p is not None:
        assert opened.size <= p
    value = cost[site, np.arange(cost.shape[1])].sum() + fixed[opened].sum()
    assert value == pytest.approx(result.objective)
    assert result.bound <= result.objective + 1e-9


@pytest.mark.parametrize("seed", range(6))
def test_sscflp_matches_enumeration(seed):
    cost, fixed, capacity, demand = tiny(seed)
    result = solve_single_source(cost, fixed, capacity, demand, None, SolveOptions())
    assert result.status == SolveStatus.OPTIMAL
    assert result.objective == pytest.approx(enumerate_optimum(cost, fixed, capacity, demand))
    check_plan(result, cost, fixed, capacity, demand)


@pytest.mark.parametrize("seed", range(6))
def test_capacitated_pmedian_matches_enumeration(seed):
    cost, fixed, capacity, demand = tiny(seed + 100, m=5, n=7, p=2)
    result = solve_single_source(cost, fixed, capacity, demand, 2, SolveOptions())
    optimum = enumerate_optimum(cost, fixed, capacity, demand, p=2)
    assert result.status == SolveStatus.OPTIMAL
    assert result.objective == pytest.approx(optimum)
    check_plan(result, cost, fixed, capacity, demand, p=2)


def test_fixed_sites_are_respected():
    cost, fixed, capacity, demand = tiny(7, m=5, n=7)
    free = solve_single_source(cost, fixed, capacity, demand, None, SolveOptions())
    shut = int(free.open_facilities[0])
    keep = int(next(i for i in range(5) if i not in free.open_facilities))
    result = solve_single_source(cost, fixed, capacity, demand, None,
                                 SolveOptions(fixed_closed=(shut,), fixed_open=(keep,)))
    assert shut not in result.assignment and keep in result.open_facilities
    assert result.objective >= free.objective - 1e-9
    check_plan(result, cost, fixed, capacity, demand)


def test_too_little_capacity_is_infeasible():
    cost, fixed, capacity, demand = tiny(3)
    closed = tuple(np.argsort(capacity)[:-1].tolist())  # one site cannot hold everyone
    capacity = capacity.copy()
    capacity[np.argmax(capacity)] = demand.sum() - 1
    result = solve_single_source(cost, fixed, capacity, demand, None,
                                 SolveOptions(fixed_closed=closed))
    assert result.status == SolveStatus.INFEASIBLE


@pytest.mark.parametrize(("label", "variant"), [("10x50", "v"), ("20x50", "t")])
def test_holmberg_shaped_instances_agree_with_the_strong_mip(tmp_path, label, variant):
    m, n, drange = sscflp_family.HOLMBERG_CLASSES[label]
    path = sscflp_family.write_sscflp(
        tmp_path / "h.txt", *sscflp_family.holmberg_like(m, n, drange, variant, seed=5))
    inst = orlib.read_sscflp(path)
    problem = CapacitatedProblem(inst.capacity, inst.fixed_cost, inst.demand, inst.cost)
    assert cap_module.single_source_route(problem) == (m * n >= 1000)
    result = solve_single_source(inst.cost, inst.fixed_cost, inst.capacity, inst.demand, None,
                                 SolveOptions(time_limit=60))
    model, _ = cap_module._model(problem, SolveOptions(), single_source=True)
    direct = model.solve(time_limit=120, options={"mip_feasibility_tolerance": 1e-7})
    assert result.status == SolveStatus.OPTIMAL
    assert result.objective == pytest.approx(direct.objective)
    check_plan(result, inst.cost, inst.fixed_cost, inst.capacity, inst.demand)


def test_cpmp_file_round_trip(tmp_path):
    path = sscflp_family.write_cpmp(tmp_path / "c.txt", 30, 4, seed=2)
    inst = orlib.read_pmedcap(path)
    assert inst.p == 4 and inst.demand.size == 30
    assert inst.capacity == np.ceil(inst.demand.sum() / (sscflp_family.CPMP_TIGHTNESS * 4))
    assert np.all(np.diag(inst.distance) == 0)


def _optima() -> dict[str, float]:
    with (ORLIB / "optima.csv").open() as fh:
        return {r["instance"]: float(r["optimal_value"]) for r in csv.DictReader(fh)}


@pytest.mark.skipif(not ORLIB.exists(), reason="../shared/data/orlib is absent")
@pytest.mark.parametrize("name", ["pmedcap01", "pmedcap02", "pmedcap04"])
def test_pmedcap_optima_through_the_single_source_route(name):
    inst = orlib.read_pmedcap(ORLIB / f"pmedcap/{name}.txt")
    problem = capacitated_pmedian(inst.distance, inst.demand, inst.capacity, inst.p)
    assert cap_module.single_source_route(problem)
    result = solve_capacitated(problem, SolveOptions(time_limit=60), single_source=True)
    assert result.status == SolveStatus.OPTIMAL
    assert result.objective == pytest.approx(_optima()[name])
    assert result.details["method"] == "lagrangian_fixing_mip"
