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

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jiqun.sales.lifecycle import STEP
from jiqun.sales.people import names_of
from jiqun.sales.vocab import FUNNEL_BY
from jiqun.store.models import (
    Campaign,
    CampaignCustomer,
    Customer,
    LifecycleStage,
    StageChange,
    TrialShipment,
    Visit,
)

S = LifecycleStage
STEPS = ("archived", "nurturing", "trial", "cooperating", "upgraded")  # upgraded: growing / VIP
STEP_LABELS = {"archived": "Archived", "nurturing": "Nurturing", "trial": "Trial shipping",
               "cooperating": "Cooperating", "upgraded": "Growing or VIP"}
BY = FUNNEL_BY
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


# -- time in stage (阶段停留时长) ------------------------------------------------------------------
@dataclass(frozen=True)
class StageEvent:
    """A customer entering a stage on a day: a recorded stage change, or a milestone the
    archive keeps (archived on, first visit, first trial shipment, first waybill)."""

    customer_id: int
    stage: LifecycleStage
    on: dt.date
    recorded: bool  # a StageChange row (always a move); a milestone only moves forward


@dataclass(frozen=True)
class Spell:
    """A stretch of days a customer spent in one stage."""

    customer_id: int
    stage: LifecycleStage
    start: dt.date
    end: dt.date | None  # None: still in it


def spells(events: list[StageEvent], current: dict[int, LifecycleStage]) -> list[Spell]:
    """Each customer's stages in time order, each lasting until the next (pure).

    A recorded change is a move whatever its direction (churned → cooperating); a milestone
    moves the customer only forward (a visit to a customer who ships already does not make it
    nurturing again) and never past the customer's current step (a visit that found no interest
    left an archived customer archived; a failed trial leaves a nurturing one nurturing). The
    last stage is open (still in it) when it is the customer's current
    stage; otherwise the customer left it without a record of when (a growing customer whose
    rise was never recorded), and that spell is left out rather than measured wrongly."""
    by_customer: dict[int, list[StageEvent]] = defaultdict(list)
    for event in events:
        by_customer[event.customer_id].append(event)
    out: list[Spell] = []
    for cid, found in by_customer.items():
        moves: list[tuple[dt.date, LifecycleStage]] = []
        furthest = STEP[current[cid]] if cid in current else max(STEP.values())
        for event in sorted(found, key=lambda e: (e.on, STEP[e.stage], e.recorded)):
            stage_now = moves[-1][1] if moves else None
            if event.stage == stage_now:
                continue
            forward = stage_now is None or STEP[event.stage] > STEP[stage_now]
            if event.recorded or (forward and STEP[event.stage] <= furthest):
                moves.append((event.on, event.stage))
        for k, (on, stage) in enumerate(moves):
            if k + 1 < len(moves):
                out.append(Spell(cid, stage, on, moves[k + 1][0]))
            elif stage == current.get(cid):
                out.append(Spell(cid, stage, on, None))
    return out


@dataclass(frozen=True)
class StageTime:
    """Days customers spent in one stage: of those who left it (``finished``) the median, the
    75th percentile and the mean; of those still in it, how many and their median so far."""

    stage: str
    finished: int
    median_days: float | None
    p75_days: float | None
    mean_days: float | None
    still_in: int
    median_days_so_far: float | None


def _days(values: list[int], q: float) -> float | None:
    """The ``q`` percentile of ``values`` (linear between ranks, numpy's default), 1 decimal."""
    return round(float(np.percentile(values, q)), 1) if values else None


def stage_times(spell_list: list[Spell], today: dt.date) -> list[StageTime]:
    """Per stage in lifecycle order (pure): see :class:`StageTime`; stages nobody was in are
    left out."""
    rows = []
    for stage in LifecycleStage:
        done = [(s.end - s.start).days for s in spell_list if s.stage == stage and s.end]
        open_ = [max(0, (today - s.start).days) for s in spell_list
                 if s.stage == stage and s.end is None]
        if not done and not open_:
            continue
        rows.append(StageTime(
            stage=stage.value, finished=len(done), median_days=_days(done, 50),
            p75_days=_days(done, 75),
            mean_days=round(statistics.fmean(done), 1) if done else None,
            still_in=len(open_), median_days_so_far=_days(open_, 50)))
    return rows


def time_in_stage(session: Session, today: dt.date) -> list[StageTime]:
    """Time in stage (阶段停留时长) of the customers in the session's scope, as of ``today``:
    the one function behind ``/funnel``, ``/api/funnel`` and ``jiqun sales time-in-stage``."""
    events, current = load_stage_events(session, today)
    return stage_times(spells(events, current), today)


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


def load_stage_events(session: Session, today: dt.date
                      ) -> tuple[list[StageEvent], dict[int, LifecycleStage]]:
    """The stage events of every customer in scope up to ``today`` (recorded changes and the
    archive's milestones, see :class:`StageEvent`) and each customer's current stage."""
    events: list[StageEvent] = []
    current: dict[int, LifecycleStage] = {}
    for cid, stage, archived, created, shipped in session.execute(
            select(Customer.id, Customer.lifecycle_stage, Customer.archived_on,
                   Customer.created_at, Customer.first_shipped_on)):
        current[cid] = stage
        archived = archived or (created.date() if created else None)
        if archived:
            events.append(StageEvent(cid, S.ARCHIVED, archived, False))
        if shipped:
            events.append(StageEvent(cid, S.COOPERATING, shipped, False))
    for cid, at in session.execute(select(Visit.customer_id, func.min(Visit.visited_at))
                                   .group_by(Visit.customer_id)):
        events.append(StageEvent(cid, S.NURTURING, at.date(), False))
    for cid, on in session.execute(select(TrialShipment.customer_id,
                                          func.min(TrialShipment.started_on))
                                   .group_by(TrialShipment.customer_id)):
        events.append(StageEvent(cid, S.TRIAL, on, False))
    for cid, to, at in session.execute(
            select(StageChange.customer_id, StageChange.to_stage, StageChange.at)):
        events.append(StageEvent(cid, to, at.date(), True))
    # Customers in scope only (visits and trials carry their customer's org unit, but a
    # customer moved to another unit keeps old rows), and nothing after ``today``.
    return [e for e in events if e.customer_id in current and e.on <= today], current
