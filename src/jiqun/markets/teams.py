"""Marketing teams (G1, 营销团队): proposed by a city, approved or rejected by the province
(相关人员由市分公司推荐、省分公司审核), members and their roles editable, every step in the
audit log.

Who may do what:

* propose, edit members: managers at city level or above (city / county manager, department
  head, provincial manager, supervisor, HQ business, admin) — not marketers or couriers;
* approve, reject: provincial manager, supervisor, HQ business or admin whose org unit is a
  province or HQ, and never the person who proposed the team (four eyes);
* a decision is taken on a proposed team only; a rejection needs a reason.

Team and grid rows are audited by the store. Member changes and the reason of a rejection are
not columns of an audited row, so this module writes them to the audit log itself
(entity ``teams``, the team's id), where the team's history reads them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from jiqun.markets.errors import Invalid, NotAllowed, NotFound, field_errors
from jiqun.store.models import (
    AuditEntry,
    Grid,
    Market,
    OrgLevel,
    Role,
    Team,
    TeamMember,
    TeamStatus,
    User,
)

PROPOSER_ROLES = frozenset({Role.ADMIN, Role.HQ_BUSINESS, Role.PROVINCIAL_MANAGER,
                            Role.SUPERVISOR, Role.CITY_MANAGER, Role.COUNTY_MANAGER,
                            Role.DEPARTMENT_HEAD})
APPROVER_ROLES = frozenset({Role.ADMIN, Role.HQ_BUSINESS, Role.PROVINCIAL_MANAGER,
                            Role.SUPERVISOR})
APPROVER_LEVELS = frozenset({OrgLevel.HQ, OrgLevel.PROVINCE})
# A member's role in the team (TeamMember.role) → its label (msgid).
MEMBER_ROLES = {
    "leader": "Team leader",
    "marketer": "Marketer",
    "account_manager": "Account manager",
    "courier": "Courier",
    "service": "Customer service",
    "member": "Member",
}
EDITABLE = (TeamStatus.PROPOSED, TeamStatus.APPROVED)

FIELD_MESSAGES = {
    "name": "A team name of 1–100 characters",
    "market_id": "Choose a market",
    "grid_id": "Choose a grid of the market",
    "members": "Add at least one member",
    "reason": "Give a reason of 1–255 characters",
}


@dataclass(frozen=True)
class Actor:
    """Who acts: the user id, role and the level of their org unit."""

    user_id: int
    role: Role
    level: OrgLevel

    @classmethod
    def of(cls, session: Session, user_id: int) -> Actor:
        user = session.get(User, user_id)
        if user is None:
            raise NotFound(user_id)
        return cls(user.id, user.role, user.org_unit.level)

    @property
    def may_propose(self) -> bool:
        return self.role in PROPOSER_ROLES

    @property
    def may_decide(self) -> bool:
        return self.role in APPROVER_ROLES and self.level in APPROVER_LEVELS


class MemberIn(BaseModel):
    user_id: int
    role: str = "member"


class TeamIn(BaseModel):
    """A team to propose (组建营销团队)."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="ignore")

    name: str = Field(min_length=1, max_length=100)
    market_id: int | None = None
    grid_id: int | None = None
    members: list[MemberIn] = Field(min_length=1)


@dataclass
class MemberRow:
    user_id: int
    username: str
    display_name: str
    role: str
    joined_on: dt.date | None


@dataclass
class HistoryRow:
    at: dt.datetime
    user: str | None
    action: str
    changes: dict


@dataclass
class TeamRow:
    id: int
    name: str
    status: str
    market_id: int | None
    market: str | None
    grids: list[str]
    proposed_by: str | None
    approved_by: str | None
    approved_at: dt.datetime | None
    created_at: dt.datetime | None
    leader: str | None
    members: int


@dataclass
class TeamDetail:
    team: TeamRow
    members: list[MemberRow] = field(default_factory=list)
    history: list[HistoryRow] = field(default_factory=list)


# -- checks -------------------------------------------------------------------------------------
def _parse_members(session: Session, members: list[MemberIn]) -> list[MemberIn]:
    seen: set[int] = set()
    for m in members:
        if m.role not in MEMBER_ROLES:
            raise Invalid({"members": "Choose a role for each member"})
        if m.user_id in seen:
            raise Invalid({"members": "A person appears twice in the team"})
        seen.add(m.user_id)
        if session.get(User, m.user_id) is None:  # scoped: people outside the subtree are unknown
            raise Invalid({"members": "A member is not in your organisation"})
    if sum(m.role == "leader" for m in members) > 1:
        raise Invalid({"members": "A team has one leader at most"})
    return members


def _team(session: Session, team_id: int) -> Team:
    team = session.get(Team, team_id)  # scoped
    if team is None:
        raise NotFound(team_id)
    return team


def _record(session: Session, team: Team, action: str, changes: dict[str, Any]) -> None:
    """A history entry the row audit cannot write (members, a rejection's reason)."""
    session.add(AuditEntry(
        at=dt.datetime.now(dt.UTC).replace(tzinfo=None), user_id=session.info.get("user_id"),
        org_unit_id=team.org_unit_id, action=action, entity=Team.__tablename__,
        entity_id=str(team.id), changes=changes, source=session.info.get("source")))


def _place(session: Session, data: TeamIn, actor: Actor) -> tuple[Market | None, Grid | None,
                                                                  int]:
    """The team's market and grid (both in scope) and the org unit it belongs to."""
    grid = market = None
    if data.grid_id is not None:
        grid = session.get(Grid, data.grid_id)
        if grid is None or (data.market_id is not None and grid.market_id != data.market_id):
            raise Invalid({"grid_id": "Choose a grid of the market"})
        if grid.team_id is not None:
            holder = session.get(Team, grid.team_id)
            if holder is not None and holder.status in EDITABLE:
                raise Invalid({"grid_id": "This grid already has a team"})
    market_id = data.market_id if data.market_id is not None else (grid.market_id if grid else None)
    if market_id is not None:
        market = session.get(Market, market_id)
        if market is None:
            raise Invalid({"market_id": "Choose a market"})
    if market is None:
        raise Invalid({"market_id": "Choose a market"})
    # Like the demo's teams, a team belongs where its market is, so the market's people see it.
    return market, grid, market.org_unit_id


# -- workflow -----------------------------------------------------------------------------------
def propose_team(session: Session, actor: Actor, data: dict[str, Any] | TeamIn,
                 today: dt.date | None = None) -> Team:
    """A city proposes a team for a market (and optionally one of its grids)."""
    if not actor.may_propose:
        raise NotAllowed("Only managers may propose a team")
    try:
        parsed = data if isinstance(data, TeamIn) else TeamIn.model_validate(data)
    except ValidationError as err:
        raise field_errors(err, FIELD_MESSAGES, "Invalid value") from None
    market, grid, org_unit_id = _place(session, parsed, actor)
    members = _parse_members(session, parsed.members)
    team = Team(name=parsed.name, market_id=market.id, status=TeamStatus.PROPOSED,
                proposed_by_id=actor.user_id, org_unit_id=org_unit_id)
    session.add(team)
    session.flush()
    joined = today or dt.date.today()
    for m in members:
        session.add(TeamMember(team_id=team.id, user_id=m.user_id, role=m.role, joined_on=joined))
    if grid is not None:
        grid.team_id = team.id
    # The row audit logs inserts without their id, so the proposal opens the team's history.
    _record(session, team, "propose", {"name": team.name, "market_id": market.id,
                                       "grid_id": grid.id if grid else None,
                                       "added": [[m.user_id, m.role] for m in members]})
    session.flush()
    return team


def _decidable(session: Session, actor: Actor, team_id: int) -> Team:
    team = _team(session, team_id)
    if not actor.may_decide:
        raise NotAllowed("Only the province approves or rejects teams")
    if team.status != TeamStatus.PROPOSED:
        raise NotAllowed("Only a proposed team can be approved or rejected")
    if team.proposed_by_id == actor.user_id:
        raise NotAllowed("Someone other than the proposer must decide")
    return team


def approve_team(session: Session, actor: Actor, team_id: int,
                 now: dt.datetime | None = None) -> Team:
    """The province approves a proposed team (省分公司审核通过)."""
    team = _decidable(session, actor, team_id)
    team.status = TeamStatus.APPROVED
    team.approved_by_id = actor.user_id
    team.approved_at = now or dt.datetime.now().replace(microsecond=0)
    session.flush()
    return team


def reject_team(session: Session, actor: Actor, team_id: int, reason: str) -> Team:
    """The province rejects a proposed team, with the reason (written to its history); a grid
    it was proposed for is free again."""
    reason = (reason or "").strip()
    if not 0 < len(reason) <= 255:
        raise Invalid({"reason": "Give a reason of 1–255 characters"})
    team = _decidable(session, actor, team_id)
    team.status = TeamStatus.REJECTED
    for grid in session.scalars(select(Grid).where(Grid.team_id == team.id)):
        grid.team_id = None
    _record(session, team, "reject", {"status": [TeamStatus.PROPOSED.value,
                                                 TeamStatus.REJECTED.value], "reason": reason})
    session.flush()
    return team


def set_members(session: Session, actor: Actor, team_id: int,
                members: list[dict[str, Any]] | list[MemberIn],
                today: dt.date | None = None) -> Team:
    """Replace the team's members and roles; what changed goes to the team's history."""
    if not actor.may_propose:
        raise NotAllowed("Only managers may change a team")
    team = _team(session, team_id)
    if team.status not in EDITABLE:
        raise NotAllowed("A rejected or disbanded team cannot be changed")
    try:
        wanted = [m if isinstance(m, MemberIn) else MemberIn.model_validate(m) for m in members]
    except ValidationError as err:
        raise field_errors(err, FIELD_MESSAGES, "Invalid value") from None
    if not wanted:
        raise Invalid({"members": "Add at least one member"})
    _parse_members(session, wanted)
    current = {m.user_id: m for m in team.members}
    target = {m.user_id: m.role for m in wanted}
    added = [[uid, role] for uid, role in target.items() if uid not in current]
    removed = [uid for uid in current if uid not in target]
    changed = {str(uid): [current[uid].role, role] for uid, role in target.items()
               if uid in current and current[uid].role != role}
    for uid in removed:
        session.delete(current[uid])
    for uid, role in changed.items():
        current[int(uid)].role = role[1]
    joined = today or dt.date.today()
    for uid, role in added:
        session.add(TeamMember(team_id=team.id, user_id=uid, role=role, joined_on=joined))
    if added or removed or changed:
        _record(session, team, "members", {"added": added, "removed": removed, "roles": changed})
        team.updated_at = dt.datetime.now().replace(microsecond=0)
    session.flush()
    session.expire(team, ["members"])
    return team


# -- reading ------------------------------------------------------------------------------------
def _names(session: Session, ids: set[int | None]) -> dict[int, User]:
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    # Proposers and approvers sit above the team's unit: their names are read beyond the scope.
    rows = session.scalars(select(User).where(User.id.in_(ids)).execution_options(unscoped=True))
    return {u.id: u for u in rows}


def _row(session: Session, team: Team, people: dict[int, User]) -> TeamRow:
    market = session.get(Market, team.market_id) if team.market_id else None
    grids = session.scalars(select(Grid.name).where(Grid.team_id == team.id)).all()
    leader = next((m.user_id for m in team.members if m.role == "leader"), None)
    name = lambda uid: people[uid].display_name if uid in people else None  # noqa: E731
    return TeamRow(
        id=team.id, name=team.name, status=team.status.value, market_id=team.market_id,
        market=market.name if market else None, grids=list(grids),
        proposed_by=name(team.proposed_by_id), approved_by=name(team.approved_by_id),
        approved_at=team.approved_at, created_at=team.created_at, leader=name(leader),
        members=len(team.members))


def list_teams(session: Session, status: TeamStatus | None = None) -> list[TeamRow]:
    """Teams of the scope, proposed ones first (the province's queue), then by name."""
    query = select(Team)
    if status is not None:
        query = query.where(Team.status == status)
    teams = list(session.scalars(query))
    people = _names(session, {i for t in teams for i in (t.proposed_by_id, t.approved_by_id)}
                    | {m.user_id for t in teams for m in t.members if m.role == "leader"})
    order = {TeamStatus.PROPOSED: 0, TeamStatus.APPROVED: 1, TeamStatus.REJECTED: 2,
             TeamStatus.DISBANDED: 3}
    teams.sort(key=lambda t: (order[t.status], t.name, t.id))
    return [_row(session, t, people) for t in teams]


def team_detail(session: Session, team_id: int) -> TeamDetail:
    """One team with its members and its history (oldest first)."""
    team = _team(session, team_id)
    entries = list(session.scalars(
        select(AuditEntry).where(AuditEntry.entity == Team.__tablename__,
                                 AuditEntry.entity_id == str(team.id),
                                 # the row's own insert entry says less than "propose" does
                                 AuditEntry.action != "insert")
        .order_by(AuditEntry.at, AuditEntry.id)))
    people = _names(session, {team.proposed_by_id, team.approved_by_id}
                    | {m.user_id for m in team.members} | {e.user_id for e in entries})
    members = sorted(team.members, key=lambda m: (m.role != "leader", m.user_id))
    return TeamDetail(
        team=_row(session, team, people),
        members=[MemberRow(m.user_id, people[m.user_id].username, people[m.user_id].display_name,
                           m.role, m.joined_on) for m in members if m.user_id in people],
        history=[HistoryRow(e.at, people[e.user_id].display_name if e.user_id in people
                            else None, e.action, e.changes or {}) for e in entries],
    )


def candidate_members(session: Session) -> list[User]:
    """Active people of the scope who may join a team."""
    return list(session.scalars(select(User).where(User.active.is_(True))
                                .order_by(User.org_unit_id, User.username)))
