"""``jiqun problems list|raise|escalate|merge|solve|suggest|overdue``: the problems of R2 (问题有人盯)
as the pages ``/problems`` and their ``/api`` twins show and change them.

Every command acts as a user (``--user NAME`` or ``JIQUN_USER``) through
:func:`jiqun.cli_actor.acting`; refusals exit with 2. The service is imported when a command
runs, so ``--help`` loads no engine."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from typing import Annotated

import typer

from jiqun.bounds import MAX_ID
from jiqun.cli_actor import ScopeOpt, UserOpt, acting, refusals
from jiqun.output import Format, emit
from jiqun.store.models import OrgLevel

app = typer.Typer(no_args_is_help=True,
                  help="Problems raised at city level, escalated until solved (问题有人盯).")

FormatOpt = Annotated[Format, typer.Option("--format")]
ProblemArg = Annotated[int, typer.Argument(min=1, max=MAX_ID, help="Problem id.")]
VersionOpt = Annotated[int | None, typer.Option(
    "--version", min=1, max=MAX_ID, help="The version you saw: a problem changed since is "
    "refused.")]
IdOpt = Annotated[int | None, typer.Option(min=1, max=MAX_ID)]


def _service():
    from jiqun.service import problems

    return problems


def _rules():
    from jiqun.service.problem_rules import ProblemRules

    return ProblemRules.configured()


def _record(session, problem_id: int) -> dict:
    return asdict(_service().problem_detail(session, problem_id).problem)


@app.command("list")
def list_cmd(
    status: Annotated[str, typer.Option("--status", help="open | solved | all")] = "open",
    level: Annotated[OrgLevel | None, typer.Option("--level", help="Who holds it now.")] = None,
    common: Annotated[bool, typer.Option("--common", help="Common problems only.")] = False,
    members: Annotated[bool, typer.Option(
        "--members", help="Also list the members of common problems you see.")] = False,
    user: UserOpt = None,
    scope: ScopeOpt = None,
    fmt: FormatOpt = Format.TABLE,
) -> None:
    """Problems of your scope by level (HQ first) and age (oldest first)."""
    if status not in ("open", "solved", "all"):
        raise typer.BadParameter("open, solved or all", param_hint="--status")
    act = acting(user, scope)
    with refusals(), act.session() as session:
        rows = [asdict(r) for r in _service().problems(session, status=status, level=level,
                                               common_only=common, with_members=members)]
    emit(rows, fmt, "problems")


@app.command("raise")
def raise_cmd(
    title: Annotated[str, typer.Option("--title")],
    description: Annotated[str | None, typer.Option("--description")] = None,
    market_id: IdOpt = None,
    visit_id: IdOpt = None,
    case_id: IdOpt = None,
    source: Annotated[str, typer.Option("--source", help="meeting | visit | case")] = "meeting",
    user: UserOpt = None,
    scope: ScopeOpt = None,
    fmt: FormatOpt = Format.TABLE,
) -> None:
    """Raise a problem at your city (or the city of the visit, case or market)."""
    with refusals(), acting(user, scope).transaction() as session:
        problem = _service().raise_problem(session, title=title, description=description,
                                   market_id=market_id, visit_id=visit_id, case_id=case_id,
                                   source=source, rules=_rules())
        record = _record(session, problem.id)
    emit([record], fmt, "problem raised")


@app.command("escalate")
def escalate_cmd(problem_id: ProblemArg,
                 note: Annotated[str | None, typer.Option("--note")] = None,
                 version: VersionOpt = None, user: UserOpt = None, scope: ScopeOpt = None,
                 fmt: FormatOpt = Format.TABLE) -> None:
    """Escalate a problem one level up (city → province → HQ)."""
    with refusals(), acting(user, scope).transaction() as session:
        _service().escalate(session, problem_id, note, version=version, rules=_rules())
        record = _record(session, problem_id)
    emit([record], fmt, "problem escalated")


@app.command("merge")
def merge_cmd(problem_ids: Annotated[list[int], typer.Argument(min=1, max=MAX_ID,
                                                                help="Two or more problem ids.")],
              title: Annotated[str, typer.Option("--title")],
              description: Annotated[str | None, typer.Option("--description")] = None,
              user: UserOpt = None, scope: ScopeOpt = None,
              fmt: FormatOpt = Format.TABLE) -> None:
    """Merge the same problem of several cities into one common problem (共性问题)."""
    with refusals(), acting(user, scope).transaction() as session:
        common = _service().merge(session, problem_ids, title, description=description,
                          rules=_rules())
        record = _record(session, common.id)
    emit([record], fmt, "common problem")


@app.command("solve")
def solve_cmd(problem_id: ProblemArg, solution: Annotated[str, typer.Option("--solution")],
              version: VersionOpt = None, user: UserOpt = None, scope: ScopeOpt = None,
              fmt: FormatOpt = Format.TABLE) -> None:
    """Mark a problem solved with its solution; you get the credit."""
    with refusals(), acting(user, scope).transaction() as session:
        _service().solve(session, problem_id, solution, version=version)
        record = _record(session, problem_id)
    emit([record], fmt, "problem solved")


@app.command("suggest")
def suggest_cmd(user: UserOpt = None, scope: ScopeOpt = None,
                fmt: FormatOpt = Format.TABLE) -> None:
    """Open problems of several cities that look like the same problem (to merge)."""
    act = acting(user, scope)
    with refusals(), act.session() as session:
        rows = [{"group": k + 1, "score": s.score, "same_industry": s.same_industry,
                 "id": p.id, "title": p.title, "unit": p.unit}
                for k, s in enumerate(_service().suggest_merges(session)) for p in s.problems]
    emit(rows, fmt, "likely the same problem")


@app.command("overdue")
def overdue_cmd(user: UserOpt = None, fmt: FormatOpt = Format.TABLE) -> None:
    """Escalate every problem whose level's clock ran out (what the scheduled job does)."""
    with refusals(), acting(user).transaction() as session:
        counts = _service().escalate_overdue(session, dt.datetime.now(), _rules())
    emit([counts], fmt, "escalated by the clock")
