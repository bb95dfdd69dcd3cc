"""``jiqun teams propose|approve|reject|members|list``: the same team workflow as the page
``/teams`` and its ``/api`` twins (a city proposes, the province decides).

Every command acts as a user (``--user NAME`` or ``JIQUN_USER``) through
:func:`jiqun.cli_actor.acting`; refusals exit with 2."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

import typer
from sqlalchemy import select
from sqlalchemy.orm import Session

from jiqun.bounds import MAX_ID
from jiqun.cli_actor import ScopeOpt, UserOpt, acting, refusals
from jiqun.grids import teams
from jiqun.markets import registry
from jiqun.output import Format, emit
from jiqun.permissions import Action, require
from jiqun.store.models import Grid, TeamStatus, User

teams_app = typer.Typer(no_args_is_help=True, help="Marketing teams: propose, approve, reject.")

FormatOpt = Annotated[Format, typer.Option("--format")]
Opt = typer.Option


def _member(session: Session, spec: str) -> dict[str, Any]:
    username, _, role = spec.partition(":")
    user = session.scalars(select(User).where(User.username == username)).one_or_none()
    if user is None:  # scoped: someone outside the acting user's subtree is not found either
        raise typer.BadParameter(f"no user {username!r} in your scope", param_hint="--member")
    return {"user_id": user.id, "role": role or "member"}


def _team_record(session: Session, team_id: int) -> dict[str, Any]:
    row = asdict(teams.team_detail(session, team_id).team)
    row["grids"] = ", ".join(row["grids"])
    return row


MembersOpt = Annotated[list[str], Opt("--member", help="USERNAME[:ROLE], repeat; roles: "
                                                       + "|".join(teams.MEMBER_ROLES))]


@teams_app.command("propose")
def propose_cmd(
    name: Annotated[str, Opt("--name")],
    market: Annotated[str, Opt("--market", help="Market code.")],
    member: MembersOpt,
    grid: Annotated[str | None, Opt("--grid", help="Grid code of the market.")] = None,
    user: UserOpt = None,
    scope: ScopeOpt = None,
    fmt: FormatOpt = Format.TABLE,
) -> None:
    """A city proposes a team (营销团队) for a market or grid; the province decides."""
    with acting(user, scope).transaction() as session:
        require(session, Action.TEAM_PROPOSE)  # before any lookup, as the web answers
        found = registry.market_by_code(session, market)
        grid_id = None
        if grid:
            grid_id = session.scalars(select(Grid.id).where(Grid.code == grid,
                                                            Grid.market_id == found.id)).first()
            if grid_id is None:
                raise typer.BadParameter(f"no grid {grid!r} in {market}", param_hint="--grid")
        team = teams.propose_team(session, {
            "name": name, "market_id": found.id, "grid_id": grid_id,
            "members": [_member(session, m) for m in member]})
        record = _team_record(session, team.id)
    emit([record], fmt, "team proposed")


TeamArg = Annotated[int, typer.Argument(min=1, max=MAX_ID, help="Team id.")]


@teams_app.command("approve")
def approve_cmd(team_id: TeamArg, user: UserOpt = None, scope: ScopeOpt = None,
                fmt: FormatOpt = Format.TABLE) -> None:
    """The province approves a proposed team (once: a decided team is a conflict)."""
    with acting(user, scope).transaction() as session:
        teams.approve_team(session, team_id)
        record = _team_record(session, team_id)
    emit([record], fmt, "team approved")


@teams_app.command("reject")
def reject_cmd(
    team_id: TeamArg,
    reason: Annotated[str, Opt("--reason", help="Why; kept in the team's history.")],
    user: UserOpt = None,
    scope: ScopeOpt = None,
    fmt: FormatOpt = Format.TABLE,
) -> None:
    """The province rejects a proposed team, with a reason."""
    with acting(user, scope).transaction() as session:
        teams.reject_team(session, team_id, reason)
        record = _team_record(session, team_id)
    emit([record], fmt, "team rejected")


@teams_app.command("members")
def members_cmd(team_id: TeamArg, member: MembersOpt, user: UserOpt = None,
                scope: ScopeOpt = None, fmt: FormatOpt = Format.TABLE) -> None:
    """Replace a team's members and their roles (the change goes to its history)."""
    with acting(user, scope).transaction() as session:
        require(session, Action.TEAM_EDIT_MEMBERS)  # before any lookup, as the web answers
        teams.set_members(session, team_id, [_member(session, m) for m in member])
        rows = [asdict(m) for m in teams.team_detail(session, team_id).members]
    emit(rows, fmt, f"members of team {team_id}")


@teams_app.command("list")
def list_cmd(
    user: UserOpt = None,
    scope: ScopeOpt = None,
    status: Annotated[TeamStatus | None, Opt("--status")] = None,
    fmt: FormatOpt = Format.TABLE,
) -> None:
    """Teams of the scope, proposed ones first (the province's queue)."""
    act = acting(user, scope)
    with refusals(), act.session() as session:
        rows = [asdict(r) for r in teams.list_teams(session, status)]
    for row in rows:
        row["grids"] = ", ".join(row["grids"])
    emit(rows, fmt, "teams")

