"""Grid redraw in the store (网格调整): draft → compare → approve → activate.

A **draft** is a set of :class:`~jiqun.store.models.Grid` rows with status ``draft`` sharing a
draft id. Each draft grid's ``geometry`` is a GeoJSON Feature: the convex hull of its merchants,
with ``properties`` holding the proposal — ``draft`` (id), ``customer_ids``, ``replaces`` (the
current grid it continues), the plan's ``totals`` and, once approved, ``approved_by`` (user id),
``approved_by_name`` and ``approved_at``. No new table is needed.

**Activation** on a day D retires the market's active grids (``valid_to`` = D − 1), makes the
draft grids active from D (``valid_from`` = D, team and manager carried over from the grid each
replaces) and moves the customers' ``grid_id``. The lake is never rewritten: a waybill carries
the grid that served it when it was shipped, so KPI history before D stays with the old grids.

Every write goes through the caller's session, which is scoped and audited, and asks the
permission registry first (``grid.draft``, ``grid.approve``, ``grid.activate``).

**Only what the approver saw.** A draft id names a proposal, but a discarded draft's id is given
again to the next one of the day, so approval and activation carry the draft's
:func:`fingerprint` as the approver saw it (:func:`compare` returns it); a draft that is not that
one any more is refused with :class:`~jiqun.errors.Conflict`. A decision is taken once: approving
an approved draft or activating an active one is a ``Conflict`` naming what happened, not a
silent success, so that the second person learns that the record carries someone else's
decision.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from jiqun.errors import Conflict, Invalid, NotFound
from jiqun.grids.design import (
    DEFAULT_TOLERANCE,
    VISITS_PER_MONTH,
    GridPlan,
    Merchant,
    design_grids,
    max_min_ratio,
)
from jiqun.grids.limits import MAX_GRIDS, MAX_TOLERANCE
from jiqun.permissions import Action, require
from jiqun.store.models import Customer, Grid, Market

DRAFT, ACTIVE, RETIRED = "draft", "active", "retired"


class GridDesignError(Invalid):
    """A design that cannot be made (no located merchants, more grids than merchants …)."""

    def __init__(self, msgid: str, field: str = "k"):
        super().__init__({field: msgid})


@dataclass
class MarketMerchants:
    """A market's located merchants (as :class:`Merchant`), its customers without coordinates
    and its active grids."""

    market: Market
    merchants: list[Merchant]
    unlocated: list[Customer]
    active: list[Grid]


def market_merchants(session: Session, market_id: int) -> MarketMerchants:
    """What a redraw of ``market_id`` works on (:class:`NotFound` outside the session's scope)."""
    market = session.get(Market, market_id)  # scoped
    if market is None:
        raise NotFound("Market not found")
    active = active_grids(session, market_id)
    active_ids = {g.id for g in active}
    rows = session.execute(
        select(Customer.id, Customer.lon, Customer.lat, Customer.tier, Customer.est_daily_volume,
               Customer.grid_id).where(Customer.market_id == market_id).order_by(Customer.id)
    ).all()
    merchants, unlocated_ids = [], []
    for cid, lon, lat, tier, volume, grid_id in rows:
        if lon is None or lat is None:
            unlocated_ids.append(cid)
            continue
        merchants.append(Merchant(
            id=cid, lon=lon, lat=lat, tier=tier.value if tier else None,
            potential=float(volume or 0.0), current=grid_id if grid_id in active_ids else None))
    unlocated = list(session.scalars(select(Customer).where(Customer.id.in_(unlocated_ids))))
    return MarketMerchants(market, merchants, unlocated, active)


def active_grids(session: Session, market_id: int) -> list[Grid]:
    return list(session.scalars(select(Grid).where(
        Grid.market_id == market_id, Grid.status == ACTIVE).order_by(Grid.code)))


def plan_market(session: Session, market_id: int, k: int,
                tolerance: float = DEFAULT_TOLERANCE) -> tuple[MarketMerchants, GridPlan]:
    """The grid design of a market (nothing is written)."""
    data = market_merchants(session, market_id)
    if not data.merchants:
        raise GridDesignError("The market has no merchants with coordinates")
    if not 1 <= k <= MAX_GRIDS:
        raise GridDesignError("Between 1 and 200 grids")
    if not 0 <= tolerance <= MAX_TOLERANCE:  # NaN fails too
        raise GridDesignError("The tolerance is between 0 and 5", field="tolerance")
    if k > len(data.merchants):
        raise GridDesignError("More grids than merchants with coordinates")
    return data, design_grids(data.merchants, k, tolerance)


# -- draft ---------------------------------------------------------------------------------------
def _hull(points: np.ndarray) -> dict:
    """GeoJSON geometry of the merchants' convex hull (a point or line for tiny grids)."""
    unique = np.unique(points, axis=0)
    if len(unique) >= 3:
        from scipy.spatial import ConvexHull, QhullError

        try:
            ring = unique[ConvexHull(unique).vertices].tolist()
            return {"type": "Polygon", "coordinates": [ring + [ring[0]]]}
        except QhullError:  # all on one line
            pass
    if len(unique) == 1:
        return {"type": "Point", "coordinates": unique[0].tolist()}
    return {"type": "MultiPoint", "coordinates": unique.tolist()}


def _next_draft_id(session: Session, market: Market, today: dt.date) -> str:
    # Drafts put into force keep their id: never give it to a new draft.
    taken = {(g.geometry or {}).get("properties", {}).get("draft") for g in session.scalars(
        select(Grid).where(Grid.market_id == market.id))}
    n = 1
    while f"{today:%Y%m%d}-{n}" in taken:
        n += 1
    return f"{today:%Y%m%d}-{n}"


def create_draft(session: Session, market_id: int, k: int, tolerance: float = DEFAULT_TOLERANCE,
                 today: dt.date | None = None) -> tuple[str, GridPlan]:
    """Design the grids and save them as a draft; returns the draft id and the plan.

    Earlier drafts of the market that were never approved are discarded: one proposal at a
    time keeps the comparison page honest."""
    require(session, Action.GRID_DRAFT)
    today = today or dt.date.today()
    data, plan = plan_market(session, market_id, k, tolerance)
    discard_pending_drafts(session, market_id)
    draft_id = _next_draft_id(session, data.market, today)
    by_id = {g.id: g for g in data.active}
    points = {m.id: (m.lon, m.lat) for m in data.merchants}
    for summary in plan.grids:
        ids = sorted(c for c, g in plan.assignment.items() if g == summary.index)
        old = by_id.get(summary.replaces)
        session.add(Grid(
            market_id=market_id, org_unit_id=data.market.org_unit_id,
            code=f"{data.market.code[:18]}-{draft_id[2:]}-{summary.index + 1}"[:32],
            name=old.name if old else f"{data.market.name} {summary.index + 1}",
            team_id=old.team_id if old else None, manager_id=old.manager_id if old else None,
            status=DRAFT, geometry={
                "type": "Feature", "geometry": _hull(np.array([points[c] for c in ids])),
                "properties": {"draft": draft_id, "index": summary.index, "customer_ids": ids,
                               "replaces": summary.replaces, "totals": plan.totals(),
                               "approved_by": None, "approved_at": None},
            }))
    session.flush()
    return draft_id, plan


def discard_pending_drafts(session: Session, market_id: int) -> int:
    """Delete the market's draft grids that were not approved (audited deletes)."""
    require(session, Action.GRID_DRAFT)
    gone = 0
    for grid in session.scalars(select(Grid).where(Grid.market_id == market_id,
                                                   Grid.status == DRAFT)):
        if not _approved(grid):
            session.delete(grid)
            gone += 1
    session.flush()
    return gone


def _props(grid: Grid) -> dict:
    return dict((grid.geometry or {}).get("properties") or {})


def _approved(grid: Grid) -> bool:
    return bool(_props(grid).get("approved_at"))


def draft_grids(session: Session, market_id: int, draft_id: str) -> list[Grid]:
    grids = [g for g in session.scalars(select(Grid).where(
        Grid.market_id == market_id, Grid.status == DRAFT).order_by(Grid.id))
        if _props(g).get("draft") == draft_id]
    if not grids:
        _refuse_decided(session, market_id, draft_id)
        raise NotFound("Draft not found")
    return grids


def _refuse_decided(session: Session, market_id: int, draft_id: str) -> None:
    """A draft that was put into force is no draft any more: say so (409), not 404."""
    for g in session.scalars(select(Grid).where(Grid.market_id == market_id,
                                                Grid.status.in_([ACTIVE, RETIRED]))):
        if _props(g).get("draft") == draft_id:
            raise Conflict("This draft is already in force since {day}",
                           theirs={"status": g.status, "valid_from": g.valid_from},
                           day=str(g.valid_from))


def fingerprint(grids: list[Grid]) -> str:
    """What an approver sees of a draft, hashed: its grids (id and version), the merchants of
    each, what each replaces, its totals and its approval. Any change gives another value."""
    seen = [[g.id, g.version, _props(g).get("customer_ids"), _props(g).get("replaces"),
             _props(g).get("totals"), _props(g).get("approved_at")]
            for g in sorted(grids, key=lambda g: g.id)]
    text = json.dumps(seen, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def draft_fingerprint(session: Session, market_id: int, draft_id: str) -> str:
    return fingerprint(draft_grids(session, market_id, draft_id))


def _check_seen(grids: list[Grid], seen: str) -> None:
    now = fingerprint(grids)
    if seen != now:
        raise Conflict("The draft changed since you saw it; review it again",
                       mine={"fingerprint": seen}, theirs={"fingerprint": now})


def markets_with_draft(session: Session, draft_id: str) -> list[int]:
    """Markets (in the session's scope) holding draft grids of ``draft_id``: a draft id is
    unique within a market only, so a caller may have to ask which market is meant."""
    found = {g.market_id for g in session.scalars(select(Grid).where(Grid.status == DRAFT))
             if _props(g).get("draft") == draft_id}
    return sorted(found)


def latest_draft_id(session: Session, market_id: int) -> str | None:
    grids = session.scalars(select(Grid).where(Grid.market_id == market_id,
                                               Grid.status == DRAFT).order_by(Grid.id.desc()))
    for g in grids:
        return _props(g).get("draft")
    return None


# -- compare -------------------------------------------------------------------------------------
def _grid_rows(assignment: dict[int, int], merchants: dict[int, Merchant],
               parcels: dict[int, int], names: dict[int, str]) -> list[dict]:
    rows: dict[int, dict] = {}
    for cid, gid in assignment.items():
        m = merchants.get(cid)
        row = rows.setdefault(gid, {"grid_id": gid, "name": names.get(gid, str(gid)),
                                    "merchants": 0, "workload": 0.0, "potential": 0.0,
                                    "parcels_30d": 0, "shipping_customers": 0})
        row["merchants"] += 1
        row["workload"] += m.workload if m else VISITS_PER_MONTH[None]
        row["potential"] += m.potential if m else 0.0
        row["parcels_30d"] += parcels.get(cid, 0)
        row["shipping_customers"] += 1 if parcels.get(cid, 0) > 0 else 0
    return [{**r, "workload": round(r["workload"], 2), "potential": round(r["potential"], 2)}
            for _, r in sorted(rows.items())]


def _side(rows: list[dict]) -> dict:
    return {"grids": rows, "workload_ratio": _finite(max_min_ratio([r["workload"] for r in rows])),
            "potential_ratio": _finite(max_min_ratio([r["potential"] for r in rows]))}


def _finite(x: float) -> float | None:
    return None if x == float("inf") else round(float(x), 4)


def compare(session: Session, market_id: int, draft_id: str,
            parcels: dict[int, int] | None = None) -> dict:
    """Current grids vs the draft: per grid merchants, workload, potential and KPIs (parcels of
    the last 30 days, shipping customers, from ``parcels`` by customer), the max/min ratios and
    the merchants that would move."""
    data = market_merchants(session, market_id)
    parcels = parcels or {}
    merchants = {m.id: m for m in data.merchants}
    current = {m.id: m.current for m in data.merchants if m.current is not None}
    current.update({c.id: c.grid_id for c in data.unlocated if c.grid_id is not None})
    grids = draft_grids(session, market_id, draft_id)
    proposed: dict[int, int] = {}
    for g in grids:
        for cid in _props(g)["customer_ids"]:
            proposed[cid] = g.id
    proposed.update(_unlocated_follow(data, grids))
    replaces = {g.id: _props(g).get("replaces") for g in grids}
    moves = sum(1 for cid, gid in proposed.items()
                if cid in current and replaces.get(gid) != current[cid])
    names = {g.id: f"{g.code} {g.name}" for g in (*data.active, *grids)}
    props = _props(grids[0])
    return {
        "market_id": market_id, "draft": draft_id, "fingerprint": fingerprint(grids),
        "tolerance": props["totals"]["tolerance"],
        "approved_by": props.get("approved_by"), "approved_by_name": props.get("approved_by_name"),
        "approved_at": props.get("approved_at"),
        "current": _side(_grid_rows(current, merchants, parcels, names)),
        "draft_grids": _side(_grid_rows(proposed, merchants, parcels, names)),
        "moves": moves, "within_tolerance": props["totals"]["within_tolerance"],
    }


def _unlocated_follow(data: MarketMerchants, grids: list[Grid]) -> dict[int, int]:
    """Customers without coordinates follow their grid into the draft grid that replaces it."""
    successor = {_props(g).get("replaces"): g.id for g in grids if _props(g).get("replaces")}
    return {c.id: successor[c.grid_id] for c in data.unlocated if c.grid_id in successor}


def parcels_by_customer(con, lake, scope, market_id: int, end: dt.date,
                        days: int = 30) -> dict[int, int]:
    """Parcels of each customer of the market over the ``days`` up to ``end`` (daily aggregates)."""
    from jiqun.lake import daily

    t = daily(con, lake, scope)
    t = t.filter((t.market_id == market_id) & (t.day > end - dt.timedelta(days=days))
                 & (t.day <= end))
    out = t.group_by("customer_id").aggregate(parcels=t.parcels.sum())
    return {int(r["customer_id"]): int(r["parcels"] or 0)
            for r in con.to_pyarrow(out).to_pylist() if r["customer_id"] is not None}


# -- approve and activate -----------------------------------------------------------------------
def approve(session: Session, market_id: int, draft_id: str, *, seen: str,
            now: dt.datetime | None = None) -> list[Grid]:
    """Mark the draft approved by the session's actor, if it is still the draft they saw
    (``seen``: its :func:`fingerprint`). Approving an approved draft is a :class:`Conflict`."""
    actor = require(session, Action.GRID_APPROVE)
    grids = draft_grids(session, market_id, draft_id)
    props = _props(grids[0])
    if _approved(grids[0]):
        raise Conflict("This draft is already approved by {name} at {at}",
                       theirs={"approved_by": props.get("approved_by"),
                               "approved_at": props.get("approved_at")},
                       name=str(props.get("approved_by_name") or props.get("approved_by")),
                       at=str(props.get("approved_at")))
    _check_seen(grids, seen)
    stamp = (now or dt.datetime.now()).replace(microsecond=0).isoformat()
    for g in grids:
        g.geometry = {**g.geometry, "properties": {
            **_props(g), "approved_by": actor.user_id, "approved_by_name": actor.username,
            "approved_at": stamp}}
    session.flush()
    return grids


def activate(session: Session, market_id: int, draft_id: str, *, seen: str,
             on: dt.date | None = None) -> list[Grid]:
    """Make an approved draft the market's grids from ``on`` (default today) and move the
    customers; the old grids are retired the day before. Waybills already in the lake keep
    their grid. ``seen`` is the fingerprint of the approved draft the activating user saw."""
    require(session, Action.GRID_ACTIVATE)
    on = on or dt.date.today()
    grids = draft_grids(session, market_id, draft_id)  # an active one: Conflict
    if not _approved(grids[0]):
        raise Conflict("The draft is not approved yet")
    _check_seen(grids, seen)
    data = market_merchants(session, market_id)
    new_grid = {cid: g.id for g in grids for cid in _props(g)["customer_ids"]}
    new_grid.update(_unlocated_follow(data, grids))
    for old in data.active:
        old.status, old.valid_to = RETIRED, on - dt.timedelta(days=1)
    for g in grids:
        g.status, g.valid_from = ACTIVE, on
    customers = session.scalars(select(Customer).where(Customer.market_id == market_id))
    for c in customers:
        target = new_grid.get(c.id)
        if target is not None and c.grid_id != target:
            c.grid_id = target
    session.flush()
    return grids

