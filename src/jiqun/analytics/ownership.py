"""Tier → owner (户户有人管): apply computed tiers to the archive and give each customer an owner
of the role its tier requires (特级 → county general manager; 一级/二级 → department head;
三级/小微 → account manager).

``plan_changes`` is pure: it takes the customers, their computed tiers and the candidate owners
and returns the changes. ``apply_changes`` writes them through a (scoped, audited) session.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from jiqun.analytics.rules import KpiRules
from jiqun.store.models import Customer, CustomerTier, OrgUnit, Role, User

if TYPE_CHECKING:
    from jiqun.analytics.service import OperatingPicture


@dataclass(frozen=True)
class Candidate:
    user_id: int
    role: Role
    org_path: str  # the owner's org unit path, e.g. "/1/4/9/"


@dataclass(frozen=True)
class TierChange:
    customer_id: int
    customer_code: str
    old_tier: str | None
    new_tier: str
    old_owner_id: int | None
    new_owner_id: int | None  # None: no one of the required role in reach (reported, not forced)
    required_role: str

    @property
    def changes_owner(self) -> bool:
        return self.old_owner_id != self.new_owner_id and self.new_owner_id is not None

    @property
    def writes(self) -> bool:
        """Applying it changes the archive: the tier differs or an owner of the required role was
        found. A change with the right tier and no one in reach is only reported (待补人)."""
        return self.new_tier != self.old_tier or self.changes_owner


@dataclass(frozen=True)
class CustomerView:
    id: int
    code: str
    tier: str | None
    owner_id: int | None
    org_path: str  # the customer's org unit path


def _nearest(candidates: list[Candidate], org_path: str, load: Counter) -> Candidate | None:
    """The candidate in the closest org unit above (or at) the customer's, least loaded first."""
    reachable = [c for c in candidates if org_path.startswith(c.org_path)]
    if not reachable:
        return None
    depth = max(len(c.org_path) for c in reachable)
    closest = [c for c in reachable if len(c.org_path) == depth]
    return min(closest, key=lambda c: (load[c.user_id], c.user_id))


def plan_changes(
    customers: list[CustomerView],
    tiers: dict[int, str],
    candidates: list[Candidate],
    rules: KpiRules,
) -> list[TierChange]:
    """Tier and owner changes, customers in code order; the current owner stays when its role
    already fits the new tier (no churn of relationships for nothing)."""
    role_of = {c.user_id: c.role for c in candidates}
    load = Counter(c.owner_id for c in customers if c.owner_id is not None)
    changes = []
    for customer in sorted(customers, key=lambda c: c.code):
        new_tier = tiers.get(customer.id)
        if new_tier is None:
            continue
        required = rules.tier_owner_roles[CustomerTier(new_tier)]
        owner, unfilled = customer.owner_id, False
        if role_of.get(owner) != required:
            pick = _nearest([c for c in candidates if c.role == required], customer.org_path, load)
            if pick is None:
                unfilled = True
            else:
                load[owner] -= 1
                load[pick.user_id] += 1
                owner = pick.user_id
        if new_tier != customer.tier or owner != customer.owner_id or unfilled:
            changes.append(TierChange(
                customer.id, customer.code, customer.tier, new_tier, customer.owner_id,
                None if unfilled else owner, required.value,
            ))
    return changes


def load_inputs(session: Session) -> tuple[list[CustomerView], list[Candidate]]:
    """Customers and possible owners visible in the session's scope."""
    paths = dict(session.execute(select(OrgUnit.id, OrgUnit.path)).all())
    customers = [
        CustomerView(c.id, c.code, c.tier.value if c.tier else None, c.owner_id,
                     paths[c.org_unit_id])
        for c in session.scalars(select(Customer))
    ]
    candidates = [
        Candidate(u.id, u.role, paths[u.org_unit_id])
        for u in session.scalars(select(User).where(User.active.is_(True)))
    ]
    return customers, candidates


def apply_changes(session: Session, changes: list[TierChange]) -> int:
    """Write tier and owner changes (audited by the session); returns the number written."""
    by_id = {c.id: c for c in session.scalars(
        select(Customer).where(Customer.id.in_([ch.customer_id for ch in changes])))}
    for change in changes:
        customer = by_id[change.customer_id]
        customer.tier = CustomerTier(change.new_tier)
        if change.new_owner_id is not None:
            customer.owner_id = change.new_owner_id
    session.flush()
    return len(changes)


def propose_changes(session: Session, tiers: dict[int, str], rules: KpiRules) -> list[TierChange]:
    """The tier and owner changes proposed for approval (待审批的分级调整) in the session's
    scope: only its customers and its people are considered."""
    customers, candidates = load_inputs(session)
    return plan_changes(customers, tiers, candidates, rules)


def apply_selected(session: Session, proposed: list[TierChange],
                   customer_ids: set[int]) -> list[TierChange]:
    """Apply the proposed changes of the chosen customers that still write something; an id
    that is not proposed (already applied, or outside the session's scope) is skipped."""
    chosen = [c for c in proposed if c.customer_id in customer_ids and c.writes]
    apply_changes(session, chosen)
    return chosen


def reconcile(picture: OperatingPicture, as_of: dt.date, dry_run: bool = False,
              source: str = "cli") -> list[TierChange]:
    """Write the tiers computed on ``as_of`` and the owners they require, in the picture's
    scope (audited); ``dry_run`` only lists them. ``jiqun tiers apply`` and the demo use it."""
    tiers = {r["customer_id"]: r["tier"] for r in picture.tiers(as_of)}
    with picture.store.transaction(scope=picture.scope, source=source) as session:
        changes = propose_changes(session, tiers, picture.rules)
        if not dry_run:
            apply_changes(session, changes)
    return changes
