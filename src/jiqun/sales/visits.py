"""Visits (走访): log one in a few taps, and a marketer's own list (today, follow-ups due).

A visit records the method (名片发放, 名录走访, 地毯式走访, 客户转介 …), the outcome, the next step
and its date, and the competitor and price the marketer heard. Its outcome moves the customer's
stage (:func:`jiqun.sales.lifecycle.apply_visit_outcome`). Everything goes through the caller's
scoped session: a customer outside the user's subtree is simply not found.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from jiqun.bounds import MAX_ID, plausible_date
from jiqun.errors import Invalid, NotFound
from jiqun.permissions import MANAGERS, Action, require
from jiqun.sales.customer_search import text_match
from jiqun.sales.lifecycle import apply_visit_outcome
from jiqun.sales.people import names_of
from jiqun.sales.vocab import METHODS, OUTCOMES
from jiqun.store.models import (
    CompetitorPrice,
    Customer,
    OrgUnit,
    Role,
    StageChange,
    User,
    Visit,
)

# The carriers a marketer hears of most in cluster markets; any other can be typed.
COMPETITORS = ("中通", "圆通", "申通", "韵达", "极兔", "顺丰", "京东")
NEXT_IN_DAYS = (1, 3, 7, 14)  # quick choices for the next visit
TEXT_LIMITS = {"next_step": 255, "competitor": 32, "notes": 2000}  # the columns' sizes


class CustomerNotFound(NotFound):
    """The customer does not exist or lies outside the user's scope."""


# What each field says when it cannot be saved (msgids, translated by the edge that answers).
FIELD_MESSAGES = {
    "customer_id": "Choose a customer",
    "method": "Choose how you visited",
    "outcome": "Choose the outcome",
    "next_visit_on": "Enter the next visit's date as YYYY-MM-DD",
    "visited_at": "A date between 2000 and 2100",
    "competitor_price": "A price between 0 and 1000 yuan",
    "next_step": "Too long",
    "competitor": "Too long",
    "notes": "Too long",
}


def _refuse(msgid: str) -> PydanticCustomError:
    return PydanticCustomError("jiqun_visit", msgid)  # a msgid without braces: msg == msgid


class VisitInput(BaseModel):
    """One visit as it may be saved: the one validation of the phone form, ``/api/visits`` and
    ``jiqun sales visit``. Build it with :func:`parse_visit`, which answers
    :class:`~jiqun.errors.Invalid` (field → msgid) instead of pydantic's English."""

    model_config = ConfigDict(str_strip_whitespace=True, frozen=True)

    customer_id: int = Field(ge=1, le=MAX_ID)
    method: str
    outcome: str
    next_step: str | None = Field(None, max_length=TEXT_LIMITS["next_step"])
    next_visit_on: dt.date | None = None
    competitor: str | None = Field(None, max_length=TEXT_LIMITS["competitor"])
    competitor_price: float | None = Field(None, gt=0, lt=1000, allow_inf_nan=False)
    notes: str | None = Field(None, max_length=TEXT_LIMITS["notes"])
    visited_at: dt.datetime | None = None

    @field_validator("next_step", "competitor", "notes", "next_visit_on", "competitor_price",
                     "visited_at", mode="before")
    @classmethod
    def _blank_is_none(cls, value):
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("competitor_price", mode="before")
    @classmethod
    def _decimal_comma(cls, value):
        return value.strip().replace(",", ".") if isinstance(value, str) else value  # 2,6

    @field_validator("method")
    @classmethod
    def _known_method(cls, value: str) -> str:
        if value not in METHODS:
            raise _refuse("Choose how you visited")
        return value

    @field_validator("outcome")
    @classmethod
    def _known_outcome(cls, value: str) -> str:
        if value not in OUTCOMES:
            raise _refuse("Choose the outcome")
        return value

    @field_validator("next_visit_on")
    @classmethod
    def _next_visit_ahead(cls, value: dt.date | None, info: ValidationInfo) -> dt.date | None:
        if value is None:
            return None
        if not plausible_date(value):
            raise _refuse("A date between 2000 and 2100")
        today = (info.context or {}).get("today")
        if today is not None and value < today:
            raise _refuse("The next visit cannot be in the past")
        return value

    @field_validator("visited_at")
    @classmethod
    def _visited_plausibly(cls, value: dt.datetime | None) -> dt.datetime | None:
        if value is not None and not plausible_date(value):
            raise _refuse("A date between 2000 and 2100")
        return value


def parse_visit(raw: Mapping[str, Any], today: dt.date) -> VisitInput:
    """The visit ``raw`` describes (strings of a form or values of JSON), checked as of
    ``today``; :class:`~jiqun.errors.Invalid` with one msgid per wrong field."""
    try:
        return VisitInput.model_validate(dict(raw), context={"today": today})
    except ValidationError as error:
        wrong: dict[str, str] = {}
        for item in error.errors():
            field_name = str(item["loc"][0]) if item["loc"] else "__all__"
            msgid = item["msg"] if item["type"] == "jiqun_visit" else \
                FIELD_MESSAGES.get(field_name, "Invalid request")
            wrong.setdefault(field_name, msgid)
        raise Invalid(wrong) from None


def _plain_days(text: str | None) -> int | None:
    """A quick choice's number of days (0–366), else ``None``: ``²`` passes ``isdigit`` but is
    no number, and a huge one would overflow the date."""
    if text and text.isascii() and text.isdigit() and len(text) <= 3 and int(text) <= 366:
        return int(text)
    return None


def visit_from_form(form: Mapping[str, Any], customer_id: int, today: dt.date) -> VisitInput:
    """The visit of the phone form (:func:`parse_visit`): chips for method, outcome, next date
    and competitor, with free fields beside them — a typed date, next step or competitor wins
    over its chip; a days chip that is no number of days sets no date."""
    def text(name: str) -> str | None:
        value = form.get(name)
        return value.strip() if isinstance(value, str) and value.strip() else None

    next_on: str | dt.date | None = text("next_visit_on")
    if next_on is None and _plain_days(text("next_in_days")) is not None:
        next_on = today + dt.timedelta(days=_plain_days(text("next_in_days")))
    return parse_visit({
        "customer_id": customer_id, "method": text("method") or "",
        "outcome": text("outcome") or "", "next_step": text("next_step") or text("next_step_chip"),
        "next_visit_on": next_on, "competitor": text("competitor_other") or text("competitor"),
        "competitor_price": text("competitor_price"), "notes": text("notes"),
    }, today)


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
    if visit.competitor and visit.competitor_price and customer.market_id is not None:
        # A price heard in the field is a competitor price observation (jiqun.money.competitors):
        # a first-weight parcel price, its destination not asked on the phone form.
        session.add(CompetitorPrice(
            market_id=customer.market_id, competitor=visit.competitor, dest_province_adcode=None,
            weight_kg=1.0, price=visit.competitor_price, observed_on=visit.visited_at.date(),
            observed_by_id=user_id, org_unit_id=customer.org_unit_id))
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
    before: dt.datetime | None = None,
    limit: int | None = 50,
    offset: int = 0,
) -> list[VisitRow]:
    """Visits in scope, newest first, optionally of one user, one customer, from ``since`` and
    before ``before``; at most ``limit`` (``None``: every one) after the first ``offset``.

    A customer the session cannot see is :class:`CustomerNotFound`, not an empty list (an
    empty answer would neither confirm nor deny that the id exists elsewhere, and a filter
    should not be a way to probe other subtrees)."""
    if customer_id is not None and session.get(Customer, customer_id) is None:
        raise CustomerNotFound(customer_id)
    query = _visits_where(select(Visit, Customer).join(Customer, Customer.id == Visit.customer_id),
                          user_id, customer_id, since, before)
    query = query.order_by(Visit.visited_at.desc(), Visit.id.desc()).limit(limit).offset(offset)
    return _rows(session, session.execute(query).all())


def _visits_where(query, user_id: int | None, customer_id: int | None,
                  since: dt.datetime | None, before: dt.datetime | None):
    if user_id is not None:
        query = query.where(Visit.user_id == user_id)
    if customer_id is not None:
        query = query.where(Visit.customer_id == customer_id)
    if since is not None:
        query = query.where(Visit.visited_at >= since)
    if before is not None:
        query = query.where(Visit.visited_at < before)
    return query


# -- the team's visits (a manager's /visits) -------------------------------------------------
def sees_team(role: Role | str) -> bool:
    """Managers (every role above the field, :data:`jiqun.permissions.MANAGERS`) see the
    visits of everyone in their subtree; the field roles their own (我的走访)."""
    return Role(role) in MANAGERS


@dataclass(frozen=True)
class MarketerOption:
    """A marketer a manager may pick (the visit plan, the team's visits)."""

    id: int
    username: str
    display_name: str
    org_unit_name: str


def marketers_in_scope(session: Session) -> list[MarketerOption]:
    """The active marketers of the viewer's subtree (through the scoped session), by user name."""
    query = (select(User.id, User.username, User.display_name, OrgUnit.name)
             .join(OrgUnit, OrgUnit.id == User.org_unit_id)
             .where(User.role == Role.MARKETER, User.active.is_(True))
             .order_by(User.username))
    return [MarketerOption(*row) for row in session.execute(query)]


TEAM_DAYS = 30  # the team's visits of the last 30 days unless a range is asked for


@dataclass(frozen=True)
class VisitRange:
    """The first and last day of a list of visits (both included)."""

    first: dt.date
    last: dt.date

    @classmethod
    def of(cls, since: dt.date | None, until: dt.date | None, today: dt.date) -> VisitRange:
        """The range asked for, by default the :data:`TEAM_DAYS` days up to ``today`` (or up
        to ``until``); a range that ends before it starts is :class:`~jiqun.errors.Invalid`."""
        last = until or today
        first = since or last - dt.timedelta(days=TEAM_DAYS - 1)
        if first > last:
            raise Invalid({"until": "The last day is before the first"})
        return cls(first, last)

    @property
    def since(self) -> dt.datetime:
        """The first moment of the range."""
        return dt.datetime.combine(self.first, dt.time())

    @property
    def before(self) -> dt.datetime:
        """The first moment after the range."""
        return dt.datetime.combine(self.last + dt.timedelta(days=1), dt.time())


def team_visits(session: Session, days: VisitRange, marketer_id: int | None = None
                ) -> list[VisitRow]:
    """Every visit in the session's scope (the manager's subtree) made on ``days``, newest
    first, optionally of one marketer of the subtree (another id is :class:`NotFound`: a filter
    is no way to probe who exists elsewhere)."""
    if marketer_id is not None:
        check_marketer(session, marketer_id)
    return visits_in(session, days, marketer_id)


def check_marketer(session: Session, marketer_id: int) -> None:
    """A marketer id a request names must be one of the session's scope, else NotFound."""
    if marketer_id not in {m.id for m in marketers_in_scope(session)}:
        raise NotFound(marketer_id)


def visits_in(session: Session, days: VisitRange, user_id: int | None = None, *,
              offset: int = 0, limit: int | None = None) -> list[VisitRow]:
    """Every visit in scope made on ``days`` (of ``user_id`` when given), newest first (a page
    of them with ``offset`` and ``limit``)."""
    return visits_of(session, user_id=user_id, since=days.since, before=days.before,
                     limit=limit, offset=offset)


def count_visits_in(session: Session, days: VisitRange, user_id: int | None = None) -> int:
    """How many visits :func:`visits_in` lists (a page reads one page of them, not all)."""
    query = _visits_where(select(func.count()).select_from(Visit), user_id, None, days.since,
                          days.before)
    return session.execute(query).scalar_one()


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
    """Customers to log a visit for: the customer search's text match
    (:func:`~jiqun.sales.customer_search.text_match`: name, pinyin, code, phone), or (no search)
    the user's own and recently visited customers."""
    query = select(Customer)
    found = text_match(q)
    if found is not None:
        query = query.where(found)
    else:
        visited = select(Visit.customer_id).where(Visit.user_id == user_id)
        query = query.where(or_(Customer.owner_id == user_id, Customer.id.in_(visited)))
    return list(session.scalars(query.order_by(Customer.name, Customer.id).limit(limit)))
