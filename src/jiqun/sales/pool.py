"""The pool (公海) of unowned prospects.

A prospect (archived, nurturing or on trial) that nobody followed up for ``pool_days`` returns to
the pool: its owner is cleared, so another marketer can claim it. Before that, reminders go to
the owner (``owner_reminder_days`` before the return) and to the owner's manager
(``manager_reminder_days`` before). The clock starts at the latest of: the last visit, the day the
owner took the prospect (``owned_since``) and the day it was archived (else created).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from jiqun.errors import Conflict, NotFound
from jiqun.permissions import Action, Actor, allowed, require
from jiqun.sales.lifecycle import PROSPECTS
from jiqun.sales.people import names_of
from jiqun.sales.rules import SalesRules
from jiqun.store.models import Customer, Grid, LifecycleStage, OrgUnit, Role, User, Visit

# Whom the reminders go to, not who may do what (that is jiqun.permissions): the manager of an
# owner, nearest org unit first (the grid's manager comes before).
MANAGER_ROLES = (Role.DEPARTMENT_HEAD, Role.COUNTY_MANAGER, Role.CITY_MANAGER)

RETURN = "return"  # back to the pool now
REMIND_OWNER = "remind_owner"
REMIND_MANAGER = "remind_manager"
WATCH = "watch"  # nothing to do yet


@dataclass(frozen=True)
class PoolEntry:
    """One owned prospect and where it stands on the pool clock."""

    customer_id: int
    code: str
    name: str
    stage: str
    owner_id: int
    owner_name: str | None
    manager_id: int | None
    manager_name: str | None
    last_follow_up: dt.date
    days_silent: int
    days_left: int  # until it returns to the pool (≤ 0: due now)
    action: str  # return / remind_manager / remind_owner / watch


    @property
    def due(self) -> bool:
        """Due back to the pool already (the daily job returns it on its next run)."""
        return self.days_left <= 0

    @property
    def overdue_days(self) -> int | None:
        """Days past its return day when due (0: due today), else ``None``."""
        return -self.days_left if self.due else None

    @property
    def returns_in_days(self) -> int | None:
        """Days until it returns when not due yet, else ``None`` (never a negative count)."""
        return None if self.due else self.days_left


# What a user may do about a prospect on the pool page (the page hides the rest).
CLAIM = "claim"  # take an unowned prospect (pool.claim)
FOLLOW_UP = "follow_up"  # the owner logs the visit that restarts the clock (visit.log)
LOG_VISIT = "log_visit"  # someone else in the subtree logs a visit (visit.log)


def clock_actions(entry: PoolEntry, actor: Actor, user_id: int | None) -> list[str]:
    """The actions ``actor`` may take on an owned prospect of the clock: the owner follows it
    up, anyone else who may log visits logs one (it is owned: nobody may claim it yet)."""
    if not allowed(actor, Action.VISIT_LOG):
        return []
    return [FOLLOW_UP if entry.owner_id == user_id else LOG_VISIT]


def pool_actions(actor: Actor) -> list[str]:
    """The actions ``actor`` may take on an unowned prospect of the pool."""
    return [CLAIM] if allowed(actor, Action.POOL_CLAIM) else []


DUE, SOON = "due", "soon"  # the page's split of the clock
E = TypeVar("E")


def clock_split(entries: list[E], when: str | None = None) -> list[E]:
    """The prospects of the clock that need someone now (due back, or reminded), in the
    clock's order (the most urgent first); ``when``: only those due already (``due``) or only
    the coming ones (``soon``). Entries are :class:`PoolEntry` or their JSON rows (anything
    with ``action`` and ``due``)."""
    shown = [e for e in entries if e.action != WATCH]
    if when == DUE:
        return [e for e in shown if e.due]
    if when == SOON:
        return [e for e in shown if not e.due]
    return shown


@dataclass(frozen=True)
class Reminder:
    """A reminder to one person about one prospect about to return to the pool."""

    to_user_id: int
    to_name: str | None
    as_role: str  # owner / manager
    customer_id: int
    code: str
    name: str
    days_left: int


def action_for(days_left: int, rules: SalesRules) -> str:
    """What the clock calls for: return, reminders (manager's and owner's), or nothing."""
    if days_left <= 0:
        return RETURN
    if days_left <= rules.owner_reminder_days:
        return REMIND_OWNER  # the owner's own, last warning (the manager was told before)
    if days_left <= rules.manager_reminder_days:
        return REMIND_MANAGER
    return WATCH


def _last_visits(session: Session) -> dict[int, dt.date]:
    rows = session.execute(
        select(Visit.customer_id, func.max(Visit.visited_at)).group_by(Visit.customer_id)
    ).all()
    return {cid: at.date() for cid, at in rows}


class Managers:
    """The manager of a customer's owner: the grid's manager, else the nearest department head,
    county or city manager above the customer's org unit (never the owner themself).

    The manager is a fact of the customer, the same whoever looks: it usually sits above the
    viewer's subtree (a marketer's county manager), so grids and managers are read as plain
    ids from the tables, for the grids and org units of the customers given (which the caller
    loaded through its scoped session, so may see) — never as rows of the scoped session."""

    def __init__(self, session: Session, customers: list[Customer]):
        unscoped = {"unscoped": True}
        self.paths = dict(session.execute(select(OrgUnit.id, OrgUnit.path)).all())
        grid_ids = {c.grid_id for c in customers if c.grid_id is not None}
        grids = Grid.__table__
        self.grid_manager = dict(session.execute(
            select(grids.c.id, grids.c.manager_id).where(grids.c.id.in_(grid_ids)),
            execution_options=unscoped).all()) if grid_ids else {}
        units = {int(i) for c in customers
                 for i in self.paths.get(c.org_unit_id, "").strip("/").split("/") if i}
        users = User.__table__
        self.by_unit: dict[int, list[tuple[int, int]]] = {}
        query = select(users.c.id, users.c.org_unit_id, users.c.role).where(
            users.c.active.is_(True), users.c.org_unit_id.in_(units),
            users.c.role.in_(MANAGER_ROLES)).order_by(users.c.id)
        for uid, unit, role in session.execute(query, execution_options=unscoped):
            self.by_unit.setdefault(unit, []).append((MANAGER_ROLES.index(role), uid))

    def of(self, customer: Customer) -> int | None:
        manager = self.grid_manager.get(customer.grid_id)
        if manager is not None and manager != customer.owner_id:
            return manager
        path = self.paths.get(customer.org_unit_id, "")
        for unit in reversed([int(i) for i in path.strip("/").split("/") if i]):
            found = sorted(u for u in self.by_unit.get(unit, []) if u[1] != customer.owner_id)
            if found:
                return found[0][1]
        return None


def pool_clock(session: Session, today: dt.date, rules: SalesRules | None = None
               ) -> list[PoolEntry]:
    """Every owned prospect in scope on the pool clock, the most urgent first."""
    rules = rules or SalesRules.configured()
    last_visit = _last_visits(session)
    prospects = list(session.scalars(select(Customer).where(
        Customer.owner_id.is_not(None), Customer.lifecycle_stage.in_(PROSPECTS))))
    managers = Managers(session, prospects)
    people = {p.owner_id for p in prospects}
    entries = []
    for c in prospects:
        manager = managers.of(c)
        if manager is not None:
            people.add(manager)
        archived = c.archived_on or (c.created_at.date() if c.created_at else None)
        starts = [d for d in (last_visit.get(c.id), c.owned_since, archived) if d is not None]
        last = max(starts) if starts else today
        silent = (today - last).days
        left = rules.pool_days - silent
        entries.append((c, manager, last, silent, left))
    names = names_of(session, people)  # the same names for every viewer of these prospects
    out = [
        PoolEntry(c.id, c.code, c.name, c.lifecycle_stage.value, c.owner_id,
                  names.get(c.owner_id), manager, names.get(manager), last, silent, left,
                  action_for(left, rules))
        for c, manager, last, silent, left in entries
    ]
    return sorted(out, key=lambda e: (e.days_left, e.code))


def reminders(entries: list[PoolEntry], rules: SalesRules | None = None) -> list[Reminder]:
    """Reminders of the day: the manager from ``manager_reminder_days`` before the return on,
    the owner from ``owner_reminder_days`` before (both until it returns)."""
    rules = rules or SalesRules.configured()
    out = []
    for e in entries:
        if 0 < e.days_left <= rules.manager_reminder_days and e.manager_id is not None:
            out.append(Reminder(e.manager_id, e.manager_name, "manager", e.customer_id, e.code,
                                e.name, e.days_left))
        if 0 < e.days_left <= rules.owner_reminder_days:
            out.append(Reminder(e.owner_id, e.owner_name, "owner", e.customer_id, e.code,
                                e.name, e.days_left))
    return out


def return_to_pool(session: Session, entries: list[PoolEntry]) -> int:
    """Clear the owner of every entry that is due (audited); returns how many returned."""
    require(session, Action.REMINDERS_RUN)
    due = [e.customer_id for e in entries if e.action == RETURN]
    for customer in session.scalars(select(Customer).where(Customer.id.in_(due))):
        customer.owner_id = None
        customer.owned_since = None
    session.flush()
    return len(due)


def in_pool(owner_id: int | None, stage: LifecycleStage | None) -> bool:
    """A prospect without an owner is in the pool (公海): it waits for someone to claim it, and
    no rule assigns it an owner (the tier plan updates its tier only)."""
    return owner_id is None and stage in PROSPECTS


def pool_customers(session: Session, limit: int | None = None) -> list[Customer]:
    """Unowned prospects in scope (公海), the biggest potential first (every one by default:
    the page pages them, the download takes them all)."""
    return list(session.scalars(
        select(Customer).where(Customer.owner_id.is_(None),
                               Customer.lifecycle_stage.in_(PROSPECTS))
        .order_by(Customer.est_daily_volume.desc().nulls_last(), Customer.code).limit(limit)
    ))


class ClaimedAlready(Conflict):
    """Someone took the prospect from the pool first (the claim is decided once)."""

    def __init__(self, customer_id: int):
        super().__init__("Someone else claimed this customer first",
                         mine={"owner": "you"}, theirs={"owner": "someone else"})
        self.customer_id = customer_id


def claim(session: Session, customer_id: int, user_id: int, today: dt.date) -> Customer:
    """The user takes an unowned prospect from the pool, once: of two marketers claiming the
    same prospect at the same time exactly one gets it, the other a :class:`ClaimedAlready`.

    The update is conditional on the version read with the customer (``UPDATE … WHERE id = ?
    AND version = ?``), so a claim committed between our read and our write fails the flush.
    :class:`~jiqun.errors.NotFound` when the customer is not in scope or not a prospect."""
    require(session, Action.POOL_CLAIM)
    customer = session.get(Customer, customer_id)  # scoped: a foreign customer is None
    if customer is None or customer.lifecycle_stage not in PROSPECTS:
        raise NotFound(customer_id)
    if customer.owner_id is not None:
        raise ClaimedAlready(customer_id)
    customer.owner_id, customer.owned_since = user_id, today
    try:
        session.flush()
    except StaleDataError:
        raise ClaimedAlready(customer_id) from None
    return customer
