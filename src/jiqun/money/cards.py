"""Rate cards and contract prices as people keep them: lists, versions with their history, the
steps of a version (draft → in force → superseded), approval below the floor, contracts,
bundles, and the spreadsheets a province keeps (import and export).

Steps of a card version (``jiqun price cards activate|approve``, ``/prices/cards/{id}``):

==========  ======================  ==============================================
step        action                  what
==========  ======================  ==============================================
activate    ``price.card_edit``     a draft goes in force from its ``valid_from``;
                                    a line below the floor makes it *pending*
approve     ``price.approve``       a pending version goes in force; the approver's
                                    unit must be above the proposer's level
==========  ======================  ==============================================

Putting a version in force supersedes the version in force before it from the new version's
first day (its ``valid_to`` is the day before): nothing in force is ever edited, so the rate of
a past day stays what it was. Contracts (``price.contract``) follow the same floor rule.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jiqun.errors import Conflict, Invalid, NotAllowed, NotFound
from jiqun.ingest.columns import LIST_SEPARATORS, PRODUCTS, RATE_CARDS
from jiqun.ingest.report import Reject
from jiqun.ingest.store_kinds import Outcome, Planned, RowReader, _org_units
from jiqun.money.price_rules import PriceRules
from jiqun.money.rates import APPLIES, price_floor
from jiqun.money.tariff import Line, line_price, money
from jiqun.permissions import Action, actor_of, require
from jiqun.store.models import (
    Customer,
    Market,
    OrgLevel,
    OrgUnit,
    PriceBundle,
    PriceContract,
    PriceStatus,
    Product,
    RateCard,
    RateCardVersion,
    RateLine,
    RateOrigin,
    RateSurcharge,
    User,
)

LEVEL_RANK = {level: rank for rank, level in enumerate(OrgLevel)}  # HQ 0 … outlet 4
ZONES = {"same": "same", "省内": "same", "本省": "same", "neighbour": "neighbour",
         "邻省": "neighbour", "far": "far", "跨省": "far", "远程": "far", "remote": "remote",
         "偏远": "remote"}
ORIGINS = {"market": "market", "市场": "market", "county": "county", "区县": "county",
           "县": "county", "province": "province", "省": "province", "省分": "province",
           "customer": "customer", "客户": "customer"}
ZONE_ORDER = ("same", "neighbour", "far", "remote")
SEGMENTS = ("taobao", "pdd", "live")  # 淘系 / 拼系 / 直播


# -- reading ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class CardRow:
    """A card in the list: its origin and the version in force on the day asked."""

    id: int
    code: str
    name: str
    origin: str
    product: str
    market: str | None
    customer: str | None
    unit: str
    version: int | None
    valid_from: dt.date | None
    lines: int
    lowest_first_price: float | None
    pending: int  # versions waiting for approval


def _version_on(versions: list[RateCardVersion], on: dt.date) -> RateCardVersion | None:
    found = [v for v in versions if v.status in APPLIES and v.valid_from <= on
             and (v.valid_to is None or v.valid_to >= on)]
    return max(found, key=lambda v: v.valid_from, default=None)


def card_list(session: Session, on: dt.date | None = None) -> list[CardRow]:
    """Every card in the session's scope with its version in force on ``on`` (today)."""
    on = on or dt.date.today()
    cards = list(session.scalars(select(RateCard).order_by(RateCard.origin, RateCard.code)))
    markets = dict(session.execute(select(Market.id, Market.code)).all())
    customers = dict(session.execute(
        select(Customer.id, Customer.code).where(Customer.id.in_(
            [c.customer_id for c in cards if c.customer_id]))).all()) if cards else {}
    units = dict(session.execute(select(OrgUnit.id, OrgUnit.code)).all())
    rows = []
    for card in cards:
        current = _version_on(card.versions, on)
        rows.append(CardRow(
            card.id, card.code, card.name, card.origin.value, card.product.value,
            markets.get(card.market_id), customers.get(card.customer_id),
            units.get(card.org_unit_id, ""), current.number if current else None,
            current.valid_from if current else None, len(current.lines) if current else 0,
            min((x.first_price for x in current.lines), default=None) if current else None,
            sum(v.status == PriceStatus.PENDING for v in card.versions)))
    return rows


@dataclass(frozen=True)
class LineRow:
    zone: str
    weight_from_kg: float
    weight_to_kg: float
    first_weight_kg: float
    first_price: float
    extra_per_kg: float


@dataclass(frozen=True)
class LineChange:
    """A line of a version against the version before it (by zone and band)."""

    zone: str
    weight_from_kg: float
    weight_to_kg: float
    change: str  # added / removed / changed
    first_price_before: float | None
    first_price: float | None
    extra_per_kg_before: float | None
    extra_per_kg: float | None


@dataclass(frozen=True)
class SurchargeRow:
    position: int
    kind: str
    amount: float
    percent: float
    adcodes: list[str]
    starts_on: dt.date | None
    ends_on: dt.date | None


@dataclass(frozen=True)
class VersionRow:
    id: int
    number: int
    status: str
    valid_from: dt.date
    valid_to: dt.date | None
    volumetric_divisor: float
    note: str | None
    proposed_by: str | None
    approved_by: str | None
    approved_at: dt.datetime | None
    row_version: int  # the optimistic-lock counter a step names
    lines: list[LineRow]
    surcharges: list[SurchargeRow]
    changes: list[LineChange]  # against the previous version


@dataclass(frozen=True)
class CardDetail:
    card: CardRow
    versions: list[VersionRow]  # newest first


def _line_key(x: RateLine) -> tuple:
    return (ZONE_ORDER.index(x.zone) if x.zone in ZONE_ORDER else 9, x.weight_from_kg,
            x.weight_to_kg)


def diff_lines(before: list[RateLine], after: list[RateLine]) -> list[LineChange]:
    """Lines added, removed or with other prices, by zone and weight band."""
    old = {(x.zone, x.weight_from_kg, x.weight_to_kg): x for x in before}
    new = {(x.zone, x.weight_from_kg, x.weight_to_kg): x for x in after}
    changes = []
    for key in sorted(old.keys() | new.keys(),
                      key=lambda k: (ZONE_ORDER.index(k[0]) if k[0] in ZONE_ORDER else 9,
                                     k[1], k[2])):
        a, b = old.get(key), new.get(key)
        if a and b and (a.first_price, a.extra_per_kg, a.first_weight_kg) == (
                b.first_price, b.extra_per_kg, b.first_weight_kg):
            continue
        changes.append(LineChange(
            key[0], key[1], key[2], "added" if a is None else "removed" if b is None else "changed",
            a.first_price if a else None, b.first_price if b else None,
            a.extra_per_kg if a else None, b.extra_per_kg if b else None))
    return changes


def _names(session: Session, ids: set[int | None]) -> dict[int, str]:
    ids = {i for i in ids if i}
    if not ids:
        return {}
    return dict(session.execute(select(User.id, User.display_name).where(User.id.in_(ids)),
                                execution_options={"unscoped": True}).all())


def find_card(session: Session, ref: str | int) -> RateCard:
    """A card by id or code, in scope (else :class:`NotFound`)."""
    card = None
    if isinstance(ref, int) or str(ref).isdigit():
        card = session.get(RateCard, int(ref))
    if card is None:
        card = session.scalar(select(RateCard).where(RateCard.code == str(ref)))
    if card is None:
        raise NotFound("rate card")
    return card


def card_detail(session: Session, card_id: int, on: dt.date | None = None) -> CardDetail:
    card = find_card(session, card_id)
    row = next(r for r in card_list(session, on) if r.id == card.id)
    versions = sorted(card.versions, key=lambda v: v.number)
    names = _names(session, {v.proposed_by_id for v in versions} |
                   {v.approved_by_id for v in versions})
    out = []
    for i, v in enumerate(versions):
        previous = versions[i - 1].lines if i else []
        out.append(VersionRow(
            v.id, v.number, v.status.value, v.valid_from, v.valid_to, v.volumetric_divisor,
            v.note, names.get(v.proposed_by_id), names.get(v.approved_by_id), v.approved_at,
            v.version,
            [LineRow(x.zone, x.weight_from_kg, x.weight_to_kg, x.first_weight_kg, x.first_price,
                     x.extra_per_kg) for x in sorted(v.lines, key=_line_key)],
            [SurchargeRow(s.position, s.kind, s.amount, s.percent, list(s.adcodes or []),
                          s.starts_on, s.ends_on) for s in v.surcharges],
            diff_lines(previous, v.lines) if i else []))
    return CardDetail(row, list(reversed(out)))


# -- steps ------------------------------------------------------------------------------------
def _market_of(card: RateCard, session: Session) -> int | None:
    if card.market_id:
        return card.market_id
    if card.customer_id:
        return session.scalar(select(Customer.market_id).where(Customer.id == card.customer_id))
    return None


def lowest_price(lines: list[Line]) -> Decimal | None:
    """The cheapest parcel a set of lines can charge: each band at its lowest weight."""
    prices = [line_price(x, max(x.weight_from_kg + Decimal("0.01"), Decimal("0.01")))
              for x in lines]
    return min(prices, default=None)


def _as_lines(rows: list[RateLine]) -> list[Line]:
    return [Line(x.zone, Decimal(repr(x.weight_from_kg)), Decimal(repr(x.weight_to_kg)),
                 Decimal(repr(x.first_weight_kg)), money(x.first_price), money(x.extra_per_kg))
            for x in rows]


def below_floor(session: Session, version: RateCardVersion,
                rules: PriceRules | None = None, costs=None) -> bool:
    """Whether the version's cheapest parcel is below the floor of its market and product."""
    card = version.card
    lowest = lowest_price(_as_lines(version.lines))
    floor, _ = price_floor(session, _market_of(card, session), card.product, version.valid_from,
                           rules, costs)
    return lowest is not None and lowest < floor


def _version(session: Session, card_ref, number: int, row_version: int | None
             ) -> RateCardVersion:
    card = find_card(session, card_ref)
    found = next((v for v in card.versions if v.number == number), None)
    if found is None:
        raise NotFound("rate card version")
    if row_version is not None and found.version != row_version:
        raise Conflict("The version changed since you saw it", mine={"version": row_version},
                       theirs={"version": found.version})
    return found


def _put_in_force(session: Session, version: RateCardVersion) -> None:
    """In force from its ``valid_from``; the version in force before it is superseded from
    that day (its last day the day before)."""
    others = [v for v in version.card.versions if v.id != version.id and v.status in APPLIES]
    if any(v.valid_from >= version.valid_from for v in others):
        raise Conflict("A version from this date or later is in force already: give a later "
                       "start date")
    for v in others:
        if v.valid_to is None or v.valid_to >= version.valid_from:
            v.valid_to = version.valid_from - dt.timedelta(days=1)
            v.status = PriceStatus.SUPERSEDED
    version.status = PriceStatus.IN_FORCE


def activate(session: Session, card_ref, number: int, *, version: int | None = None,
             rules: PriceRules | None = None, costs=None) -> RateCardVersion:
    """Put a draft version in force, or — below the floor — send it for approval
    (``costs``: :func:`jiqun.money.floor.cost_floor`; without it the regulatory minimum)."""
    actor = require(session, Action.PRICE_CARD_EDIT)
    v = _version(session, card_ref, number, version)
    if v.status != PriceStatus.DRAFT:
        raise Conflict("Only a draft version can be put in force")
    v.proposed_by_id, v.proposed_level = actor.user_id, actor.level
    if below_floor(session, v, rules, costs):
        v.status = PriceStatus.PENDING
    else:
        _put_in_force(session, v)
    session.flush()
    return v


def above(actor, level: OrgLevel | None) -> bool:
    """The approver's unit is above the proposer's level (nobody approves their own price)."""
    return actor.system or level is None or LEVEL_RANK[actor.level] < LEVEL_RANK[level]


def approve(session: Session, card_ref, number: int, *, version: int | None = None,
            now: dt.datetime | None = None) -> RateCardVersion:
    """Approve a version below the floor (审批): someone above the proposer's level."""
    actor = require(session, Action.PRICE_APPROVE)
    v = _version(session, card_ref, number, version)
    if v.status != PriceStatus.PENDING:
        raise Conflict("Only a version waiting for approval can be approved")
    if not above(actor, v.proposed_level):
        raise NotAllowed("A price below the floor is approved by someone above the level of "
                         "the one who proposed it")
    _put_in_force(session, v)
    v.approved_by_id = actor.user_id
    v.approved_at = now or dt.datetime.now().replace(microsecond=0)
    session.flush()
    return v


# -- contracts and bundles --------------------------------------------------------------------
@dataclass(frozen=True)
class ContractRow:
    id: int
    code: str
    customer: str
    customer_name: str
    product: str | None
    discount: float
    bundle: str | None
    valid_from: dt.date
    valid_to: dt.date | None
    status: str
    row_version: int


def contract_list(session: Session, customer_id: int | None = None) -> list[ContractRow]:
    q = (select(PriceContract, Customer.code, Customer.name)
         .join(Customer, Customer.id == PriceContract.customer_id)
         .order_by(PriceContract.valid_from.desc(), PriceContract.code))
    if customer_id is not None:
        q = q.where(PriceContract.customer_id == customer_id)
    found = session.execute(q).all()
    # A contract's bundle is often its province's: its code is read beyond the scope.
    bundles = dict(session.execute(
        select(PriceBundle.id, PriceBundle.code).where(PriceBundle.id.in_(
            {c.bundle_id for c, _, _ in found if c.bundle_id})),
        execution_options={"unscoped": True}).all()) if found else {}
    return [ContractRow(c.id, c.code, code, name, c.product.value if c.product else None,
                        c.discount, bundles.get(c.bundle_id), c.valid_from, c.valid_to,
                        c.status.value, c.version)
            for c, code, name in found]


def _contract_below_floor(session: Session, contract: PriceContract, customer: Customer,
                          bundle: BundleTerms | None, rules: PriceRules | None,
                          costs=None) -> bool:
    """Whether the tariff of the customer's market, after the contract's discount and
    bundle, prices a parcel below the floor (the tariff in force on the contract's first day)."""
    from jiqun.money.rates import card_in_force, lines_of, origin_of
    from jiqun.money.tariff import adjusted

    if customer.market_id is None:
        return False
    origin = origin_of(session, customer.market_id)
    products = [contract.product] if contract.product else list(Product)
    for product in products:
        card = card_in_force(session, origin, product, contract.valid_from)
        if card is None:
            continue
        adjust = Decimal(repr(bundle.rate_adjustment)) if bundle and bundle.product == product \
            else Decimal(0)
        lines = [adjusted(adjusted(x, -Decimal(repr(contract.discount))), adjust)
                 for x in lines_of(session, card.version_id)]
        floor, _ = price_floor(session, customer.market_id, product, contract.valid_from, rules,
                               costs)
        lowest = lowest_price(lines)
        if lowest is not None and lowest < floor:
            return True
    return False


def set_contract(session: Session, *, customer: str, valid_from: dt.date,
                 valid_to: dt.date | None = None, discount: float = 0.0,
                 product: str | None = None, bundle: str | None = None, code: str | None = None,
                 note: str | None = None, rules: PriceRules | None = None,
                 costs=None) -> PriceContract:
    """A customer's contract price (协议价): in force from ``valid_from`` unless it prices below
    the floor (then pending approval); it ends the customer's earlier contract for the same
    product the day before."""
    actor = require(session, Action.PRICE_CONTRACT)
    found = session.scalar(select(Customer).where(Customer.code == customer))
    if found is None:
        raise NotFound("customer")
    errors = {}
    if not 0 <= discount < 1:
        errors["discount"] = "A discount from 0 up to (not including) 1"
    if valid_to is not None and valid_to < valid_from:
        errors["valid_to"] = "The end is before the start"
    if product is not None and product not in {p.value for p in Product}:
        errors["product"] = "Unknown product"
    chosen = _bundle_for(session, bundle, found) if bundle else None
    if bundle and chosen is None:
        errors["bundle"] = "Unknown bundle"
    if errors:
        raise Invalid(errors)
    number = session.scalar(select(func.count()).select_from(PriceContract),
                            execution_options={"unscoped": True}) or 0
    contract = PriceContract(
        code=code or f"{found.code}-C{valid_from:%Y%m%d}-{number + 1}", customer_id=found.id,
        product=Product(product) if product else None, discount=discount,
        bundle_id=chosen.id if chosen else None, valid_from=valid_from, valid_to=valid_to,
        note=note, org_unit_id=found.org_unit_id, proposed_by_id=actor.user_id,
        proposed_level=actor.level, status=PriceStatus.DRAFT)
    session.add(contract)
    if _contract_below_floor(session, contract, found, chosen, rules, costs):
        contract.status = PriceStatus.PENDING
    else:
        _contract_in_force(session, contract)
    session.flush()
    return contract


@dataclass(frozen=True)
class BundleTerms:
    id: int
    product: Product
    rate_adjustment: float


def _bundle_for(session: Session, code: str, customer: Customer) -> BundleTerms | None:
    """A bundle the customer may take: one of its own unit's or of a unit above it (a
    province offers its bundles to every market below; read as columns beyond the scope)."""
    unit = session.get(OrgUnit, customer.org_unit_id)
    ids = [int(i) for i in unit.path.strip("/").split("/") if i]
    row = session.execute(
        select(PriceBundle.id, PriceBundle.product, PriceBundle.rate_adjustment)
        .where(PriceBundle.code == code, PriceBundle.active.is_(True),
               PriceBundle.org_unit_id.in_(ids)),
        execution_options={"unscoped": True}).first()
    return BundleTerms(*row) if row else None


def _contract_in_force(session: Session, contract: PriceContract) -> None:
    for other in session.scalars(select(PriceContract).where(
            PriceContract.customer_id == contract.customer_id,
            PriceContract.status == PriceStatus.IN_FORCE)):
        if other is contract or other.product != contract.product:
            continue
        if other.valid_from >= contract.valid_from:
            raise Conflict("A contract from this date or later is in force already")
        if other.valid_to is None or other.valid_to >= contract.valid_from:
            other.valid_to = contract.valid_from - dt.timedelta(days=1)
            other.status = PriceStatus.SUPERSEDED
    contract.status = PriceStatus.IN_FORCE


def approve_contract(session: Session, code: str, *, version: int | None = None,
                     now: dt.datetime | None = None) -> PriceContract:
    actor = require(session, Action.PRICE_APPROVE)
    contract = session.scalar(select(PriceContract).where(PriceContract.code == code))
    if contract is None:
        raise NotFound("contract")
    if version is not None and contract.version != version:
        raise Conflict("The contract changed since you saw it", mine={"version": version},
                       theirs={"version": contract.version})
    if contract.status != PriceStatus.PENDING:
        raise Conflict("Only a contract waiting for approval can be approved")
    if not above(actor, contract.proposed_level):
        raise NotAllowed("A price below the floor is approved by someone above the level of "
                         "the one who proposed it")
    _contract_in_force(session, contract)
    contract.approved_by_id = actor.user_id
    contract.approved_at = now or dt.datetime.now().replace(microsecond=0)
    session.flush()
    return contract


@dataclass(frozen=True)
class Pending:
    """Something below the floor waiting for approval, and whether the viewer may approve."""

    kind: str  # card / contract
    ref: str  # card code, contract code
    number: int | None  # the card version
    label: str
    valid_from: dt.date
    proposed_level: str | None
    row_version: int
    card_id: int | None
    contract_id: int | None
    can_approve: bool


def pending_approvals(session: Session) -> list[Pending]:
    actor = actor_of(session)
    may = actor.may(Action.PRICE_APPROVE)
    out = []
    for v, card in session.execute(
            select(RateCardVersion, RateCard).join(RateCard, RateCard.id == RateCardVersion.card_id)
            .where(RateCardVersion.status == PriceStatus.PENDING)
            .order_by(RateCardVersion.valid_from)).all():
        level = v.proposed_level.value if v.proposed_level else None
        out.append(Pending("card", card.code, v.number, card.name, v.valid_from, level,
                           v.version, card.id, None, may and above(actor, v.proposed_level)))
    for c, name in session.execute(
            select(PriceContract, Customer.name).join(Customer, Customer.id == PriceContract.customer_id)
            .where(PriceContract.status == PriceStatus.PENDING)
            .order_by(PriceContract.valid_from)).all():
        level = c.proposed_level.value if c.proposed_level else None
        out.append(Pending("contract", c.code, None, name, c.valid_from, level, c.version,
                           None, c.id, may and above(actor, c.proposed_level)))
    return out


# -- import (the rate_cards kind of jiqun.ingest) --------------------------------------------
@dataclass
class _Group:
    rows: list[int] = field(default_factory=list)
    card: dict[str, Any] | None = None
    lines: list[dict[str, Any]] = field(default_factory=list)
    surcharges: list[dict[str, Any]] | None = None
    divisor: float = 6000.0
    rejected: bool = False


def _list(value: str | None) -> list[str]:
    if not value:
        return []
    for sep in LIST_SEPARATORS:
        value = value.replace(sep, ",")
    return [v.strip() for v in value.split(",") if v.strip()]


def _surcharges(r: RowReader) -> list[dict[str, Any]]:
    out = []
    remote = r.number("remote_surcharge", minimum=0)
    if remote:
        out.append({"position": 1, "kind": "remote", "amount": remote, "percent": 0.0,
                    "adcodes": _list(r.text("remote_adcodes")), "starts_on": None,
                    "ends_on": None})
    peak = r.number("peak_surcharge_pct", minimum=0)
    if peak:
        out.append({"position": 2, "kind": "peak", "amount": 0.0, "percent": peak,
                    "adcodes": None, "starts_on": r.date("peak_from"), "ends_on": r.date("peak_to")})
    return out


def plan_rate_cards(session: Session, rows: list[dict], headers: dict[str, str], progress
                    ) -> tuple[list[Planned], list[Reject]]:
    """Validate rate card lines and group them into card versions (code × start date)."""
    units = _org_units(session)
    markets = {m.code: m for m in session.scalars(select(Market))}
    customers_by_code = {c.code: c for c in session.scalars(select(Customer).where(
        Customer.code.in_({c.get("customer") for c in rows if c.get("customer")})))}
    groups: dict[tuple[str, dt.date], _Group] = {}
    rejects: list[Reject] = []
    orphans: list[Reject] = []
    for cells in rows:
        r = RowReader(cells.pop("_row"), cells, headers)
        code = r.text("code", required=True)
        origin = r.choice("origin", ORIGINS, "unknown_origin", required=True)
        product = r.choice("product", PRODUCTS, "unknown_product", required=True)
        valid_from = r.date("valid_from")
        if r.text("valid_from") is None:
            r.reject("valid_from", "required")
        zone = r.choice("zone", ZONES, "unknown_zone", required=True)
        low = r.number("weight_from_kg", minimum=0) or 0.0
        high = r.number("weight_to_kg", minimum=0)
        if r.text("weight_to_kg") is None:
            r.reject("weight_to_kg", "required")
        elif high is not None and high <= low:
            r.reject("weight_to_kg", "bad_weight_band")
        first_kg = r.number("first_weight_kg", minimum=0) or 1.0
        first_price = r.number("first_price", minimum=0)
        if r.text("first_price") is None:
            r.reject("first_price", "required")
        extra = r.number("extra_per_kg", minimum=0) or 0.0
        divisor = r.number("volumetric_divisor", minimum=0) or PriceRules().volumetric_divisor
        surcharges = _surcharges(r)
        card = _card_fields(r, origin, units, markets, customers_by_code)
        if card is not None:
            card.update(code=code, name=r.text("name") or code,
                        product=Product(product) if product else None)
        key = (code, valid_from)
        group = groups.setdefault(key, _Group()) if code and valid_from else None
        if r.rejects or group is None:
            rejects += r.rejects
            if group is not None:
                group.rejected = True
                group.rows.append(r.row)
            continue
        line = {"zone": zone, "weight_from_kg": low, "weight_to_kg": high,
                "first_weight_kg": first_kg, "first_price": first_price, "extra_per_kg": extra}
        if group.card is None:
            group.card, group.surcharges, group.divisor = card, surcharges, divisor
        elif (group.card, group.surcharges, group.divisor) != (card, surcharges, divisor):
            rejects.append(Reject(r.row, headers.get("code", "code"), code, "card_rows_disagree"))
            group.rejected = True
            group.rows.append(r.row)
            continue
        group.rows.append(r.row)
        group.lines.append(line)
    planned = []
    bad_rows = {x.row for x in rejects}
    for (code, valid_from), group in groups.items():
        if group.rejected:
            orphans += [Reject(row, headers.get("code", "code"), code, "with_its_card")
                        for row in group.rows if row not in bad_rows]
            continue
        planned.append(Planned(min(group.rows), code, {
            **group.card, "valid_from": valid_from, "lines": group.lines,
            "surcharges": group.surcharges, "volumetric_divisor": group.divisor,
            "_rows": group.rows}))
    return planned, rejects + orphans


def _card_fields(r: RowReader, origin: str | None, units, markets, customers) -> dict | None:
    """The card's origin columns: market, county/province unit or customer, and its unit."""
    if origin is None:
        return None
    if origin == "market":
        market = r.lookup("market", markets, "unknown_market")
        if r.text("market") is None:
            r.reject("market", "origin_mismatch")
        return {"origin": RateOrigin.MARKET, "market_id": market.id if market else None,
                "customer_id": None, "org_unit_id": market.org_unit_id if market else None}
    if origin == "customer":
        customer = r.lookup("customer", customers, "unknown_customer")
        if r.text("customer") is None:
            r.reject("customer", "origin_mismatch")
        return {"origin": RateOrigin.CUSTOMER, "market_id": None,
                "customer_id": customer.id if customer else None,
                "org_unit_id": customer.org_unit_id if customer else None}
    unit = r.lookup("org_unit", units, "unknown_org_unit")
    wanted = OrgLevel.COUNTY if origin == "county" else OrgLevel.PROVINCE
    if unit is None or unit.level != wanted:
        if not r.rejects:
            r.reject("org_unit", "origin_mismatch")
        return None
    return {"origin": RateOrigin(origin), "market_id": None, "customer_id": None,
            "org_unit_id": unit.id}


CARD_FIELDS = ("name", "origin", "market_id", "customer_id", "org_unit_id", "product")
LINE_FIELDS = ("zone", "weight_from_kg", "weight_to_kg", "first_weight_kg", "first_price",
               "extra_per_kg")
SURCHARGE_FIELDS = ("position", "kind", "amount", "percent", "adcodes", "starts_on", "ends_on")


def _same_version(version: RateCardVersion, plan: dict) -> bool:
    lines = sorted(tuple(getattr(x, f) for f in LINE_FIELDS) for x in version.lines)
    wanted = sorted(tuple(x[f] for f in LINE_FIELDS) for x in plan["lines"])
    sur = [tuple(getattr(s, f) for f in SURCHARGE_FIELDS) for s in version.surcharges]
    want_sur = [tuple(s[f] for f in SURCHARGE_FIELDS) for s in plan["surcharges"]]
    return (lines, sur, version.volumetric_divisor) == (wanted, want_sur,
                                                        plan["volumetric_divisor"])


def _write_version(session: Session, version: RateCardVersion, plan: dict) -> None:
    for old in list(version.lines) + list(version.surcharges):
        session.delete(old)
    session.flush()
    version.volumetric_divisor = plan["volumetric_divisor"]
    for x in plan["lines"]:
        session.add(RateLine(version=version, org_unit_id=version.org_unit_id, **x))
    for s in plan["surcharges"]:
        session.add(RateSurcharge(version=version, org_unit_id=version.org_unit_id, **s))


def apply_rate_cards(session: Session, planned: list[Planned], dry_run: bool,
                     rejects: list[Reject] | None = None) -> Outcome:
    """New card versions are drafts; a draft of the same start date is replaced; a version in
    force of that date is left alone when equal and refused when not (never edited)."""
    outcome = Outcome()
    cards = {c.code: c for c in session.scalars(select(RateCard).where(
        RateCard.code.in_([p.code for p in planned])))}
    for plan in planned:
        f = plan.fields
        card = cards.get(plan.code)
        if card is not None and (card.origin, card.product) != (f["origin"], f["product"]):
            _refuse(rejects, plan, "card_differs")
            continue
        existing = next((v for v in card.versions if v.valid_from == f["valid_from"]),
                        None) if card else None
        if existing is not None and _same_version(existing, f):
            outcome.unchanged += 1
            continue
        if existing is not None and existing.status != PriceStatus.DRAFT:
            _refuse(rejects, plan, "version_in_force")
            continue
        if existing is None:
            outcome.inserted += 1
        else:
            outcome.updated += 1
        if dry_run:
            continue
        if card is None:
            card = RateCard(**{k: f[k] for k in CARD_FIELDS}, code=plan.code)
            session.add(card)
            session.flush()
            cards[plan.code] = card
        if existing is None:
            existing = RateCardVersion(card=card, number=len(card.versions) + 1,
                                       valid_from=f["valid_from"], status=PriceStatus.DRAFT,
                                       org_unit_id=card.org_unit_id,
                                       volumetric_divisor=f["volumetric_divisor"])
            session.add(existing)
            session.flush()
        _write_version(session, existing, f)
    if not dry_run:
        session.flush()
    return outcome


def _refuse(rejects: list[Reject] | None, plan: Planned, reason: str) -> None:
    if rejects is not None:
        rejects += [Reject(row, "code", plan.code, reason) for row in plan.fields["_rows"]]


# -- export -----------------------------------------------------------------------------------
ZONE_ZH = {"same": "省内", "neighbour": "邻省", "far": "跨省", "remote": "偏远"}
ORIGIN_ZH = {"market": "市场", "county": "区县", "province": "省", "customer": "客户"}
PRODUCT_ZH = {"express": "特快", "parcel": "快包", "standard": "标快"}


def export_rows(session: Session, card_ref, number: int | None = None) -> list[list]:
    """A card's version (the one in force today, else the newest) as rows of the import
    format, Chinese header first: re-importing the file changes nothing."""
    card = find_card(session, card_ref)
    versions = sorted(card.versions, key=lambda v: v.number)
    if number is not None:
        chosen = next((v for v in versions if v.number == number), None)
    else:
        chosen = _version_on(versions, dt.date.today()) or (versions[-1] if versions else None)
    if chosen is None:
        raise NotFound("rate card version")
    market = session.scalar(select(Market.code).where(Market.id == card.market_id)) \
        if card.market_id else None
    customer = session.scalar(select(Customer.code).where(Customer.id == card.customer_id)) \
        if card.customer_id else None
    unit = session.scalar(select(OrgUnit.code).where(OrgUnit.id == card.org_unit_id)) \
        if card.origin in (RateOrigin.COUNTY, RateOrigin.PROVINCE) else None
    remote = next((s for s in chosen.surcharges if s.kind == "remote"), None)
    peak = next((s for s in chosen.surcharges if s.kind == "peak"), None)
    out = [[c.zh for c in RATE_CARDS.columns]]
    for x in sorted(chosen.lines, key=_line_key):
        out.append([card.code, card.name, ORIGIN_ZH[card.origin.value], market, unit, customer,
                    PRODUCT_ZH[card.product.value], chosen.valid_from.isoformat(),
                    ZONE_ZH.get(x.zone, x.zone), x.weight_from_kg, x.weight_to_kg,
                    x.first_weight_kg, x.first_price, x.extra_per_kg, chosen.volumetric_divisor,
                    remote.amount if remote else None,
                    "、".join(remote.adcodes or []) if remote else None,
                    peak.percent if peak else None,
                    peak.starts_on.isoformat() if peak and peak.starts_on else None,
                    peak.ends_on.isoformat() if peak and peak.ends_on else None])
    return out


def export_xlsx(session: Session, card_ref, number: int | None = None) -> bytes:
    import xlsxwriter

    buf = io.BytesIO()
    book = xlsxwriter.Workbook(buf, {"in_memory": True, "strings_to_formulas": False})
    sheet = book.add_worksheet("价格表")
    for i, row in enumerate(export_rows(session, card_ref, number)):
        sheet.write_row(i, 0, [v for v in row])
    book.close()
    return buf.getvalue()


# -- bundles (C4) -----------------------------------------------------------------------------
@dataclass(frozen=True)
class BundleRow:
    """A bundle with the merchants on it (contracts in force at the month's end) and their
    parcels, revenue and — where the cost model is there — cost and margin in the month."""

    id: int
    code: str
    name: str
    segment: str
    product: str
    promise_hours: int | None
    services: list[str]
    rate_adjustment: float
    customers: int
    parcels: int
    revenue: float
    revenue_per_parcel: float | None
    cost: float | None
    margin: float | None
    margin_per_parcel: float | None


def visible_bundles(session: Session) -> list[tuple]:
    """Bundles the viewer may offer: those of their own subtree and of the units above it
    (a province's bundles serve every market below; read as columns beyond the scope)."""
    actor = actor_of(session)
    scope = session.info.get("scope")
    above_ids: list[int] = []
    if actor.org_unit_id is not None:
        unit = session.get(OrgUnit, actor.org_unit_id)
        above_ids = [int(i) for i in unit.path.strip("/").split("/") if i] if unit else []
    cols = (PriceBundle.id, PriceBundle.code, PriceBundle.name, PriceBundle.segment,
            PriceBundle.product, PriceBundle.promise_hours, PriceBundle.services,
            PriceBundle.rate_adjustment)
    own = session.execute(select(*cols).where(PriceBundle.active.is_(True))).all()
    up = session.execute(select(*cols).where(PriceBundle.active.is_(True),
                                            PriceBundle.org_unit_id.in_(above_ids)),
                         execution_options={"unscoped": True}).all() if scope else []
    rows = {r[0]: r for r in [*own, *up]}
    return sorted(rows.values(), key=lambda r: (SEGMENTS.index(r[3]) if r[3] in SEGMENTS else 9,
                                                r[1]))


def month_of(day: dt.date) -> tuple[dt.date, dt.date]:
    """First and last day of the month of ``day``."""
    first = day.replace(day=1)
    return first, (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)


def bundle_figures(session: Session, con, lake, scope, month: dt.date | None = None
                   ) -> list[BundleRow]:
    """Each bundle's merchants (contracts in force on the month's last day, in scope) and
    their parcels and revenue in the lake that month (default: the month of yesterday); the
    cost and margin from :func:`jiqun.money.cost.cost_per_parcel` by customer."""
    first, last = month_of(month or dt.date.today() - dt.timedelta(days=1))
    bundles = visible_bundles(session)
    members = session.execute(
        select(PriceContract.bundle_id, PriceContract.customer_id)
        .where(PriceContract.bundle_id.is_not(None), PriceContract.status.in_(APPLIES),
               PriceContract.valid_from <= last,
               (PriceContract.valid_to.is_(None)) | (PriceContract.valid_to >= last))).all()
    by_customer = _month_by_customer(con, lake, scope, first, last,
                                     {c for _, c in members}) if members else {}
    costs = _month_costs(session, con, lake, scope, first) if members else None
    out = []
    for bid, code, name, segment, product, hours, services, adjust in bundles:
        mine = [c for b, c in members if b == bid]
        parcels = sum(by_customer.get(c, (0, 0.0))[0] for c in mine)
        revenue = sum(by_customer.get(c, (0, 0.0))[1] for c in mine)
        cost = sum(costs.get(c, 0.0) for c in mine) if costs is not None else None
        margin = revenue - cost if cost is not None else None
        out.append(BundleRow(
            bid, code, name, segment, product.value, hours, list(services or []), adjust,
            len(mine), parcels, round(revenue, 2),
            round(revenue / parcels, 4) if parcels else None,
            round(cost, 2) if cost is not None else None,
            round(margin, 2) if margin is not None else None,
            round(margin / parcels, 4) if margin is not None and parcels else None))
    return out


def _month_by_customer(con, lake, scope, first: dt.date, last: dt.date,
                       customers: set[int]) -> dict[int, tuple[int, float]]:
    """Parcels and revenue per customer of ``customers`` in the lake between two days."""
    import pyarrow as pa

    from jiqun.lake import memtable, waybills

    keys = memtable(pa.table({"member": sorted(customers)},
                             schema=pa.schema([("member", pa.int64())])))
    w = waybills(con, lake, scope)
    w = w.filter(w.ship_time >= dt.datetime.combine(first, dt.time()),
                 w.ship_time < dt.datetime.combine(last + dt.timedelta(days=1), dt.time()))
    joined = w.inner_join(keys, w.customer_id == keys.member)
    totals = joined.group_by("customer_id").aggregate(parcels=joined.count(),
                                                       revenue=joined.fee.sum())
    return {int(r["customer_id"]): (int(r["parcels"]), float(r["revenue"] or 0.0))
            for r in con.to_pyarrow(totals).to_pylist()}


def _month_costs(session: Session, con, lake, scope, month: dt.date) -> dict[int, float] | None:
    """The cost of each customer's parcels in the month, when the cost model is there."""
    try:
        from jiqun.money.cost import cost_per_parcel
    except ImportError:
        return None
    rows = cost_per_parcel(con, lake, session, scope, month, by="customer")
    return {int(r.key): r.cost for r in rows if r.key.isdigit()}
