"""`python -m benchmarks.solve` — run the location optimisers on OR-Library instance files
(标准算例求解). A benchmark tool, not a product command: the carrier's own questions go through
`jiqun plan lines|hubs`; this checks the solvers behind them against published optima.

One line per file: `instance,kind,objective,bound,seconds,status`. Progress goes to stderr only,
so stdout stays machine-readable. Each file's layout is checked against its kind first
(`orlib.detect_layout`): a file of another layout is refused with what it looks like, instead of
being misread. `--kind sscflp` reads Holmberg files and OR-Library cap files (cap41–74, and
capa/capb/capc with `--capacity`) as single-source; `--kind pcenter` solves the vertex p-center
on a pmed graph (the objective is the radius every client is guaranteed).
"""

from __future__ import annotations

import csv
import io
import json
import math
from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from benchmarks import orlib
from jiqun.network.location import (
    CapacitatedProblem,
    CoveringProblem,
    FixedChargeFlowProblem,
    LocationResult,
    PCenterProblem,
    PMedianProblem,
    SolveOptions,
    capacitated_pmedian,
    solve_capacitated,
    solve_fixed_charge_flow,
    solve_max_covering,
    solve_pcenter,
    solve_pmedian,
    solve_set_covering,
)

COLUMNS = ("instance", "kind", "objective", "bound", "seconds", "status")


class Kind(StrEnum):
    PMED = "pmed"
    PCENTER = "pcenter"
    CAP = "cap"
    PMEDCAP = "pmedcap"
    SSCFLP = "sscflp"
    MCLP = "mclp"
    FCNF = "fcnf"


class OutputFormat(StrEnum):
    CSV = "csv"
    TABLE = "table"
    JSON = "json"


# The file layouts each kind reads (keys of orlib.LAYOUTS).
LAYOUTS = {
    Kind.PMED: {"pmed"}, Kind.PCENTER: {"pmed"}, Kind.CAP: {"cap"},
    Kind.SSCFLP: {"cap", "holmberg"}, Kind.PMEDCAP: {"pmedcap"}, Kind.MCLP: {"mclp"},
    Kind.FCNF: {"fcnf"},
}


def solve_file(kind: Kind | str, path: Path, *, p: int | None = None,
               radius: float | None = None, capacity: float | None = None,
               time_limit: float = 60.0) -> tuple[str, LocationResult]:
    """Read one instance file of `kind` and solve it; returns (instance name, result).

    Raises `orlib.InstanceFormatError` when the file's layout is not one `kind` reads."""
    kind = Kind(kind)
    opts = SolveOptions(time_limit=time_limit)
    path = Path(path)
    layout = orlib.require_layout(_points_file(path) if kind == Kind.MCLP else path,
                                  LAYOUTS[kind], str(kind))
    if kind in (Kind.PMED, Kind.PCENTER):
        inst = orlib.read_pmed(path)
        if kind == Kind.PCENTER:
            return inst.name, solve_pcenter(PCenterProblem(inst.distance, p or inst.p), opts)
        return inst.name, solve_pmedian(PMedianProblem(inst.distance, p or inst.p), opts)
    if kind in (Kind.CAP, Kind.SSCFLP):
        inst = orlib.read_cap(path, capacity) if layout == "cap" else orlib.read_sscflp(path)
        problem = CapacitatedProblem(inst.capacity, inst.fixed_cost, inst.demand, inst.cost)
        return inst.name, solve_capacitated(problem, opts, single_source=kind == Kind.SSCFLP)
    if kind == Kind.PMEDCAP:
        inst = orlib.read_pmedcap(path)
        problem = capacitated_pmedian(inst.distance, inst.demand, capacity or inst.capacity,
                                      p or inst.p)
        return inst.name, solve_capacitated(problem, opts, single_source=True)
    if kind == Kind.MCLP:
        return _solve_covering(path, p, radius, opts)
    net = orlib.read_fcnf(path)
    problem = FixedChargeFlowProblem(net.demand, net.tail, net.head, net.fixed_cost,
                                     net.unit_cost, net.capacity)
    return f"fcnet_{net.name}", solve_fixed_charge_flow(problem, opts)


def _points_file(path: Path) -> Path:
    """`demand-SJCnnn.dat` stands for its points file `SJCnnn.txt`, as `read_mclp` reads it."""
    if path.name.startswith("demand-"):
        return path.with_name(path.name[len("demand-") :].replace(".dat", ".txt"))
    return path


def _solve_covering(path: Path, p: int | None, radius: float | None, opts: SolveOptions):
    if radius is None:
        raise typer.BadParameter("--radius is required for --kind mclp")
    inst = orlib.read_mclp(path)
    problem = CoveringProblem(inst.distance(), radius, inst.demand)
    r_label = int(radius) if float(radius).is_integer() else radius
    if p is None:  # no p: set covering (fewest sites covering everyone)
        return f"{inst.name}_lscp_S{r_label}", solve_set_covering(problem, opts)
    return f"{inst.name}_mclp_S{r_label}_p{p}", solve_max_covering(problem, p, opts)


def result_row(name: str, kind: str, result: LocationResult) -> dict:
    return {"instance": name, "kind": str(kind), "objective": _num(result.objective),
            "bound": _num(result.bound), "seconds": round(result.seconds, 3),
            "status": str(result.status)}


def _num(value: float) -> float | str:
    if not math.isfinite(value):
        return str(value)
    return int(round(value)) if abs(value - round(value)) < 1e-6 else round(value, 4)


def render(rows: list[dict], fmt: OutputFormat) -> str:
    if fmt == OutputFormat.JSON:
        return json.dumps(rows, ensure_ascii=False, indent=2)
    if fmt == OutputFormat.CSV:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return buf.getvalue().rstrip("\n")
    table = Table(*COLUMNS)
    for row in rows:
        table.add_row(*(str(row[c]) for c in COLUMNS))
    buf = io.StringIO()
    Console(file=buf, width=140).print(table)
    return buf.getvalue().rstrip("\n")


def solve(
    files: list[Path] = typer.Argument(..., help="Instance files.", exists=True, dir_okay=False),
    kind: Kind = typer.Option(..., "--kind", help="Instance family / model."),
    p: int | None = typer.Option(None, "--p", help="Number of sites (overrides the file)."),
    radius: float | None = typer.Option(None, "--radius", help="Covering radius (mclp)."),
    capacity: float | None = typer.Option(
        None, "--capacity", help="Site capacity of cap files (needed for capa/b/c)."),
    time_limit: float = typer.Option(60.0, "--time-limit", help="Seconds per file."),
    fmt: OutputFormat = typer.Option(OutputFormat.CSV, "--format", help="csv, table or json."),
) -> None:
    """Solve location benchmark instances: objective, proven bound, seconds, status per file."""
    err = Console(stderr=True)
    rows = []
    with err.status("solving…") as status:
        for path in files:
            status.update(f"solving {path.name}…")
            try:
                name, result = solve_file(kind, path, p=p, radius=radius, capacity=capacity,
                                          time_limit=time_limit)
            except orlib.InstanceFormatError as exc:
                raise typer.BadParameter(str(exc), param_hint="FILES") from None
            rows.append(result_row(name, kind, result))
            err.print(f"{name}: {result.status} in {result.seconds:.2f}s")
    typer.echo(render(rows, fmt))


if __name__ == "__main__":
    typer.run(solve)
