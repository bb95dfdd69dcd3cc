"""A tiny priced province: Henan → Shangqiu (city) → Yucheng (county) → Shaogang (outlet),
one market at the outlet, one merchant, and a helper that writes rate cards."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest

from jiqun.accounts import add_user
from jiqun.store.models import (
    Customer,
    Market,
    MarketType,
    PriceStatus,
    Product,
    RateCard,
    RateCardVersion,
    RateLine,
    RateOrigin,
    RateSurcharge,
    Role,
)
from jiqun.store.org import add_unit

PASSWORD = "Prices-Test-2024!"
USERS = {"prov": (Role.PROVINCIAL_MANAGER, "HA"), "city": (Role.CITY_MANAGER, "HA-SQ"),
         "county": (Role.COUNTY_MANAGER, "HA-SQ-YC"), "am": (Role.ACCOUNT_MANAGER, "HA-SQ-YC-SG"),
         "xc-city": (Role.CITY_MANAGER, "HA-XC")}


@dataclass
class Tree:
    store: object
    units: dict[str, int]
    market: int
    customer: int
    foreign_market: int


@pytest.fixture
def tree(store) -> Tree:
    with store.transaction() as s:
        hq = add_unit(s, None, "HQ", "总部", adcode="100000")
        ha = add_unit(s, hq, "HA", "河南省分公司", adcode="410000")
        sq = add_unit(s, ha, "HA-SQ", "商丘市分公司", adcode="411400")
        yc = add_unit(s, sq, "HA-SQ-YC", "虞城县分公司", adcode="411425")
        sg = add_unit(s, yc, "HA-SQ-YC-SG", "稍岗揽投部", adcode="411425")
        xc = add_unit(s, ha, "HA-XC", "许昌市分公司", adcode="411000")
        units = {u.code: u for u in (hq, ha, sq, yc, sg, xc)}
        for name, (role, code) in USERS.items():
            add_user(s, name, PASSWORD, units[code], role, name)
        market = Market(code="HA-SG", name="稍岗五金", type=MarketType.INDUSTRIAL_CLUSTER,
                        industry="五金", org_unit_id=sg.id, adcode="411425")
        foreign = Market(code="HA-XC-FZ", name="许昌发制品", type=MarketType.INDUSTRIAL_CLUSTER,
                         industry="发制品", org_unit_id=xc.id, adcode="411000")
        s.add_all([market, foreign])
        s.flush()
        customer = Customer(code="HA-SG-00001", name="稍岗五金一号店", market_id=market.id,
                            org_unit_id=sg.id)
        s.add(customer)
        s.flush()
        return Tree(store, {c: u.id for c, u in units.items()}, market.id, customer.id,
                    foreign.id)


def card(s, tree: Tree, code: str, origin: RateOrigin, lines, *, product=Product.PARCEL,
         valid_from=dt.date(2026, 1, 1), valid_to=None, status=PriceStatus.IN_FORCE, number=1,
         divisor=6000.0, surcharges=(), unit: str | None = None, customer: bool = False):
    """Write a card (or a further version of it): ``lines`` are (zone, from, to, first kg,
    first price, extra per kg); ``surcharges`` (position, kind, amount, percent, adcodes,
    starts_on, ends_on)."""
    from sqlalchemy import select

    found = s.scalar(select(RateCard).where(RateCard.code == code))
    if found is None:
        org = tree.units[unit or {"market": "HA-SQ-YC-SG", "customer": "HA-SQ-YC-SG",
                                  "county": "HA-SQ-YC", "province": "HA"}[origin.value]]
        found = RateCard(code=code, name=code, origin=origin, product=product,
                         market_id=tree.market if origin == RateOrigin.MARKET else None,
                         customer_id=tree.customer if customer else None, org_unit_id=org)
        s.add(found)
        s.flush()
    version = RateCardVersion(card_id=found.id, number=number, status=status,
                              valid_from=valid_from, valid_to=valid_to,
                              volumetric_divisor=divisor, org_unit_id=found.org_unit_id)
    s.add(version)
    s.flush()
    for zone, low, high, first_kg, first, extra in lines:
        s.add(RateLine(version_id=version.id, zone=zone, weight_from_kg=low, weight_to_kg=high,
                       first_weight_kg=first_kg, first_price=first, extra_per_kg=extra,
                       org_unit_id=found.org_unit_id))
    for position, kind, amount, percent, adcodes, starts, ends in surcharges:
        s.add(RateSurcharge(version_id=version.id, position=position, kind=kind, amount=amount,
                            percent=percent, adcodes=adcodes, starts_on=starts, ends_on=ends,
                            org_unit_id=found.org_unit_id))
    s.flush()
    return found, version


def as_user(tree: Tree, user: str):
    return tree.store.transaction(actor=tree.store.actor(user), source="web")
