"""Marketing teams (G1, 营销团队): proposed by a city, approved or rejected by the province
(相关人员由市分公司推荐、省分公司审核), members and their roles editable, every step in the
audit log.

Who may do what is the permission registry's (``team.propose``, ``team.decide``,
``team.edit_members``; ``docs/permissions.md``), asked with the session's acting user. The rules
about the record itself live here:

* the person who proposed a team never decides it (four eyes);
* a team is decided once: a decision on a team that is no longer proposed, or that another
  decider took meanwhile, is a :class:`~jiqun.errors.Conflict` (the version column makes the
  second of two concurrent decisions fail at its ``UPDATE … WHERE version = seen``);
* a rejection needs a reason; members change only while the team is proposed or approved, and a
  member change sent from a stale page (``version``) is refused with both lists.

People are read as plain values (:class:`Person`), an unscoped read of their columns, never as
``User`` rows in the caller's scoped session: proposers and approvers often sit above the viewer's
subtree, and a ``User`` loaded there would stay in the identity map, where ``Session.get`` would
then hand it out despite the scope.

Team and grid rows are audited by the store. Member changes and the reason of a rejection are
not columns of an audited row, so this module writes them to the audit log itself
(entity ``teams``, the team's id), where the team's history reads them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.orm.exc import StaleDataError

from jiqun.bounds import MAX_ID
from jiqun.markets.errors import Conflict, Invalid, NotAllowed, NotFound, field_errors
from jiqun.permissions import Action, Actor, actor_of, require
from jiqun.store.models import (
    AuditEntry,
    Grid,
    Market,
    Team,
    TeamMember,
    TeamStatus,
    User,
)
from jiqun.store.scope import values_by_id

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


Id = Annotated[int, Field(ge=1, le=MAX_ID)]


class MemberIn(BaseModel):
    user_id: Id
    role: str = Field("member", max_length=32)


class MembersIn(BaseModel):
    """A team's new member list, with the team's ``version`` the page or client read."""

    members: list[MemberIn]
    version: int | None = Field(None, ge=1, le=MAX_ID, description=(
        "The team's version when the members were read; a team changed since is refused "
        "(409) instead of losing the other change."))


class TeamIn(BaseModel):
    """A team to propose (组建营销团队)."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="ignore")

    name: str = Field(min_length=1, max_length=100)
    market_id: Id | None = None
    grid_id: Id | None = None
    members: list[MemberIn] = Field(min_length=1, max_length=500)


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


@dataclass(frozen=True)
class Person:
    """What a team page shows of a person: plain values, not a session's ``User`` row."""

    id: int
    username: str
    display_name: str
    role: str | None = None


@dataclass
class TeamRow:
    id: int
    name: str
    status: str
    version: int
    market_id: int | None
    market: str | None
    grids: list[str]
    proposed_by_id: int | None
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
def _parse_members(session: Session, members: list[MemberIn],
                   already: frozenset[int] = frozenset()) -> list[MemberIn]:
    """Check roles, duplicates and the leader; people joining (not ``already`` members) must be
    in the acting user's scope."""
    seen: set[int] = set()
    for m in members:
        if m.role not in MEMBER_ROLES:
            raise Invalid({"members": "Choose a role for each member"})
        if m.user_id in seen:
            raise Invalid({"members": "A person appears twice in the team"})
        seen.add(m.user_id)
    if sum(m.role == "leader" for m in members) > 1:
        raise Invalid({"members": "A team has one leader at most"})
    joining = seen - already
    # A scoped query (not Session.get, which would answer from the identity map).
    known = set(session.scalars(select(User.id).where(User.id.in_(sorted(joining))))) \
        if joining else set()
    if joining - known:  # scoped: people outside the subtree are unknown
        raise Invalid({"members": "A member is not in your organisation"})
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
        username=actor_of(session).username, org_unit_id=team.org_unit_id, action=action,
        entity=Team.__tablename__, entity_id=str(team.id), changes=changes,
        source=session.info.get("source")))


def _flush_once(session: Session) -> None:
    """Write the team; when another session changed it since it was read (its version moved
    on), the ``UPDATE … WHERE version = seen`` touches no row and this decision loses."""
    try:
        session.flush()
    except StaleDataError:
        # Nothing of the team may be read here: the failed flush left the session to roll back.
        raise Conflict("Someone else changed this team meanwhile; reload it and try again"
                       ) from None


def _place(session: Session, data: TeamIn) -> tuple[Market, Grid | None, int]:
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
    # Like the demo's teams, a team belongs where its market is, so the market's people see it.
    return market, grid, market.org_unit_id


# -- workflow -----------------------------------------------------------------------------------
def propose_team(session: Session, data: dict[str, Any] | TeamIn,
                 today: dt.date | None = None) -> Team:
    """A city proposes a team for a market (and optionally one of its grids); ``team.propose``."""
    actor = require(session, Action.TEAM_PROPOSE)
    try:
        parsed = data if isinstance(data, TeamIn) else TeamIn.model_validate(data)
    except ValidationError as err:
        raise field_errors(err, FIELD_MESSAGES, "Invalid value") from None
    market, grid, org_unit_id = _place(session, parsed)
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
    # The proposal opens the team's history, with its members (not columns of the team row).
    _record(session, team, "propose", {"name": team.name, "market_id": market.id,
                                       "grid_id": grid.id if grid else None,
                                       "added": [[m.user_id, m.role] for m in members]})
    session.flush()
    return team


def _decidable(session: Session, team_id: int) -> tuple[Team, Actor]:
    actor = require(session, Action.TEAM_DECIDE)
    team = _team(session, team_id)
    if team.status != TeamStatus.PROPOSED:
        raise Conflict("This team has already been decided", mine={},
                       theirs={"status": team.status.value})
    if actor.user_id is not None and team.proposed_by_id == actor.user_id:
        raise NotAllowed("Someone other than the proposer must decide")
    return team, actor


def approve_team(session: Session, team_id: int, now: dt.datetime | None = None) -> Team:
    """The province approves a proposed team (省分公司审核通过), once."""
    team, actor = _decidable(session, team_id)
    team.status = TeamStatus.APPROVED
    team.approved_by_id = actor.user_id
    team.approved_at = now or dt.datetime.now().replace(microsecond=0)
    _flush_once(session)
    return team


def reject_team(session: Session, team_id: int, reason: str) -> Team:
    """The province rejects a proposed team, once, with the reason (written to its history); a
    grid it was proposed for is free again."""
    team, _actor = _decidable(session, team_id)
    reason = (reason or "").strip()
    if not 0 < len(reason) <= 255:
        raise Invalid({"reason": "Give a reason of 1–255 characters"})
    team.status = TeamStatus.REJECTED
    # The team's row first: a concurrent decision fails here, before anything else is written.
    _flush_once(session)
    for grid in session.scalars(select(Grid).where(Grid.team_id == team.id)):
        grid.team_id = None
    _record(session, team, "reject", {"status": [TeamStatus.PROPOSED.value,
                                                 TeamStatus.REJECTED.value], "reason": reason})
    session.flush()
    return team


def _member_conflict(session: Session, team: Team, wanted: list[MemberIn]) -> Conflict:
    people = _people(session, {m.user_id for m in wanted} | {m.user_id for m in team.members})

    def names(pairs) -> list[str]:
        return sorted(f"{people[uid].display_name if uid in people else uid} ({role})"
                      for uid, role in pairs)

    return Conflict("This team's members were changed by someone else since you opened it",
                    mine={"members": names((m.user_id, m.role) for m in wanted)},
                    theirs={"members": names((m.user_id, m.role) for m in team.members)})


def set_members(session: Session, team_id: int,
                members: list[dict[str, Any]] | list[MemberIn],
                today: dt.date | None = None, *, version: int | None = None) -> Team:
    """Replace the team's members and roles; what changed goes to the team's history.

    ``version`` is the team's version the list was built from: when someone changed the team
    since (another member page saved first), the list is refused with both lists (409) rather
    than dropping what the other page added."""
    require(session, Action.TEAM_EDIT_MEMBERS)
    team = _team(session, team_id)
    if team.status not in EDITABLE:
        raise NotAllowed("A rejected or disbanded team cannot be changed")
    try:
        wanted = [m if isinstance(m, MemberIn) else MemberIn.model_validate(m) for m in members]
    except ValidationError as err:
        raise field_errors(err, FIELD_MESSAGES, "Invalid value") from None
    if not wanted:
        raise Invalid({"members": "Add at least one member"})
    current = {m.user_id: m for m in team.members}
    _parse_members(session, wanted, frozenset(current))
    target = {m.user_id: m.role for m in wanted}
    added = [[uid, role] for uid, role in target.items() if uid not in current]
    removed = [uid for uid in current if uid not in target]
    changed = {str(uid): [current[uid].role, role] for uid, role in target.items()
               if uid in current and current[uid].role != role}
    if not (added or removed or changed):
        return team  # the same list again (a double submit) changes nothing
    if version is not None and version != team.version:
        raise _member_conflict(session, team, wanted)
    # The team's row moves on first (its version too), so of two pages saving at once the
    # second fails here, before its member rows are written.
    team.updated_at = dt.datetime.now().replace(microsecond=0)
    flag_modified(team, "updated_at")  # written (and the version moved) even in the same second
    _flush_once(session)
    for uid in removed:
        session.delete(current[uid])
    for uid, role in changed.items():
        current[int(uid)].role = role[1]
    joined = today or dt.date.today()
    for uid, role in added:
        session.add(TeamMember(team_id=team.id, user_id=uid, role=role, joined_on=joined))
    _record(session, team, "members", {"added": added, "removed": removed, "roles": changed})
    session.flush()
    session.expire(team, ["members"])
    return team


# -- reading ------------------------------------------------------------------------------------
def _people(session: Session, ids: set[int | None]) -> dict[int, Person]:
    """Names of people, wherever they sit (proposers and approvers are above the team's unit),
    as plain values: an unscoped read of columns only (the store refuses unscoped ``User``
    rows), so no out-of-scope ``User`` ever enters the scoped session's identity map."""
    rows = values_by_id(session, User.id, User.username, User.display_name, ids=ids)
    return {r.id: Person(r.id, r.username, r.display_name) for r in rows.values()}


def _row(session: Session, team: Team, people: dict[int, Person]) -> TeamRow:
    market = session.get(Market, team.market_id) if team.market_id else None
    grids = session.scalars(select(Grid.name).where(Grid.team_id == team.id)).all()
    leader = next((m.user_id for m in team.members if m.role == "leader"), None)

    def name(uid: int | None) -> str | None:
        return people[uid].display_name if uid in people else None

    return TeamRow(
        id=team.id, name=team.name, status=team.status.value, version=team.version,
        market_id=team.market_id, market=market.name if market else None, grids=list(grids),
        proposed_by_id=team.proposed_by_id, proposed_by=name(team.proposed_by_id),
        approved_by=name(team.approved_by_id), approved_at=team.approved_at,
        created_at=team.created_at, leader=name(leader), members=len(team.members))


def list_teams(session: Session, status: TeamStatus | None = None) -> list[TeamRow]:
    """Teams of the scope, proposed ones first (the province's queue), then by name."""
    query = select(Team)
    if status is not None:
        query = query.where(Team.status == status)
    teams = list(session.scalars(query))
    people = _people(session, {i for t in teams for i in (t.proposed_by_id, t.approved_by_id)}
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
    people = _people(session, {team.proposed_by_id, team.approved_by_id}
                     | {m.user_id for m in team.members} | {e.user_id for e in entries})
    members = sorted(team.members, key=lambda m: (m.role != "leader", m.user_id))

    def who(entry: AuditEntry) -> str | None:
        person = people.get(entry.user_id)
        return person.display_name if person else entry.username

    return TeamDetail(
        team=_row(session, team, people),
        members=[MemberRow(m.user_id, people[m.user_id].username, people[m.user_id].display_name,
                           m.role, m.joined_on) for m in members if m.user_id in people],
        history=[HistoryRow(e.at, who(e), e.action, e.changes or {}) for e in entries],
    )


def candidate_members(session: Session) -> list[Person]:
    """Active people of the scope who may join a team."""
    rows = session.execute(select(User.id, User.username, User.display_name, User.role)
                           .where(User.active.is_(True))
                           .order_by(User.org_unit_id, User.username))
    return [Person(r.id, r.username, r.display_name, r.role.value) for r in rows]
