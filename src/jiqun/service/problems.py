"""Problems escalated until solved (R2, 问题有人盯): raised at city level, escalated level by
level when a level's clock runs out, merged into common problems (共性问题), solved with credit.

A problem is raised from a visit, a service case or a meeting. It belongs to the **raising
city** (its ``org_unit_id``) for its whole life, so the city keeps seeing it and everyone above
sees it through the org subtree; ``level`` says who holds it now (city → province → HQ) and
``escalated_to_id`` names that unit once it left the city. Each level has its own clock
(:mod:`jiqun.service.problem_rules`, working days): ``due_at`` is when the holder's clock runs
out, and :func:`escalate_overdue` (the scheduled job) moves every such problem one level up and
starts the next level's clock then — a run that finds nothing overdue changes nothing, so the
job is idempotent.

The same problem raised by several cities is **merged** (:func:`merge`) into one common problem
(``is_common``) owned by the lowest unit above all of them — their province, or HQ when they lie
in several provinces. The originals point to it (``merged_into_id``) and follow it: its level,
holder and status are copied onto them at every step, so a city, which cannot see a unit's
problem above it, sees its own problem with the common problem's status, and is told who solved
it. Whoever solves a problem gets the credit (``solved_by_id``); solving a common problem solves
its members with the same solution and credit.

Every step is written to the problem's history (:class:`~jiqun.store.models.ProblemEvent`), the
problem rows themselves to the audit log (the store does that), and every write asks the
permission registry. Edits carry the version the user saw: a problem changed since is a
:class:`~jiqun.errors.Conflict`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from rapidfuzz import fuzz
from sqlalchemy import select
from sqlalchemy.orm import Session

from jiqun.errors import Conflict, Invalid, NotAllowed, NotFound
from jiqun.permissions import Action, Actor, require
from jiqun.service.problem_rules import ProblemRules
from jiqun.store.models import (
    Customer,
    Market,
    OrgLevel,
    OrgUnit,
    Problem,
    ProblemEvent,
    ProblemStatus,
    Role,
    ServiceCase,
    User,
    Visit,
)
from jiqun.store.scope import session_scope, values_by_id

SOURCES = ("visit", "case", "meeting", "merge")
TITLE_LENGTH = 200  # the column's size
TEXT_LENGTH = 10_000
# Who holds a problem, top first; a county or outlet raises at its city.
LEVELS = (OrgLevel.HQ, OrgLevel.PROVINCE, OrgLevel.CITY)
RANK = {OrgLevel.HQ: 0, OrgLevel.PROVINCE: 1, OrgLevel.CITY: 2, OrgLevel.COUNTY: 3,
        OrgLevel.OUTLET: 4}
# The manager who owns a problem held at a level (the first active one of the unit).
OWNER_ROLES = {
    OrgLevel.CITY: (Role.CITY_MANAGER,),
    OrgLevel.PROVINCE: (Role.PROVINCIAL_MANAGER, Role.SUPERVISOR),
    OrgLevel.HQ: (Role.HQ_BUSINESS, Role.ADMIN),
}
MERGE_THRESHOLD = 60.0  # suggestion score (0–100) from which two problems look the same
SAME_INDUSTRY_BONUS = 15.0
MAX_SUGGESTION_CANDIDATES = 500  # pairwise comparison: the oldest open problems first

StatusFilter = Literal["open", "solved", "all"]

# msgids of the refusals (translated in problems.po)
TITLE_REQUIRED = "Give the problem a title (1–200 characters)"
TEXT_TOO_LONG = "Too long"
SOLUTION_REQUIRED = "Say how it was solved"
NOTE_TOO_LONG = "Too long"
UNKNOWN_SOURCE = "Unknown source"
AT_THE_TOP = "HQ holds this problem: there is no level above"
ALREADY_SOLVED = "This problem is already solved"
FOLLOWS_COMMON = "This problem was merged into a common problem and follows it"
CHANGED_MEANWHILE = "Someone else changed this problem meanwhile; reload it and try again"
PICK_TWO = "Pick at least two open problems"
NOT_MERGEABLE = "Only open problems that are not merged can be merged"
ABOVE_YOU = "This problem is held above your level"
NO_HOME = "Say where the problem was raised: a visit, a case or a market"


# -- rows ---------------------------------------------------------------------------------------
@dataclass
class ProblemRow:
    """A problem as the list shows it: where it was raised, who holds it now, how old it is."""

    id: int
    title: str
    status: str  # open | escalated | solved
    level: str  # hq | province | city: who holds it now
    org_unit_id: int
    unit: str  # the raising unit (a city; a common problem: the province or HQ)
    holder: str  # the unit holding it now
    raised_on: dt.date
    age_days: int  # since raised (a solved one: until it was solved)
    level_days: int  # at its current level
    due_at: dt.datetime | None
    overdue: bool
    is_common: bool
    merged_into_id: int | None
    members: int  # cities' problems merged into this common problem
    source: str
    market_id: int | None
    market: str | None
    raised_by: str | None
    owner: str | None
    solved_on: dt.date | None
    solved_by: str | None
    version: int


@dataclass
class EventRow:
    at: dt.datetime
    kind: str  # raised | escalated | merged | solved
    by: str | None  # None: the clock (the scheduled job)
    from_level: str | None
    to_level: str | None
    note: str | None


@dataclass
class ProblemDetail:
    problem: ProblemRow
    description: str | None
    solution: str | None
    visit_id: int | None
    case_id: int | None
    common: ProblemRow | None  # the common problem it was merged into, when the viewer sees it
    members: list[ProblemRow] = field(default_factory=list)
    history: list[EventRow] = field(default_factory=list)


@dataclass
class MergeSuggestion:
    """Problems of several cities that are likely the same problem (可能是同一问题)."""

    problems: list[ProblemRow]
    score: float  # the best pair's similarity, 0–100
    same_industry: bool


# -- helpers ------------------------------------------------------------------------------------
def _now(now: dt.datetime | None) -> dt.datetime:
    return (now or dt.datetime.now()).replace(microsecond=0)


def _text(value: str | None, *, field_name: str, required: str | None,
          limit: int = TEXT_LENGTH) -> str | None:
    text = (value or "").strip()
    if not text:
        if required:
            raise Invalid({field_name: required})
        return None
    if len(text) > limit:
        raise Invalid({field_name: required if field_name == "title" else TEXT_TOO_LONG})
    return text


def _problem(session: Session, problem_id: int) -> Problem:
    found = session.get(Problem, problem_id)  # scoped: another subtree's problem is not found
    if found is None:
        raise NotFound(f"problem {problem_id}")
    return found


def _check_version(problem: Problem, version: int | None) -> None:
    if version is not None and version != problem.version:
        raise Conflict(CHANGED_MEANWHILE, mine={"version": version},
                       theirs={"version": problem.version, "status": problem.status.value,
                               "level": problem.level.value})


def _unit(session: Session, unit_id: int) -> OrgUnit:
    return session.get(OrgUnit, unit_id)  # the org tree is not scoped


def _holding_unit(unit: OrgUnit, session: Session) -> OrgUnit:
    """The unit that raises a problem for ``unit``: its city (a county or outlet goes up)."""
    while RANK[unit.level] > RANK[OrgLevel.CITY] and unit.parent_id is not None:
        unit = _unit(session, unit.parent_id)
    return unit


def _above(session: Session, unit: OrgUnit, level: OrgLevel) -> OrgUnit:
    """The ancestor of ``unit`` at ``level`` (``unit`` itself when it is at that level)."""
    while RANK[unit.level] > RANK[level] and unit.parent_id is not None:
        unit = _unit(session, unit.parent_id)
    return unit


def _next_level(level: OrgLevel) -> OrgLevel | None:
    return {OrgLevel.CITY: OrgLevel.PROVINCE, OrgLevel.PROVINCE: OrgLevel.HQ}.get(level)


def _owner_at(session: Session, unit_id: int, level: OrgLevel) -> int | None:
    """The first active manager of the holding unit: a plain column read past the viewer's
    scope (a city escalating to its province may not see the province's people)."""
    rows = session.execute(
        select(User.id, User.role).where(User.org_unit_id == unit_id, User.active.is_(True),
                                          User.role.in_(OWNER_ROLES[level])).order_by(User.id),
        execution_options={"unscoped": True}).all()
    for role in OWNER_ROLES[level]:  # the roles in their order of preference
        for uid, r in rows:
            if r == role:
                return uid
    return None


def _event(session: Session, problem: Problem, kind: str, at: dt.datetime, actor: Actor | None,
           from_level: OrgLevel | None = None, to_level: OrgLevel | None = None,
           note: str | None = None) -> None:
    session.add(ProblemEvent(problem_id=problem.id, at=at, kind=kind,
                             by_id=actor.user_id if actor else None, from_level=from_level,
                             to_level=to_level, note=note))


def _members(session: Session, common: Problem) -> list[Problem]:
    return list(session.scalars(select(Problem).where(Problem.merged_into_id == common.id)
                                .order_by(Problem.id)))


def _follow(member: Problem, common: Problem) -> None:
    """A member takes its common problem's level, holder and status (it has no clock of its
    own), so the city that cannot see the common problem sees where it stands."""
    member.level = common.level
    member.escalated_to_id = common.escalated_to_id or common.org_unit_id
    member.owner_id = common.owner_id
    member.due_at = None
    member.status = (ProblemStatus.SOLVED if common.status == ProblemStatus.SOLVED
                     else ProblemStatus.ESCALATED)
    member.solved_on, member.solved_by_id = common.solved_on, common.solved_by_id
    member.solution = common.solution


def _rules(rules: ProblemRules | None) -> ProblemRules:
    return rules or ProblemRules.configured()


# -- raise --------------------------------------------------------------------------------------
def source_of(session: Session, *, market_id: int | None = None, visit_id: int | None = None,
              case_id: int | None = None) -> tuple[int | None, int | None]:
    """The org unit and market of the visit, case or market a problem comes from, each read
    through the scope: one the session does not see is :class:`NotFound` (the form that raises
    a problem from a visit asks this before it is shown)."""
    unit_id = None
    if visit_id is not None:
        visit = session.get(Visit, visit_id)
        if visit is None:
            raise NotFound(f"visit {visit_id}")
        unit_id = visit.org_unit_id
        customer = session.get(Customer, visit.customer_id)
        market_id = market_id or (customer.market_id if customer else None)
    if case_id is not None:
        case = session.get(ServiceCase, case_id)
        if case is None:
            raise NotFound(f"case {case_id}")
        unit_id = unit_id or case.org_unit_id
        customer = session.get(Customer, case.customer_id) if case.customer_id else None
        market_id = market_id or (customer.market_id if customer else None)
    if market_id is not None:
        market = session.get(Market, market_id)
        if market is None:
            raise NotFound(f"market {market_id}")
        unit_id = unit_id or market.org_unit_id
    return unit_id, market_id


def _home(session: Session, actor: Actor, market_id: int | None, visit_id: int | None,
          case_id: int | None) -> tuple[OrgUnit, int | None]:
    """The unit a problem is raised at and its market: the city of the visit, the case or the
    market it came from, else the raiser's own city."""
    unit_id, market_id = source_of(session, market_id=market_id, visit_id=visit_id,
                                   case_id=case_id)
    unit_id = unit_id or actor.org_unit_id
    if unit_id is None:  # the system account has no unit of its own
        raise Invalid({"market_id": NO_HOME})
    unit = _unit(session, unit_id)
    city = _holding_unit(unit, session)
    # A county's or outlet's people write only inside their own unit: their problem stays
    # there, held by the city all the same (it sees the subtree).
    return (city if session_scope(session).allows(city.id) else unit), market_id


def raise_problem(session: Session, *, title: str, description: str | None = None,
                  market_id: int | None = None, visit_id: int | None = None,
                  case_id: int | None = None, source: str = "meeting",
                  now: dt.datetime | None = None, rules: ProblemRules | None = None) -> Problem:
    """Raise a problem (提出问题) at the raiser's city — or at the city of the visit, case or
    market it came from — held by that city with its clock running. A problem raised with a
    ``visit_id`` or ``case_id`` has that source whatever ``source`` says."""
    actor = require(session, Action.PROBLEM_RAISE)
    title = _text(title, field_name="title", required=TITLE_REQUIRED, limit=TITLE_LENGTH)
    description = _text(description, field_name="description", required=None)
    source = "visit" if visit_id else "case" if case_id else source
    if source not in SOURCES[:3]:
        raise Invalid({"source": UNKNOWN_SOURCE})
    unit, market_id = _home(session, actor, market_id, visit_id, case_id)
    now = _now(now)
    level = unit.level if unit.level in LEVELS else OrgLevel.CITY
    holder = _above(session, unit, level)
    problem = Problem(
        title=title, description=description, market_id=market_id,
        raised_by_id=actor.user_id, raised_on=now.date(), status=ProblemStatus.OPEN,
        owner_id=_owner_at(session, holder.id, level) or actor.user_id, level=level,
        due_at=_rules(rules).due(level, now), source=source, visit_id=visit_id,
        case_id=case_id, org_unit_id=unit.id,
    )
    session.add(problem)
    session.flush()
    _event(session, problem, "raised", now, actor, to_level=level)
    return problem


# -- escalate -----------------------------------------------------------------------------------
def _step_up(session: Session, problem: Problem, actor: Actor | None, now: dt.datetime,
             note: str | None, rules: ProblemRules) -> None:
    """One level up: the unit above the holder takes it with its own clock; a common
    problem's members follow."""
    up = _next_level(problem.level)
    if up is None:
        raise Invalid({"__all__": AT_THE_TOP})
    target = _above(session, _unit(session, problem.org_unit_id), up)
    before = problem.level
    problem.level, problem.escalated_to_id = up, target.id
    problem.status, problem.escalated_at = ProblemStatus.ESCALATED, now
    problem.due_at = rules.due(up, now)
    problem.owner_id = _owner_at(session, target.id, up) or problem.owner_id
    _event(session, problem, "escalated", now, actor, before, up, note)
    for member in _members(session, problem):
        _follow(member, problem)
        _event(session, member, "escalated", now, actor, before, up, note)


def escalate(session: Session, problem_id: int, note: str | None = None, *,
             version: int | None = None, now: dt.datetime | None = None,
             rules: ProblemRules | None = None) -> Problem:
    """Escalate by hand (上报): one level up, city → province → HQ. Only someone at the level
    holding the problem or above may push it on."""
    actor = require(session, Action.PROBLEM_ESCALATE)
    note = _text(note, field_name="note", required=None)
    problem = _problem(session, problem_id)
    _check_version(problem, version)
    if problem.status == ProblemStatus.SOLVED:
        raise Conflict(ALREADY_SOLVED)
    if problem.merged_into_id is not None:
        raise Invalid({"__all__": FOLLOWS_COMMON})
    if not actor.system and RANK[actor.level] > RANK[problem.level]:
        raise NotAllowed(ABOVE_YOU)
    _step_up(session, problem, actor, _now(now), note, _rules(rules))
    session.flush()
    return problem


def escalate_overdue(session: Session, now: dt.datetime,
                     rules: ProblemRules | None = None) -> dict:
    """The scheduled job: every unsolved problem whose holder's clock ran out by ``now`` goes one
    level up and the next level's clock starts at ``now``, so a second run at the same time
    finds nothing to do (idempotent). HQ has no level above: its overdue problems are counted."""
    require(session, Action.PROBLEM_ESCALATE)
    rules = _rules(rules)
    now = _now(now)
    due = list(session.scalars(
        select(Problem).where(Problem.status != ProblemStatus.SOLVED,
                              Problem.merged_into_id.is_(None), Problem.due_at.is_not(None),
                              Problem.due_at <= now).order_by(Problem.id)))
    escalated = 0
    for problem in due:
        if problem.level == OrgLevel.HQ:
            continue
        _step_up(session, problem, None, now, "clock", rules)
        escalated += 1
    session.flush()
    return {"overdue": len(due), "escalated": escalated, "overdue_at_hq": len(due) - escalated}


# -- merge --------------------------------------------------------------------------------------
def _common_unit(session: Session, units: Iterable[OrgUnit]) -> OrgUnit:
    """The lowest unit above all ``units``, at least a province (共性问题 are the province's or
    HQ's)."""
    paths = [u.path.strip("/").split("/") for u in units]
    common: list[str] = []
    for parts in zip(*paths, strict=False):
        if len(set(parts)) > 1:
            break
        common.append(parts[0])
    unit = _unit(session, int(common[-1]))
    return _above(session, unit, OrgLevel.PROVINCE)


def merge(session: Session, problem_ids: Sequence[int], title: str, *,
          description: str | None = None, versions: dict[int, int] | None = None,
          now: dt.datetime | None = None, rules: ProblemRules | None = None) -> Problem:
    """Merge the same problem raised by several cities into one common problem (合并为共性问题)
    owned by the lowest unit above them, held at that level — or higher, when one of them was
    already escalated further. The originals point to it and follow it from now on."""
    actor = require(session, Action.PROBLEM_MERGE)
    title = _text(title, field_name="title", required=TITLE_REQUIRED, limit=TITLE_LENGTH)
    description = _text(description, field_name="description", required=None)
    ids = list(dict.fromkeys(problem_ids))
    if len(ids) < 2:
        raise Invalid({"problem_ids": PICK_TWO})
    members = [_problem(session, i) for i in ids]
    for p in members:
        _check_version(p, (versions or {}).get(p.id))
        if p.status == ProblemStatus.SOLVED or p.merged_into_id is not None or p.is_common:
            raise Invalid({"problem_ids": NOT_MERGEABLE})
    home = _common_unit(session, [_unit(session, p.org_unit_id) for p in members])
    level = min([home.level, *(p.level for p in members)], key=RANK.__getitem__)
    holder = _above(session, home, level)
    now = _now(now)
    markets = {p.market_id for p in members}
    common = Problem(
        title=title, description=description, market_id=markets.pop() if len(markets) == 1
        else None, raised_by_id=actor.user_id, raised_on=min(p.raised_on for p in members),
        status=ProblemStatus.OPEN if holder.id == home.id else ProblemStatus.ESCALATED,
        escalated_to_id=None if holder.id == home.id else holder.id,
        escalated_at=None if holder.id == home.id else now,
        owner_id=_owner_at(session, holder.id, level) or actor.user_id, level=level,
        due_at=_rules(rules).due(level, now), source="merge", is_common=True,
        org_unit_id=home.id, created_at=now,  # its level's clock starts at the merge
    )
    session.add(common)
    session.flush()
    _event(session, common, "merged", now, actor, to_level=level,
           note=", ".join(f"#{p.id}" for p in members))
    for p in members:
        before = p.level
        p.merged_into_id = common.id
        _follow(p, common)
        _event(session, p, "merged", now, actor, before, level, f"#{common.id} {title}")
    session.flush()
    return common


# -- solve --------------------------------------------------------------------------------------
def solve(session: Session, problem_id: int, solution: str, *, version: int | None = None,
          now: dt.datetime | None = None) -> Problem:
    """Mark a problem solved (已解决) with its solution; the solver gets the credit. A common
    problem's members are solved with it (same solution, same credit)."""
    actor = require(session, Action.PROBLEM_SOLVE)
    solution = _text(solution, field_name="solution", required=SOLUTION_REQUIRED)
    problem = _problem(session, problem_id)
    _check_version(problem, version)
    if problem.status == ProblemStatus.SOLVED:
        raise Conflict(ALREADY_SOLVED, theirs={"solution": problem.solution})
    if problem.merged_into_id is not None:
        raise Invalid({"__all__": FOLLOWS_COMMON})
    now = _now(now)
    problem.status, problem.solution = ProblemStatus.SOLVED, solution
    problem.solved_on, problem.solved_by_id, problem.due_at = now.date(), actor.user_id, None
    _event(session, problem, "solved", now, actor, problem.level, None, solution)
    for member in _members(session, problem):
        _follow(member, problem)
        _event(session, member, "solved", now, actor, member.level, None, solution)
    session.flush()
    return problem


# -- reading ------------------------------------------------------------------------------------
def _local(name: str, name_en: str | None, locale: str) -> str:
    return name_en if locale == "en" and name_en else name


def _names(session: Session, problems: Sequence[Problem],
           locale: str) -> tuple[dict, dict, dict]:
    units = {i: (_local(name, en, locale), parent, level)
             for i, name, en, parent, level in session.execute(
                 select(OrgUnit.id, OrgUnit.name, OrgUnit.name_en, OrgUnit.parent_id,
                        OrgUnit.level))}
    people = {i: r.display_name or r.username for i, r in values_by_id(
        session, User.id, User.display_name, User.username,
        ids=[u for p in problems for u in (p.raised_by_id, p.owner_id, p.solved_by_id)]).items()}
    markets = {i: _local(r.name, r.name_en, locale) for i, r in values_by_id(
        session, Market.id, Market.name, Market.name_en,
        ids=[p.market_id for p in problems]).items()}
    return units, people, markets


def _rows(session: Session, problems: Sequence[Problem], today: dt.date,
          member_counts: dict[int, int] | None = None,
          locale: str = "zh-CN") -> list[ProblemRow]:
    tree, people, markets = _names(session, problems, locale)
    units = {i: name for i, (name, _, _) in tree.items()}

    def holder(p: Problem) -> int:
        """The unit holding it now: where it was escalated to, else the raising unit's
        ancestor at its level (an outlet's problem is held by its city)."""
        unit = p.escalated_to_id or p.org_unit_id
        while unit in tree and RANK[tree[unit][2]] > RANK[p.level] and tree[unit][1]:
            unit = tree[unit][1]
        return unit

    counts = member_counts if member_counts is not None else _member_counts(session, problems)
    now = dt.datetime.combine(today, dt.time(23, 59, 59))
    rows = []
    for p in problems:
        end = p.solved_on if p.status == ProblemStatus.SOLVED and p.solved_on else today
        # The level's clock started when it was escalated, or (a common problem) merged.
        started = p.escalated_at or (p.created_at if p.is_common else None)
        since = started.date() if started else p.raised_on
        rows.append(ProblemRow(
            id=p.id, title=p.title, status=p.status.value, level=p.level.value,
            org_unit_id=p.org_unit_id, unit=units.get(p.org_unit_id, "—"),
            holder=units.get(holder(p), "—"), raised_on=p.raised_on,
            age_days=max((end - p.raised_on).days, 0), level_days=max((end - since).days, 0),
            due_at=p.due_at, overdue=p.status != ProblemStatus.SOLVED and p.due_at is not None
            and p.due_at < now, is_common=p.is_common, merged_into_id=p.merged_into_id,
            members=counts.get(p.id, 0), source=p.source, market_id=p.market_id,
            market=markets.get(p.market_id), raised_by=people.get(p.raised_by_id),
            owner=people.get(p.owner_id), solved_on=p.solved_on,
            solved_by=people.get(p.solved_by_id), version=p.version,
        ))
    return rows


def _member_counts(session: Session, problems: Sequence[Problem]) -> dict[int, int]:
    common = [p.id for p in problems if p.is_common]
    counts: dict[int, int] = {}
    if common:
        for (mid,) in session.execute(select(Problem.merged_into_id)
                                      .where(Problem.merged_into_id.in_(common))):
            counts[mid] = counts.get(mid, 0) + 1
    return counts


def _sort_key(row: ProblemRow) -> tuple:
    """By level (HQ first) and age (oldest first): the order a manager works through them."""
    return (row.status == ProblemStatus.SOLVED.value, RANK[OrgLevel(row.level)], -row.age_days,
            row.id)


def problems(session: Session, *, status: StatusFilter = "open", level: OrgLevel | None = None,
             common_only: bool = False, with_members: bool = False,
             solved_since: dt.date | None = None, as_of: dt.date | None = None,
             locale: str = "zh-CN") -> list[ProblemRow]:
    """The problems the session sees, by level and age: ``open`` (open and escalated),
    ``solved`` or ``all``; ``level`` filters on who holds it now. A member of a common problem
    the viewer also sees is listed under that common problem (its ``members`` count), unless
    ``with_members``; a city, which does not see the common problem, lists its own problem with
    the common problem's status."""
    query = select(Problem)
    if status == "open":
        query = query.where(Problem.status != ProblemStatus.SOLVED)
    elif status == "solved":
        query = query.where(Problem.status == ProblemStatus.SOLVED)
    if level is not None:
        query = query.where(Problem.level == level)
    if common_only:
        query = query.where(Problem.is_common.is_(True))
    if solved_since is not None:
        query = query.where(Problem.solved_on >= solved_since)
    found = list(session.scalars(query))
    if not with_members:
        seen = set(session.scalars(select(Problem.id).where(Problem.is_common.is_(True))))
        found = [p for p in found if p.merged_into_id not in seen]
    rows = _rows(session, found, as_of or dt.date.today(), locale=locale)
    return sorted(rows, key=_sort_key)


def problem_detail(session: Session, problem_id: int, as_of: dt.date | None = None,
                   locale: str = "zh-CN") -> ProblemDetail:
    """A problem with its history, its members (a common problem) or its common problem (a
    member, when the viewer sees it)."""
    today = as_of or dt.date.today()
    problem = _problem(session, problem_id)
    members = _members(session, problem) if problem.is_common else []
    common = (session.get(Problem, problem.merged_into_id)
              if problem.merged_into_id is not None else None)
    events = list(session.scalars(select(ProblemEvent).where(ProblemEvent.problem_id == problem.id)
                                  .order_by(ProblemEvent.at, ProblemEvent.id)))
    people = {i: r.display_name or r.username for i, r in values_by_id(
        session, User.id, User.display_name, User.username,
        ids=[e.by_id for e in events]).items()}
    return ProblemDetail(
        problem=_rows(session, [problem], today, locale=locale)[0],
        description=problem.description, solution=problem.solution,
        visit_id=problem.visit_id, case_id=problem.case_id,
        common=_rows(session, [common], today, locale=locale)[0] if common else None,
        members=sorted(_rows(session, members, today, locale=locale), key=_sort_key),
        history=[EventRow(e.at, e.kind, people.get(e.by_id), e.from_level.value
                          if e.from_level else None, e.to_level.value if e.to_level else None,
                          e.note) for e in events],
    )


def _similarity(a: Problem, b: Problem, industries: dict[int, str]) -> tuple[float, bool]:
    score = float(fuzz.WRatio(a.title, b.title))
    same = (a.market_id is not None and b.market_id is not None
            and industries.get(a.market_id) is not None
            and industries.get(a.market_id) == industries.get(b.market_id))
    return min(score + (SAME_INDUSTRY_BONUS if same else 0.0), 100.0), same


def suggest_merges(session: Session, *, threshold: float = MERGE_THRESHOLD,
                   as_of: dt.date | None = None,
                   locale: str = "zh-CN") -> list[MergeSuggestion]:
    """Open problems of different cities with similar titles (and markets of one industry):
    likely the same problem, listed for the province or HQ to merge. Groups are the connected
    pairs at or above ``threshold`` that span at least two raising units."""
    found = list(session.scalars(
        select(Problem).where(Problem.status != ProblemStatus.SOLVED,
                              Problem.merged_into_id.is_(None), Problem.is_common.is_(False))
        .order_by(Problem.raised_on, Problem.id).limit(MAX_SUGGESTION_CANDIDATES)))
    industries = {i: r.industry for i, r in values_by_id(
        session, Market.id, Market.industry, ids=[p.market_id for p in found]).items()}
    parent = list(range(len(found)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    best: dict[int, tuple[float, bool]] = {}
    for i, a in enumerate(found):
        for j in range(i + 1, len(found)):
            b = found[j]
            if a.org_unit_id == b.org_unit_id:
                continue
            score, same = _similarity(a, b, industries)
            if score >= threshold:
                parent[root(j)] = root(i)
                for k in (i, j):
                    best[k] = max(best.get(k, (0.0, False)), (score, same))
    groups: dict[int, list[int]] = {}
    for k in best:
        groups.setdefault(root(k), []).append(k)
    today = as_of or dt.date.today()
    suggestions = []
    for members in groups.values():
        picked = [found[k] for k in sorted(members)]
        if len({p.org_unit_id for p in picked}) < 2:
            continue
        score, same = max(best[k] for k in members)
        suggestions.append(MergeSuggestion(_rows(session, picked, today, {}, locale),
                                           round(score, 1), same))
    return sorted(suggestions, key=lambda s: -s.score)
