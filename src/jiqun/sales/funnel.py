"""The funnel (转化漏斗): how far archived merchants got, and which methods, campaigns,
platform segments and people convert; time spent in each stage.

A customer *reached* a step when its stage is at or past it, or its history shows it: a visit
(→ nurturing), a trial shipment (→ trial), a first shipment (→ cooperating), a recorded stage
change. Churned customers reached cooperating. Group attributions:

* ``method`` — the method of the customer's first visit (which methods convert);
* ``person`` — the user who made that first visit (who develops customers);
* ``campaign`` — every campaign whose target list holds the customer;
* ``platform`` — every platform segment of the customer (淘系 / 拼系 / 直播).

Customers without one fall in the group ``none``. The functions over :class:`CustomerFacts`
are pure; :func:`load_facts` reads them through a scoped session.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from jiqun.sales.lifecycle import STEP
from jiqun.sales.people import names_of
from jiqun.store.models import (
    Campaign,
    CampaignCustomer,
    Customer,
    LifecycleStage,
    StageChange,
    TrialShipment,
    Visit,
)

STEPS = ("archived", "nurturing", "trial", "cooperating", "upgraded")  # upgraded: growing / VIP
STEP_LABELS = {"archived": "Archived", "nurturing": "Nurturing", "trial": "Trial shipping",
               "cooperating": "Cooperating", "upgraded": "Growing or VIP"}
BY = ("method", "campaign", "platform", "person")
NONE = "none"


@dataclass(frozen=True)
class CustomerFacts:
    id: int
    stage: LifecycleStage
    visited: bool = False
    trialled: bool = False
    shipped: bool = False
    changed_to: tuple[LifecycleStage, ...] = ()  # stages reached per the stage-change history
    first_method: str | None = None
    first_visitor: int | None = None
    campaigns: tuple[int, ...] = ()
    platforms: tuple[str, ...] = ()


def reached(f: CustomerFacts) -> int:
    """The furthest step (index into :data:`STEPS`) the customer reached."""
    step = STEP[f.stage]
    if f.visited:
        step = max(step, 1)
    if f.trialled:
        step = max(step, 2)
    if f.shipped:
        step = max(step, 3)
    for stage in f.changed_to:
        step = max(step, STEP[stage])
    return step


def _safe(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def funnel(facts: list[CustomerFacts]) -> list[dict]:
    """Customers that reached each step, share of the archive, conversion from the step before."""
    steps = [reached(f) for f in facts]
    counts = [sum(s >= k for s in steps) for k in range(len(STEPS))]
    return [
        {"step": name, "customers": counts[k], "share_of_archived": _safe(counts[k], counts[0]),
         "from_previous": _safe(counts[k], counts[k - 1]) if k else None}
        for k, name in enumerate(STEPS)
    ]


def _keys(f: CustomerFacts, by: str) -> tuple:
    if by == "method":
        return (f.first_method or NONE,)
    if by == "person":
        return (f.first_visitor if f.first_visitor is not None else NONE,)
    if by == "campaign":
        return f.campaigns or (NONE,)
    if by == "platform":
        return f.platforms or (NONE,)
    raise ValueError(f"by must be one of {', '.join(BY)}")


def conversion_by(facts: list[CustomerFacts], by: str, names: dict | None = None) -> list[dict]:
    """Per group: customers, how many reached each step, and conversion (cooperating / all)."""
    groups: dict[object, list[int]] = defaultdict(list)
    for f in facts:
        for key in _keys(f, by):
            groups[key].append(reached(f))
    rows = []
    for key, steps in groups.items():
        row = {"key": key, "name": (names or {}).get(key, str(key))}
        for k, name in enumerate(STEPS):
            row[name] = sum(s >= k for s in steps)
        row["conversion"] = _safe(row["cooperating"], row["archived"])
        rows.append(row)
    return sorted(rows, key=lambda r: (r["key"] == NONE, -r["archived"], str(r["key"])))


@dataclass(frozen=True)
class Spell:
    """A stretch of time a customer spent in one stage, from the stage-change history."""

    customer_id: int
    stage: LifecycleStage
    start: dt.datetime
    end: dt.datetime | None  # None: still in it


def spells(changes: list[tuple[int, LifecycleStage, dt.datetime]]) -> list[Spell]:
    """Spells from ``(customer_id, to_stage, at)`` changes: each stage lasts until the next."""
    out = []
    by_customer: dict[int, list] = defaultdict(list)
    for cid, to, at in changes:
        by_customer[cid].append((at, to))
    for cid, moves in by_customer.items():
        moves.sort(key=lambda m: m[0])
        for k, (at, to) in enumerate(moves):
            end = moves[k + 1][0] if k + 1 < len(moves) else None
            out.append(Spell(cid, to, at, end))
    return out


def time_in_stage(spell_list: list[Spell], now: dt.datetime) -> list[dict]:
    """Per stage: finished spells, their mean and median days, and customers still in it with
    their mean days so far (time in stage 阶段停留时长)."""
    rows = []
    for stage in LifecycleStage:
        done = [(s.end - s.start).total_seconds() / 86400 for s in spell_list
                if s.stage == stage and s.end is not None]
        open_ = [(now - s.start).total_seconds() / 86400 for s in spell_list
                 if s.stage == stage and s.end is None]
        if not done and not open_:
            continue
        rows.append({
            "stage": stage.value, "finished": len(done),
            "mean_days": round(statistics.fmean(done), 1) if done else None,
            "median_days": round(statistics.median(done), 1) if done else None,
            "still_in": len(open_),
            "mean_days_so_far": round(statistics.fmean(open_), 1) if open_ else None,
        })
    return rows


# -- reading the store -------------------------------------------------------------------------
def load_facts(session: Session, archived_since: dt.date | None = None) -> list[CustomerFacts]:
    """The facts of every customer in scope (archived on or after ``archived_since``)."""
    query = select(Customer.id, Customer.lifecycle_stage, Customer.first_shipped_on,
                   Customer.platforms)
    if archived_since is not None:
        query = query.where(Customer.archived_on >= archived_since)
    customers = session.execute(query).all()
    first_visit: dict[int, tuple[str, int]] = {}
    for cid, method, uid in session.execute(
        select(Visit.customer_id, Visit.method, Visit.user_id)
        .order_by(Visit.customer_id, Visit.visited_at.desc(), Visit.id.desc())
    ):
        first_visit[cid] = (method, uid)  # the earliest comes last and wins
    trialled = set(session.scalars(select(TrialShipment.customer_id)))
    changed: dict[int, set] = defaultdict(set)
    for cid, to in session.execute(select(StageChange.customer_id, StageChange.to_stage)):
        changed[cid].add(to)
    ids = {c.id for c in customers}
    campaigns: dict[int, list[int]] = defaultdict(list)
    for camp, cid in session.execute(
        select(CampaignCustomer.campaign_id, CampaignCustomer.customer_id)
        .order_by(CampaignCustomer.campaign_id)
    ):
        if cid in ids:  # the link table carries no org unit: keep the customers in scope
            campaigns[cid].append(camp)
    return [
        CustomerFacts(
            id=cid, stage=stage, visited=cid in first_visit, trialled=cid in trialled,
            shipped=first is not None, changed_to=tuple(sorted(changed.get(cid, ()))),
            first_method=first_visit.get(cid, (None, None))[0],
            first_visitor=first_visit.get(cid, (None, None))[1],
            campaigns=tuple(campaigns.get(cid, ())), platforms=tuple(platforms or ()),
        )
        for cid, stage, first, platforms in customers
    ]


def group_names(session: Session, by: str, facts: list[CustomerFacts] | None = None) -> dict:
    """Display names of the groups: users for ``person`` (the first visitors of ``facts``,
    named whatever their org unit, like every person tied to a visible record), campaigns for
    ``campaign``."""
    if by == "person":
        return names_of(session, (f.first_visitor for f in facts or ()))
    if by == "campaign":
        return dict(session.execute(select(Campaign.id, Campaign.name)).all())
    return {}


def load_spells(session: Session) -> list[Spell]:
    rows = session.execute(
        select(StageChange.customer_id, StageChange.to_stage, StageChange.at)).all()
    return spells([tuple(r) for r in rows])
