"""Customer search (客户查询): the customers of a scoped session matching a name fragment, pinyin
initials (拼音首字母: ``ycfz`` for 虞城服装) or full pinyin, a code or a phone, and filters by
lifecycle stage, tier and market, biggest estimated volume first (then by id, so that pages of
tied volumes neither repeat nor skip a customer).

The text is matched against the customer's search keys (:mod:`jiqun.store.search_keys`): any
fragment of the name or of its initials, and from three characters on, of the full pinyin, code
or phone. On PostgreSQL trigram indexes serve both, together with the scope's filter; measured
on a million customers in ``benchmarks/store.py``.

A text search counts at most :data:`TEXT_COUNT_CAP` customers (:func:`count_found`: the list
says "1,000+"), and the count chooses the page's plan: a common fragment walks the list's order
index, a rare one sorts its few matches; the same order either way.

The customers page, ``/api/customers`` and Python callers share these functions, so a search
finds the same customers in the same order everywhere. A market filter the session cannot see is
:class:`~jiqun.errors.NotFound` (an empty list would neither confirm nor deny it exists
elsewhere). The market and owner of a row are facts of the customer, the same names for every
viewer (:func:`market_names`, :mod:`jiqun.sales.people`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session, aliased

from jiqun.errors import NotFound
from jiqun.sales.people import customer_people
from jiqun.store.models import Customer, CustomerTier, LifecycleStage, Market
from jiqun.store.scope import values_by_id
from jiqun.store.search_keys import WORDS_MIN_LENGTH, escape_like, normalize, widen

# A text search counts at most this many customers (and one more, to know there are more): the
# pages a list offers of a common fragment, and the line between a rare and a common one.
TEXT_COUNT_CAP = 1_000
# A common search's page walks at most this many customers of the list's order, then sorts its
# matches: the deep pages of a fragment just over the cap. A failed walk bounds the matches left
# to sort (fewer than the page's end × scope / budget); 20k against 50k at the same load, the
# last page offered in 河南 (542k): p95 172 against 253 ms, at HQ 134 against 111 (store.py).
WALK_BUDGET = 20_000


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


def text_match(q: str | None, customers: Any = Customer) -> ColumnElement | None:
    """The condition of customers whose name, initials, pinyin, code or phone hold ``q``
    (``None``: no text to look for); ``customers``: the entity or alias to match."""
    text = normalize(q)
    if not text:
        return None
    found = customers.fragment_key.like(f"%{escape_like(widen(text))}%", escape="\\")
    if len(text) < WORDS_MIN_LENGTH:
        return found
    return or_(found, customers.words_key.like(f"%{escape_like(text)}%", escape="\\"))


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


def count_customers(session: Session, search: CustomerSearch, cap: int | None = None) -> int:
    """How many customers ``search`` finds; with a ``cap``, at most ``cap + 1``: more than ``cap``
    says "more than ``cap``" without counting them all."""
    query = matching(session, search)
    if cap is None:
        return session.scalar(select(func.count()).select_from(query.subquery())) or 0
    with _bitmap_scans(session):
        return session.scalar(select(func.count()).select_from(
            query.limit(cap + 1).subquery())) or 0


@contextmanager
def _bitmap_scans(session: Session) -> Iterator[None]:
    """On PostgreSQL, only bitmap scans for the statements run inside (this transaction's
    settings, restored after). Behind ``LIMIT cap + 1`` the planner walks the org unit index or
    the table and filters, expecting the cap's matches early: a fragment that a province holds
    rarely or never then reads all its customers (长岛 in 河南: 254 ms; 旗舰 by the table: 200 ms;
    by the bitmaps of the trigram and org unit indexes 11 and 19 ms, benchmarks/store.py)."""
    if session.get_bind().dialect.name != "postgresql":
        yield
        return
    settings = ("enable_indexscan", "enable_seqscan")
    before = {name: session.scalar(select(func.current_setting(name))) for name in settings}
    for name in settings:
        session.scalar(select(func.set_config(name, "off", True)))
    try:
        yield
    finally:
        for name, value in before.items():
            session.scalar(select(func.set_config(name, value, True)))


@dataclass(frozen=True)
class FoundCount:
    """What a list says it found: ``total`` customers, or with ``capped``, more than ``total``."""

    total: int
    capped: bool = False


def count_found(session: Session, search: CustomerSearch,
                cap: int | None = None) -> FoundCount:
    """The count a list shows: exact without text (the scope's count, fast on its indexes), at
    most ``cap`` (``None``: :data:`TEXT_COUNT_CAP`) with text. Counting the 200k customers of 1M
    whose names hold 商行 rechecks as many rows for nothing a user reads: "1,000+ customers" says
    what a page can show."""
    if text_match(search.q) is None:
        return FoundCount(count_customers(session, search))
    cap = TEXT_COUNT_CAP if cap is None else cap
    found = count_customers(session, search, cap)
    return FoundCount(min(found, cap), found > cap)


def _order_key(session: Session, search: CustomerSearch, limit: int | None,
               common: bool | None) -> ColumnElement:
    """The volume the page is ordered by, which chooses its plan on PostgreSQL (the same order
    either way). The list's order index (``est_daily_volume``) serves the list, and a text search
    that finds many customers: walking it stops after a page of dense matches. A rare fragment
    would walk most of it (20 matches of a province: 2.5 s on a million customers), so a search
    that finds at most the cap sorts what it found (``volume + 0`` is not the index's key):
    PostgreSQL cannot tell how rare a fragment is, the capped count can (benchmarks/store.py)."""
    if text_match(search.q) is None:
        return Customer.est_daily_volume
    if limit is not None and common is None:
        common = count_found(session, search).capped
    return Customer.est_daily_volume if common else Customer.est_daily_volume + 0


def _walked_page(session: Session, search: CustomerSearch, offset: int,
                 limit: int) -> list[Customer] | None:
    """A common text search's page from the first :data:`WALK_BUDGET` customers of the list's
    order (the order index's walk, bounded); ``None`` when they hold fewer than the page's end.
    Such a page is the page: the matches before it lie among those customers. A fragment just
    over the cap walked 394k rows to its 50th page (398 ms at HQ); past the budget its few
    matches are sorted instead."""
    listed = matching(session, replace(search, q=None)).order_by(
        Customer.est_daily_volume.desc().nulls_last(), Customer.id).limit(WALK_BUDGET).subquery()
    walked = aliased(Customer, listed)
    found = list(session.scalars(
        select(walked).where(text_match(search.q, walked))
        .order_by(walked.est_daily_volume.desc().nulls_last(), walked.id)
        .offset(offset).limit(limit)))
    return found if len(found) == limit else None


def _sorted_page(session: Session, query: Select, walked: bool) -> list[Customer]:
    """The page of a sort of the matches; after a walk that found too few (``walked``), by the
    bitmaps of the trigram and scope indexes only: the planner read 河南's 542k customers by the
    org unit index and filtered them by the text (831 ms for a page of 具贸's 8k matches in
    benchmarks/store.py), where the bitmaps recheck only the text index's matches."""
    with _bitmap_scans(session) if walked else nullcontext():
        return list(session.scalars(query))


def find_customers(session: Session, search: CustomerSearch, offset: int = 0,
                   limit: int | None = None, common: bool | None = None) -> list[CustomerRow]:
    """The customers ``search`` finds, biggest estimated daily volume first (then by id), from
    ``offset``, at most ``limit`` of them (``None``: all). ``common`` says that a text search finds
    more than :data:`TEXT_COUNT_CAP` (:func:`count_found` knows: ``capped``); ``None``: count
    them here when it matters. It chooses how the page is read, never what it holds."""
    order = _order_key(session, search, limit, common)
    customers, walk_failed = None, False
    if limit is not None and order is Customer.est_daily_volume and text_match(search.q) is not None:
        customers = _walked_page(session, search, offset, limit)
        walk_failed = customers is None
        order = Customer.est_daily_volume + 0  # too few within the budget: sort them
    if customers is None:
        query = matching(session, search).order_by(order.desc().nulls_last(), Customer.id) \
            .offset(offset)
        customers = _sorted_page(session, query if limit is None else query.limit(limit),
                                 walked=walk_failed)
    markets = market_names(session, (c.market_id for c in customers))
    owners = customer_people(session, customers)
    return [CustomerRow(
        id=c.id, code=c.code, name=c.name, phone=c.phone, market_id=c.market_id,
        market_name=markets.get(c.market_id), lifecycle_stage=c.lifecycle_stage.value,
        tier=c.tier.value if c.tier else None, vip=bool(c.vip),
        est_daily_volume=c.est_daily_volume, owner_name=owners.get(c.owner_id),
    ) for c in customers]
