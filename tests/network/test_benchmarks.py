"""A couple of real OR-Library instances against their published optima, through the benchmark's
solve command."""

from __future__ import annotations

import pytest
import typer
from benchmarks.solve import solve, solve_file
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
