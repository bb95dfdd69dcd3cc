"""The market estimate in force on a date (市场总量/竞品估算): the one rule every page, report,
import and planner uses. An estimate holds from its ``valid_from`` until the next one of the same
market and carrier; on a date, the latest ``valid_from`` on or before it wins."""

from __future__ import annotations

import bisect
import datetime as dt
from collections import defaultdict
from collections.abc import Hashable, Iterable, Sequence
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from jiqun.store.models import ALL_CARRIERS, MarketVolumeEstimate

V = TypeVar("V")
K = TypeVar("K", bound=Hashable)


def in_force(points: Sequence[tuple[dt.date, V]], on: dt.date | None) -> V | None:
    """The value of the latest point with ``valid_from <= on`` (the very latest when ``on`` is
    None); ``points`` sorted by date. None before the first point."""
    if not points:
        return None
    if on is None:
        return points[-1][1]
    i = bisect.bisect_right([p[0] for p in points], on) - 1
    return points[i][1] if i >= 0 else None


def pick_in_force(rows: Iterable[tuple[K, dt.date, V]], on: dt.date | None) -> dict[K, V]:
    """Per key (e.g. market and carrier), the value in force on ``on``; keys without one are
    left out. Rows may come in any order."""
    series: dict[K, list[tuple[dt.date, V]]] = defaultdict(list)
    for key, valid_from, value in rows:
        series[key].append((valid_from, value))
    out = {}
    for key, points in series.items():
        points.sort(key=lambda p: p[0])
        value = in_force(points, on)
        if value is not None:
            out[key] = value
    return out


def _in_scope(query, on: dt.date | None, market_ids: Iterable[int] | None, carrier: str | None):
    e = MarketVolumeEstimate
    if on is not None:
        query = query.where(e.valid_from <= on)  # later ones cannot be in force
    if carrier is not None:
        query = query.where(e.carrier == carrier)
    if market_ids is not None:
        query = query.where(e.market_id.in_(list(market_ids)))
    return query


def estimates_in_force(session: Session, on: dt.date | None = None, *,
                       market_ids: Iterable[int] | None = None,
                       carrier: str | None = ALL_CARRIERS
                       ) -> dict[tuple[int, str], MarketVolumeEstimate]:
    """The estimates in force on ``on`` (the latest ones when None), per (market, carrier), in
    the session's scope. ``carrier``: the whole market ("*", the default), one named competitor,
    or None for every carrier."""
    rows = session.scalars(_in_scope(select(MarketVolumeEstimate), on, market_ids, carrier))
    return pick_in_force((((x.market_id, x.carrier), x.valid_from, x) for x in rows), on)


def market_volumes(session: Session, on: dt.date | None = None, *,
                   market_ids: Iterable[int] | None = None) -> dict[int, float]:
    """Each market's estimated daily volume of all carriers (市场总量) in force on ``on``: a
    Core query (no ORM objects), for pages that read every market."""
    e = MarketVolumeEstimate
    query = _in_scope(select(e.market_id, e.valid_from, e.daily_volume), on, market_ids,
                      ALL_CARRIERS)
    return pick_in_force(session.execute(query), on)  # rows unpack as tuples


def market_volume(session: Session, market_id: int, on: dt.date | None = None) -> float | None:
    """One market's estimated daily volume of all carriers in force on ``on``."""
    return market_volumes(session, on, market_ids=[market_id]).get(market_id)
