"""Campaigns (营销活动, e.g. a spring drive 春季攻坚) and their measured effect.

A campaign has a name, dates and a target list of merchants — chosen by filters (market, grid,
lifecycle stage, tier, platform) or uploaded as a list of codes. Its effect is measured on the
data, not claimed: the targets' visits, conversions (to cooperating) and parcels during the
campaign against the same merchants in the equally long period just before it, and the same
for the non-targets of the same markets as a control group (对照组). The difference of the two
growths (difference in differences) is what the campaign added.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import ibis
from pydantic import BaseModel, Field, ValidationError, ValidationInfo, field_validator
from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from jiqun.bounds import PlausibleDate
from jiqun.errors import Conflict, Invalid, NotFound
from jiqun.lake.engine import daily
from jiqun.permissions import Action, require
from jiqun.store.models import (
    Campaign,
    CampaignCustomer,
    Customer,
    CustomerTier,
    Grid,
    LifecycleStage,
    Market,
    StageChange,
    Visit,
)
from jiqun.store.scope import Scope

FILTER_KEYS = ("markets", "grids", "stages", "tiers", "platforms")


class CampaignError(Invalid):
    """A campaign that cannot be saved: ``field`` → msgid, with ``values`` for its placeholders
    (the message of the first field is ``msgid``)."""

    def __init__(self, message: str, field: str = "__all__", errors: dict[str, str] | None = None,
                 **values):
        super().__init__(errors or {field: message})
        self.msgid, self.values = message, values

    def translated(self, t) -> dict[str, str]:
        return {field: t(msgid, **self.values) for field, msgid in self.errors.items()}


class CampaignNotFound(NotFound):
    pass


# Messages of the checks below (msgids); a pydantic error of another kind gets the field's.
NAME_REQUIRED = "a name is required"
ENDS_BEFORE_START = "the campaign ends before it starts"
DATES_REQUIRED = "give the start and end dates"
DATE_RANGE = "A date between 2000 and 2100"
FIELD_MESSAGES = {"name": NAME_REQUIRED, "description": "Too long", "codes": "Too many codes"}
NAME_LENGTH = 100  # the column's size
MAX_CODES = 50_000


class CampaignIn(BaseModel):
    """A campaign to create or edit: the body of ``POST /api/campaigns``, and what the page and
    the CLI are checked against, so every edge refuses the same values at write time (a start
    on 0001-01-02 would break the effect's date arithmetic for ever after)."""

    name: str = Field(max_length=NAME_LENGTH)
    starts_on: PlausibleDate
    ends_on: PlausibleDate = Field(description="On or after starts_on.")
    description: str | None = Field(None, max_length=10_000)
    markets: list[str] = Field(default_factory=list, description="market codes")
    grids: list[str] = Field(default_factory=list, description="grid codes")
    stages: list[str] = Field(default_factory=list)
    tiers: list[str] = Field(default_factory=list)
    platforms: list[str] = Field(default_factory=list)
    codes: list[str] | None = Field(None, max_length=MAX_CODES,
                                    description="customer codes instead of filters")

    @field_validator("name")
    @classmethod
    def _named(cls, value: str) -> str:
        if not value.strip():
            raise ValueError(NAME_REQUIRED)
        return value.strip()

    @field_validator("ends_on")
    @classmethod
    def _after_start(cls, value: dt.date, info: ValidationInfo) -> dt.date:
        starts = info.data.get("starts_on")
        if starts is not None and value < starts:
            raise ValueError(ENDS_BEFORE_START)
        return value

    def target_filters(self) -> TargetFilters:
        return TargetFilters(**{k: list(getattr(self, k)) for k in FILTER_KEYS})


def _message(item: dict) -> str:
    field = str(item["loc"][0]) if item["loc"] else "__all__"
    own = str((item.get("ctx") or {}).get("error", ""))
    if own in (NAME_REQUIRED, ENDS_BEFORE_START):
        return own
    if field in ("starts_on", "ends_on"):
        return DATE_RANGE if item["type"] == "value_error" else DATES_REQUIRED
    return FIELD_MESSAGES.get(field, "Invalid request")


def campaign_input(**values: Any) -> CampaignIn:
    """The checked campaign, or :class:`CampaignError` naming each wrong field."""
    try:
        return CampaignIn(**values)
    except ValidationError as err:
        errors: dict[str, str] = {}
        for item in err.errors():
            errors.setdefault(str(item["loc"][0]) if item["loc"] else "__all__", _message(item))
        first = next(iter(errors.values()))
        raise CampaignError(first, errors=errors) from None


@dataclass
class TargetFilters:
    """How a target list is chosen (目标客户筛选): codes of markets and grids, stages, tiers,
    platforms; an empty field does not filter."""

    markets: list[str] = field(default_factory=list)
    grids: list[str] = field(default_factory=list)
    stages: list[str] = field(default_factory=list)
    tiers: list[str] = field(default_factory=list)
    platforms: list[str] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: dict | None) -> TargetFilters:
        data = data or {}
        return cls(**{k: [str(v) for v in data.get(k) or []] for k in FILTER_KEYS})

    def as_dict(self) -> dict[str, list[str]]:
        return {k: v for k, v in asdict(self).items() if v}

    def problems(self) -> list[str]:
        bad = [s for s in self.stages if s not in {x.value for x in LifecycleStage}]
        bad += [t for t in self.tiers if t not in {x.value for x in CustomerTier}]
        return bad


def target_ids(session: Session, filters: TargetFilters) -> list[int]:
    """The merchants in scope that match every given filter."""
    query = select(Customer.id, Customer.platforms)
    if filters.markets:
        query = query.join(Market, Customer.market_id == Market.id).where(
            Market.code.in_(filters.markets))
    if filters.grids:
        query = query.join(Grid, Customer.grid_id == Grid.id).where(Grid.code.in_(filters.grids))
    if filters.stages:
        query = query.where(Customer.lifecycle_stage.in_(
            [LifecycleStage(s) for s in filters.stages]))
    if filters.tiers:
        query = query.where(Customer.tier.in_([CustomerTier(t) for t in filters.tiers]))
    wanted = set(filters.platforms)
    return sorted(cid for cid, platforms in session.execute(query)
                  if not wanted or wanted & set(platforms or ()))


def codes_from_text(text: str) -> list[str]:
    """Customer codes from an uploaded list: one per line, or separated by commas, spaces,
    tabs or 、 (a header line such as ``客户编码`` is ignored by the lookup)."""
    return [c for c in re.split(r"[\s,;，；、]+", text or "") if c]


def ids_for_codes(session: Session, codes: list[str]) -> tuple[list[int], list[str]]:
    """Ids of the codes in scope, and the codes not found (unknown or outside the scope)."""
    found: dict[str, int] = {}
    for start in range(0, len(codes), 500):
        chunk = codes[start:start + 500]
        found.update(session.execute(select(Customer.code, Customer.id)
                                     .where(Customer.code.in_(chunk))).all())
    return sorted(set(found.values())), [c for c in dict.fromkeys(codes) if c not in found]



def set_targets(session: Session, campaign: Campaign, ids: list[int]) -> int:
    """Replace the campaign's target list (only the in-scope part is replaced)."""
    in_scope = set(session.scalars(select(Customer.id)))
    ids = sorted(set(ids) & in_scope)
    session.execute(delete(CampaignCustomer).where(
        CampaignCustomer.campaign_id == campaign.id,
        CampaignCustomer.customer_id.in_(in_scope)))
    if ids:
        session.execute(insert(CampaignCustomer),
                        [{"campaign_id": campaign.id, "customer_id": i} for i in ids])
    return len(ids)


def create_campaign(session: Session, *, name: str, starts_on: dt.date, ends_on: dt.date,
                    org_unit_id: int, filters: TargetFilters | None = None,
                    codes: list[str] | None = None, description: str | None = None
                    ) -> tuple[Campaign, list[str]]:
    """Save a campaign and its target list (by filters, or by uploaded codes); returns the
    campaign and the codes not found."""
    require(session, Action.CAMPAIGN_CREATE)
    data = campaign_input(name=name, starts_on=starts_on, ends_on=ends_on,
                          description=description)
    campaign = Campaign(name=data.name, starts_on=data.starts_on, ends_on=data.ends_on,
                        description=data.description, org_unit_id=org_unit_id)
    session.add(campaign)
    session.flush()
    missing = _retarget(session, campaign, filters, codes)
    return campaign, missing


def _retarget(session, campaign, filters, codes) -> list[str]:
    if codes is not None:
        ids, missing = ids_for_codes(session, codes)
        campaign.filters = {"upload": len(codes)}
    else:
        filters = filters or TargetFilters()
        bad = filters.problems()
        if bad:
            raise CampaignError("unknown filter values: {values}", "filters",
                                values=", ".join(bad))
        ids, missing = target_ids(session, filters), []
        campaign.filters = filters.as_dict()
    set_targets(session, campaign, ids)
    session.flush()
    return missing


def update_campaign(session: Session, campaign_id: int, *, name: str, starts_on: dt.date,
                    ends_on: dt.date, description: str | None = None,
                    filters: TargetFilters | None = None, codes: list[str] | None = None,
                    retarget: bool = False, version: int | None = None
                    ) -> tuple[Campaign, list[str]]:
    """Edit a campaign; its target list is rebuilt only when ``retarget``. ``version`` is the
    one the editor saw: a campaign changed since is a :class:`~jiqun.errors.Conflict` showing
    both values, never a silent overwrite."""
    require(session, Action.CAMPAIGN_CREATE)
    campaign = get_campaign(session, campaign_id)
    data = campaign_input(name=name, starts_on=starts_on, ends_on=ends_on,
                          description=description)
    if version is not None and version != campaign.version:
        raise Conflict("This campaign was changed meanwhile; check the values and save again",
                       mine=_values(data), theirs=_values(campaign))
    campaign.name, campaign.starts_on, campaign.ends_on = data.name, data.starts_on, data.ends_on
    campaign.description = data.description
    missing = _retarget(session, campaign, filters, codes) if retarget else []
    session.flush()
    return campaign, missing


def _values(record) -> dict[str, Any]:
    return {k: getattr(record, k) for k in ("name", "starts_on", "ends_on", "description")}


def get_campaign(session: Session, campaign_id: int) -> Campaign:
    campaign = session.get(Campaign, campaign_id)  # scoped
    if campaign is None:
        raise CampaignNotFound(campaign_id)
    return campaign


def campaign_targets(session: Session, campaign_id: int) -> list[int]:
    """The targets of the campaign that the session may see."""
    return list(session.scalars(
        select(Customer.id).join(CampaignCustomer, CampaignCustomer.customer_id == Customer.id)
        .where(CampaignCustomer.campaign_id == campaign_id).order_by(Customer.id)))


@dataclass(frozen=True)
class CampaignRow:
    id: int
    name: str
    starts_on: dt.date
    ends_on: dt.date
    targets: int
    filters: dict | None


def list_campaigns(session: Session) -> list[CampaignRow]:
    """The campaigns in scope, newest first, with their (visible) target counts."""
    counts = dict(session.execute(
        select(CampaignCustomer.campaign_id, func.count())
        .join(Customer, CampaignCustomer.customer_id == Customer.id)
        .group_by(CampaignCustomer.campaign_id)).all())
    return [CampaignRow(c.id, c.name, c.starts_on, c.ends_on, counts.get(c.id, 0), c.filters)
            for c in session.scalars(select(Campaign).order_by(Campaign.starts_on.desc(),
                                                                Campaign.id.desc()))]


# -- effect (活动效果) ---------------------------------------------------------------------------
@dataclass(frozen=True)
class GroupPeriod:
    """One group (targets or control) in one period (before or during)."""

    group: str  # target / control
    period: str  # before / during
    start: dt.date
    end: dt.date
    customers: int
    visits: int
    visited: int  # customers visited at least once
    conversions: int  # customers that became cooperating in the period
    parcels: int
    parcels_per_customer_day: float | None


@dataclass(frozen=True)
class CampaignEffect:
    """The campaign's measured effect: each group before and during, and the lift."""

    campaign_id: int
    name: str
    starts_on: dt.date
    ends_on: dt.date
    measured_to: dt.date  # the campaign's end, or the data date when it is still running
    rows: list[GroupPeriod]
    target_growth: float | None  # parcels per customer-day, during ÷ before − 1
    control_growth: float | None
    lift: float | None  # target growth − control growth (difference in differences)
    extra_conversions: float | None  # conversion rate difference × targets

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def periods(starts_on: dt.date, ends_on: dt.date, data_date: dt.date | None
            ) -> tuple[tuple[dt.date, dt.date], tuple[dt.date, dt.date]]:
    """The campaign's days up to the data date, and the equally long stretch before it."""
    end = min(ends_on, data_date) if data_date else ends_on
    end = max(end, starts_on)
    days = (end - starts_on).days + 1
    return (starts_on - dt.timedelta(days=days), starts_on - dt.timedelta(days=1)), (starts_on, end)


def _parcels(con, lake: Path, scope: Scope | None, start: dt.date, split: dt.date,
             end: dt.date) -> dict[tuple[int, str], int]:
    """Parcels by customer and period (before ``split`` / from it) from the daily aggregate
    (a lake without data yet is an empty table: no parcels)."""
    table = daily(con, lake, scope)
    period = ibis.ifelse(table.day >= ibis.date(split), "during", "before")
    expr = (table.filter(table.day >= ibis.date(start), table.day <= ibis.date(end),
                         table.customer_id.notnull())
            .mutate(period=period).group_by(["customer_id", "period"])
            .aggregate(parcels=table.parcels.sum()))
    return {(int(r["customer_id"]), r["period"]): int(r["parcels"])
            for r in expr.to_pyarrow().to_pylist()}


def _events(session: Session, start: dt.date, end: dt.date) -> tuple[dict, dict]:
    """Visits per customer and the customers converted, by period key (the caller splits)."""
    first = dt.datetime.combine(start, dt.time.min)
    last = dt.datetime.combine(end, dt.time.max)
    visits = session.execute(select(Visit.customer_id, Visit.visited_at)
                             .where(Visit.visited_at.between(first, last))).all()
    conversions = session.execute(
        select(StageChange.customer_id, StageChange.at).where(
            StageChange.to_stage == LifecycleStage.COOPERATING,
            StageChange.at.between(first, last))).all()
    return visits, conversions


def _control(session: Session, targets: set[int]) -> set[int]:
    """Non-targets in the targets' markets (all non-targets in scope when they have none)."""
    markets = {m for cid, m in session.execute(select(Customer.id, Customer.market_id))
               if cid in targets and m is not None}
    query = select(Customer.id)
    if markets:
        query = query.where(Customer.market_id.in_(markets))
    return set(session.scalars(query)) - targets


def _growth(before: GroupPeriod, during: GroupPeriod) -> float | None:
    b, d = before.parcels_per_customer_day, during.parcels_per_customer_day
    return None if not b or d is None else d / b - 1.0


def campaign_effect(session: Session, con, lake: Path, scope: Scope | None, campaign_id: int,
                    data_date: dt.date | None) -> CampaignEffect:
    """Targets vs themselves before vs the control group, over the campaign's days so far."""
    campaign = get_campaign(session, campaign_id)
    (b0, b1), (d0, d1) = periods(campaign.starts_on, campaign.ends_on, data_date)
    targets = set(campaign_targets(session, campaign.id))
    groups = {"target": targets, "control": _control(session, targets)}
    parcels = _parcels(con, lake, scope, b0, d0, d1)
    visits, conversions = _events(session, b0, d1)
    rows = []
    for group, members in groups.items():
        for period, (start, end) in (("before", (b0, b1)), ("during", (d0, d1))):
            seen = [cid for cid, at in visits if cid in members and start <= at.date() <= end]
            converted = {cid for cid, at in conversions
                         if cid in members and start <= at.date() <= end}
            total = sum(n for (cid, p), n in parcels.items() if p == period and cid in members)
            days = (end - start).days + 1
            rows.append(GroupPeriod(
                group, period, start, end, len(members), len(seen), len(set(seen)),
                len(converted), total, total / (len(members) * days) if members else None))
    tb, td, cb, cd = rows
    tg, cg = _growth(tb, td), _growth(cb, cd)
    extra = None
    if targets and groups["control"]:
        extra = (td.conversions / len(targets) - cd.conversions / len(groups["control"])) \
            * len(targets)
    return CampaignEffect(campaign.id, campaign.name, campaign.starts_on, campaign.ends_on, d1,
                          rows, tg, cg, None if tg is None or cg is None else tg - cg, extra)
