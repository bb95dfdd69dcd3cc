"""Tier → owner (户户有人管): apply computed tiers to the archive and give each customer an owner
of the role its tier requires (特级 → county general manager; 一级/二级 → department head;
三级/小微 → account manager).

``plan_changes`` is pure: it takes the customers, their computed tiers and the candidate owners
and returns the changes. ``apply_changes`` writes them through a (scoped, audited) session.

**One fact for every viewer.** A customer's tier, the owner it requires and the change proposed
for it do not depend on who looks: the owner a tier requires (a county general manager, a
department head) usually sits above the outlet where the customer lives, and the least-loaded
choice among several depends on the customers they already own across their whole unit. So
:func:`organisation_plan` computes the plan once, for the whole organisation, with a system read
of the archive, the people's ids, roles and units and the lake; each viewer is then shown only the
rows of the customers their scoped session sees (:meth:`TierPlan.seen_by`). Computed inside the
viewer's subtree instead, a marketer was told "no one of the required role in your area" for
customers whose city manager saw the county manager proposed.

**Only what the approver saw.** Each change has a :attr:`TierChange.fingerprint`; an approval
names the fingerprints of the rows the approver ticked (:func:`apply_seen`). A ticked row whose
change is now different is a :class:`~jiqun.errors.Conflict` and nothing is applied; a ticked
row that is no longer proposed (already applied, or never the approver's) is skipped — applying it
again would write nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import astuple, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from jiqun.errors import Conflict
from jiqun.kpi.rules import KpiRules
from jiqun.permissions import Action, require
from jiqun.sales.pool import in_pool
from jiqun.store.models import Customer, CustomerTier, OrgUnit, Role, User
from jiqun.store.scope import Scope

if TYPE_CHECKING:
    import ibis

    from jiqun.kpi.service import OperatingPicture
    from jiqun.store import Store


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
    pooled: bool = False  # a prospect in the pool: its tier changes, no owner is assigned

    @property
    def reasons(self) -> list[str]:
        """Why it is proposed: ``tier`` (the volume earns another), ``no_owner`` (an owner is
        found for a customer without one), ``owner_role`` (the owner's role does not fit the
        tier), ``unfilled`` (no one of the required role in reach)."""
        reasons = ["tier"] if self.new_tier != self.old_tier else []
        if self.pooled:
            return reasons
        if self.new_owner_id is None:
            reasons.append("unfilled")
        elif self.old_owner_id is None:
            reasons.append("no_owner")
        elif self.changes_owner:
            reasons.append("owner_role")
        return reasons

    @property
    def changes_owner(self) -> bool:
        return self.old_owner_id != self.new_owner_id and self.new_owner_id is not None

    @property
    def writes(self) -> bool:
        """Applying it changes the archive: the tier differs or an owner of the required role was
        found. A change with the right tier and no one in reach is only reported (待补人)."""
        return self.new_tier != self.old_tier or self.changes_owner

    @property
    def fingerprint(self) -> str:
        """The change as an approver sees it, hashed: any difference gives another value."""
        text = json.dumps(astuple(self), separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class CustomerView:
    id: int
    code: str
    tier: str | None
    owner_id: int | None
    org_path: str  # the customer's org unit path
    pooled: bool = False  # a prospect in the pool (公海): claimed by someone, never assigned


class _Candidates:
    """Candidate owners by role and org unit path, to find the nearest above a customer."""

    def __init__(self, candidates: Iterable[Candidate]):
        self._at: dict[tuple[Role, str], list[Candidate]] = defaultdict(list)
        for c in candidates:
            self._at[(c.role, c.org_path)].append(c)

    def nearest(self, role: Role, org_path: str, load: Counter) -> Candidate | None:
        """The candidate in the closest org unit above (or at) ``org_path``, least loaded
        first: the path's prefixes are the units of the customer's own chain, deepest first."""
        ids = org_path.strip("/").split("/")
        for depth in range(len(ids), 0, -1):
            closest = self._at.get((role, "/" + "/".join(ids[:depth]) + "/"))
            if closest:
                return min(closest, key=lambda c: (load[c.user_id], c.user_id))
        return None


def plan_changes(
    customers: list[CustomerView],
    tiers: dict[int, str],
    candidates: list[Candidate],
    rules: KpiRules,
) -> list[TierChange]:
    """Tier and owner changes, customers in code order; the current owner stays when its role
    already fits the new tier (no churn of relationships for nothing)."""
    role_of = {c.user_id: c.role for c in candidates}
    reach = _Candidates(candidates)
    load = Counter(c.owner_id for c in customers if c.owner_id is not None)
    changes = []
    for customer in sorted(customers, key=lambda c: c.code):
        new_tier = tiers.get(customer.id)
        if new_tier is None:
            continue
        required = rules.tier_owner_roles[CustomerTier(new_tier)]
        owner, unfilled = customer.owner_id, False
        if not customer.pooled and role_of.get(owner) != required:
            pick = reach.nearest(required, customer.org_path, load)
            if pick is None:
                unfilled = True
            else:
                load[owner] -= 1
                load[pick.user_id] += 1
                owner = pick.user_id
        if new_tier != customer.tier or owner != customer.owner_id or unfilled:
            changes.append(TierChange(
                customer.id, customer.code, customer.tier, new_tier, customer.owner_id,
                None if unfilled else owner, required.value, pooled=customer.pooled,
            ))
    return changes


def load_inputs(session: Session) -> tuple[list[CustomerView], list[Candidate]]:
    """Customers and possible owners visible in the session's scope (a system session: all)."""
    paths = dict(session.execute(select(OrgUnit.id, OrgUnit.path)).all())
    customers = [
        CustomerView(cid, code, tier.value if tier else None, owner, paths[unit],
                     pooled=in_pool(owner, stage))
        for cid, code, tier, owner, unit, stage in session.execute(select(
            Customer.id, Customer.code, Customer.tier, Customer.owner_id, Customer.org_unit_id,
            Customer.lifecycle_stage))
    ]
    candidates = [
        Candidate(uid, role, paths[unit])
        for uid, role, unit in session.execute(
            select(User.id, User.role, User.org_unit_id).where(User.active.is_(True)))
    ]
    return customers, candidates


def apply_changes(session: Session, changes: list[TierChange]) -> int:
    """Write tier and owner changes (audited by the session); returns the number written.
    The acting user must hold ``tier.apply``; customers outside the session's scope are not
    found, so they are never written."""
    require(session, Action.TIER_APPLY)
    by_id = {c.id: c for c in session.scalars(
        select(Customer).where(Customer.id.in_([ch.customer_id for ch in changes])))}
    written = 0
    for change in changes:
        customer = by_id.get(change.customer_id)
        if customer is None:
            continue
        customer.tier = CustomerTier(change.new_tier)
        if change.new_owner_id is not None:
            customer.owner_id = change.new_owner_id
        written += 1
    session.flush()
    return written


# -- the organisation's plan, shown to each viewer ---------------------------------------------
@dataclass(frozen=True)
class Person:
    """What a tier page shows of an owner: name and role (no other personal data)."""

    id: int
    name: str
    role: str


@dataclass(frozen=True)
class TierPlan:
    """Every customer's computed tier and every pending change, for the whole organisation."""

    as_of: dt.date | None
    tiers: dict[int, dict] = field(default_factory=dict)  # customer id → tier row of the lake
    changes: dict[int, TierChange] = field(default_factory=dict)  # customer id → change
    people: dict[int, Person] = field(default_factory=dict)  # owners, now and proposed

    def seen_by(self, session: Session) -> TierPlan:
        """The part of the plan about the customers ``session`` sees (its scope): the same rows,
        unchanged, that any other viewer of those customers gets."""
        visible = set(session.scalars(select(Customer.id)))
        tiers = {cid: row for cid, row in self.tiers.items() if cid in visible}
        changes = {cid: c for cid, c in self.changes.items() if cid in visible}
        return TierPlan(self.as_of, tiers, changes, self.people)

    def ordered(self) -> list[TierChange]:
        return sorted(self.changes.values(), key=lambda c: c.customer_code)

    @property
    def fingerprint(self) -> str:
        """The whole list as shown, hashed (``jiqun tiers apply --expect``)."""
        return list_fingerprint(self.ordered())


def list_fingerprint(changes: Iterable[TierChange]) -> str:
    text = ",".join(sorted(c.fingerprint for c in changes))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def organisation_plan(store: Store, lake: Path, rules: KpiRules,
                      con: ibis.BaseBackend | None = None,
                      as_of: dt.date | None = None) -> TierPlan:
    """Tiers, required owners and pending changes of every customer, computed once as the system
    account: the lake of the whole organisation (as of its data date unless ``as_of``), the whole
    archive, and the candidates' ids, roles and units along each customer's own org chain."""
    from jiqun.kpi.service import OperatingPicture

    with OperatingPicture(store, lake, Scope.WHOLE, con=con, rules=rules) as picture:
        as_of = as_of or picture.data_date()
        rows = picture.tiers(as_of) if as_of else []
    tiers = {r["customer_id"]: r for r in rows}
    with store.session(source="kpi") as session:  # system: not the viewer's subtree
        customers, candidates = load_inputs(session)
        changes = plan_changes(customers, {c: r["tier"] for c, r in tiers.items()}, candidates,
                               rules)
        wanted = {c.owner_id for c in customers if c.owner_id} | {
            c.new_owner_id for c in changes if c.new_owner_id}
        people = {uid: Person(uid, name, role.value) for uid, name, role in session.execute(
            select(User.id, User.display_name, User.role).where(User.id.in_(wanted)))}
    return TierPlan(as_of, tiers, {c.customer_id: c for c in changes}, people)


def apply_seen(session: Session, plan: TierPlan, seen: dict[int, str]
               ) -> tuple[list[TierChange], list[int]]:
    """Apply the changes the approver ticked, each as they saw it (``seen``: customer id →
    :attr:`TierChange.fingerprint`), through the approver's scoped, audited session.

    Returns the changes applied and the ids skipped (not proposed any more, not the approver's,
    or nothing to write). A ticked change that is now different raises :class:`Conflict` and
    nothing is written: the approver reviews the list again."""
    require(session, Action.TIER_APPLY)
    mine = plan.seen_by(session).changes
    changed = {cid: fp for cid, fp in seen.items()
               if cid in mine and mine[cid].fingerprint != fp}
    if changed:
        raise Conflict("The list changed since you saw it; review it again",
                       mine={str(cid): fp for cid, fp in changed.items()},
                       theirs={str(cid): mine[cid].fingerprint for cid in changed})
    chosen = [mine[cid] for cid in sorted(seen) if cid in mine and mine[cid].writes]
    apply_changes(session, chosen)
    done = {c.customer_id for c in chosen}
    return chosen, sorted(cid for cid in seen if cid not in done)


def reconcile(picture: OperatingPicture, as_of: dt.date, dry_run: bool = False,
              source: str = "cli", session: Session | None = None) -> list[TierChange]:
    """Write the tiers computed on ``as_of`` and the owners they require for the customers of
    ``session`` (default: a system session of the picture's scope), audited; ``dry_run`` only
    lists them. The plan is the organisation's (:func:`organisation_plan`), so a scope sees the
    same changes a wider one lists for its customers. ``jiqun tiers apply`` and the demo use it."""
    plan = organisation_plan(picture.store, picture.lake, picture.rules, picture.con, as_of)
    if session is not None:
        return _reconcile_in(session, plan, dry_run)
    with picture.store.transaction(scope=picture.scope, source=source) as own:
        return _reconcile_in(own, plan, dry_run)


def _reconcile_in(session: Session, plan: TierPlan, dry_run: bool) -> list[TierChange]:
    changes = plan.seen_by(session).ordered()
    if not dry_run:
        apply_changes(session, [c for c in changes if c.writes])
    return changes
