"""Tier issues (分级问题): each customer's computed tier beside the archive's tier and owner.

A customer has an issue when the archive's tier is not the one its volume earns (``tier``), when
it has no owner (``no_owner``; a prospect in the pool has none by design), or when its owner's
role is not the one the computed tier requires (``owner_role``). The rows come from the organisation's tier plan as the viewer's session sees it
(:meth:`jiqun.sales.ownership.TierPlan.seen_by`), so every viewer of a customer reads the same
row; the tiers page, ``/api/tiers`` and Python callers share :func:`tier_issues`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from jiqun.kpi.rules import KpiRules
from jiqun.sales.ownership import Person, TierPlan
from jiqun.sales.pool import in_pool
from jiqun.store.models import Customer, CustomerTier

ISSUES = ("tier", "no_owner", "owner_role")


@dataclass(frozen=True)
class TierIssueRow:
    customer_id: int
    code: str
    name: str
    daily_parcels: float  # average over the tier window
    tier: str  # the tier the volume earns (计算分级)
    stored_tier: str | None  # the tier in the archive
    owner_id: int | None
    owner: str | None
    owner_role: str | None
    required_role: str  # the role the computed tier requires
    issues: tuple[str, ...]  # of ISSUES


@dataclass(frozen=True)
class TierCount:
    tier: str
    computed: int
    stored: int


@dataclass(frozen=True)
class TierIssues:
    as_of: dt.date | None  # the organisation's data date the tiers are of
    rows: list[TierIssueRow] = field(default_factory=list)  # mismatches first
    counts: list[TierCount] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.rows)

    @property
    def mismatches(self) -> int:
        return sum(bool(r.issues) for r in self.rows)


def issues_of(tier: str, stored: CustomerTier | None, owner_id: int | None,
              owner: Person | None, required: str, pooled: bool = False) -> tuple[str, ...]:
    """What is wrong with one customer's archive (empty: nothing). A prospect in the pool has
    no owner by design (公海: it waits to be claimed)."""
    issues = []
    if stored is None or stored.value != tier:
        issues.append("tier")
    if owner_id is None and not pooled:
        issues.append("no_owner")
    elif owner is not None and owner.role != required:
        issues.append("owner_role")
    return tuple(issues)


def tier_issues(session: Session, plan: TierPlan, rules: KpiRules) -> TierIssues:
    """Every customer of ``session``'s scope that the plan tiers, mismatches first (then by
    volume, then code), with the count of each tier computed and archived.

    ``plan``: the organisation's plan as seen by ``session`` (``TierPlan.seen_by``)."""
    if plan.as_of is None:
        return TierIssues(as_of=None)
    roles = rules.tier_owner_roles
    rows = []
    for cid, code, name, stored, owner_id, stage in session.execute(select(
            Customer.id, Customer.code, Customer.name, Customer.tier, Customer.owner_id,
            Customer.lifecycle_stage)):
        found = plan.tiers.get(cid)
        if found is None:
            continue
        owner = plan.people.get(owner_id) if owner_id else None
        required = roles[CustomerTier(found["tier"])].value
        rows.append(TierIssueRow(
            customer_id=cid, code=code, name=name, daily_parcels=found["daily_parcels"],
            tier=found["tier"], stored_tier=stored.value if stored else None, owner_id=owner_id,
            owner=owner.name if owner else None, owner_role=owner.role if owner else None,
            required_role=required,
            issues=issues_of(found["tier"], stored, owner_id, owner, required,
                             pooled=in_pool(owner_id, stage)),
        ))
    rows.sort(key=lambda r: (not r.issues, -r.daily_parcels, r.code))
    counts = [TierCount(tier=t.value, computed=sum(r.tier == t.value for r in rows),
                        stored=sum(r.stored_tier == t.value for r in rows))
              for t in CustomerTier]
    return TierIssues(as_of=plan.as_of, rows=rows, counts=counts)
