"""One place, one price (一地一价): the price of one parcel, and the rule that produced it.

:func:`quote` looks up, for a market, destination, weight, product, optional customer and a
date (a waybill's ship day), the rule in force *on that date*:

* the **card**: the most specific card of the product with a version in force that day —
  the customer's own card (协议价) > the market's (一地一价) > its county's > its province's
  default; a version is in force from its ``valid_from`` until the day before the version that
  superseded it (``valid_to``), so the rate of any past day is reproducible;
* the **contract** of the customer in force that day: its discount on the tariff, and the
  rate adjustment of its bundle (C4) when the bundle's product is the one quoted;
* the **zone** of the destination seen from the market's province (the province's ``Zone``
  rows, else :func:`jiqun.geo.zone_of`).

The arithmetic is :mod:`jiqun.money.tariff` (pure); this module only finds its inputs. Cards
of the market's county and province lie above a county or outlet user's subtree: they are read
as plain columns beyond the scope (``unscoped``), and only those that price the market the
session can see — a user sees the prices of their own markets, never other units' rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from jiqun.errors import Invalid, NotFound
from jiqun.geo import division, province_code, zone_of
from jiqun.money.price_rules import PriceRules
from jiqun.money.tariff import (
    Applied,
    Line,
    Surcharge,
    adjusted,
    chargeable_weight,
    line_price,
    money,
    pick_line,
    with_surcharges,
)
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
    Zone,
)

UNSCOPED = {"unscoped": True}
# Most specific first: the first origin with a version in force on the day wins.
ORIGIN_ORDER = (RateOrigin.CUSTOMER, RateOrigin.MARKET, RateOrigin.COUNTY, RateOrigin.PROVINCE)
APPLIES = (PriceStatus.IN_FORCE, PriceStatus.SUPERSEDED)  # a superseded one still holds its days
MAX_WEIGHT_KG = 1000.0
MAX_SIDE_CM = 1000.0


@dataclass(frozen=True)
class Rule:
    """What produced a price: the card and version, the band, the contract, bundle, surcharges."""

    card_code: str
    card_name: str
    origin: str  # customer / market / county / province
    version: int
    version_from: dt.date
    zone: str
    weight_from_kg: Decimal
    weight_to_kg: Decimal
    first_weight_kg: Decimal
    first_price: Decimal  # after contract and bundle adjustments
    extra_per_kg: Decimal
    contract: str | None = None
    discount: Decimal = Decimal(0)
    bundle: str | None = None
    bundle_adjustment: Decimal = Decimal(0)
    surcharges: list[Applied] = field(default_factory=list)

    @property
    def override(self) -> bool:
        """A customer's price (own card or contract) rather than the tariff."""
        return self.origin == RateOrigin.CUSTOMER.value or self.contract is not None


@dataclass(frozen=True)
class Quote:
    price: Decimal
    chargeable_weight: Decimal
    product: str
    on: dt.date
    rule: Rule
    floor: Decimal
    floor_source: str  # cost / minimum

    @property
    def below_floor(self) -> bool:
        return self.price < self.floor

    def as_dict(self) -> dict:
        """Flat JSON-able record (the CLI's ``--format json`` and ``/api/prices/quote``)."""
        rule = asdict(self.rule)
        rule["override"] = self.rule.override
        return _plain({"price": self.price, "chargeable_weight": self.chargeable_weight,
                       "product": self.product, "on": self.on, "floor": self.floor,
                       "floor_source": self.floor_source, "below_floor": self.below_floor,
                       "rule": rule})


def _plain(value):
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


# -- inputs -----------------------------------------------------------------------------------
def _product(value: Product | str) -> Product:
    try:
        return Product(value)
    except ValueError:
        raise Invalid({"product": "Unknown product"}) from None


def _checked_weight(weight_kg: float, dims_cm: Sequence[float] | None) -> None:
    if not (0 < weight_kg <= MAX_WEIGHT_KG):
        raise Invalid({"weight": "A weight above 0 and at most 1000 kg"})
    if dims_cm is not None and (len(dims_cm) != 3 or not all(0 < d <= MAX_SIDE_CM
                                                               for d in dims_cm)):
        raise Invalid({"dims": "Three sides in cm, each above 0 and at most 1000"})


@dataclass(frozen=True)
class Origin:
    """The units that price a market: its own unit's county and province ancestors."""

    market_id: int
    county_id: int | None
    province_id: int | None
    province_adcode: str | None


def origin_of(session: Session, market_id: int) -> Origin:
    """The market (in the session's scope, else :class:`NotFound`) and its pricing units."""
    market = session.get(Market, market_id)
    if market is None:
        raise NotFound("market")
    unit = session.get(OrgUnit, market.org_unit_id)
    ids = [int(i) for i in unit.path.strip("/").split("/") if i] if unit else []
    ancestors = {u.level: u for u in session.scalars(select(OrgUnit).where(OrgUnit.id.in_(ids)))}
    county, province = ancestors.get(OrgLevel.COUNTY), ancestors.get(OrgLevel.PROVINCE)
    adcode = province.adcode if province else (market.adcode and province_code(market.adcode))
    return Origin(market.id, county.id if county else None, province.id if province else None,
                  adcode)


# -- lookups ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class CardVersion:
    """A card's version as read for a quote (plain columns)."""

    version_id: int
    card_code: str
    card_name: str
    origin: RateOrigin
    number: int
    valid_from: dt.date
    divisor: float


def _in_force(column_from, column_to, on: dt.date):
    return (column_from <= on) & (or_(column_to.is_(None), column_to >= on))


def card_in_force(session: Session, origin: Origin, product: Product, on: dt.date,
                  customer_id: int | None = None) -> CardVersion | None:
    """The most specific card version in force on ``on`` for the market (and customer)."""
    who = [(RateCard.origin == RateOrigin.MARKET) & (RateCard.market_id == origin.market_id)]
    if customer_id is not None:
        who.append((RateCard.origin == RateOrigin.CUSTOMER) & (RateCard.customer_id == customer_id))
    for level, unit_id in ((RateOrigin.COUNTY, origin.county_id),
                           (RateOrigin.PROVINCE, origin.province_id)):
        if unit_id is not None:
            who.append((RateCard.origin == level) & (RateCard.org_unit_id == unit_id))
    rows = session.execute(
        select(RateCardVersion.id, RateCard.code, RateCard.name, RateCard.origin,
               RateCardVersion.number, RateCardVersion.valid_from,
               RateCardVersion.volumetric_divisor)
        .join(RateCard, RateCard.id == RateCardVersion.card_id)
        .where(RateCard.product == product, or_(*who), RateCardVersion.status.in_(APPLIES),
               _in_force(RateCardVersion.valid_from, RateCardVersion.valid_to, on)),
        execution_options=UNSCOPED).all()
    found = [CardVersion(*r) for r in rows]
    rank = {o: i for i, o in enumerate(ORIGIN_ORDER)}
    # Most specific origin; within one, the version that came in force last.
    return min(found, key=lambda v: (rank[v.origin], -v.valid_from.toordinal()), default=None)


def lines_of(session: Session, version_id: int) -> list[Line]:
    rows = session.execute(
        select(RateLine.zone, RateLine.weight_from_kg, RateLine.weight_to_kg,
               RateLine.first_weight_kg, RateLine.first_price, RateLine.extra_per_kg)
        .where(RateLine.version_id == version_id), execution_options=UNSCOPED).all()
    return [Line(z, Decimal(repr(a)), Decimal(repr(b)), Decimal(repr(fw)), money(fp), money(ex))
            for z, a, b, fw, fp, ex in rows]


def surcharges_of(session: Session, version_id: int) -> list[Surcharge]:
    rows = session.execute(
        select(RateSurcharge.position, RateSurcharge.kind, RateSurcharge.amount,
               RateSurcharge.percent, RateSurcharge.adcodes, RateSurcharge.starts_on,
               RateSurcharge.ends_on)
        .where(RateSurcharge.version_id == version_id), execution_options=UNSCOPED).all()
    return [Surcharge(p, k, money(a), Decimal(repr(pc)), tuple(ad or ()), s, e)
            for p, k, a, pc, ad, s, e in rows]


def zone_for(session: Session, origin: Origin, dest_adcode: str) -> str:
    """The destination's zone seen from the market's province: the province's own ``Zone``
    table when it has one, else the common one (:func:`jiqun.geo.zone_of`)."""
    dest_province = province_code(dest_adcode)
    if origin.province_id is not None:
        rows = session.execute(select(Zone.kind, Zone.province_adcodes)
                               .where(Zone.org_unit_id == origin.province_id),
                               execution_options=UNSCOPED).all()
        for kind, members in rows:
            if dest_province in (members or ()):
                return kind
    return zone_of(origin.province_adcode or dest_adcode, dest_adcode).value


@dataclass(frozen=True)
class ContractTerms:
    code: str
    discount: Decimal
    bundle_code: str | None
    bundle_product: Product | None
    bundle_adjustment: Decimal


def contract_in_force(session: Session, customer_id: int, product: Product,
                      on: dt.date) -> ContractTerms | None:
    """The customer's contract in force on ``on`` for ``product`` (the latest to start)."""
    rows = session.execute(
        select(PriceContract.code, PriceContract.discount, PriceBundle.code,
               PriceBundle.product, PriceBundle.rate_adjustment, PriceContract.valid_from)
        .outerjoin(PriceBundle, PriceBundle.id == PriceContract.bundle_id)
        .where(PriceContract.customer_id == customer_id,
               PriceContract.status.in_(APPLIES),
               or_(PriceContract.product.is_(None), PriceContract.product == product),
               _in_force(PriceContract.valid_from, PriceContract.valid_to, on))
        .order_by(PriceContract.valid_from.desc(), PriceContract.id.desc()),
        execution_options=UNSCOPED).first()
    if rows is None:
        return None
    code, discount, bundle, bundle_product, adjustment, _ = rows
    return ContractTerms(code, Decimal(repr(discount or 0.0)), bundle, bundle_product,
                         Decimal(repr(adjustment or 0.0)))


# -- floor ------------------------------------------------------------------------------------
def price_floor(session: Session, market_id: int | None, product: Product, on: dt.date,
                rules: PriceRules | None = None, costs=None) -> tuple[Decimal, str]:
    """The lowest price that needs no approval: the cost of a parcel of the market and product
    when ``costs`` (:func:`jiqun.money.floor.cost_floor`, the cost model over the lake) knows
    it, else the configured regulatory minimum (``[prices] minimum_parcel_price``)."""
    cost = costs(market_id, product, on) if costs is not None else None
    if cost is not None:
        return money(cost), "cost"
    return money((rules or PriceRules.configured()).minimum_parcel_price), "minimum"


# -- the quote --------------------------------------------------------------------------------
def quote(session: Session, *, market_id: int, dest_adcode: str, weight_kg: float,
          product: Product | str, customer_id: int | None = None, on: dt.date | None = None,
          dims_cm: Sequence[float] | None = None, rules: PriceRules | None = None,
          costs=None) -> Quote:
    """The price of one parcel and the rule that produced it (see the module's docstring);
    ``costs`` (:func:`jiqun.money.floor.cost_floor`) gives the floor its cost.

    Raises :class:`Invalid` for a bad weight, product or destination, or when no card in
    force that day prices the zone and weight; :class:`NotFound` for a market or customer
    outside the session's scope."""
    product = _product(product)
    _checked_weight(weight_kg, dims_cm)
    if division(dest_adcode) is None:
        raise Invalid({"to": "Unknown destination"})
    on = on or dt.date.today()
    origin = origin_of(session, market_id)
    if customer_id is not None and session.get(Customer, customer_id) is None:
        raise NotFound("customer")
    card = card_in_force(session, origin, product, on, customer_id)
    if card is None:
        raise Invalid({"card": "No rate card in force for this market and product on that day"})
    weight = chargeable_weight(weight_kg, dims_cm, card.divisor)
    zone = zone_for(session, origin, dest_adcode)
    line = pick_line(lines_of(session, card.version_id), zone, weight)
    if line is None:
        raise Invalid({"weight": "The card has no line for this zone and weight"})
    terms = (contract_in_force(session, customer_id, product, on)
             if customer_id is not None and card.origin != RateOrigin.CUSTOMER else None)
    discount = terms.discount if terms else Decimal(0)
    bundle_adj = (terms.bundle_adjustment if terms and terms.bundle_product == product
                  else Decimal(0))
    priced = adjusted(adjusted(line, -discount), bundle_adj)
    price, applied = with_surcharges(line_price(priced, weight),
                                     surcharges_of(session, card.version_id), dest_adcode, on)
    floor, source = price_floor(session, market_id, product, on, rules, costs)
    rule = Rule(card.card_code, card.card_name, card.origin.value, card.number, card.valid_from,
                zone, line.weight_from_kg, line.weight_to_kg, line.first_weight_kg,
                priced.first_price, priced.extra_per_kg,
                contract=terms.code if terms else None, discount=discount,
                bundle=terms.bundle_code if terms and bundle_adj else None,
                bundle_adjustment=bundle_adj, surcharges=applied)
    return Quote(price, weight, product.value, on, rule, floor, source)
