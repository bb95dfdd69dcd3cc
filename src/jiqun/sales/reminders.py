"""Reminders (提醒) in the in-app inbox (站内信箱).

The pool clock (:mod:`jiqun.sales.pool`) says which prospects return to the pool soon; this
module turns its reminders into :class:`~jiqun.store.models.Notification` rows — one per
customer × recipient × kind × due date, so ``jiqun sales remind`` can run every morning (or
twice) without sending anything twice — and reads a user's inbox.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jiqun.permissions import Action, require
from jiqun.sales import pool
from jiqun.sales.rules import SalesRules
from jiqun.store.models import Customer, Notification

POOL_OWNER = "pool_owner"  # to the owner: your prospect returns to the pool soon
POOL_MANAGER = "pool_manager"  # to the owner's manager
MESSAGES = {  # kind → msgid of the message; {name}, {code}, {owner}, {days}, {due}
    POOL_OWNER: "{name} returns to the pool in {days} days ({due}) unless you follow it up.",
    POOL_MANAGER: "{name} of {owner} returns to the pool in {days} days ({due}).",
    # the service queue's clock (jiqun.service.cases.check_deadlines)
    "case_warning": "Case {code} of {name} is due on {due}: contact the merchant in time.",
    "case_breach": "Case {code} of {name} ({owner}) missed its deadline of {due}.",
}
RETURNED = "{name} returned to the pool on {due}."


@dataclass(frozen=True)
class RemindResult:
    """What a reminder run did: new notifications and those already sent before."""

    day: dt.date
    created: int
    existing: int


def send_pool_reminders(session: Session, today: dt.date, rules: SalesRules | None = None
                        ) -> RemindResult:
    """Create the day's pool reminders (in the session's scope) that do not exist yet."""
    require(session, Action.REMINDERS_RUN)
    rules = rules or SalesRules.configured()
    entries = pool.pool_clock(session, today, rules)
    due = pool.reminders(entries, rules)
    if not due:
        return RemindResult(today, 0, 0)
    owners = {e.customer_id: e.owner_name for e in entries}
    units = dict(session.execute(select(Customer.id, Customer.org_unit_id).where(
        Customer.id.in_({r.customer_id for r in due}))).all())
    sent = set(session.execute(
        select(Notification.user_id, Notification.customer_id, Notification.kind,
               Notification.due_on)
        .where(Notification.customer_id.in_(units), Notification.kind.in_(MESSAGES))).all())
    created = 0
    for r in due:
        kind = POOL_OWNER if r.as_role == "owner" else POOL_MANAGER
        due_on = today + dt.timedelta(days=r.days_left)
        key = (r.to_user_id, r.customer_id, kind, due_on)
        if key in sent:
            continue
        sent.add(key)
        session.add(Notification(
            user_id=r.to_user_id, customer_id=r.customer_id, kind=kind, due_on=due_on,
            sent_on=today, org_unit_id=units[r.customer_id],
            params={"name": r.name, "code": r.code, "owner": owners.get(r.customer_id) or ""}))
        created += 1
    session.flush()
    return RemindResult(today, created, len(due) - created)


@dataclass(frozen=True)
class InboxItem:
    id: int
    kind: str
    customer_id: int | None
    due_on: dt.date
    sent_on: dt.date
    read: bool
    message: str


def message_text(note: Notification, t, today: dt.date) -> str:
    """The notification in the reader's language, its days counted from ``today``."""
    params = dict(note.params or {})
    days = (note.due_on - today).days
    values = {"name": params.get("name", ""), "code": params.get("code", ""),
              "owner": params.get("owner", ""), "days": days, "due": note.due_on.isoformat()}
    if note.kind in (POOL_OWNER, POOL_MANAGER) and days <= 0:
        return t(RETURNED, **values)
    return t(MESSAGES.get(note.kind, note.kind), **values)


def inbox(session: Session, user_id: int, t, today: dt.date, *, unread_only: bool = False,
          limit: int = 200) -> list[InboxItem]:
    """The user's notifications in scope, unread first, newest first."""
    query = select(Notification).where(Notification.user_id == user_id)
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    query = query.order_by(Notification.read_at.is_not(None), Notification.sent_on.desc(),
                           Notification.id.desc()).limit(limit)
    return [InboxItem(n.id, n.kind, n.customer_id, n.due_on, n.sent_on, n.read_at is not None,
                      message_text(n, t, today)) for n in session.scalars(query)]


def unread_count(session: Session, user_id: int) -> int:
    """Unread notifications of the user (for the bell in the page header)."""
    return session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == user_id, Notification.read_at.is_(None))) or 0


def mark_read(session: Session, user_id: int, ids: list[int] | None = None) -> int:
    """Mark the user's notifications read (``ids``: those only; ``None``: all); how many."""
    require(session, Action.INBOX_READ)
    query = select(Notification).where(Notification.user_id == user_id,
                                       Notification.read_at.is_(None))
    if ids is not None:
        query = query.where(Notification.id.in_(ids))
    now = dt.datetime.now().replace(microsecond=0)
    notes = list(session.scalars(query))
    for note in notes:
        note.read_at = now
    session.flush()
    return len(notes)
