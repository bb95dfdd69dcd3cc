"""Customer search (客户查询): the customers of a scoped session matching a name fragment, pinyin
initials (拼音首字母: ``ycfz`` for 虞城服装) or full pinyin, a code or a phone, and filters by
lifecycle stage, tier and market, biggest estimated volume first (then by id, so that pages of
tied volumes neither repeat nor skip a customer).

The text is matched against the customer's search keys (:mod:`jiqun.store.search_keys`): any
fragment of the name or of its initials, and from three characters on, of the full pinyin, code
or phone. On PostgreSQL trigram indexes serve both, together with the scope's filter; measured
on a million customers in ``benchmarks/store.py``.

The customers page, ``/api/customers`` and Python callers share these functions, so a search
finds the same customers in the same order everywhere. A market filter the session cannot see is
:class:`~jiqun.errors.NotFound` (an empty list would neither confirm nor deny it exists
elsewhere). The market and owner of a row are facts of the customer, the same names for every
viewer (:func:`market_names`, :mod:`jiqun.sales.people`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session

from jiqun.errors import NotFound
from jiqun.sales.people import customer_people
from jiqun.store.models import Customer, CustomerTier, LifecycleStage, Market
from jiqun.store.scope import values_by_id
from jiqun.store.search_keys import WORDS_MIN_LENGTH, escape_like, normalize, widen


@dataclass(frozen=True)
class CustomerSearch:
    """What to look for; ``None`` is no filter. ``q`` is part of a name, of its pinyin initials
    or full pinyin, of a code or of a phone."""

    q: str | None = None
    stage: LifecycleStage | None = None
    tier: CustomerTier | None = None
    market_id: int | None = None


@dataclass(frozen=True)
class CustomerRow:
    id: int
    code: str
    name: str
    phone: str | None
    market_id: int | None
    market_name: str | None
    lifecycle_stage: str
    tier: str | None
    vip: bool
    est_daily_volume: float | None
    owner_name: str | None


def market_names(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    """Names of the markets of records the viewer sees (a customer's, a grid's market).

    The market is a fact of the record, the same for every viewer: an outlet's merchants belong
    to the county's market, whose own row lies above the marketer's subtree. As with people's
    names, only ``id → name`` pairs are read past the scope
    (:func:`~jiqun.store.scope.values_by_id`), never ``Market`` rows into the scoped session.
    Callers pass only ids they read from records the viewer can see."""
    return {mid: row.name for mid, row in values_by_id(session, Market.id, Market.name,
                                                        ids=ids).items()}


def text_match(q: str | None) -> ColumnElement | None:
    """The condition of customers whose name, initials, pinyin, code or phone hold ``q``
    (``None``: no text to look for)."""
    text = normalize(q)
    if not text:
        return None
    found = Customer.fragment_key.like(f"%{escape_like(widen(text))}%", escape="\\")
    if len(text) < WORDS_MIN_LENGTH:
        return found
    return or_(found, Customer.words_key.like(f"%{escape_like(text)}%", escape="\\"))


def matching(session: Session, search: CustomerSearch) -> Select:
    """The query of the customers ``search`` finds in the session's scope, unordered."""
    query = select(Customer)
    condition = text_match(search.q)
    if condition is not None:
        query = query.where(condition)
    if search.stage is not None:
        query = query.where(Customer.lifecycle_stage == search.stage)
    if search.tier is not None:
        query = query.where(Customer.tier == search.tier)
    if search.market_id is not None:
        if session.get(Market, search.market_id) is None:  # scoped: a foreign market
            raise NotFound(search.market_id)
        query = query.where(Customer.market_id == search.market_id)
    return query


def count_customers(session: Session, search: CustomerSearch) -> int:
    return session.scalar(select(func.count()).select_from(
        matching(session, search).subquery())) or 0


def find_customers(session: Session, search: CustomerSearch, offset: int = 0,
                   limit: int | None = None) -> list[CustomerRow]:
    """The customers ``search`` finds, biggest estimated daily volume first (then by id), from
    ``offset``, at most ``limit`` of them (``None``: all)."""
    # A text search sorts what it found (``volume + 0``, the same order, is not the order
    # index's key): PostgreSQL cannot tell how rare a fragment is, and walking the whole list
    # in its order for 20 rare matches took 2.5 s on a million customers; a sort costs what the
    # search's count costs, which the page pays anyway (benchmarks/store.py).
    volume = Customer.est_daily_volume if text_match(search.q) is None \
        else Customer.est_daily_volume + 0
    query = matching(session, search).order_by(volume.desc().nulls_last(), Customer.id) \
        .offset(offset)
    customers = list(session.scalars(query if limit is None else query.limit(limit)))
    markets = market_names(session, (c.market_id for c in customers))
    owners = customer_people(session, customers)
    return [CustomerRow(
        id=c.id, code=c.code, name=c.name, phone=c.phone, market_id=c.market_id,
        market_name=markets.get(c.market_id), lifecycle_stage=c.lifecycle_stage.value,
        tier=c.tier.value if c.tier else None, vip=bool(c.vip),
        est_daily_volume=c.est_daily_volume, owner_name=owners.get(c.owner_id),
    ) for c in customers]
