"""The day's route (pure): time windows, the working-day limit, the best subset and order
(brute force on a tiny instance), the greedy fallback, and the logistic model's fit."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from jiqun.sales.conversion import fit_logistic
from jiqun.sales.visit_plan import (
    Candidate,
    Depot,
    PlanRules,
    minutes,
    plan_day,
    prize_points,
    route_objective,
    schedule,
    travel_minutes,
)

DEPOT = Depot("织里揽投部", 120.26, 30.84)


def _candidates(n: int, seed: int, **extra) -> list[Candidate]:
    rng = np.random.default_rng(seed)
    return [
        Candidate(customer_id=i + 1, code=f"C{i + 1}", name=f"商户{i + 1}",
                  lon=float(DEPOT.lon + rng.uniform(-0.04, 0.04)),
                  lat=float(DEPOT.lat + rng.uniform(-0.04, 0.04)),
                  score=float(rng.uniform(0.1, 5.0)), **extra)
        for i in range(n)
    ]


def _arrivals(plan) -> list[int]:
    return [minutes(s.arrive) for s in plan.stops]


def test_route_respects_time_windows_and_the_day_limit():
    rules = PlanRules(day_start="08:00", day_limit_min=240, solver_seconds=1)
    # Half the merchants open only in the afternoon: a 4-hour morning reaches none of them.
    cands = [c if c.customer_id % 2 else Candidate(**{**c.__dict__, "opens": 13 * 60})
             for c in _candidates(12, seed=1, service_min=30)]
    plan = plan_day(cands, DEPOT, rules)
    assert plan.solver == "ortools"
    assert plan.stops, "something fits in four hours"
    by_id = {c.customer_id: c for c in cands}
    for stop in plan.stops:
        c = by_id[stop.customer_id]
        assert c.opens <= minutes(stop.arrive) and minutes(stop.leave) <= c.closes
        assert minutes(stop.leave) - minutes(stop.arrive) == 30
    assert all(s.customer_id % 2 for s in plan.stops)  # no afternoon-only merchant
    assert minutes(plan.back_at) <= minutes("08:00") + 240
    assert len(plan.stops) < len(cands) / 2 + 1  # the limit forced drops
    assert _arrivals(plan) == sorted(_arrivals(plan))


def test_a_longer_day_collects_more():
    cands = _candidates(15, seed=2)
    short = plan_day(cands, DEPOT, PlanRules(day_limit_min=120, solver_seconds=1))
    long = plan_day(cands, DEPOT, PlanRules(day_limit_min=480, solver_seconds=1))
    assert long.score > short.score
    assert minutes(short.back_at) <= minutes("08:30") + 120


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_solver_matches_brute_force_on_a_tiny_instance(seed):
    """Every subset and order of 7 stops (13,699 routes): the exact search's route is optimal."""
    rules = PlanRules(day_limit_min=150, speed_kmh=15, solver_seconds=1)
    cands = _candidates(7, seed=seed, service_min=25)
    plan = plan_day(cands, DEPOT, rules)
    ranked = sorted(cands, key=lambda c: (-c.score, c.customer_id))
    matrix = travel_minutes([(DEPOT.lon, DEPOT.lat), *((c.lon, c.lat) for c in ranked)], rules)
    prizes = prize_points(ranked)
    best = max(
        route_objective(order, prizes, matrix, rules)
        for k in range(len(ranked) + 1)
        for subset in itertools.combinations(range(len(ranked)), k)
        for order in itertools.permutations(subset)
        if schedule(order, ranked, matrix, rules) is not None
    )
    assert 0 < len(plan.stops) < 7  # the day limit makes the choice matter
    assert plan.solver == "exact" and plan.objective == best


def test_greedy_fallback_is_feasible_and_close():
    rules = PlanRules(day_limit_min=200, solver_seconds=1)
    cands = _candidates(20, seed=6)
    exact = plan_day(cands, DEPOT, rules)
    greedy = plan_day(cands, DEPOT, rules, solver="greedy")
    assert greedy.solver == "greedy" and greedy.stops
    assert minutes(greedy.back_at) <= minutes("08:30") + 200
    assert greedy.objective <= exact.objective
    assert greedy.objective >= 0.8 * exact.objective


def test_nothing_to_visit_is_an_empty_plan():
    plan = plan_day([], DEPOT)
    assert plan.stops == [] and plan.score == 0 and plan.km == 0


def test_logistic_fit_recovers_the_signal():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4000, 3))
    true = np.array([2.0, -1.0, 0.0])
    y = (rng.random(4000) < 1 / (1 + np.exp(-(X @ true - 1)))).astype(float)
    model = fit_logistic(X, y, l2=0.1)
    assert np.allclose(model.weights, true, atol=0.2)
    assert model.intercept == pytest.approx(-1, abs=0.2)
    flat = fit_logistic(X, np.zeros(4000))  # no positive: the smoothed base rate
    assert np.allclose(model.probability(X).mean(), y.mean(), atol=0.02)
    assert flat.probability(X[:1])[0] == pytest.approx(1 / 4002)
