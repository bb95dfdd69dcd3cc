"""The exact p-median proof (radius formulation grown level by level) against enumeration.

The heuristic usually finds the optimum of small instances by itself, so these tests hand the
proof a poor incumbent: it must then find the optimum itself, widening clients' levels and
re-solving, and still return a bound equal to the brute-force value.
"""

from __future__ import annotations

import itertools
import math
import time

import numpy as np
import pytest

from jiqun.network.location.pmedian_lagrangian import SiteClosing
from jiqun.network.location.radius import RadiusModel, improvement_cutoff, prove_pmedian


def brute(distance, weight, p, must=(), banned=()):
    best, best_sites = math.inf, None
    for combo in itertools.combinations(range(distance.shape[1]), p):
        if set(must) <= set(combo) and not set(banned) & set(combo):
            cost = float(weight @ distance[:, list(combo)].min(axis=1))
            if cost < best:
                best, best_sites = cost, combo
    return best, best_sites


def instance(seed, n=14, m=10, integral=True):
    rng = np.random.default_rng(seed)
    clients, sites = rng.uniform(0, 100, (n, 2)), rng.uniform(0, 100, (m, 2))
    d = np.hypot(*(clients[:, None, :] - sites[None, :, :]).transpose(2, 0, 1))
    d = np.round(d / 5) * 5  # ties between sites: several sites on one level
    w = rng.integers(1, 9, n).astype(float) if integral else rng.uniform(0.5, 3.0, n)
    return d, w


def worst_incumbent(d, w, p):
    """The p sites that are, alone, the worst: a poor start the proof has to improve on."""
    alone = w @ d
    sites = list(np.argsort(alone)[-p:])
    return sites, float(w @ d[:, sites].min(axis=1))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("p", [1, 2, 4])
@pytest.mark.parametrize("integral", [True, False])
def test_proof_from_a_poor_incumbent_reaches_the_enumerated_optimum(seed, p, integral):
    d, w = instance(seed, integral=integral)
    optimum, _ = brute(d, w, p)
    sites, cost = worst_incumbent(d, w, p)
    out = prove_pmedian(d, w, p, sites, cost, deadline=time.perf_counter() + 30)
    assert out.proven
    assert out.cost == pytest.approx(optimum)
    assert float(w @ d[:, out.sites].min(axis=1)) == pytest.approx(optimum)
    assert out.bound == pytest.approx(optimum)


def test_an_optimal_incumbent_is_proven_without_change():
    d, w = instance(11)
    optimum, best = brute(d, w, 3)
    out = prove_pmedian(d, w, 3, list(best), optimum, deadline=time.perf_counter() + 30)
    assert out.proven and out.cost == optimum and out.bound == pytest.approx(optimum)


def test_fixed_open_and_closed_sites_are_honoured():
    d, w = instance(5)
    optimum, free_sites = brute(d, w, 3)
    banned = int(free_sites[0])
    must = next(int(j) for j in np.argsort(w @ d)[::-1] if j != banned)  # a poor site
    expected, _ = brute(d, w, 3, must=(must,), banned=(banned,))
    work = d.copy()
    work[:, banned] = np.inf
    start = [must] + [j for j in range(d.shape[1]) if j not in (must, banned)][:2]
    out = prove_pmedian(work, w, 3, start, float(w @ work[:, start].min(axis=1)),
                        deadline=time.perf_counter() + 30, fixed_open=(must,),
                        fixed_closed=(banned,))
    assert out.proven and must in out.sites and banned not in out.sites
    assert out.cost == pytest.approx(expected) and expected > optimum


@pytest.mark.parametrize("seed", range(4))
def test_every_truncation_is_a_relaxation(seed):
    """Whatever the radii, the truncated LP bound never exceeds the true optimum."""
    d, w = instance(seed)
    optimum, _ = brute(d, w, 2)
    rng = np.random.default_rng(seed)
    radius = np.array([rng.choice(row) for row in d])
    model = RadiusModel(d, w, 2, radius)
    status, _ = model._run(30)
    assert model.h.getInfo().objective_function_value <= optimum + 1e-6


def test_improvement_cutoff_steps_by_one_on_integral_data_only():
    d, w = instance(1)
    assert improvement_cutoff(d, w, 100.0) == pytest.approx(99.0 + 1e-6)
    assert 99.99 < improvement_cutoff(d + 0.5, w, 100.0) < 100.0


@pytest.mark.parametrize("seed", range(4))
def test_with_a_gap_allowed_the_bound_stays_below_the_optimum(seed):
    d, w = instance(seed, integral=False)
    optimum, _ = brute(d, w, 3)
    sites, cost = worst_incumbent(d, w, 3)
    out = prove_pmedian(d, w, 3, sites, cost, deadline=time.perf_counter() + 30, gap=0.3)
    assert out.bound <= optimum + 1e-9 <= out.cost + 2e-9
    assert out.cost <= cost


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("p", [2, 3])
def test_site_closing_keeps_every_site_of_an_optimum(seed, p):
    """With the optimum itself as the cut-off, no site of an optimal solution may close, the
    sites fixed open are in it, and the bound stays at or below it."""
    d, w = instance(seed)
    optimum, best = brute(d, w, p)
    closing = SiteClosing(w[:, None] * d, p, optimum + 1e-6)
    bound = closing.run()
    assert bound <= optimum + 1e-6
    assert set(best) <= set(closing.kept().tolist())
    assert set(np.flatnonzero(closing.forced).tolist()) <= set(best)


def test_site_closing_below_the_optimum_proves_it():
    d, w = instance(2)
    optimum, _ = brute(d, w, 3)
    closing = SiteClosing(w[:, None] * d, 3, improvement_cutoff(d, w, optimum))
    assert closing.run() > improvement_cutoff(d, w, optimum) or closing.kept().size < 3


def test_the_same_instance_gets_the_same_answer_and_the_same_work(tmp_path):
    """Work limits, not seconds: two solves of one pmed-shaped instance (300 vertices, p = 10,
    the Lagrangian's strong tests at work) agree on everything they report but the time."""
    from benchmarks import orlib
    from benchmarks.pmed_family import write_instance

    from jiqun.network.location import PMedianProblem, SolveOptions, solve_pmedian

    inst = orlib.read_pmed(write_instance(tmp_path / "pmedlike12.txt", 300, 1800, 10, 1012))
    runs = [solve_pmedian(PMedianProblem(inst.distance, inst.p), SolveOptions(time_limit=120))
            for _ in range(2)]
    first, again = runs
    assert first.status == "optimal" and first.objective == first.bound
    assert (first.objective, list(first.open_facilities)) == (
        again.objective, list(again.open_facilities))
    assert first.details["work"] == again.details["work"]
    assert first.details == again.details
    assert first.details["work"]["lagrangian"]["strong_tests"] > 0
