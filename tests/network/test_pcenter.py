"""Vertex p-center (radius every client is guaranteed) against enumeration on small graphs."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import shortest_path

from jiqun.network.location import PCenterProblem, SolveOptions, SolveStatus, solve_pcenter


def random_graph_distances(seed: int, n: int = 11, extra_edges: int = 10) -> np.ndarray:
    """Shortest paths of a connected random graph with integer costs (a small pmed)."""
    rng = np.random.default_rng(seed)
    edges = {(k, int(rng.integers(0, k))) for k in range(1, n)}
    while len(edges) < n - 1 + extra_edges:
        a, b = (int(x) for x in rng.integers(0, n, 2))
        if a != b:
            edges.add((max(a, b), min(a, b)))
    i, j = np.array(sorted(edges)).T
    cost = rng.integers(1, 20, i.size).astype(float)
    graph = csr_matrix((np.r_[cost, cost], (np.r_[i, j], np.r_[j, i])), shape=(n, n))
    return shortest_path(graph, directed=False)


def brute_radius(dist: np.ndarray, p: int) -> float:
    return min(float(dist[:, list(c)].min(axis=1).max())
               for c in itertools.combinations(range(dist.shape[1]), p))


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("p", [1, 2, 3])
def test_radius_matches_enumeration(seed, p):
    dist = random_graph_distances(seed)
    result = solve_pcenter(PCenterProblem(dist, p))
    assert result.status == SolveStatus.OPTIMAL
    assert result.objective == brute_radius(dist, p)
    assert result.bound == result.objective
    assert len(result.open_facilities) == p
    assert dist[:, result.open_facilities].min(axis=1).max() == result.objective
    assert np.array_equal(result.assignment, result.open_facilities[
        np.argmin(dist[:, result.open_facilities], axis=1)])


def test_rectangular_distances_and_unreachable_pairs():
    """Clients × candidate sites need not be square; ∞ marks a site that cannot serve."""
    rng = np.random.default_rng(3)
    dist = rng.integers(1, 50, (9, 6)).astype(float)
    dist[0, :5] = np.inf  # client 0 can only be served by site 5
    result = solve_pcenter(PCenterProblem(dist, 2))
    assert 5 in result.open_facilities
    assert result.objective == brute_radius(dist, 2)


def test_p_outside_the_sites_is_refused():
    with pytest.raises(ValueError, match="p=4"):
        solve_pcenter(PCenterProblem(np.ones((3, 3)), 4))


def test_the_same_instance_reports_the_same_work():
    dist = random_graph_distances(8, n=40, extra_edges=60)
    first = solve_pcenter(PCenterProblem(dist, 4), SolveOptions(time_limit=60))
    again = solve_pcenter(PCenterProblem(dist, 4), SolveOptions(time_limit=60))
    assert (first.objective, list(first.open_facilities)) == (
        again.objective, list(again.open_facilities))
    assert first.details["work"] == again.details["work"]
