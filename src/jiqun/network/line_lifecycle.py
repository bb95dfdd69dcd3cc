"""A dedicated line's lifecycle (专线生命周期): draft → approved → running → closed.

Accepting a planner's proposal records a **draft** (:func:`jiqun.network.lines.accept_lane`),
with who accepted it and the level of their unit. From there each step is an action of the
permission registry, taken by :func:`take_step` for the page, its ``/api`` twin and
``jiqun plan lines approve|open|close`` alike:

=========  =======================  ==================================  ===================
step       action                   from                                to
=========  =======================  ==================================  ===================
approve    ``line.approve``         draft                               approved
open       ``line.open``            approved                            running: all year
                                                                        (``active``) or in
                                                                        the peaks only
close      ``line.close``           draft, approved, running            closed
=========  =======================  ==================================  ===================

Approval also wants someone *above* the one who accepted the line: the approver's unit must be
at a higher level of the org tree (a province approves a city's line, a city a county's), so
nobody approves their own proposal. Every step names the line's ``version`` the user saw; a
line changed since (a second decision, a stale form) is a :class:`~jiqun.errors.Conflict`.
The store's audit log records each step (the status, the dates, the approver).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from jiqun.errors import Conflict, Invalid, NotAllowed, NotFound
from jiqun.geo import division
from jiqun.permissions import Action, Actor, actor_of, allowed, require
from jiqun.store.models import DedicatedLine, Facility, LineStatus, Market, OrgLevel, OrgUnit, User
from jiqun.store.scope import values_by_id

RUNNING = frozenset({LineStatus.ACTIVE, LineStatus.PEAK_ONLY})
# A lane with one of these lines is served: the planner shows the line instead of a proposal.
SERVING = frozenset({LineStatus.APPROVED, *RUNNING})
OPEN_MODES = (LineStatus.ACTIVE.value, LineStatus.PEAK_ONLY.value)
LEVEL_RANK = {level: rank for rank, level in enumerate(OrgLevel)}  # HQ 0 … outlet 4

# How each status reads on a page (msgids; the bare values are decision words elsewhere).
STATUS_LABELS = {
    LineStatus.DRAFT.value: "Draft line",
    LineStatus.APPROVED.value: "Approved line",
    LineStatus.ACTIVE.value: "Running all year",
    LineStatus.PEAK_ONLY.value: "Running in the peaks",
    LineStatus.CLOSED.value: "Closed line",
}
# Why a step cannot be taken from the line's status now (a second decision, a stale page).
STATUS_NOW = {
    LineStatus.DRAFT: "This line is still a draft",
    LineStatus.APPROVED: "This line is approved already",
    LineStatus.ACTIVE: "This line is running already",
    LineStatus.PEAK_ONLY: "This line is running already",
    LineStatus.CLOSED: "This line is closed",
}


@dataclass(frozen=True)
class Step:
    """One step of the lifecycle: the registry action it takes, from which statuses."""

    name: str
    action: Action
    sources: frozenset[LineStatus]
    label: str  # msgid of the button


STEPS: dict[str, Step] = {
    "approve": Step("approve", Action.LINE_APPROVE, frozenset({LineStatus.DRAFT}), "Approve line"),
    "open": Step("open", Action.LINE_OPEN, frozenset({LineStatus.APPROVED}), "Put into service"),
    "close": Step("close", Action.LINE_CLOSE,
                  frozenset({LineStatus.DRAFT, LineStatus.APPROVED, *RUNNING}), "Close line"),
}


@dataclass(frozen=True)
class LineRef:
    """The line already recorded for a lane or a pooled proposal, as the planner shows it."""

    id: int
    code: str
    status: str
    version: int

    @property
    def serving(self) -> bool:
        return LineStatus(self.status) in SERVING

    @classmethod
    def of(cls, line: DedicatedLine) -> LineRef:
        return cls(line.id, line.code, line.status.value, line.version)


# -- reading ------------------------------------------------------------------------------------
def get_line(session: Session, line_id: int) -> DedicatedLine:
    """The line in the session's scope (:class:`NotFound` otherwise, as if it did not exist)."""
    line = session.get(DedicatedLine, line_id)
    if line is None:
        raise NotFound("dedicated line")
    return line


def find_line(session: Session, ref: str) -> DedicatedLine:
    """A line by its id or its code (the command line takes either)."""
    ref = ref.strip()
    if ref.isdigit() and len(ref) < 12:
        return get_line(session, int(ref))
    line = session.scalar(select(DedicatedLine).where(DedicatedLine.code == ref))
    if line is None:
        raise NotFound(ref)
    return line


def proposer_level(session: Session, line: DedicatedLine) -> OrgLevel:
    """The level of the unit that accepted the line; a line the system account or the demo
    recorded counts as proposed at its own unit's level."""
    if line.proposed_level is not None:
        return line.proposed_level
    return session.get(OrgUnit, line.org_unit_id).level


def above_proposer(actor: Actor, level: OrgLevel) -> bool:
    return actor.system or LEVEL_RANK[actor.level] < LEVEL_RANK[level]


def steps_for(session: Session, line: DedicatedLine, actor: Actor | None = None) -> list[str]:
    """The steps the acting user may take on the line now (pages hide the others)."""
    actor = actor or actor_of(session)
    out = []
    for step in STEPS.values():
        if line.status not in step.sources or not allowed(actor, step.action):
            continue
        if step.name == "approve" and not above_proposer(actor, proposer_level(session, line)):
            continue
        out.append(step.name)
    return out


@dataclass
class LineRow:
    """One line of the registry (专线台账), in the numbers a manager checks."""

    id: int
    code: str
    origin: str
    dest_code: str
    dest: str
    status: str
    version: int
    truck: str | None
    trips_per_day: float | None
    saving_per_year: float | None  # the planner's, when the line was accepted
    decision: str | None  # the planner's: open all year or in the peaks only
    proposed_by: str | None
    approved_by: str | None
    approved_at: dt.datetime | None
    opened_on: dt.date | None
    closed_on: dt.date | None
    steps: list[str]


STATUS_ORDER = {s: i for i, s in enumerate(
    (LineStatus.DRAFT, LineStatus.APPROVED, LineStatus.ACTIVE, LineStatus.PEAK_ONLY,
     LineStatus.CLOSED))}


def line_registry(session: Session, status: LineStatus | None = None) -> list[LineRow]:
    """Every line in scope, drafts first, then approved, running and closed lines, with the
    steps the acting user may take on each."""
    query = select(DedicatedLine)
    if status is not None:
        query = query.where(DedicatedLine.status == status)
    lines = sorted(session.scalars(query), key=lambda x: (STATUS_ORDER[x.status], x.code))
    markets = values_by_id(session, Market.id, Market.name,
                           ids=[x.origin_market_id for x in lines])
    facilities = values_by_id(session, Facility.id, Facility.name,
                              ids=[x.origin_facility_id for x in lines])
    people = values_by_id(session, User.id, User.display_name,
                          ids=[i for x in lines for i in (x.proposed_by_id, x.approved_by_id)])
    actor = actor_of(session)
    return [_row(session, x, markets, facilities, people, actor) for x in lines]


def _row(session, line: DedicatedLine, markets, facilities, people, actor) -> LineRow:
    proposal = line.proposal or {}
    origin = (markets[line.origin_market_id].name if line.origin_market_id in markets
              else facilities[line.origin_facility_id].name
              if line.origin_facility_id in facilities else line.code)
    if proposal.get("kind") == "pooled" and proposal.get("point"):
        origin = str(proposal["point"])
    place = division(line.dest_adcode)
    saving = proposal.get("saving_per_year")
    return LineRow(
        id=line.id, code=line.code, origin=origin, dest_code=line.dest_adcode,
        dest=place.name if place else line.dest_adcode, status=line.status.value,
        version=line.version, truck=line.truck_type, trips_per_day=line.trips_per_day,
        saving_per_year=float(saving) if isinstance(saving, int | float) else None,
        decision=proposal.get("decision"),
        proposed_by=_name(people, line.proposed_by_id),
        approved_by=_name(people, line.approved_by_id), approved_at=line.approved_at,
        opened_on=line.opened_on, closed_on=line.closed_on,
        steps=steps_for(session, line, actor))


def _name(people, user_id: int | None) -> str | None:
    return people[user_id].display_name if user_id in people else None


# -- the steps ----------------------------------------------------------------------------------
def _ready(session: Session, line_id: int, step: Step, version: int) -> tuple[DedicatedLine,
                                                                             Actor]:
    """The line, if the user may take ``step`` on it and it is still the version they saw."""
    actor = require(session, step.action)
    line = get_line(session, line_id)
    if line.version != version:
        raise Conflict("This line was changed by someone else since you opened it",
                       mine={"version": version},
                       theirs={"version": line.version, "status": line.status.value})
    if line.status not in step.sources:
        raise Conflict(STATUS_NOW[line.status], theirs={"status": line.status.value})
    return line, actor


def _flush_once(session: Session) -> None:
    """Write the step; a parallel step on the same line moved its version on, so the
    ``UPDATE … WHERE version = seen`` touches no row and this one loses."""
    try:
        session.flush()
    except StaleDataError:
        raise Conflict("This line was changed by someone else since you opened it") from None


def approve_line(session: Session, line_id: int, *, version: int,
                 now: dt.datetime | None = None) -> DedicatedLine:
    """Approve a draft line (审批): someone above the level of the one who accepted it."""
    line, actor = _ready(session, line_id, STEPS["approve"], version)
    if not above_proposer(actor, proposer_level(session, line)):
        raise NotAllowed("A line is approved by someone above the level of the one who "
                         "accepted it")
    line.status = LineStatus.APPROVED
    line.approved_by_id = actor.user_id
    line.approved_at = now or dt.datetime.now().replace(microsecond=0)
    _flush_once(session)
    return line


def default_mode(line: DedicatedLine) -> str:
    """All year unless the planner proposed the line for the peak windows only."""
    decision = (line.proposal or {}).get("decision")
    return LineStatus.PEAK_ONLY.value if decision == "peak_only" else LineStatus.ACTIVE.value


def open_line(session: Session, line_id: int, *, version: int, mode: str | None = None,
              on: dt.date | None = None) -> DedicatedLine:
    """Put an approved line into service from ``on`` (today by default): all year
    (``active``) or in the peak windows only (``peak_only``; default: as proposed)."""
    line, _actor = _ready(session, line_id, STEPS["open"], version)
    mode = mode or default_mode(line)
    if mode not in OPEN_MODES:
        raise Invalid({"mode": "Run the line all year or in the peaks only"})
    line.status = LineStatus(mode)
    line.opened_on = on or dt.date.today()
    line.closed_on = None
    _flush_once(session)
    return line


def close_line(session: Session, line_id: int, *, version: int,
               on: dt.date | None = None) -> DedicatedLine:
    """Close a running line from ``on`` (today by default), or withdraw a draft or an
    approved line that never ran; the lane may be proposed again."""
    line, _actor = _ready(session, line_id, STEPS["close"], version)
    on = on or dt.date.today()
    if line.opened_on is not None and on < line.opened_on:
        raise Invalid({"on": "A line cannot close before it opened"})
    line.status = LineStatus.CLOSED
    line.closed_on = on
    _flush_once(session)
    return line


def take_step(session: Session, line_id: int, step: str, *, version: int,
              mode: str | None = None, on: dt.date | None = None) -> DedicatedLine:
    """One step by name (``approve``, ``open``, ``close``): what the page, the API and the
    command line call."""
    if step == "approve":
        return approve_line(session, line_id, version=version)
    if step == "open":
        return open_line(session, line_id, version=version, mode=mode, on=on)
    if step == "close":
        return close_line(session, line_id, version=version, on=on)
    raise Invalid({"step": "No such step"})
