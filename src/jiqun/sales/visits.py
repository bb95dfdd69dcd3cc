"""Visits (走访): log one in a few taps, and a marketer's own list (today, follow-ups due).

A visit records the method (名片发放, 名录走访, 地毯式走访, 客户转介 …), the outcome, the next step
and its date, and the competitor and price the marketer heard. Its outcome moves the customer's
stage (:func:`jiqun.sales.lifecycle.apply_visit_outcome`). Everything goes through the caller's
scoped session: a customer outside the user's subtree is simply not found.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from jiqun.bounds import plausible_date
from jiqun.errors import NotFound
from jiqun.permissions import Action, require
from jiqun.sales.lifecycle import apply_visit_outcome
from jiqun.sales.people import names_of
from jiqun.store.models import Customer, StageChange, Visit

# Methods of the seed (揽投员熟练运用名片发放法、客户开发名录走访法、地毯式走访法、客户转介法、
# 关注退休法); codes as in the archive, msgids of their own for the chips.
METHODS: dict[str, str] = {
    "card": "Business cards handed out",
    "directory": "Directory visit",
    "sweep": "Carpet sweep",
    "referral": "Customer referral",
    "revisit": "Return visit",
    "retiree": "Retiree network",
    "event": "Campaign event",
    "phone": "Phone call",
}
OUTCOMES: dict[str, str] = {
    "interested": "Interested",
    "follow_up": "Follow-up",
    "trial": "Trial agreed",
    "signed": "Signed",
    "no_interest": "No interest",
    "lost": "Lost to a competitor",
}
# The carriers a marketer hears of most in cluster markets; any other can be typed.
COMPETITORS = ("中通", "圆通", "申通", "韵达", "极兔", "顺丰", "京东")
NEXT_IN_DAYS = (1, 3, 7, 14)  # quick choices for the next visit
TEXT_LIMITS = {"next_step": 255, "competitor": 32, "notes": 2000}  # the columns' sizes


class CustomerNotFound(NotFound):
    """The customer does not exist or lies outside the user's scope."""


@dataclass
class VisitInput:
    """What the form (or the API) sends for one visit."""

    customer_id: int
    method: str
    outcome: str
    next_step: str | None = None
    next_visit_on: dt.date | None = None
    competitor: str | None = None
    competitor_price: float | None = None
    notes: str | None = None
    visited_at: dt.datetime | None = None


def problems(data: VisitInput, today: dt.date) -> dict[str, str]:
    """Field → msgid of what is wrong with ``data`` (empty when it can be saved)."""
    wrong: dict[str, str] = {}
    if data.method not in METHODS:
        wrong["method"] = "Choose how you visited"
    if data.outcome not in OUTCOMES:
        wrong["outcome"] = "Choose the outcome"
    if data.next_visit_on is not None and data.next_visit_on < today:
        wrong["next_visit_on"] = "The next visit cannot be in the past"
    elif data.next_visit_on is not None and not plausible_date(data.next_visit_on):
        wrong["next_visit_on"] = "A date between 2000 and 2100"
    if data.visited_at is not None and not plausible_date(data.visited_at):
        wrong["visited_at"] = "A date between 2000 and 2100"
    if data.competitor_price is not None and not 0 < data.competitor_price < 1000:
        wrong["competitor_price"] = "A price between 0 and 1000 yuan"
    for name, longest in TEXT_LIMITS.items():
        value = getattr(data, name)
        if value is not None and len(value) > longest:
            wrong[name] = "Too long"
    return wrong


@dataclass
class LoggedVisit:
    visit: Visit
    stage_change: StageChange | None


def log_visit(session: Session, data: VisitInput, user_id: int, now: dt.datetime) -> LoggedVisit:
    """Save the visit of ``user_id`` (audited by the session) and move the customer's stage."""
    require(session, Action.VISIT_LOG)
    customer = session.get(Customer, data.customer_id)  # scoped: foreign customers are None
    if customer is None:
        raise CustomerNotFound(data.customer_id)
    visit = Visit(
        customer_id=customer.id, user_id=user_id, org_unit_id=customer.org_unit_id,
        visited_at=data.visited_at or now, method=data.method, outcome=data.outcome,
        next_step=data.next_step or None,
        next_visit_on=data.next_visit_on, competitor=data.competitor or None,
        competitor_price=data.competitor_price, notes=data.notes or None,
    )
    session.add(visit)
    session.flush()
    change = apply_visit_outcome(session, customer, data.outcome, visit.visited_at, visit.id)
    session.flush()
    return LoggedVisit(visit, change)


# -- the marketer's list ----------------------------------------------------------------------
@dataclass
class VisitRow:
    id: int
    customer_id: int
    customer_code: str
    customer_name: str
    stage: str
    visited_at: dt.datetime
    method: str
    outcome: str
    next_step: str | None
    next_visit_on: dt.date | None
    competitor: str | None
    competitor_price: float | None
    visitor: str | None


@dataclass
class MyVisits:
    """A marketer's page: follow-ups due (overdue first), coming up, today's and recent visits."""

    due: list[VisitRow] = field(default_factory=list)
    coming: list[VisitRow] = field(default_factory=list)
    today: list[VisitRow] = field(default_factory=list)
    recent: list[VisitRow] = field(default_factory=list)


def _rows(session: Session, pairs) -> list[VisitRow]:
    pairs = list(pairs)
    names = names_of(session, (v.user_id for v, _ in pairs))  # visitors of visible visits
    return [
        VisitRow(v.id, c.id, c.code, c.name, c.lifecycle_stage.value, v.visited_at, v.method,
                 v.outcome, v.next_step, v.next_visit_on, v.competitor, v.competitor_price,
                 names.get(v.user_id))
        for v, c in pairs
    ]


def visit_row(session: Session, visit: Visit) -> VisitRow:
    """One visit as a list row."""
    return _rows(session, [(visit, session.get(Customer, visit.customer_id))])[0]


def latest_visits():
    """Each customer's latest visit (a subquery: customer_id, last)."""
    return (select(Visit.customer_id, func.max(Visit.visited_at).label("last"))
            .group_by(Visit.customer_id).subquery())


def follow_ups(session: Session, user_id: int, until: dt.date) -> list[VisitRow]:
    """Customers whose latest visit asks for another by ``until``, for the user who made it or
    the customer's owner; earliest date first."""
    last = latest_visits()
    query = (
        select(Visit, Customer)
        .join(last, (Visit.customer_id == last.c.customer_id) & (Visit.visited_at == last.c.last))
        .join(Customer, Customer.id == Visit.customer_id)
        .where(Visit.next_visit_on.is_not(None), Visit.next_visit_on <= until,
               or_(Visit.user_id == user_id, Customer.owner_id == user_id))
        .order_by(Visit.next_visit_on, Customer.code)
    )
    return _rows(session, session.execute(query).all())


def visits_of(
    session: Session,
    *,
    user_id: int | None = None,
    customer_id: int | None = None,
    since: dt.datetime | None = None,
    limit: int = 50,
) -> list[VisitRow]:
    """Visits in scope, newest first, optionally of one user, one customer, since a time.

    A customer the session cannot see is :class:`CustomerNotFound`, not an empty list (an
    empty answer would neither confirm nor deny that the id exists elsewhere, and a filter
    should not be a way to probe other subtrees)."""
    if customer_id is not None and session.get(Customer, customer_id) is None:
        raise CustomerNotFound(customer_id)
    query = select(Visit, Customer).join(Customer, Customer.id == Visit.customer_id)
    if user_id is not None:
        query = query.where(Visit.user_id == user_id)
    if customer_id is not None:
        query = query.where(Visit.customer_id == customer_id)
    if since is not None:
        query = query.where(Visit.visited_at >= since)
    query = query.order_by(Visit.visited_at.desc(), Visit.id.desc()).limit(limit)
    return _rows(session, session.execute(query).all())


def my_visits(session: Session, user_id: int, today: dt.date, coming_days: int = 7) -> MyVisits:
    """The list of ``/visits``: follow-ups due today or overdue, those of the coming days,
    today's visits, then the last 30 days'."""
    ahead = follow_ups(session, user_id, today + dt.timedelta(days=coming_days))
    start = dt.datetime.combine(today, dt.time())
    recent = visits_of(session, user_id=user_id, since=start - dt.timedelta(days=30))
    return MyVisits(
        due=[r for r in ahead if r.next_visit_on <= today],
        coming=[r for r in ahead if r.next_visit_on > today],
        today=[r for r in recent if r.visited_at >= start],
        recent=[r for r in recent if r.visited_at < start],
    )


def find_customers(session: Session, user_id: int, q: str | None, limit: int = 20):
    """Customers to log a visit for: a name/code/phone search, or (no search) the user's own
    and recently visited customers."""
    query = select(Customer)
    if q and q.strip():
        pattern = f"%{q.strip()}%"
        query = query.where(or_(Customer.name.ilike(pattern), Customer.code.ilike(pattern),
                                Customer.phone.ilike(pattern)))
    else:
        visited = select(Visit.customer_id).where(Visit.user_id == user_id)
        query = query.where(or_(Customer.owner_id == user_id, Customer.id.in_(visited)))
    return list(session.scalars(query.order_by(Customer.name, Customer.id).limit(limit)))
