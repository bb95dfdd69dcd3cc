"""Who may do what: one registry of actions × roles × org levels (权限), asked inside the services.

Every write a person can make is an :class:`Action`. :data:`REGISTRY` says which roles, at which
levels of the org tree, may take it. The services call :func:`require` with the session they were
given, so the web page, the ``/api`` twin, the CLI and the Python API all get the same answer;
the web additionally asks the same registry before parsing a request (``web.deps.allow``), to
answer 403 early and to hide what a user may not do.

Who is acting travels with the session (``Store.session(actor=…)``): a session opened without an
actor belongs to the named system account :data:`SYSTEM` (whole organisation, every action),
which is what scheduled jobs and the demo builder use. People always act as themselves.

``docs/permissions.md`` is this registry rendered by :func:`markdown_table`; a test keeps the two
identical.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from jiqun.errors import NotAllowed
from jiqun.store.models import OrgLevel, OrgUnit, Role, User

SYSTEM_USERNAME = "system"


class Action(str, enum.Enum):
    """A write action; the value is the name used in docs, audit and the matrix tests."""

    # markets (M1, M2)
    MARKET_CREATE = "market.create"
    MARKET_EDIT = "market.edit"
    TARGET_SET = "target.set"
    # teams and grids (G1, G3)
    TEAM_PROPOSE = "team.propose"
    TEAM_DECIDE = "team.decide"
    TEAM_EDIT_MEMBERS = "team.edit_members"
    GRID_DRAFT = "grid.draft"
    GRID_APPROVE = "grid.approve"
    GRID_ACTIVATE = "grid.activate"
    # customers and field sales (C1–C6)
    TIER_APPLY = "tier.apply"
    CUSTOMER_ARCHIVE = "customer.archive"
    DUPLICATE_DECIDE = "duplicate.decide"
    VISIT_LOG = "visit.log"
    POOL_CLAIM = "pool.claim"
    CAMPAIGN_CREATE = "campaign.create"
    REMINDERS_RUN = "reminders.run"
    LIFECYCLE_RUN = "lifecycle.run"
    INBOX_READ = "inbox.read"
    # network (N1–N4)
    LINE_ACCEPT = "line.accept"
    LINE_APPROVE = "line.approve"
    LINE_OPEN = "line.open"
    LINE_CLOSE = "line.close"
    # money (P1–P4)
    PRICE_CARD_EDIT = "price.card_edit"
    PRICE_APPROVE = "price.approve"
    PRICE_CONTRACT = "price.contract"
    COST_EDIT = "cost.edit"
    # service (S1, S2, R2)
    CASE_WORK = "case.work"
    CASE_ASSIGN = "case.assign"
    EXCEPTIONS_RUN = "exceptions.run"
    WAREHOUSE_ASSIGN = "warehouse.assign"
    PROBLEM_RAISE = "problem.raise"
    PROBLEM_ESCALATE = "problem.escalate"
    PROBLEM_MERGE = "problem.merge"
    PROBLEM_SOLVE = "problem.solve"
    # jobs
    JOB_RUN = "job.run"
    # data
    DATA_IMPORT = "data.import"
    # accounts
    USER_MANAGE = "user.manage"
    PASSWORD_RESET = "user.reset_password"


@dataclass(frozen=True)
class Rule:
    """The roles that may take an action, and the org levels their unit must be at."""

    roles: frozenset[Role]
    levels: frozenset[OrgLevel]
    description: str

    def allows(self, role: Role, level: OrgLevel) -> bool:
        return role in self.roles and level in self.levels


def _rule(description: str, roles: Iterable[Role], levels: Iterable[OrgLevel]) -> Rule:
    return Rule(frozenset(roles), frozenset(levels), description)


R = Role
L = OrgLevel
EVERY_LEVEL = tuple(OrgLevel)
CITY_AND_UP = (L.HQ, L.PROVINCE, L.CITY)
PROVINCE_AND_UP = (L.HQ, L.PROVINCE)
LEADERS = (R.ADMIN, R.HQ_BUSINESS, R.PROVINCIAL_MANAGER, R.SUPERVISOR)
MANAGERS = (*LEADERS, R.CITY_MANAGER, R.COUNTY_MANAGER, R.DEPARTMENT_HEAD)
FIELD = (R.MARKETER, R.ACCOUNT_MANAGER, R.COURIER)

REGISTRY: dict[Action, Rule] = {
    Action.MARKET_CREATE: _rule("Register a cluster market",
                                (R.ADMIN, R.HQ_BUSINESS, R.PROVINCIAL_MANAGER, R.CITY_MANAGER,
                                 R.COUNTY_MANAGER), EVERY_LEVEL),
    Action.MARKET_EDIT: _rule("Edit a market's details (name, type, tier, place)",
                              (R.ADMIN, R.HQ_BUSINESS, R.PROVINCIAL_MANAGER, R.CITY_MANAGER,
                               R.COUNTY_MANAGER), EVERY_LEVEL),
    Action.TARGET_SET: _rule("Set a market's yearly revenue and volume targets",
                             (R.ADMIN, R.HQ_BUSINESS, R.PROVINCIAL_MANAGER, R.CITY_MANAGER),
                             CITY_AND_UP),
    Action.TEAM_PROPOSE: _rule("Propose a marketing team", MANAGERS, EVERY_LEVEL),
    Action.TEAM_DECIDE: _rule("Approve or reject a proposed team", LEADERS,
                              PROVINCE_AND_UP),
    Action.TEAM_EDIT_MEMBERS: _rule("Change a team's members and their roles", MANAGERS,
                                    EVERY_LEVEL),
    Action.GRID_DRAFT: _rule("Save a grid redraw as a draft",
                             (R.ADMIN, R.PROVINCIAL_MANAGER, R.SUPERVISOR, R.CITY_MANAGER,
                              R.COUNTY_MANAGER, R.DEPARTMENT_HEAD), EVERY_LEVEL),
    Action.GRID_APPROVE: _rule("Approve a grid draft",
                               (R.ADMIN, R.PROVINCIAL_MANAGER, R.SUPERVISOR, R.CITY_MANAGER),
                               CITY_AND_UP),
    Action.GRID_ACTIVATE: _rule("Put an approved grid draft into force",
                                (R.ADMIN, R.PROVINCIAL_MANAGER, R.SUPERVISOR, R.CITY_MANAGER),
                                CITY_AND_UP),
    Action.TIER_APPLY: _rule("Apply computed customer tiers and owners",
                             (R.ADMIN, R.PROVINCIAL_MANAGER, R.SUPERVISOR, R.CITY_MANAGER),
                             CITY_AND_UP),
    Action.CUSTOMER_ARCHIVE: _rule("Archive merchants, one or a file",
                                   (*MANAGERS, R.MARKETER, R.ACCOUNT_MANAGER), EVERY_LEVEL),
    Action.DUPLICATE_DECIDE: _rule("Merge or keep likely duplicate customers", MANAGERS,
                                   EVERY_LEVEL),
    Action.VISIT_LOG: _rule("Log a visit to a merchant",
                            (R.ADMIN, R.CITY_MANAGER, R.COUNTY_MANAGER, R.DEPARTMENT_HEAD, *FIELD),
                            EVERY_LEVEL),
    Action.POOL_CLAIM: _rule("Claim a customer from the public pool",
                             (R.ADMIN, R.DEPARTMENT_HEAD, R.MARKETER, R.ACCOUNT_MANAGER),
                             EVERY_LEVEL),
    Action.CAMPAIGN_CREATE: _rule("Start a campaign", MANAGERS, EVERY_LEVEL),
    Action.REMINDERS_RUN: _rule("Send follow-up reminders and recycle the pool now",
                                (R.ADMIN, R.PROVINCIAL_MANAGER, R.CITY_MANAGER), CITY_AND_UP),
    Action.LIFECYCLE_RUN: _rule("Move customers along the lifecycle from their waybills now",
                                (R.ADMIN, R.PROVINCIAL_MANAGER, R.CITY_MANAGER), CITY_AND_UP),
    # Everyone may mark their own reminders read (the service only touches the caller's own).
    Action.INBOX_READ: _rule("Mark one's own reminders read", tuple(Role), EVERY_LEVEL),
    Action.LINE_ACCEPT: _rule("Accept a proposed dedicated line",
                              (R.ADMIN, R.HQ_BUSINESS, R.PROVINCIAL_MANAGER, R.CITY_MANAGER,
                               R.COUNTY_MANAGER), EVERY_LEVEL),
    # The service also wants the approver's unit above the level of the one who accepted it.
    Action.LINE_APPROVE: _rule("Approve a draft dedicated line",
                               (R.ADMIN, R.HQ_BUSINESS, R.PROVINCIAL_MANAGER, R.CITY_MANAGER),
                               CITY_AND_UP),
    Action.LINE_OPEN: _rule("Put an approved dedicated line into service",
                            (R.ADMIN, R.HQ_BUSINESS, R.PROVINCIAL_MANAGER, R.CITY_MANAGER,
                             R.COUNTY_MANAGER), EVERY_LEVEL),
    Action.LINE_CLOSE: _rule("Close a dedicated line or withdraw its draft",
                             (R.ADMIN, R.HQ_BUSINESS, R.PROVINCIAL_MANAGER, R.CITY_MANAGER,
                              R.COUNTY_MANAGER), EVERY_LEVEL),
    Action.PRICE_CARD_EDIT: _rule("Import a rate card or put a version in force",
                                  (R.ADMIN, R.HQ_BUSINESS, R.PROVINCIAL_MANAGER, R.CITY_MANAGER),
                                  CITY_AND_UP),
    # The service also wants the approver's unit above the level of the one who proposed it.
    Action.PRICE_APPROVE: _rule("Approve a price below the floor",
                                (R.ADMIN, R.HQ_BUSINESS, R.PROVINCIAL_MANAGER, R.SUPERVISOR,
                                 R.CITY_MANAGER), CITY_AND_UP),
    Action.PRICE_CONTRACT: _rule("Set a customer's contract price or bundle",
                                 (R.ADMIN, R.PROVINCIAL_MANAGER, R.CITY_MANAGER,
                                  R.COUNTY_MANAGER, R.DEPARTMENT_HEAD, R.ACCOUNT_MANAGER),
                                 EVERY_LEVEL),
    Action.COST_EDIT: _rule("Edit cost parameters",
                            (R.ADMIN, R.HQ_BUSINESS, R.PROVINCIAL_MANAGER, R.CITY_MANAGER),
                            CITY_AND_UP),
    Action.CASE_WORK: _rule("Work a service case: contact, note, wait, resolve",
                            (R.ADMIN, R.CUSTOMER_SERVICE, R.CITY_MANAGER, R.COUNTY_MANAGER,
                             R.DEPARTMENT_HEAD, R.ACCOUNT_MANAGER), EVERY_LEVEL),
    Action.CASE_ASSIGN: _rule("Give a service case to another owner",
                              (R.ADMIN, R.PROVINCIAL_MANAGER, R.SUPERVISOR, R.CITY_MANAGER,
                               R.COUNTY_MANAGER, R.CUSTOMER_SERVICE), EVERY_LEVEL),
    Action.EXCEPTIONS_RUN: _rule("Detect parcel exceptions now and open their cases",
                                 (R.ADMIN, R.PROVINCIAL_MANAGER, R.CITY_MANAGER,
                                  R.CUSTOMER_SERVICE), CITY_AND_UP),
    Action.WAREHOUSE_ASSIGN: _rule("Serve a customer from a warehouse",
                                   (R.ADMIN, R.PROVINCIAL_MANAGER, R.CITY_MANAGER,
                                    R.COUNTY_MANAGER), EVERY_LEVEL),
    Action.PROBLEM_RAISE: _rule("Raise a problem", tuple(r for r in Role if r != R.COURIER),
                                EVERY_LEVEL),
    Action.PROBLEM_ESCALATE: _rule("Escalate a problem to the level above", MANAGERS,
                                   EVERY_LEVEL),
    Action.PROBLEM_MERGE: _rule("Merge problems into one common problem", LEADERS,
                                PROVINCE_AND_UP),
    Action.PROBLEM_SOLVE: _rule("Mark a problem solved, with its solution", MANAGERS,
                                EVERY_LEVEL),
    Action.JOB_RUN: _rule("Run a scheduled job now", (R.ADMIN, R.HQ_BUSINESS,
                                                      R.PROVINCIAL_MANAGER), PROVINCE_AND_UP),
    Action.DATA_IMPORT: _rule("Import waybills, tracking events and markets",
                              (R.ADMIN, R.HQ_BUSINESS, R.PROVINCIAL_MANAGER, R.CITY_MANAGER),
                              CITY_AND_UP),
    Action.USER_MANAGE: _rule("Add, disable and re-role users in one's subtree",
                              (R.ADMIN, R.PROVINCIAL_MANAGER, R.CITY_MANAGER), CITY_AND_UP),
    Action.PASSWORD_RESET: _rule("Reset another user's password", (R.ADMIN,), EVERY_LEVEL),
}


@dataclass(frozen=True)
class Actor:
    """Who acts: a user with their role and the level and id of their org unit."""

    user_id: int | None
    username: str
    role: Role
    level: OrgLevel
    org_unit_id: int | None
    system: bool = False

    @classmethod
    def of(cls, user: User, unit: OrgUnit | None = None) -> Actor:
        unit = unit or user.org_unit
        return cls(user.id, user.username, user.role, unit.level, unit.id)

    def may(self, action: Action) -> bool:
        return allowed(self, action)


SYSTEM = Actor(user_id=None, username=SYSTEM_USERNAME, role=Role.ADMIN, level=OrgLevel.HQ,
               org_unit_id=None, system=True)


def allowed(actor: Actor, action: Action) -> bool:
    """Whether ``actor`` may take ``action`` (the system account may take every action)."""
    return actor.system or REGISTRY[action].allows(actor.role, actor.level)


def actor_of(session: Session) -> Actor:
    """The actor a session was opened for (:data:`SYSTEM` when none was given)."""
    return session.info.get("actor") or SYSTEM


def require(subject: Session | Actor, action: Action) -> Actor:
    """Refuse (:class:`~jiqun.errors.NotAllowed`) unless the acting user may take ``action``."""
    actor = subject if isinstance(subject, Actor) else actor_of(subject)
    if not allowed(actor, action):
        raise NotAllowed("Your role may not do this: {action}", action=action_label(action))
    return actor


def action_label(action: Action) -> str:
    return REGISTRY[action].description


def markdown_table() -> str:
    """The registry as the table of ``docs/permissions.md``."""
    roles = list(Role)
    head = "| action | what | " + " | ".join(r.value for r in roles) + " | levels |"
    rule = "|" + "---|" * (len(roles) + 3)
    lines = [head, rule]
    for action, r in REGISTRY.items():
        cells = ["✓" if role in r.roles else "" for role in roles]
        levels = ", ".join(lv.value for lv in OrgLevel if lv in r.levels)
        lines.append(f"| `{action.value}` | {r.description} | " + " | ".join(cells)
                     + f" | {levels} |")
    return "\n".join(lines) + "\n"
