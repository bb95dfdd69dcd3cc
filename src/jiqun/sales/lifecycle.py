"""The customer lifecycle (三步走): archived (建档) → nurturing (蓄客: visited, interested, on
trial 试寄) → cooperating (合作) → growing (提升) / VIP; churned (流失) and reactivated (回流).

Two things move a customer along:

* the waybills — :func:`promote_from_waybills` reads each customer's shipping days from the daily
  aggregate (through :class:`~jiqun.kpi.service.OperatingPicture`): first waybills outside
  a trial → cooperating; volume falling → flagged at risk (预警); silence → churned; shipping
  again after a churn → cooperating (reactivated); volume rising → growing; the VIP flag → VIP;
* the visits — :func:`apply_visit_outcome` (interested → nurturing, trial → trial, signed →
  cooperating).

Every change is one :class:`~jiqun.store.models.StageChange` row (from, to, when, who, why),
written through the caller's scoped session, which also audits the customer's new stage.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from ibis import _
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jiqun.kpi.service import OperatingPicture, records
from jiqun.permissions import Action, require
from jiqun.sales.rules import SalesRules
from jiqun.store.models import Customer, LifecycleStage, StageChange, TrialShipment

S = LifecycleStage
PROSPECTS = (S.ARCHIVED, S.NURTURING, S.TRIAL)  # not yet shipping with us
CONVERTED = (S.COOPERATING, S.GROWING, S.VIP)  # shipping with us
# Order of the steps, for "did the customer reach at least this stage".
STEP = {S.ARCHIVED: 0, S.NURTURING: 1, S.TRIAL: 2, S.COOPERATING: 3, S.GROWING: 4, S.VIP: 4,
        S.CHURNED: 3}

# Reasons (why a stage changed), stored in ``stage_changes.reason``.
FIRST_WAYBILLS = "first_waybills"
SILENT = "silent"
REACTIVATED = "reactivated"
GROWING = "growing"
VIP_FLAG = "vip"
VISIT_REASON = "visit_{outcome}"


@dataclass(frozen=True)
class Shipping:
    """A customer's shipping as of a day: first and last day, parcels of the recent and the
    baseline window (流量)."""

    first_day: dt.date
    last_day: dt.date
    recent_parcels: int
    baseline_parcels: int


@dataclass(frozen=True)
class CustomerState:
    """What the lifecycle rules need to know of one customer."""

    id: int
    code: str
    name: str
    stage: LifecycleStage
    vip: bool = False
    at_risk_since: dt.date | None = None
    first_shipped_on: dt.date | None = None
    trial_until: dt.date | None = None  # last day of a finished trial; see ``on_trial``
    on_trial: bool = False  # an open trial shipment (its waybills do not convert)
    churned_on: dt.date | None = None  # day of the last change to churned


@dataclass(frozen=True)
class LifecycleChange:
    """A stage change and/or an at-risk flag change the rules decided for one customer."""

    customer_id: int
    code: str
    name: str
    from_stage: str
    to_stage: str
    reason: str
    at_risk: bool | None = None  # True: flag set, False: flag cleared, None: unchanged
    first_shipped_on: dt.date | None = None  # to record when it was missing

    @property
    def changes_stage(self) -> bool:
        return self.from_stage != self.to_stage


# -- shipping facts from the daily aggregate ---------------------------------------------------
def shipping(picture: OperatingPicture, as_of: dt.date, rules: SalesRules) -> dict[int, Shipping]:
    """Per customer with parcels up to ``as_of``: first/last day, recent and baseline parcels."""
    recent_from = as_of - dt.timedelta(days=rules.recent_days - 1)
    baseline_from = recent_from - dt.timedelta(days=rules.baseline_days)
    frame = picture.frame
    rows = frame.filter(frame.customer_id.notnull() & (frame.day <= as_of))
    per = rows.group_by("customer_id").aggregate(
        first_day=_.day.min(),
        last_day=_.day.max(),
        recent_parcels=_.parcels.sum(where=_.day >= recent_from).fill_null(0).cast("int64"),
        baseline_parcels=_.parcels.sum(where=(_.day >= baseline_from) & (_.day < recent_from))
        .fill_null(0).cast("int64"),
    )
    return {
        r["customer_id"]: Shipping(r["first_day"], r["last_day"], r["recent_parcels"],
                                   r["baseline_parcels"])
        for r in records(per)
    }


# -- the rules (pure) --------------------------------------------------------------------------
def is_falling(ship: Shipping, rules: SalesRules) -> bool:
    """At risk (流失预警): the recent daily average below ``at_risk_ratio`` of the baseline's."""
    if ship.baseline_parcels <= 0:
        return False
    recent = ship.recent_parcels / rules.recent_days
    baseline = ship.baseline_parcels / rules.baseline_days
    return recent < rules.at_risk_ratio * baseline


def is_growing(ship: Shipping, rules: SalesRules) -> bool:
    if ship.baseline_parcels <= 0:
        return False
    recent = ship.recent_parcels / rules.recent_days
    baseline = ship.baseline_parcels / rules.baseline_days
    return recent >= rules.growth_ratio * baseline


def next_stage(
    c: CustomerState, ship: Shipping | None, as_of: dt.date, rules: SalesRules
) -> tuple[LifecycleStage, str] | None:
    """The stage the waybills move ``c`` to, with the reason; ``None``: it stays."""
    if ship is None:
        return None
    silent_days = (as_of - ship.last_day).days
    shipping_now = silent_days < rules.churn_silent_days
    if c.stage in PROSPECTS:
        after_trial = c.trial_until is None or ship.last_day > c.trial_until
        if shipping_now and not c.on_trial and after_trial:
            return S.COOPERATING, FIRST_WAYBILLS
        return None
    if c.stage == S.CHURNED:
        # Back only when it shipped after it was churned (a churn of last week, decided on the
        # same waybills, must not flip back).
        back = c.churned_on is None or ship.last_day > c.churned_on
        if shipping_now and back and ship.recent_parcels > 0:
            return S.COOPERATING, REACTIVATED
        return None
    if not shipping_now:
        return S.CHURNED, SILENT
    if c.stage != S.VIP and c.vip:
        return S.VIP, VIP_FLAG
    if c.stage == S.COOPERATING and is_growing(ship, rules):
        return S.GROWING, GROWING
    return None


def plan_lifecycle(
    customers: list[CustomerState],
    shipped: dict[int, Shipping],
    as_of: dt.date,
    rules: SalesRules,
) -> list[LifecycleChange]:
    """Every stage and at-risk change the waybills call for, customers in code order."""
    changes = []
    for c in sorted(customers, key=lambda c: c.code):
        ship = shipped.get(c.id)
        moved = next_stage(c, ship, as_of, rules)
        stage, reason = moved if moved else (c.stage, "")
        falling = stage in CONVERTED and ship is not None and is_falling(ship, rules)
        flag = None
        if falling and c.at_risk_since is None:
            flag, reason = True, reason or "at_risk"
        elif not falling and c.at_risk_since is not None:
            flag, reason = False, reason or "recovered"
        first = ship.first_day if ship and c.first_shipped_on is None and stage in CONVERTED \
            else None
        if moved or flag is not None:
            changes.append(LifecycleChange(c.id, c.code, c.name, c.stage.value, stage.value,
                                           reason, flag, first))
    return changes


# -- reading and writing the store -------------------------------------------------------------
def load_states(session: Session) -> list[CustomerState]:
    """Every customer in the session's scope, with its open or last trial and last churn."""
    trials: dict[int, tuple[bool, dt.date | None]] = {}
    for t in session.scalars(select(TrialShipment).order_by(TrialShipment.started_on)):
        trials[t.customer_id] = (t.ended_on is None, t.ended_on)
    churned = dict(session.execute(
        select(StageChange.customer_id, func.max(StageChange.at))
        .where(StageChange.to_stage == S.CHURNED).group_by(StageChange.customer_id)
    ).all())
    states = []
    for c in session.scalars(select(Customer)):
        on_trial, until = trials.get(c.id, (False, None))
        churn_at = churned.get(c.id)
        states.append(CustomerState(
            c.id, c.code, c.name, c.lifecycle_stage, bool(c.vip), c.at_risk_since,
            c.first_shipped_on, until, on_trial, churn_at.date() if churn_at else None,
        ))
    return states


def change_stage(
    session: Session,
    customer: Customer,
    to: LifecycleStage,
    reason: str,
    at: dt.datetime,
    *,
    user_id: int | None = None,
    visit_id: int | None = None,
) -> StageChange | None:
    """Move ``customer`` to ``to`` and record the change (``None`` when it is already there).
    The acting user defaults to the session's (``None`` in a system job)."""
    if customer.lifecycle_stage == to:
        return None
    change = StageChange(
        customer_id=customer.id, org_unit_id=customer.org_unit_id,
        from_stage=customer.lifecycle_stage, to_stage=to, at=at, reason=reason,
        user_id=user_id if user_id is not None else session.info.get("user_id"),
        visit_id=visit_id,
    )
    customer.lifecycle_stage = to
    if to == S.CHURNED:
        customer.at_risk_since = None  # churned is past the warning
    session.add(change)
    return change


def apply_lifecycle(
    session: Session, changes: list[LifecycleChange], as_of: dt.date
) -> int:
    """Write ``changes`` (stage changes recorded, customers audited); returns how many."""
    require(session, Action.LIFECYCLE_RUN)
    at = dt.datetime.combine(as_of, dt.time(23, 59))
    by_id = {c.id: c for c in session.scalars(
        select(Customer).where(Customer.id.in_([ch.customer_id for ch in changes])))}
    for ch in changes:
        customer = by_id[ch.customer_id]
        if ch.first_shipped_on is not None:
            customer.first_shipped_on = ch.first_shipped_on
        if ch.at_risk is True:
            customer.at_risk_since = as_of
        elif ch.at_risk is False:
            customer.at_risk_since = None
        if ch.changes_stage:
            change_stage(session, customer, LifecycleStage(ch.to_stage), ch.reason, at)
    session.flush()
    return len(changes)


def promote_from_waybills(
    session: Session,
    picture: OperatingPicture,
    as_of: dt.date | None = None,
    rules: SalesRules | None = None,
    *,
    dry_run: bool = False,
) -> list[LifecycleChange]:
    """Apply the waybill rules to every customer of the session's scope as of ``as_of``
    (default: the picture's data date) and return the changes (written unless ``dry_run``;
    a run that writes is asked for first, before the waybills are read)."""
    if not dry_run:
        require(session, Action.LIFECYCLE_RUN)
    rules = rules or SalesRules.configured()
    as_of = as_of or picture.data_date() or dt.date.today()
    changes = plan_lifecycle(load_states(session), shipping(picture, as_of, rules), as_of, rules)
    if not dry_run:
        apply_lifecycle(session, changes, as_of)
    return changes


def apply_visit_outcome(
    session: Session, customer: Customer, outcome: str, at: dt.datetime, visit_id: int | None
) -> StageChange | None:
    """The stage a visit's outcome calls for: interested / follow-up → nurturing (from archived
    or churned), trial → trial (with an open trial shipment, 试寄), signed → cooperating."""
    stage = customer.lifecycle_stage
    reason = VISIT_REASON.format(outcome=outcome)
    if outcome in ("interested", "follow_up") and stage in (S.ARCHIVED, S.CHURNED):
        return change_stage(session, customer, S.NURTURING, reason, at, visit_id=visit_id)
    if outcome == "trial" and stage in (S.ARCHIVED, S.NURTURING, S.CHURNED):
        _open_trial(session, customer, at.date())
        return change_stage(session, customer, S.TRIAL, reason, at, visit_id=visit_id)
    if outcome == "signed" and stage in (*PROSPECTS, S.CHURNED):
        _close_trial(session, customer, at.date(), "converted")
        return change_stage(session, customer, S.COOPERATING, reason, at, visit_id=visit_id)
    return None


def _open_trial(session: Session, customer: Customer, day: dt.date) -> None:
    existing = session.scalars(select(TrialShipment).where(
        TrialShipment.customer_id == customer.id, TrialShipment.ended_on.is_(None))).first()
    if existing is None:
        session.add(TrialShipment(customer_id=customer.id, org_unit_id=customer.org_unit_id,
                                  started_on=day, parcels=0))


def _close_trial(session: Session, customer: Customer, day: dt.date, outcome: str) -> None:
    for trial in session.scalars(select(TrialShipment).where(
            TrialShipment.customer_id == customer.id, TrialShipment.ended_on.is_(None))):
        trial.ended_on, trial.outcome = day, outcome
