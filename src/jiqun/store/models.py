"""The store: everything people edit (OLTP), as SQLAlchemy 2 models.

Rows that belong to part of the organisation carry ``org_unit_id`` through :class:`OrgScoped`;
:mod:`jiqun.store.scope` limits every query and write on them to the user's org subtree.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
    func,
    inspect,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column, relationship

from jiqun.store import search_keys


class Base(DeclarativeBase):
    pass


def on_dialect(dialect_name: str):
    """Alembic's ``include_object`` for one database: leaves out what ``ddl_if`` keeps off it
    (the PostgreSQL-only indexes), so models and migrations compare equal on every database."""
    def include(obj, _name, _type, _reflected, _compare_to) -> bool:
        ddl_if = getattr(obj, "_ddl_if", None)
        return ddl_if is None or ddl_if.dialect in (None, dialect_name)
    return include


def _enum(cls: type[enum.Enum]) -> Enum:
    # Store the value (readable in SQL and stable across renames of the Python member).
    return Enum(cls, values_callable=lambda e: [m.value for m in e], native_enum=False, length=32)


class OrgLevel(str, enum.Enum):
    HQ = "hq"
    PROVINCE = "province"
    CITY = "city"
    COUNTY = "county"
    OUTLET = "outlet"


class Role(str, enum.Enum):
    ADMIN = "admin"
    HQ_BUSINESS = "hq_business"
    PROVINCIAL_MANAGER = "provincial_manager"
    SUPERVISOR = "supervisor"  # 督导专员
    CITY_MANAGER = "city_manager"
    COUNTY_MANAGER = "county_manager"
    DEPARTMENT_HEAD = "department_head"
    MARKETER = "marketer"  # 营销
    ACCOUNT_MANAGER = "account_manager"  # 客户经理
    COURIER = "courier"  # 揽投员
    CUSTOMER_SERVICE = "customer_service"  # 客服


class MarketType(str, enum.Enum):
    INDUSTRIAL_CLUSTER = "industrial_cluster"  # 产业集群
    WHOLESALE_MARKET = "wholesale_market"  # 批发零售专业市场
    ECOMMERCE_PARK = "ecommerce_park"  # 电商园区
    LIVESTREAM_BASE = "livestream_base"  # 直播基地
    TAOBAO_VILLAGE = "taobao_village"  # 淘宝村


class LifecycleStage(str, enum.Enum):
    """Three steps (三步走): archive (建档) → nurture (蓄客) → upgrade (提升); churn and back."""

    ARCHIVED = "archived"  # 建档
    NURTURING = "nurturing"  # 蓄客: visited
    TRIAL = "trial"  # 试寄
    COOPERATING = "cooperating"  # 合作
    GROWING = "growing"  # 提升
    VIP = "vip"
    CHURNED = "churned"  # 流失


class CustomerTier(str, enum.Enum):
    SPECIAL = "special"  # 特级
    FIRST = "first"  # 一级
    SECOND = "second"  # 二级
    THIRD = "third"  # 三级
    MICRO = "micro"  # 小微


class TeamStatus(str, enum.Enum):
    PROPOSED = "proposed"
    APPROVED = "approved"
    REJECTED = "rejected"
    DISBANDED = "disbanded"


class TargetScope(str, enum.Enum):
    MARKET = "market"
    GRID = "grid"
    TEAM = "team"
    PERSON = "person"


class FacilityKind(str, enum.Enum):
    OUTLET = "outlet"  # 网点 / 揽投部
    CONSOLIDATION_CENTRE = "consolidation_centre"  # 集包中心
    PROCESSING_CENTRE = "processing_centre"  # 邮件处理中心
    WAREHOUSE = "warehouse"  # 仓配 / 源头仓


class LineStatus(str, enum.Enum):
    """A dedicated line's lifecycle: draft → approved → running (all year, or in the peak
    windows only) → closed (``jiqun.network.line_lifecycle``)."""

    DRAFT = "draft"
    APPROVED = "approved"
    ACTIVE = "active"  # running all year
    PEAK_ONLY = "peak_only"  # running in the peak windows only
    CLOSED = "closed"


class ProblemStatus(str, enum.Enum):
    OPEN = "open"
    ESCALATED = "escalated"
    SOLVED = "solved"


class CostPool(str, enum.Enum):
    """Activity cost pools (P3, 分类测算), in the order a parcel meets them."""

    MARKETING = "marketing"  # 营销
    PICKUP = "pickup"  # 揽收
    CUSTOMER_SERVICE = "customer_service"  # 客服
    PROCESSING = "processing"  # 处理 / 分拣
    CONSOLIDATION = "consolidation"  # 集包中心
    LINE_HAUL = "line_haul"  # 干线运输
    LAST_MILE = "last_mile"  # 末端派送 (落地配结算, settled at the destination)


class CostDriver(str, enum.Enum):
    """What a cost pool's variable part is counted in (成本动因)."""

    VISITS = "visits"  # marketing: visits to the customer
    STOPS = "stops"  # pickup: a courier's stop at a merchant on a day
    PIECES = "pieces"  # parcels
    CONTACTS = "contacts"  # customer service: service cases
    TRIPS = "trips"  # line haul on a dedicated line: truck trips
    KG_KM = "kg_km"  # line haul through the hubs: kilograms × road km


class Product(str, enum.Enum):
    EXPRESS = "express"  # 特快 (EMS)
    PARCEL = "parcel"  # 快包
    STANDARD = "standard"  # 标快 / 普包


class ExceptionKind(str, enum.Enum):
    """What is going wrong with a parcel (S1), found by ``jiqun.service.exceptions``."""

    STALLED = "stalled"  # a leg or a dwell beyond its own high percentile
    LATE = "late"  # will miss (or missed) the product's promise
    MISSING_SCAN = "missing_scan"  # an expected scan never came
    FAILED_DELIVERY = "failed_delivery"  # 投递失败 / 异常 scan
    RETURNED = "returned"  # 退回
    LOCKER_UNCOLLECTED = "locker_uncollected"  # in a locker / station, not collected
    LOST = "lost"


class Responsibility(str, enum.Enum):
    """Who is responsible for an exception's reason (责任方)."""

    CARRIER = "carrier"
    SHIPPER = "shipper"
    RECIPIENT = "recipient"
    FORCE_MAJEURE = "force_majeure"  # weather, force majeure
    UNKNOWN = "unknown"


class CaseStatus(str, enum.Enum):
    """A service case's state; WAITING pauses its deadline clock (waiting on others)."""

    OPEN = "open"
    WAITING = "waiting"
    RESOLVED = "resolved"


class JobOutcome(str, enum.Enum):
    RUNNING = "running"
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"  # another process holds the job's lease


class Scoped:
    """Rows limited to the acting user's org subtree by :mod:`jiqun.store.scope`: either
    :class:`OrgScoped` (an org unit of their own) or :class:`ScopedByParent` (their parent's)."""


class OrgScoped(Scoped):
    """Mixin for rows owned by an org unit; the scope mechanism filters on this column."""

    @declared_attr
    def org_unit_id(cls) -> Mapped[int]:  # noqa: N805
        return mapped_column(ForeignKey("org_units.id"), index=True)


class ScopedByParent(Scoped):
    """Mixin for link rows without an org unit of their own: they belong to the org unit of the
    parent row that ``__scope_parent__`` names (foreign key attribute, parent model name), are
    seen and written only where that parent is (no copy of the org unit to keep in step)."""

    __scope_parent__: tuple[str, str]


class Audited:
    """Mixin: inserts, updates and deletes of these rows are written to the audit log."""


class Versioned:
    """Mixin for records people edit in forms: ``version`` goes up with every update, and an
    update of a row that changed since it was read fails (SQLAlchemy's version counter), so a
    second editor gets a conflict instead of silently overwriting the first (no lost update)."""

    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1, server_default="1")

    @declared_attr.directive
    def __mapper_args__(cls) -> dict:  # noqa: N805
        return {"version_id_col": cls.__table__.c.version}


class Timestamped:
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime, server_default=func.now(), onupdate=func.now()
    )


class OrgUnit(Base):
    """HQ → province → city → county → outlet. ``path`` is ``/1/5/12/`` for subtree lookups."""

    __tablename__ = "org_units"
    # The scope selects a subtree by ``path LIKE '/1/5/%'``: on PostgreSQL the index uses the
    # pattern operator class, which serves such a prefix under any collation (and equality).
    __table_args__ = (Index("ix_org_units_path", "path",
                            postgresql_ops={"path": "varchar_pattern_ops"}),)
    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"))
    level: Mapped[OrgLevel] = mapped_column(_enum(OrgLevel))
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str | None] = mapped_column(String(100))
    adcode: Mapped[str | None] = mapped_column(String(12), index=True)
    path: Mapped[str] = mapped_column(String(255), default="")

    parent: Mapped[OrgUnit | None] = relationship(remote_side="OrgUnit.id")


class User(Base, OrgScoped, Timestamped, Versioned, Audited):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(_enum(Role))
    phone: Mapped[str | None] = mapped_column(String(32))
    locale: Mapped[str | None] = mapped_column(String(8))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Goes up when the password changes or the account is disabled: every session and API token
    # carries the value it was issued under, so both end at once (jiqun.accounts).
    auth_epoch: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")

    org_unit: Mapped[OrgUnit] = relationship()


class Market(Base, OrgScoped, Timestamped, Versioned, Audited):
    """A cluster market (集群市场)."""

    __tablename__ = "markets"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str | None] = mapped_column(String(100))
    type: Mapped[MarketType] = mapped_column(_enum(MarketType))
    industry: Mapped[str] = mapped_column(String(50))
    adcode: Mapped[str | None] = mapped_column(String(12))
    address: Mapped[str | None] = mapped_column(String(255))
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    tier: Mapped[str | None] = mapped_column(String(16))  # A / B / C operating tier
    key_area: Mapped[bool] = mapped_column(Boolean, default=False)  # 重点产粮区
    yearly_revenue_target: Mapped[float | None] = mapped_column(Float)

    org_unit: Mapped[OrgUnit] = relationship()
    volume_estimates: Mapped[list[MarketVolumeEstimate]] = relationship(
        back_populates="market", order_by="MarketVolumeEstimate.valid_from"
    )


ALL_CARRIERS = "*"  # MarketVolumeEstimate.carrier of the whole market (all carriers)


class MarketVolumeEstimate(Base, OrgScoped, Audited):
    """Estimated daily volume of the whole market (all carriers), or of one named competitor."""

    __tablename__ = "market_volume_estimates"
    __table_args__ = (UniqueConstraint("market_id", "carrier", "valid_from"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    market_id: Mapped[int] = mapped_column(ForeignKey("markets.id"), index=True)
    carrier: Mapped[str] = mapped_column(String(32), default=ALL_CARRIERS)
    valid_from: Mapped[dt.date] = mapped_column(Date)
    daily_volume: Mapped[float] = mapped_column(Float)
    source: Mapped[str | None] = mapped_column(String(100))

    market: Mapped[Market] = relationship(back_populates="volume_estimates")


class Team(Base, OrgScoped, Timestamped, Versioned, Audited):
    """A marketing team; proposed by a city, approved by the province."""

    __tablename__ = "teams"
    id: Mapped[int] = mapped_column(primary_key=True)
    market_id: Mapped[int | None] = mapped_column(ForeignKey("markets.id"))
    name: Mapped[str] = mapped_column(String(100))
    status: Mapped[TeamStatus] = mapped_column(_enum(TeamStatus), default=TeamStatus.PROPOSED)
    proposed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    members: Mapped[list[TeamMember]] = relationship(back_populates="team")


class TeamMember(Base, ScopedByParent):
    __tablename__ = "team_members"
    __scope_parent__ = ("team_id", "Team")  # a membership is seen and edited where the team is
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    role: Mapped[str] = mapped_column(String(32), default="member")  # leader / member
    joined_on: Mapped[dt.date | None] = mapped_column(Date)

    team: Mapped[Team] = relationship(back_populates="members")
    user: Mapped[User] = relationship()


class Grid(Base, OrgScoped, Timestamped, Versioned, Audited):
    """A grid (网格, 责任田) inside a market; versions by validity so KPIs survive a redraw."""

    __tablename__ = "grids"
    id: Mapped[int] = mapped_column(primary_key=True)
    market_id: Mapped[int] = mapped_column(ForeignKey("markets.id"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(100))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(16), default="active")  # draft/active/retired
    valid_from: Mapped[dt.date | None] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    geometry: Mapped[dict | None] = mapped_column(JSON)  # GeoJSON

    market: Mapped[Market] = relationship()


class Customer(Base, OrgScoped, Timestamped, Versioned, Audited):
    """A merchant (商家) in the archive (客户档案)."""

    __tablename__ = "customers"
    __table_args__ = (
        Index("ix_customers_market_stage", "market_id", "lifecycle_stage"),
        # PostgreSQL only (SQLite, for small deployments, scans; it has no NULLS LAST in an
        # index): the list's order (biggest first, then id: the same page for the same rows
        # whatever the ties), walked by the first page and by OFFSET, and the trigram indexes
        # of the search keys (jiqun.store.search_keys), which serve LIKE '%…%'.
        Index("ix_customers_volume_order", text("est_daily_volume DESC NULLS LAST"),
              "id").ddl_if(dialect="postgresql"),
        Index("ix_customers_fragment_key", "fragment_key", postgresql_using="gin",
              postgresql_ops={"fragment_key": "gin_trgm_ops"}).ddl_if(dialect="postgresql"),
        Index("ix_customers_words_key", "words_key", postgresql_using="gin",
              postgresql_ops={"words_key": "gin_trgm_ops"}).ddl_if(dialect="postgresql"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    contact: Mapped[str | None] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(32))
    address: Mapped[str | None] = mapped_column(String(255))
    adcode: Mapped[str | None] = mapped_column(String(12))
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    market_id: Mapped[int | None] = mapped_column(ForeignKey("markets.id"), index=True)
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grids.id"), index=True)
    platforms: Mapped[list | None] = mapped_column(JSON)  # ["taobao", "pdd", "live"] 淘系/拼系/直播
    categories: Mapped[list | None] = mapped_column(JSON)
    est_daily_volume: Mapped[float | None] = mapped_column(Float)
    lifecycle_stage: Mapped[LifecycleStage] = mapped_column(
        _enum(LifecycleStage), default=LifecycleStage.ARCHIVED
    )
    tier: Mapped[CustomerTier | None] = mapped_column(_enum(CustomerTier))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    vip: Mapped[bool] = mapped_column(Boolean, default=False)
    vip_manager_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    first_shipped_on: Mapped[dt.date | None] = mapped_column(Date)
    archived_on: Mapped[dt.date | None] = mapped_column(Date)
    at_risk_since: Mapped[dt.date | None] = mapped_column(Date)  # 预警: volume falling
    owned_since: Mapped[dt.date | None] = mapped_column(Date)  # the pool (公海) clock starts here
    # 仓配一体 / 源头仓: the warehouse this merchant's parcels ship from, if any (S2)
    warehouse_id: Mapped[int | None] = mapped_column(ForeignKey("facilities.id"))
    # What a search matches (jiqun.store.search_keys), derived from name, code and phone: set
    # on every ORM write below and, for Core inserts (the demo's bulk load), by the defaults.
    fragment_key: Mapped[str] = mapped_column(Text, default=lambda ctx: _fragment_key(ctx))
    words_key: Mapped[str] = mapped_column(Text, default=lambda ctx: _words_key(ctx))

    market: Mapped[Market | None] = relationship()
    grid: Mapped[Grid | None] = relationship()
    owner: Mapped[User | None] = relationship(foreign_keys=[owner_id])
    carriers: Mapped[list[CustomerCarrier]] = relationship(back_populates="customer")


def _fragment_key(context) -> str:
    return search_keys.fragment_key(context.get_current_parameters().get("name"))


def _words_key(context) -> str:
    row = context.get_current_parameters()
    return search_keys.words_key(row.get("name"), row.get("code"), row.get("phone"))


@event.listens_for(Customer, "before_insert")
@event.listens_for(Customer, "before_update")
def _keep_search_keys(_mapper, _connection, customer: Customer) -> None:
    """New customers, and those whose name, code or phone changes, get their search keys
    (an archive entry, an import, a rename: every ORM write)."""
    state = inspect(customer)
    if state.persistent and not any(state.attrs[k].history.has_changes()
                                    for k in ("name", "code", "phone")):
        return
    customer.fragment_key = search_keys.fragment_key(customer.name)
    customer.words_key = search_keys.words_key(customer.name, customer.code, customer.phone)


class CustomerCarrier(Base, OrgScoped, Audited):
    """A carrier the merchant uses now, its share of the merchant's parcels and its price."""

    __tablename__ = "customer_carriers"
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    carrier: Mapped[str] = mapped_column(String(32))
    share: Mapped[float | None] = mapped_column(Float)
    price_first_kg: Mapped[float | None] = mapped_column(Float)

    customer: Mapped[Customer] = relationship(back_populates="carriers")


class Visit(Base, OrgScoped, Audited):
    """A visit (走访) with its method, outcome and next step."""

    __tablename__ = "visits"
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    visited_at: Mapped[dt.datetime] = mapped_column(DateTime)
    method: Mapped[str] = mapped_column(String(32))  # card / directory / sweep / referral / …
    outcome: Mapped[str] = mapped_column(String(32))  # no_interest / interested / trial / signed
    next_step: Mapped[str | None] = mapped_column(String(255))
    next_visit_on: Mapped[dt.date | None] = mapped_column(Date)
    notes: Mapped[str | None] = mapped_column(Text)
    competitor: Mapped[str | None] = mapped_column(String(32))  # the carrier heard of
    competitor_price: Mapped[float | None] = mapped_column(Float)  # its first-kg price, yuan


class StageChange(Base, OrgScoped, Audited):
    """One change of a customer's lifecycle stage (阶段变更): from, to, when, who and why."""

    __tablename__ = "stage_changes"
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    from_stage: Mapped[LifecycleStage | None] = mapped_column(_enum(LifecycleStage))
    to_stage: Mapped[LifecycleStage] = mapped_column(_enum(LifecycleStage))
    at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))  # None: a system rule
    reason: Mapped[str] = mapped_column(String(32))  # first_waybills / silent / visit_signed / …
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id"))


class TrialShipment(Base, OrgScoped, Audited):
    """A trial shipment (试寄)."""

    __tablename__ = "trial_shipments"
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    started_on: Mapped[dt.date] = mapped_column(Date)
    ended_on: Mapped[dt.date | None] = mapped_column(Date)
    parcels: Mapped[int] = mapped_column(Integer, default=0)
    outcome: Mapped[str | None] = mapped_column(String(32))


class Campaign(Base, OrgScoped, Timestamped, Versioned, Audited):
    """A campaign (e.g. 春耕计划) and the customers it reached."""

    __tablename__ = "campaigns"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    starts_on: Mapped[dt.date] = mapped_column(Date)
    ends_on: Mapped[dt.date] = mapped_column(Date)
    description: Mapped[str | None] = mapped_column(Text)
    # How the target list was chosen (market / grid / stage / tier …) or "upload"; kept so the
    # list can be explained and rebuilt.
    filters: Mapped[dict | None] = mapped_column(JSON)


class CampaignCustomer(Base, ScopedByParent):
    # "Customer X is a target of campaign Y" is a fact of the customer: the customer's subtree
    # sees it (a city sees its merchants' campaigns, as the funnel counts them) and keeps it in
    # step (a merge moves it), whoever's campaign it is.
    __tablename__ = "campaign_customers"
    __scope_parent__ = ("customer_id", "Customer")
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), primary_key=True)


class DuplicateStatus(str, enum.Enum):
    OPEN = "open"
    MERGED = "merged"
    KEPT = "kept"  # reviewed: two different merchants


class DuplicateCandidate(Base, OrgScoped, Timestamped, Versioned, Audited):
    """A likely duplicate pair (疑似重复) found by the bulk archive, for a manager to review.

    ``customer_id`` is the record kept on a merge; the other record is named by its code (and
    snapshot keys) so the pair stays traceable after the other row is merged away, and a re-run
    of the same file recognises the merged merchant instead of archiving it again.
    """

    __tablename__ = "duplicate_candidates"
    __table_args__ = (UniqueConstraint("customer_id", "other_code"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    other_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    other_code: Mapped[str] = mapped_column(String(32), index=True)
    other_name: Mapped[str] = mapped_column(String(200))
    other_keys: Mapped[list | None] = mapped_column(JSON)  # normalised phone / name+address keys
    reason: Mapped[str] = mapped_column(String(32))  # same_name / same_address / similar_name
    score: Mapped[float] = mapped_column(Float, default=0.0)
    status: Mapped[DuplicateStatus] = mapped_column(
        _enum(DuplicateStatus), default=DuplicateStatus.OPEN, index=True)
    source_file: Mapped[str | None] = mapped_column(String(255))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class Notification(Base, OrgScoped, Timestamped, Audited):
    """An in-app message (站内提醒) to one user, e.g. a prospect about to return to the pool.

    One row per customer × recipient × kind × due date, so a reminder job can run again safely.
    """

    __tablename__ = "notifications"
    __table_args__ = (UniqueConstraint("user_id", "customer_id", "kind", "due_on"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # pool_owner / pool_manager
    due_on: Mapped[dt.date] = mapped_column(Date)  # the day the event happens (returns to pool)
    sent_on: Mapped[dt.date] = mapped_column(Date)
    params: Mapped[dict | None] = mapped_column(JSON)  # values of the message (name, days …)
    read_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class Target(Base, OrgScoped, Versioned, Audited):
    """A monthly plan for one market, grid, team or person."""

    __tablename__ = "targets"
    __table_args__ = (UniqueConstraint("scope_type", "scope_id", "month"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    scope_type: Mapped[TargetScope] = mapped_column(_enum(TargetScope))
    scope_id: Mapped[int] = mapped_column(Integer)
    month: Mapped[dt.date] = mapped_column(Date)  # first day of the month
    volume: Mapped[float] = mapped_column(Float, default=0)
    revenue: Mapped[float] = mapped_column(Float, default=0)
    new_customers: Mapped[int] = mapped_column(Integer, default=0)


class Zone(Base, OrgScoped, Audited):
    """A destination zone of an origin province: same province / neighbouring / far / remote."""

    __tablename__ = "zones"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))
    province_adcodes: Mapped[list] = mapped_column(JSON)


class RateOrigin(str, enum.Enum):
    """Whom a rate card prices: the most specific card in force wins (customer > market >
    county > province), ``jiqun.money.rates``."""

    CUSTOMER = "customer"  # a contract's own card (协议价)
    MARKET = "market"  # one place, one price (一地一价)
    COUNTY = "county"
    PROVINCE = "province"  # the province's default tariff


class PriceStatus(str, enum.Enum):
    """A rate card version's or contract's state: draft → (pending approval, when below the
    floor) → in force → superseded (by a later version, from its first day)."""

    DRAFT = "draft"
    PENDING = "pending_approval"
    IN_FORCE = "in_force"
    SUPERSEDED = "superseded"


class RateCard(Base, OrgScoped, Timestamped, Audited):
    """A rate card (价格表) of one origin and one product; its prices are its dated versions.

    ``org_unit_id`` is the origin's unit: the market's outlet, the county or the province (a
    customer's card: the customer's unit)."""

    __tablename__ = "rate_cards"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(48), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    origin: Mapped[RateOrigin] = mapped_column(_enum(RateOrigin))
    market_id: Mapped[int | None] = mapped_column(ForeignKey("markets.id"), index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    product: Mapped[Product] = mapped_column(_enum(Product))

    versions: Mapped[list[RateCardVersion]] = relationship(
        back_populates="card", order_by="RateCardVersion.number")


class RateCardVersion(Base, OrgScoped, Versioned, Audited):
    """One dated version of a card: immutable once in force; a later version put in force
    supersedes it from its own ``valid_from`` (this one's ``valid_to`` is the day before)."""

    __tablename__ = "rate_card_versions"
    __table_args__ = (UniqueConstraint("card_id", "number"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    card_id: Mapped[int] = mapped_column(ForeignKey("rate_cards.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    status: Mapped[PriceStatus] = mapped_column(_enum(PriceStatus), default=PriceStatus.DRAFT)
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    # Chargeable weight = max(actual, L×W×H cm³ / divisor) (抛重 / 体积重)
    volumetric_divisor: Mapped[float] = mapped_column(Float, default=6000.0)
    note: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, server_default=func.now())
    # Who proposed it and the level of their unit then: a price below the floor is approved
    # by someone above that level.
    proposed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    proposed_level: Mapped[OrgLevel | None] = mapped_column(_enum(OrgLevel))
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    card: Mapped[RateCard] = relationship(back_populates="versions")
    lines: Mapped[list[RateLine]] = relationship(
        back_populates="version", order_by="(RateLine.zone, RateLine.weight_from_kg)")
    surcharges: Mapped[list[RateSurcharge]] = relationship(
        back_populates="version", order_by="RateSurcharge.position")


class RateLine(Base, OrgScoped, Audited):
    """One line of a version: destination zone × weight band (weight_from_kg, weight_to_kg],
    the first weight and its price, then each further kg or part of one (续重)."""

    __tablename__ = "rate_lines"
    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("rate_card_versions.id"), index=True)
    zone: Mapped[str] = mapped_column(String(16))  # jiqun.geo.ZoneKind value
    weight_from_kg: Mapped[float] = mapped_column(Float, default=0.0)
    weight_to_kg: Mapped[float] = mapped_column(Float)
    first_weight_kg: Mapped[float] = mapped_column(Float, default=1.0)
    first_price: Mapped[float] = mapped_column(Float)
    extra_per_kg: Mapped[float] = mapped_column(Float, default=0.0)

    version: Mapped[RateCardVersion] = relationship(back_populates="lines")


class RateSurcharge(Base, OrgScoped, Audited):
    """A surcharge of a version, applied in ``position`` order to the price so far: an amount
    per parcel plus a percent. ``remote``: destinations under ``adcodes``; ``peak``: parcels
    shipped from ``starts_on`` to ``ends_on``."""

    __tablename__ = "rate_surcharges"
    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("rate_card_versions.id"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=1)
    kind: Mapped[str] = mapped_column(String(16))  # remote / peak
    amount: Mapped[float] = mapped_column(Float, default=0.0)
    percent: Mapped[float] = mapped_column(Float, default=0.0)
    adcodes: Mapped[list | None] = mapped_column(JSON)
    starts_on: Mapped[dt.date | None] = mapped_column(Date)
    ends_on: Mapped[dt.date | None] = mapped_column(Date)

    version: Mapped[RateCardVersion] = relationship(back_populates="surcharges")


class PriceBundle(Base, OrgScoped, Timestamped, Versioned, Audited):
    """A bundle (C4) for a platform segment (淘系 taobao / 拼系 pdd / 直播 live): a product, its
    promise and services, and a rate adjustment that a contract can take (时效、服务、价格组合)."""

    __tablename__ = "price_bundles"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(48), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    segment: Mapped[str] = mapped_column(String(16))  # taobao / pdd / live
    product: Mapped[Product] = mapped_column(_enum(Product))
    promise_hours: Mapped[int | None] = mapped_column(Integer)  # 时效承诺
    services: Mapped[list | None] = mapped_column(JSON)  # e.g. ["pickup_daily", "returns"]
    rate_adjustment: Mapped[float] = mapped_column(Float, default=0.0)  # -0.05: 5 % off
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class PriceContract(Base, OrgScoped, Timestamped, Versioned, Audited):
    """A customer's contract price (协议价), valid between two dates: a discount on the tariff's
    first and further-kg prices, a bundle, or the customer's own card (origin ``customer``)."""

    __tablename__ = "price_contracts"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(48), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    product: Mapped[Product | None] = mapped_column(_enum(Product))  # None: every product
    discount: Mapped[float] = mapped_column(Float, default=0.0)  # 0.1: 10 % off the tariff
    bundle_id: Mapped[int | None] = mapped_column(ForeignKey("price_bundles.id"))
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    status: Mapped[PriceStatus] = mapped_column(_enum(PriceStatus), default=PriceStatus.DRAFT)
    note: Mapped[str | None] = mapped_column(String(255))
    proposed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    proposed_level: Mapped[OrgLevel | None] = mapped_column(_enum(OrgLevel))
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    bundle: Mapped[PriceBundle | None] = relationship()


class CompetitorPrice(Base, OrgScoped, Audited):
    __tablename__ = "competitor_prices"
    id: Mapped[int] = mapped_column(primary_key=True)
    market_id: Mapped[int] = mapped_column(ForeignKey("markets.id"), index=True)
    competitor: Mapped[str] = mapped_column(String(32))
    dest_province_adcode: Mapped[str | None] = mapped_column(String(12))
    weight_kg: Mapped[float] = mapped_column(Float)
    price: Mapped[float] = mapped_column(Float)
    observed_on: Mapped[dt.date] = mapped_column(Date)
    observed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


ALL_ZONES = "*"  # CostParameter.zone of a rate that holds for every destination zone


class CostParameter(Base, OrgScoped, Timestamped, Versioned, Audited):
    """One driver rate of an activity cost pool (P3) for a province or city, from a month on.

    ``rate`` is the volume-variable part, yuan per unit of ``driver``; ``fixed_per_month`` the
    fixed part, yuan a month, spread over the parcels the row governs by ``allocation_key``
    (pieces, weight or revenue). A city's row wins over its province's for the same pool,
    driver and zone; a newer ``valid_from`` (first day of a month) replaces an older one.
    """

    __tablename__ = "cost_parameters"
    __table_args__ = (UniqueConstraint("org_unit_id", "pool", "driver", "zone", "valid_from"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    pool: Mapped[CostPool] = mapped_column(_enum(CostPool))
    driver: Mapped[CostDriver] = mapped_column(_enum(CostDriver))
    zone: Mapped[str] = mapped_column(String(16), default=ALL_ZONES)  # last mile by zone
    rate: Mapped[float] = mapped_column(Float, default=0.0)
    fixed_per_month: Mapped[float] = mapped_column(Float, default=0.0)
    allocation_key: Mapped[str] = mapped_column(String(16), default="pieces")
    valid_from: Mapped[dt.date] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(String(255))


class Facility(Base, OrgScoped, Timestamped, Versioned, Audited):
    """An outlet, consolidation centre (集包中心), processing centre or warehouse."""

    __tablename__ = "facilities"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[FacilityKind] = mapped_column(_enum(FacilityKind))
    adcode: Mapped[str | None] = mapped_column(String(12))
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    capacity_per_day: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), default="active")


class DedicatedLine(Base, OrgScoped, Timestamped, Versioned, Audited):
    """A dedicated point-to-point line (专线) from an origin to a destination city."""

    __tablename__ = "dedicated_lines"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    origin_facility_id: Mapped[int | None] = mapped_column(ForeignKey("facilities.id"))
    origin_market_id: Mapped[int | None] = mapped_column(ForeignKey("markets.id"))
    dest_adcode: Mapped[str] = mapped_column(String(12))
    status: Mapped[LineStatus] = mapped_column(_enum(LineStatus), default=LineStatus.DRAFT)
    truck_type: Mapped[str | None] = mapped_column(String(32))
    trips_per_day: Mapped[float | None] = mapped_column(Float)
    opened_on: Mapped[dt.date | None] = mapped_column(Date)
    closed_on: Mapped[dt.date | None] = mapped_column(Date)
    proposal: Mapped[dict | None] = mapped_column(JSON)  # the planner's numbers at acceptance
    # Who accepted the proposal, and the level of their unit then: approval needs a level above.
    proposed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    proposed_level: Mapped[OrgLevel | None] = mapped_column(_enum(OrgLevel))
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class Problem(Base, OrgScoped, Timestamped, Versioned, Audited):
    """A common problem raised at city level (R2), visible up the hierarchy until solved."""

    __tablename__ = "problems"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    market_id: Mapped[int | None] = mapped_column(ForeignKey("markets.id"))
    raised_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    raised_on: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[ProblemStatus] = mapped_column(_enum(ProblemStatus), default=ProblemStatus.OPEN)
    escalated_to_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    solved_on: Mapped[dt.date | None] = mapped_column(Date)
    # R2 escalation: the level that holds it now, its clock, where it came from, the merge into
    # one common problem (共性问题) and who solved it (the credit).
    level: Mapped[OrgLevel] = mapped_column(_enum(OrgLevel), default=OrgLevel.CITY,
                                            server_default="city")
    due_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    escalated_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    source: Mapped[str] = mapped_column(String(16), default="meeting", server_default="meeting")
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id"))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("service_cases.id"))
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("problems.id"), index=True)
    is_common: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    solved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    solution: Mapped[str | None] = mapped_column(Text)


class ProblemEvent(Base, ScopedByParent):
    """One step in a problem's history: raised, escalated (by hand or by its clock), merged,
    solved, with who and when (the problem page's timeline)."""

    __tablename__ = "problem_events"
    __scope_parent__ = ("problem_id", "Problem")
    id: Mapped[int] = mapped_column(primary_key=True)
    problem_id: Mapped[int] = mapped_column(ForeignKey("problems.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime)
    kind: Mapped[str] = mapped_column(String(16))  # raised/escalated/merged/solved/note
    by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    from_level: Mapped[OrgLevel | None] = mapped_column(_enum(OrgLevel))
    to_level: Mapped[OrgLevel | None] = mapped_column(_enum(OrgLevel))
    note: Mapped[str | None] = mapped_column(Text)

    problem: Mapped[Problem] = relationship()


class ParcelException(Base, OrgScoped, Audited):
    """An exception found on a parcel in flight (S1), before the customer calls. One row per
    waybill × kind: detection can run again and finds the same row (``detection`` updates it)."""

    __tablename__ = "parcel_exceptions"
    __table_args__ = (UniqueConstraint("waybill_no", "kind"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    waybill_no: Mapped[str] = mapped_column(String(32), index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    market_id: Mapped[int | None] = mapped_column(ForeignKey("markets.id"))
    kind: Mapped[ExceptionKind] = mapped_column(_enum(ExceptionKind))
    responsibility: Mapped[Responsibility] = mapped_column(_enum(Responsibility))
    reason: Mapped[str | None] = mapped_column(String(32))  # normalised reason code
    leg: Mapped[str | None] = mapped_column(String(32))  # e.g. "arrived→out_for_delivery"
    facility_id: Mapped[int | None] = mapped_column(ForeignKey("facilities.id"))
    bag_key: Mapped[str | None] = mapped_column(String(64), index=True)  # parcels moved together
    detected_at: Mapped[dt.datetime] = mapped_column(DateTime)
    promised_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    details: Mapped[dict | None] = mapped_column(JSON)  # hours waited, the percentile, …
    case_id: Mapped[int | None] = mapped_column(ForeignKey("service_cases.id"), index=True)
    cleared_at: Mapped[dt.datetime | None] = mapped_column(DateTime)  # the parcel moved on


class ServiceCase(Base, OrgScoped, Timestamped, Versioned, Audited):
    """A case of the proactive service queue (主动客服): one customer's (or one bag's)
    exceptions, an owner, and deadlines in working hours for first response and resolution."""

    __tablename__ = "service_cases"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    group_key: Mapped[str] = mapped_column(String(80), index=True)  # customer:ID / bag:KEY
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    kind: Mapped[ExceptionKind] = mapped_column(_enum(ExceptionKind))
    status: Mapped[CaseStatus] = mapped_column(_enum(CaseStatus), default=CaseStatus.OPEN)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    opened_at: Mapped[dt.datetime] = mapped_column(DateTime)
    first_response_due: Mapped[dt.datetime] = mapped_column(DateTime)
    resolve_due: Mapped[dt.datetime] = mapped_column(DateTime)
    first_response_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    waiting_since: Mapped[dt.datetime | None] = mapped_column(DateTime)  # the clock is paused
    warned_at: Mapped[dt.datetime | None] = mapped_column(DateTime)  # 75% of a deadline
    escalated_at: Mapped[dt.datetime | None] = mapped_column(DateTime)  # a deadline breached
    escalated_to_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    summary: Mapped[str | None] = mapped_column(Text)

    customer: Mapped[Customer | None] = relationship()


class CaseEvent(Base, ScopedByParent):
    """One entry of a case's log: a contact with the merchant (channel, template, message),
    a note, waiting/resumed (the clock), a warning, an escalation, the resolution."""

    __tablename__ = "case_events"
    __scope_parent__ = ("case_id", "ServiceCase")
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("service_cases.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime)
    kind: Mapped[str] = mapped_column(String(16))  # contact/note/wait/resume/warn/escalate/resolve
    by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    channel: Mapped[str | None] = mapped_column(String(16))  # phone / sms / wechat
    template: Mapped[str | None] = mapped_column(String(32))
    message: Mapped[str | None] = mapped_column(Text)

    case: Mapped[ServiceCase] = relationship()


class JobRun(Base):
    """One run of a scheduled job (reminders, pool, lifecycle, exceptions, aggregates,
    bulletin): when, by whom (scheduler or a person), its outcome and what it did."""

    __tablename__ = "job_runs"
    __table_args__ = (Index("ix_job_runs_job_started", "job", "started_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[dt.datetime] = mapped_column(DateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    outcome: Mapped[JobOutcome] = mapped_column(_enum(JobOutcome), default=JobOutcome.RUNNING)
    trigger: Mapped[str] = mapped_column(String(16), default="schedule")  # schedule/manual/demo
    by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    summary: Mapped[dict | None] = mapped_column(JSON)  # counts of what it did
    error: Mapped[str | None] = mapped_column(Text)


class JobLease(Base):
    """One row per job: the process that runs it now and until when, so two servers or a
    server and a worker never run the same job at once."""

    __tablename__ = "job_leases"
    job: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64))
    until: Mapped[dt.datetime] = mapped_column(DateTime)


class AuditEntry(Base, OrgScoped):
    """Who changed what and when; written by :mod:`jiqun.store.audit`, never edited.

    Scoped by the changed row's org unit, so a history shows only changes inside the subtree;
    an entry without an org unit is seen by the whole organisation's scope only."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, server_default=func.now(), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    username: Mapped[str | None] = mapped_column(String(64))  # the actor's name; "system" for jobs
    org_unit_id: Mapped[int | None] = mapped_column(  # type: ignore[assignment]
        ForeignKey("org_units.id"), index=True)
    action: Mapped[str] = mapped_column(String(16))  # insert / update / delete
    entity: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    changes: Mapped[dict | None] = mapped_column(JSON)
    source: Mapped[str | None] = mapped_column(String(32))  # web / cli / import / api


class WebSession(Base):
    """A signed-in browser (server-side session): the cookie holds a random id, this row its
    SHA-256, so signing out, a password change or disabling the user ends it on the server."""

    __tablename__ = "web_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex of the cookie's id
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    auth_epoch: Mapped[int] = mapped_column(Integer)  # the user's auth_epoch at sign-in
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)


class LoginAttempt(Base):
    """One sign-in attempt, reserved before the password is checked (``pending``) and kept as
    ``failed`` for the throttling window; shared by every server process (jiqun.web.security)."""

    __tablename__ = "login_attempts"
    __table_args__ = (Index("ix_login_attempts_user_client", "username", "client"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64))  # case-folded, as typed (may not exist)
    client: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)
    state: Mapped[str] = mapped_column(String(8))  # pending / failed


class LoginGuard(Base):
    """One row per user name tried: updating it locks the name while an attempt is counted and
    reserved, so parallel attempts on one name are counted one after the other (no race)."""

    __tablename__ = "login_guards"
    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime)
