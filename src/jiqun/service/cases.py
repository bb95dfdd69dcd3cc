"""The proactive service queue (主动客服): parcel exceptions become cases with an owner and
deadlines, the owner contacts the merchant before the merchant calls, the clock warns and
escalates.

* :func:`open_cases` groups the exceptions that have no case yet: the exceptions of one **bag**
  (``bag_key``: parcels that travelled together, when at least ``bag_min_exceptions`` of them
  are exceptional) make one case; the others make one case per **customer**; an exception with
  neither is a case of its own. An open case of the same group takes the new exceptions in.
* **Owner rule** (户户有人管): the customer-service users (role ``customer_service``, active)
  whose org unit lies on the case's path from its city down — the customer's city team and any
  county or outlet team above the customer — least loaded first (fewest unresolved cases), the
  lowest user id on a tie; when the city has none, those of the province (then HQ). Only such a
  user sees the case in their scope.
* **Deadlines** (:mod:`jiqun.service.rules`): first response and resolution in working hours
  from the opening, for the case's kind (the most urgent of its exceptions). Waiting on others
  (:func:`wait`) stops the clock; :func:`resume` moves the deadlines by the working time that
  was left (:func:`jiqun.service.clock.shift_for_pause`).
* :func:`check_deadlines` warns the owner at 75 % of a deadline (a notification in the inbox)
  and escalates a breach to the city's manager (``escalated_at``, a notification, a log entry);
  each at most once per deadline, so the job can run every few minutes.

Every change of a case is an action of the registry (``case.work``, ``case.assign``,
``exceptions.run``), checked against the form's ``version`` (a stale form is a conflict) and
audited with the session's user.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from jiqun.errors import Conflict, Invalid, NotFound
from jiqun.i18n import translator
from jiqun.permissions import Action, actor_of, allowed, require
from jiqun.service import messages
from jiqun.service.clock import WorkingHours, shift_for_pause, working_between
from jiqun.service.reasons import reason
from jiqun.service.rules import ServiceRules
from jiqun.store.models import (
    CaseEvent,
    CaseStatus,
    Customer,
    ExceptionKind,
    Facility,
    Notification,
    OrgLevel,
    OrgUnit,
    ParcelException,
    Role,
    ServiceCase,
    User,
)

CHANNELS = ("phone", "sms", "wechat")
RESPONSE, RESOLUTION = "response", "resolve"  # the two deadlines (a log entry's template)
CASE_WARNING = "case_warning"  # notification kinds (the inbox): to the owner …
CASE_BREACH = "case_breach"  # … and to the manager on a breach
MAX_MESSAGE = 2000
KIND_ORDER = tuple(ExceptionKind)  # ties between equally urgent kinds: the model's order


def _now() -> dt.datetime:
    return dt.datetime.now().replace(microsecond=0)


# -- the org tree ---------------------------------------------------------------------------
class _Tree:
    """The org units, read once per call (the org tree is unscoped and small)."""

    def __init__(self, session: Session):
        self.units = {u.id: u for u in session.scalars(select(OrgUnit))}

    def path_ids(self, unit_id: int) -> list[int]:
        return [int(i) for i in self.units[unit_id].path.strip("/").split("/") if i]

    def city(self, unit_id: int) -> OrgUnit:
        """The city above (or at) a unit; the unit itself when it sits above the cities."""
        ids = self.path_ids(unit_id)
        return next((self.units[i] for i in ids if self.units[i].level == OrgLevel.CITY),
                    self.units[unit_id])

    def common(self, unit_ids: set[int]) -> int:
        """The deepest unit above (or at) all of ``unit_ids``."""
        paths = [self.path_ids(u) for u in unit_ids]
        shared = paths[0]
        for path in paths[1:]:
            n = 0
            while n < min(len(shared), len(path)) and shared[n] == path[n]:
                n += 1
            shared = shared[:n]
        return shared[-1]


# -- opening cases ----------------------------------------------------------------------------
def _group_keys(excs: list[ParcelException], open_bags: set[str], rules: ServiceRules
                ) -> dict[int, str]:
    bag_sizes = Counter(e.bag_key for e in excs if e.bag_key)
    keys = {}
    for e in excs:
        if e.bag_key and (bag_sizes[e.bag_key] >= rules.bag_min_exceptions
                          or f"bag:{e.bag_key}" in open_bags):
            keys[e.id] = f"bag:{e.bag_key}"
        elif e.customer_id is not None:
            keys[e.id] = f"customer:{e.customer_id}"
        else:
            keys[e.id] = f"waybill:{e.waybill_no}"
    return keys


def _most_urgent(kinds: set[ExceptionKind], rules: ServiceRules) -> ExceptionKind:
    return min(kinds, key=lambda k: (rules.first_response_target(k), rules.resolve_target(k),
                                     KIND_ORDER.index(k)))


def _loads(session: Session) -> Counter:
    rows = session.execute(select(ServiceCase.owner_id, func.count()).where(
        ServiceCase.status != CaseStatus.RESOLVED, ServiceCase.owner_id.is_not(None))
        .group_by(ServiceCase.owner_id)).all()
    return Counter(dict(rows))


def _team_users(session: Session, tree: _Tree, unit_id: int, roles: tuple[Role, ...]
                ) -> dict[int, list[User]]:
    """Active users of ``roles`` on the unit's path, by their org unit."""
    ids = tree.path_ids(unit_id)
    users = session.scalars(select(User).where(User.org_unit_id.in_(ids), User.role.in_(roles),
                                               User.active.is_(True)).order_by(User.id))
    by_unit: dict[int, list[User]] = defaultdict(list)
    for user in users:
        by_unit[user.org_unit_id].append(user)
    return by_unit


def owner_candidates(session: Session, tree: _Tree, unit_id: int) -> list[User]:
    """The customer-service users who may own a case of ``unit_id``, in the rule's order of
    teams: the city and below first, then the levels above (province, HQ)."""
    by_unit = _team_users(session, tree, unit_id, (Role.CUSTOMER_SERVICE,))
    ids = tree.path_ids(unit_id)
    city_depth = next((n for n, i in enumerate(ids) if tree.units[i].level == OrgLevel.CITY),
                      len(ids) - 1)
    local = [u for i in ids[city_depth:] for u in by_unit.get(i, [])]
    above = [u for i in reversed(ids[:city_depth]) for u in by_unit.get(i, [])]
    return local or above


def _pick_owner(candidates: list[User], loads: Counter) -> User | None:
    if not candidates:
        return None
    return min(candidates, key=lambda u: (loads[u.id], u.id))


def _next_codes(session: Session, day: dt.date):
    """Readable case codes unique across the organisation: ``SC-261128-0007``."""
    prefix = f"SC-{day:%y%m%d}-"
    last = session.scalar(select(func.max(ServiceCase.code)).where(
        ServiceCase.code.like(prefix + "%")).execution_options(unscoped=True))
    n = int(last.rsplit("-", 1)[1]) if last else 0
    while True:
        n += 1
        yield f"{prefix}{n:04d}"


def open_cases(session: Session, as_of: dt.datetime, rules: ServiceRules | None = None
               ) -> dict:
    """Group the exceptions without a case (not cleared, found by ``as_of``) into cases.

    Returns ``{"exceptions": n, "opened": k, "joined": j}``: n exceptions placed, k new cases,
    j exceptions that joined an open case of their group. Running it again places nothing.
    """
    require(session, Action.EXCEPTIONS_RUN)
    rules = rules or ServiceRules.configured()
    calendar = rules.working_hours()
    excs = list(session.scalars(select(ParcelException).where(
        ParcelException.case_id.is_(None), ParcelException.cleared_at.is_(None),
        ParcelException.detected_at <= as_of).order_by(ParcelException.id)))
    if not excs:
        return {"exceptions": 0, "opened": 0, "joined": 0}
    open_by_key = {c.group_key: c for c in session.scalars(select(ServiceCase).where(
        ServiceCase.status != CaseStatus.RESOLVED).order_by(ServiceCase.id))}
    keys = _group_keys(excs, {k for k in open_by_key if k.startswith("bag:")}, rules)
    groups: dict[str, list[ParcelException]] = defaultdict(list)
    for e in excs:
        groups[keys[e.id]].append(e)
    tree, loads = _Tree(session), _loads(session)
    codes = _next_codes(session, as_of.date())
    opened = joined = 0
    for key, members in groups.items():
        case = open_by_key.get(key)
        if case is not None:
            joined += len(members)
        else:
            case = _new_case(session, key, members, as_of, rules, calendar, tree, loads, codes)
            opened += 1
        for e in members:
            e.case_id = case.id
    session.flush()
    return {"exceptions": len(excs), "opened": opened, "joined": joined}


def _new_case(session, key, members, as_of, rules, calendar, tree, loads, codes
              ) -> ServiceCase:
    kind = _most_urgent({e.kind for e in members}, rules)
    customers = {e.customer_id for e in members}
    unit_id = tree.common({e.org_unit_id for e in members})
    owner = _pick_owner(owner_candidates(session, tree, unit_id), loads)
    case = ServiceCase(
        code=next(codes), group_key=key, org_unit_id=unit_id, kind=kind,
        customer_id=customers.pop() if len(customers) == 1 else None,
        status=CaseStatus.OPEN, owner_id=owner.id if owner else None, opened_at=as_of,
        first_response_due=_add(calendar, as_of, rules.first_response_target(kind)),
        resolve_due=_add(calendar, as_of, rules.resolve_target(kind)),
        summary=", ".join(sorted({e.waybill_no for e in members})[:20]))
    session.add(case)
    session.flush()
    if owner:
        loads[owner.id] += 1
    session.add(CaseEvent(case_id=case.id, at=as_of, kind="open", by_id=actor_of(session).user_id,
                          message=owner.display_name if owner else None))
    return case


def _add(calendar: WorkingHours, start: dt.datetime, hours: float) -> dt.datetime:
    from jiqun.service.clock import add_working

    return add_working(start, hours, calendar=calendar)


# -- the clock: warnings and escalation -------------------------------------------------------
def _pending(case: ServiceCase, rules: ServiceRules) -> list[tuple[str, dt.datetime, float]]:
    out = []
    if case.first_response_at is None:
        out.append((RESPONSE, case.first_response_due, rules.first_response_target(case.kind)))
    out.append((RESOLUTION, case.resolve_due, rules.resolve_target(case.kind)))
    return out


def _manager(session: Session, tree: _Tree, unit_id: int) -> User | None:
    """Whom a breach goes to: the case's city manager, else the provincial manager above."""
    by_unit = _team_users(session, tree, unit_id, (Role.CITY_MANAGER, Role.PROVINCIAL_MANAGER))
    for i in reversed(tree.path_ids(unit_id)):
        if by_unit.get(i):
            return by_unit[i][0]
    return None


def _notify(session: Session, case: ServiceCase, user_id: int, kind: str, due: dt.datetime,
            today: dt.date, owner: str) -> bool:
    name = case.customer.name if case.customer else case.group_key
    taken = session.scalar(select(Notification.id).where(
        Notification.user_id == user_id, Notification.kind == kind,
        Notification.due_on == due.date(),
        Notification.customer_id.is_(None) if case.customer_id is None
        else Notification.customer_id == case.customer_id))
    if taken is not None:  # the same merchant's other case fell due the same day: one notice
        return False
    session.add(Notification(user_id=user_id, customer_id=case.customer_id, kind=kind,
                             due_on=due.date(), sent_on=today, org_unit_id=case.org_unit_id,
                             params={"name": name, "code": case.code, "owner": owner}))
    return True


def check_deadlines(session: Session, now: dt.datetime, rules: ServiceRules | None = None
                    ) -> dict:
    """Warn at ``warn_share`` of each pending deadline, escalate each breached one; once each.

    Cases waiting on others are skipped (their clock stands). Returns
    ``{"checked": n, "warned": w, "escalated": e}``.
    """
    require(session, Action.EXCEPTIONS_RUN)
    rules = rules or ServiceRules.configured()
    calendar = rules.working_hours()
    cases = list(session.scalars(select(ServiceCase).where(
        ServiceCase.status == CaseStatus.OPEN).order_by(ServiceCase.id)))
    done = set(session.execute(select(CaseEvent.case_id, CaseEvent.kind, CaseEvent.template)
                               .where(CaseEvent.kind.in_(("warn", "escalate")),
                                      CaseEvent.case_id.in_([c.id for c in cases]))).all())
    tree = _Tree(session)
    owners = _user_names(session, {c.owner_id for c in cases})
    warned = escalated = 0
    for case in cases:
        for which, due, target in _pending(case, rules):
            owner = owners.get(case.owner_id, "")
            if now >= due:
                if (case.id, "escalate", which) in done:
                    continue
                manager = _manager(session, tree, case.org_unit_id)
                case.escalated_at = case.escalated_at or now
                case.escalated_to_id = manager.id if manager else None
                session.add(CaseEvent(case_id=case.id, at=now, kind="escalate", template=which,
                                      message=manager.display_name if manager else None))
                if manager:
                    _notify(session, case, manager.id, CASE_BREACH, due, now.date(), owner)
                escalated += 1
            elif working_between(now, due, calendar=calendar) <= (1 - rules.warn_share) * target:
                if (case.id, "warn", which) in done:
                    continue
                case.warned_at = now
                session.add(CaseEvent(case_id=case.id, at=now, kind="warn", template=which))
                if case.owner_id:
                    _notify(session, case, case.owner_id, CASE_WARNING, due, now.date(), owner)
                warned += 1
    session.flush()
    return {"checked": len(cases), "warned": warned, "escalated": escalated}


# -- working a case -------------------------------------------------------------------------
def _case(session: Session, case_id: int, version: int | None) -> ServiceCase:
    case = session.get(ServiceCase, case_id)
    if case is None:
        raise NotFound("No such case")
    if version is not None and version != case.version:
        raise Conflict("This case was changed by someone else since you opened it; "
                       "reload it and try again",
                       mine={"version": version}, theirs={"version": case.version})
    return case


def _still_open(case: ServiceCase) -> None:
    if case.status == CaseStatus.RESOLVED:
        raise Conflict("This case is resolved already", theirs={"status": case.status.value})


def _log(session: Session, case: ServiceCase, kind: str, at: dt.datetime, **values) -> None:
    # Every entry changes the case (its version), so a form opened before it is stale: two
    # agents never both call the merchant from the same view of the case.
    case.updated_at = _now()
    flag_modified(case, "updated_at")  # an update even within the second of the last one
    session.add(CaseEvent(case_id=case.id, at=at, kind=kind, by_id=actor_of(session).user_id,
                          **values))
    session.flush()


def log_contact(session: Session, case_id: int, channel: str, template: str | None,
                message: str, *, version: int | None = None, at: dt.datetime | None = None
                ) -> ServiceCase:
    """Log the proactive contact with the merchant; the first one answers the first-response
    deadline."""
    require(session, Action.CASE_WORK)
    errors = {}
    if channel not in CHANNELS:
        errors["channel"] = "Choose phone, SMS or WeChat"
    if template and template not in messages.BY_CODE:
        errors["template"] = "Choose one of the message templates"
    message = (message or "").strip()
    if not message or len(message) > MAX_MESSAGE:
        errors["message"] = "Write the message (at most 2000 characters)"
    if errors:
        raise Invalid(errors)
    case = _case(session, case_id, version)
    _still_open(case)
    at = at or _now()
    case.first_response_at = case.first_response_at or at
    _log(session, case, "contact", at, channel=channel, template=template or None,
         message=message)
    return case


def add_note(session: Session, case_id: int, note: str, *, version: int | None = None,
             at: dt.datetime | None = None) -> ServiceCase:
    require(session, Action.CASE_WORK)
    note = (note or "").strip()
    if not note or len(note) > MAX_MESSAGE:
        raise Invalid({"message": "Write the message (at most 2000 characters)"})
    case = _case(session, case_id, version)
    _log(session, case, "note", at or _now(), message=note)
    return case


def wait(session: Session, case_id: int, note: str | None = None, *,
         version: int | None = None, at: dt.datetime | None = None) -> ServiceCase:
    """Waiting on others (the merchant, the recipient, another carrier): the clock stops."""
    require(session, Action.CASE_WORK)
    case = _case(session, case_id, version)
    _still_open(case)
    if case.status == CaseStatus.WAITING:
        raise Conflict("This case is waiting already", theirs={"status": case.status.value})
    at = at or _now()
    case.status, case.waiting_since = CaseStatus.WAITING, at
    _log(session, case, "wait", at, message=(note or "").strip()[:MAX_MESSAGE] or None)
    return case


def _end_pause(case: ServiceCase, at: dt.datetime, calendar: WorkingHours) -> None:
    since = case.waiting_since or at
    if case.first_response_at is None:
        case.first_response_due = shift_for_pause(case.first_response_due, since, at,
                                                  calendar=calendar)
    case.resolve_due = shift_for_pause(case.resolve_due, since, at, calendar=calendar)
    case.waiting_since = None


def resume(session: Session, case_id: int, *, version: int | None = None,
           at: dt.datetime | None = None, rules: ServiceRules | None = None) -> ServiceCase:
    """The answer came: the clock runs again, the deadlines moved by the pause."""
    require(session, Action.CASE_WORK)
    case = _case(session, case_id, version)
    if case.status != CaseStatus.WAITING:
        raise Conflict("This case is not waiting", theirs={"status": case.status.value})
    at = at or _now()
    _end_pause(case, at, (rules or ServiceRules.configured()).working_hours())
    case.status = CaseStatus.OPEN
    _log(session, case, "resume", at)
    return case


def resolve(session: Session, case_id: int, note: str, *, version: int | None = None,
            at: dt.datetime | None = None, rules: ServiceRules | None = None) -> ServiceCase:
    """Close the case with what was done (delivered after all, claim paid, address fixed …)."""
    require(session, Action.CASE_WORK)
    note = (note or "").strip()
    if not note or len(note) > MAX_MESSAGE:
        raise Invalid({"message": "Say how the case was resolved (at most 2000 characters)"})
    case = _case(session, case_id, version)
    _still_open(case)
    at = at or _now()
    if case.status == CaseStatus.WAITING:
        _end_pause(case, at, (rules or ServiceRules.configured()).working_hours())
    case.status, case.resolved_at = CaseStatus.RESOLVED, at
    _log(session, case, "resolve", at, message=note)
    return case


def assign(session: Session, case_id: int, owner_id: int, *, version: int | None = None,
           at: dt.datetime | None = None) -> ServiceCase:
    """Give the case to another owner: an active user who may work cases and sees this one."""
    require(session, Action.CASE_ASSIGN)
    case = _case(session, case_id, version)
    _still_open(case)
    tree = _Tree(session)
    user = session.get(User, owner_id)
    if (user is None or not user.active or user.org_unit_id not in tree.path_ids(case.org_unit_id)
            or user.role not in _WORKERS):
        raise Invalid({"owner_id": "Choose a colleague who works this case's customers"})
    case.owner_id = user.id
    _log(session, case, "assign", at or _now(), message=user.display_name)
    return case


_WORKERS = (Role.CUSTOMER_SERVICE, Role.CITY_MANAGER, Role.COUNTY_MANAGER, Role.DEPARTMENT_HEAD,
            Role.ACCOUNT_MANAGER)


def assignable(session: Session, case: ServiceCase) -> list[User]:
    """Who a case can be given to (the assign form's choices): customer service first."""
    tree = _Tree(session)
    users = session.scalars(select(User).where(
        User.org_unit_id.in_(tree.path_ids(case.org_unit_id)), User.role.in_(_WORKERS),
        User.active.is_(True)).order_by(User.id))
    return sorted(users, key=lambda u: (u.role != Role.CUSTOMER_SERVICE, u.id))


# -- reading the queue ------------------------------------------------------------------------
def breached(case: ServiceCase, now: dt.datetime) -> bool:
    """Whether a deadline of the case was missed (a waiting case as of its pause)."""
    clock = case.resolved_at or (case.waiting_since if case.status == CaseStatus.WAITING
                                 else now)
    return ((case.first_response_at or clock) > case.first_response_due
            or clock > case.resolve_due)


def next_due(case: ServiceCase) -> dt.datetime | None:
    """The deadline the owner works to now (none once resolved)."""
    if case.status == CaseStatus.RESOLVED:
        return None
    return case.first_response_due if case.first_response_at is None else case.resolve_due


@dataclass(frozen=True)
class CaseRow:
    """One case of the queue, with its deadline countdown in working hours."""

    id: int
    code: str
    status: str
    kind: str
    customer_id: int | None
    customer: str | None
    group_key: str
    city: str
    owner_id: int | None
    owner: str | None
    opened_at: dt.datetime
    first_response_due: dt.datetime
    resolve_due: dt.datetime
    first_response_at: dt.datetime | None
    resolved_at: dt.datetime | None
    next_due: dt.datetime | None
    hours_left: float | None  # working hours to next_due; negative: overdue by so many
    breached: bool
    escalated: bool
    exceptions: int
    version: int
    mine: bool = False


def _hours_left(case: ServiceCase, now: dt.datetime, calendar: WorkingHours) -> float | None:
    due = next_due(case)
    if due is None:
        return None
    at = case.waiting_since if case.status == CaseStatus.WAITING else now
    if at <= due:
        return round(working_between(at, due, calendar=calendar), 2)
    return -round(working_between(due, at, calendar=calendar), 2)


STATUS_FILTERS = ("active", "open", "waiting", "resolved", "all")


def case_rows(session: Session, now: dt.datetime, *, status: str = "active",
              kind: str | None = None, breach: bool | None = None, mine: bool = False,
              me: int | None = None, rules: ServiceRules | None = None,
              case_id: int | None = None) -> list[CaseRow]:
    """The queue in the session's scope: the user's own cases first (``me``), then the
    breached, then by the deadline that falls first."""
    rules = rules or ServiceRules.configured()
    calendar = rules.working_hours()
    query = select(ServiceCase)
    if status == "active":
        query = query.where(ServiceCase.status != CaseStatus.RESOLVED)
    elif status in ("open", "waiting", "resolved"):
        query = query.where(ServiceCase.status == CaseStatus(status))
    if kind:
        query = query.where(ServiceCase.kind == ExceptionKind(kind))
    if mine and me is not None:
        query = query.where(ServiceCase.owner_id == me)
    if case_id is not None:
        query = query.where(ServiceCase.id == case_id)
    cases = list(session.scalars(query))
    counts = dict(session.execute(select(ParcelException.case_id, func.count()).where(
        ParcelException.case_id.in_([c.id for c in cases])).group_by(ParcelException.case_id)).all())
    names = _names(session, cases)
    tree = _Tree(session)
    rows = []
    for c in cases:
        is_breached = breached(c, now)
        if breach is not None and is_breached != breach:
            continue
        rows.append(CaseRow(
            id=c.id, code=c.code, status=c.status.value, kind=c.kind.value,
            customer_id=c.customer_id, customer=names["customers"].get(c.customer_id),
            group_key=c.group_key, city=tree.city(c.org_unit_id).name, owner_id=c.owner_id,
            owner=names["users"].get(c.owner_id), opened_at=c.opened_at,
            first_response_due=c.first_response_due, resolve_due=c.resolve_due,
            first_response_at=c.first_response_at, resolved_at=c.resolved_at,
            next_due=next_due(c), hours_left=_hours_left(c, now, calendar),
            breached=is_breached, escalated=c.escalated_at is not None,
            exceptions=counts.get(c.id, 0), version=c.version,
            mine=me is not None and c.owner_id == me))
    far = dt.datetime.max
    rows.sort(key=lambda r: (not r.mine, r.status == "resolved", not r.breached,
                             r.next_due or far, r.id))
    return rows


def _names(session: Session, cases: list[ServiceCase]) -> dict[str, dict]:
    customers = {c.customer_id for c in cases if c.customer_id}
    users = {c.owner_id for c in cases if c.owner_id}
    return {
        "customers": dict(session.execute(select(Customer.id, Customer.name).where(
            Customer.id.in_(customers))).all()) if customers else {},
        "users": _user_names(session, users),
    }


def _user_names(session: Session, ids) -> dict[int, str]:
    """Display names of users, also beyond the scope (a county sees its city's agent)."""
    ids = {i for i in ids if i}
    if not ids:
        return {}
    return dict(session.execute(select(User.id, User.display_name).where(
        User.id.in_(ids)).execution_options(unscoped=True)).all())


@dataclass(frozen=True)
class ExceptionRow:
    id: int
    waybill_no: str
    kind: str
    responsibility: str
    reason: str | None
    leg: str | None
    facility: str | None
    bag_key: str | None
    customer_id: int | None
    customer: str | None
    detected_at: dt.datetime
    promised_at: dt.datetime | None
    cleared_at: dt.datetime | None
    case_id: int | None
    case_code: str | None


def exception_rows(session: Session, *, kind: str | None = None, case_id: int | None = None,
                   include_cleared: bool = False, limit: int | None = None
                   ) -> list[ExceptionRow]:
    """Parcel exceptions in scope, newest first (``case_id``: those of one case)."""
    query = (select(ParcelException, Customer.name, Facility.name, ServiceCase.code)
             .outerjoin(Customer, Customer.id == ParcelException.customer_id)
             .outerjoin(Facility, Facility.id == ParcelException.facility_id)
             .outerjoin(ServiceCase, ServiceCase.id == ParcelException.case_id))
    if kind:
        query = query.where(ParcelException.kind == ExceptionKind(kind))
    if case_id is not None:
        query = query.where(ParcelException.case_id == case_id)
    if not include_cleared:
        query = query.where(ParcelException.cleared_at.is_(None))
    query = query.order_by(ParcelException.detected_at.desc(), ParcelException.id.desc())
    if limit:
        query = query.limit(limit)
    return [ExceptionRow(
        id=e.id, waybill_no=e.waybill_no, kind=e.kind.value,
        responsibility=e.responsibility.value, reason=e.reason, leg=e.leg, facility=facility,
        bag_key=e.bag_key, customer_id=e.customer_id, customer=customer,
        detected_at=e.detected_at, promised_at=e.promised_at, cleared_at=e.cleared_at,
        case_id=e.case_id, case_code=code) for e, customer, facility, code in session.execute(query)]


@dataclass(frozen=True)
class EventRow:
    at: dt.datetime
    kind: str
    by: str | None
    channel: str | None
    template: str | None
    message: str | None


@dataclass(frozen=True)
class CaseDetail:
    row: CaseRow
    exceptions: list[ExceptionRow]
    events: list[EventRow]
    messages: dict[str, str]  # template code → the message with this case's facts
    default_template: str
    owners: list[tuple[int, str]] = field(default_factory=list)  # the assign form's choices


def case_facts(session: Session, case: ServiceCase, excs: list[ExceptionRow]) -> messages.ParcelFacts:
    """What a message to the merchant says of this case."""
    zh = translator("zh-CN")
    tree = _Tree(session)
    owner = session.execute(select(User.display_name, User.phone).where(
        User.id == case.owner_id).execution_options(unscoped=True)).first()
    reasons = [e.reason for e in excs if e.reason]
    promised = [e.promised_at for e in excs if e.promised_at]
    return messages.ParcelFacts(
        unit=tree.city(case.org_unit_id).name,
        customer=case.customer.name if case.customer else "",
        waybills=tuple(sorted({e.waybill_no for e in excs})),
        place=next((e.facility for e in excs if e.facility), None),
        reason=zh(reason(reasons[0]).label) if reasons else None,
        promised=min(promised) if promised else None,
        agent=owner.display_name if owner else "", phone=owner.phone if owner else None)


def case_detail(session: Session, case_id: int, now: dt.datetime, *, me: int | None = None,
                rules: ServiceRules | None = None) -> CaseDetail:
    """One case: its row, exceptions, log, prefilled messages and the owners it can go to."""
    case = _case(session, case_id, None)
    rules = rules or ServiceRules.configured()
    [row] = case_rows(session, now, status="all", me=me, rules=rules, case_id=case.id)
    excs = exception_rows(session, case_id=case.id, include_cleared=True)
    by = {c.by_id for c in session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id))}
    names = _user_names(session, by)
    events = [EventRow(e.at, e.kind, names.get(e.by_id), e.channel, e.template, e.message)
              for e in session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id)
                                       .order_by(CaseEvent.at.desc(), CaseEvent.id.desc()))]
    facts = case_facts(session, case, excs)
    return CaseDetail(
        row=row, exceptions=excs, events=events,
        messages={t.code: messages.render(t.code, facts) for t in messages.TEMPLATES},
        default_template=messages.DEFAULT_FOR_KIND.get(case.kind, "progress"),
        owners=[(u.id, u.display_name) for u in assignable(session, case)]
        if allowed(actor_of(session), Action.CASE_ASSIGN) else [])


# -- per city ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class CitySummary:
    """The queue of one city (客服质量): open cases, their ageing, the share that missed a
    deadline among the cases opened in the window."""

    city_id: int
    city_code: str
    city: str
    open: int  # not resolved (waiting included)
    waiting: int
    breached_open: int
    ageing: list[int]  # open cases by calendar hours since opening (ageing_labels)
    opened: int  # cases opened in the window
    breached: int  # of those, with a missed deadline
    breach_rate: float | None  # breached / opened; None without cases


def ageing_labels(rules: ServiceRules | None = None) -> list[str]:
    bounds = (rules or ServiceRules()).ageing_hours
    edges = [0, *bounds]
    return [f"{edges[i]:g}–{edges[i + 1]:g} h" for i in range(len(bounds))] + [f">{bounds[-1]:g} h"]


def _bucket(hours: float, bounds: list[float]) -> int:
    return next((i for i, b in enumerate(bounds) if hours < b), len(bounds))


def city_summary(session: Session, as_of: dt.datetime, rules: ServiceRules | None = None, *,
                 days: int = 7) -> list[CitySummary]:
    """Per city of the session's scope: open cases, ageing buckets, and the breach rate of the
    cases opened in the ``days`` before ``as_of``. Cities without any case are left out."""
    rules = rules or ServiceRules.configured()
    bounds = rules.ageing_hours
    since = as_of - dt.timedelta(days=days)
    cases = session.scalars(select(ServiceCase).where(ServiceCase.opened_at <= as_of))
    tree = _Tree(session)
    acc: dict[int, dict] = {}
    for c in cases:
        city = tree.city(c.org_unit_id)
        a = acc.setdefault(city.id, {"unit": city, "open": 0, "waiting": 0, "breached_open": 0,
                                     "ageing": [0] * (len(bounds) + 1), "opened": 0,
                                     "breached": 0})
        is_breached = breached(c, as_of)
        if c.status != CaseStatus.RESOLVED or (c.resolved_at and c.resolved_at > as_of):
            a["open"] += 1
            a["waiting"] += c.status == CaseStatus.WAITING
            a["breached_open"] += is_breached
            age = (as_of - c.opened_at).total_seconds() / 3600
            a["ageing"][_bucket(age, bounds)] += 1
        if c.opened_at > since:
            a["opened"] += 1
            a["breached"] += is_breached
    out = [CitySummary(
        city_id=k, city_code=a["unit"].code, city=a["unit"].name, open=a["open"],
        waiting=a["waiting"], breached_open=a["breached_open"], ageing=a["ageing"],
        opened=a["opened"], breached=a["breached"],
        breach_rate=round(a["breached"] / a["opened"], 4) if a["opened"] else None)
        for k, a in acc.items()]
    return sorted(out, key=lambda s: (-s.open, s.city_code))


def counts(session: Session, now: dt.datetime, me: int | None = None) -> dict:
    """Open and breached cases of the scope, and the user's own (the dashboard's tiles): the
    active cases of :func:`case_rows`, counted without building their rows (names, cities and
    working hours left: the most opened page needs none of them)."""
    cases = list(session.scalars(select(ServiceCase).where(
        ServiceCase.status != CaseStatus.RESOLVED)))
    return {"open": len(cases), "breached": sum(breached(c, now) for c in cases),
            "mine": sum(1 for c in cases if me is not None and c.owner_id == me)}
