"""A couple of real OR-Library instances against their published optima, through the benchmark's
solve command."""

from __future__ import annotations

import itertools
import math
import re

import numpy as np
import pytest
import typer
from benchmarks import orlib as orlib_readers
from benchmarks.solve import solve, solve_file
from scipy.optimize import Bounds, LinearConstraint, milp
from typer.testing import CliRunner

solve_app = typer.Typer()
solve_app.command()(solve)


@pytest.mark.parametrize(("kind", "file", "extra"), [
    ("pmed", "pmed/pmed1.txt", {}),
    ("cap", "cap/cap41.txt", {}),
    ("sscflp", "sscflp/holmberg_p1.txt", {}),
    ("pmedcap", "pmedcap/pmedcap02.txt", {}),
    ("mclp", "mclp/SJC324.txt", {"radius": 800, "p": 5}),
    ("mclp", "mclp/SJC324.txt", {"radius": 1200}),
    ("fcnf", "fcnf/k10x90.fcnf.txt", {}),
])
def test_real_instance_reaches_published_optimum(orlib, optima, kind, file, extra):
    name, result = solve_file(kind, orlib / file, time_limit=60, **extra)
    key = name if name in optima else f"{name}_ss"
    assert result.status == "optimal"
    assert result.objective == pytest.approx(optima[key], rel=1e-6)
    assert abs(result.bound - result.objective) <= 1e-6 * abs(result.objective) + 1e-6


def test_cli_prints_one_csv_line_per_file(orlib, optima):
    runner = CliRunner()
    res = runner.invoke(solve_app, ["--kind", "pmed", str(orlib / "pmed/pmed1.txt"),
                              str(orlib / "pmed/pmed4.txt"), "--format", "csv"])
    assert res.exit_code == 0, res.output
    lines = [ln for ln in res.stdout.splitlines() if ln.count(",") == 5]
    assert lines[0] == "instance,kind,objective,bound,seconds,status"
    rows = [ln.split(",") for ln in lines[1:]]
    assert [r[0] for r in rows] == ["pmed1", "pmed4"]
    assert [float(r[2]) for r in rows] == [optima["pmed1"], optima["pmed4"]]
    assert all(r[5] == "optimal" for r in rows)


@pytest.mark.slow
def test_capa_at_8000_is_proven_optimal(orlib, optima):
    name, result = solve_file("cap", orlib / "cap/capa.txt", capacity=8000, time_limit=120)
    assert name == "capa_8000"
    assert result.status == "optimal"
    assert result.objective == pytest.approx(optima["capa_8000"], rel=1e-8)


@pytest.mark.parametrize("k", range(1, 11))
def test_pmed1_to_10_stay_optimal(orlib, optima, k):
    name, result = solve_file("pmed", orlib / f"pmed/pmed{k}.txt", time_limit=60)
    assert result.status == "optimal"
    assert result.objective == optima[name] == result.bound


@pytest.mark.parametrize(("kind", "file", "says"), [
    ("pmed", "cap/cap61.txt", "looks like an OR-Library cap file"),
    ("pcenter", "sscflp/holmberg_p1.txt", "use --kind sscflp"),
    ("cap", "sscflp/holmberg_p1.txt", "--kind cap expects an OR-Library cap file"),
    ("sscflp", "pmed/pmed1.txt", "use --kind pmed or pcenter"),
    ("pmedcap", "cap/cap41.txt", "use --kind cap or sscflp"),
    ("fcnf", "pmedcap/pmedcap01.txt", "use --kind pmedcap"),
])
def test_a_file_of_another_layout_is_refused(orlib, kind, file, says):
    with pytest.raises(orlib_readers.InstanceFormatError, match=re.escape(says)):
        solve_file(kind, orlib / file)


def test_cli_refuses_a_cap_file_given_as_pmed_without_a_traceback(orlib):
    res = CliRunner().invoke(solve_app, ["--kind", "pmed", str(orlib / "cap/cap61.txt")])
    assert res.exit_code == 2
    assert "cap61.txt looks like an OR-Library cap file" in " ".join(res.output.split())
    assert res.exception is None or isinstance(res.exception, SystemExit)


def test_capa_as_single_source_asks_for_a_capacity(orlib):
    with pytest.raises(orlib_readers.InstanceFormatError, match="--capacity"):
        solve_file("sscflp", orlib / "cap/capa.txt")


def single_source_by_mip(capacity, fixed, demand, cost) -> float:
    """The single-source CFLP as one plain MIP (scipy's HiGHS): an independent reference."""
    m, n = cost.shape
    c = np.concatenate([fixed, cost.ravel()])
    rows = []
    assign = np.zeros((n, m + m * n))
    for j in range(n):
        assign[j, m + np.arange(m) * n + j] = 1  # each customer from exactly one site
    rows.append(LinearConstraint(assign, 1, 1))
    load = np.zeros((m, m + m * n))
    for i in range(m):
        load[i, i] = -capacity[i]
        load[i, m + i * n: m + (i + 1) * n] = demand
    rows.append(LinearConstraint(load, -np.inf, 0))
    out = milp(c, constraints=rows, integrality=np.ones(c.size), bounds=Bounds(0, 1))
    return float(out.fun) if out.success else math.inf


def test_cap61_as_single_source_matches_a_plain_mip(orlib):
    name, result = solve_file("sscflp", orlib / "cap/cap61.txt")
    inst = orlib_readers.read_cap(orlib / "cap/cap61.txt")
    expected = single_source_by_mip(inst.capacity, inst.fixed_cost, inst.demand, inst.cost)
    assert name == "cap61" and result.status == "optimal"
    assert result.objective == pytest.approx(expected, rel=1e-9)
    assert result.bound == pytest.approx(expected, rel=1e-9)


# 3 sites (the word `capacity`, as in capa), 5 customers; cost = serving a whole customer.
TINY_CAP = """3 5
 capacity 40.
 capacity 25.
 capacity 30.
4 10. 30. 16.
6 18. 6. 24.
5 15. 20. 5.
3 9. 12. 6.
7 7. 28. 21.
"""


def brute_single_source(capacity, fixed, demand, cost) -> float:
    m, n = cost.shape
    best = math.inf
    for sites in itertools.product(range(m), repeat=n):
        load = np.bincount(sites, weights=demand, minlength=m)
        if np.all(load <= capacity):
            used = np.unique(sites)
            best = min(best, fixed[used].sum() + cost[list(sites), np.arange(n)].sum())
    return best


@pytest.mark.parametrize("capacity", [7, 10, 13, 25])
def test_a_tiny_cap_file_as_single_source_matches_brute_force(tmp_path, capacity):
    f = tmp_path / "capz.txt"
    f.write_text(TINY_CAP)
    name, result = solve_file("sscflp", f, capacity=capacity)
    inst = orlib_readers.read_cap(f, capacity)
    expected = brute_single_source(inst.capacity, inst.fixed_cost, inst.demand, inst.cost)
    assert name == f"capz_{capacity}"
    if math.isinf(expected):
        assert result.status == "infeasible"
    else:
        assert result.status == "optimal"
        assert result.objective == pytest.approx(expected)


def test_pcenter_on_pmed1_is_proven_by_an_independent_cover(orlib):
    """The radius is reached by the sites reported, and no p sites cover everyone within the
    next smaller distance (a plain set-cover MIP needs more than p)."""
    name, result = solve_file("pcenter", orlib / "pmed/pmed1.txt")
    inst = orlib_readers.read_pmed(orlib / "pmed/pmed1.txt")
    d = inst.distance
    assert name == "pmed1" and result.status == "optimal" and result.bound == result.objective
    assert len(result.open_facilities) == inst.p
    assert d[:, result.open_facilities].min(axis=1).max() == result.objective
    smaller = np.unique(d)[np.unique(d) < result.objective].max()
    cover = (d <= smaller).astype(float)
    out = milp(np.ones(d.shape[1]), constraints=[LinearConstraint(cover, 1, np.inf)],
               integrality=np.ones(d.shape[1]), bounds=Bounds(0, 1))
    assert out.fun > inst.p
