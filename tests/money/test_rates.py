"""The price of one parcel on hand cases: first weight, part kilograms, weight bands,
most-specific-wins, dated versions, volumetric weight, surcharge order, contracts and bundles,
the floor that needs approval one level up."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from jiqun.errors import Conflict, Invalid, NotAllowed, NotFound
from jiqun.money import cards
from jiqun.money.price_rules import PriceRules
from jiqun.money.rates import quote
from jiqun.money.tariff import chargeable_weight, extra_kilograms, kilograms, prefix
from jiqun.store.models import (
    PriceBundle,
    PriceContract,
    PriceStatus,
    Product,
    RateCardVersion,
    RateOrigin,
)
from tests.money.conftest import as_user, card

D = Decimal
# Zones seen from Henan: 411425 Yucheng same; 420100 Wuhan neighbour; 440100 Guangzhou far.
SAME, NEIGHBOUR, FAR = "411425", "420100", "440100"
FLAT = [("same", 0, 60, 1, 3.00, 0.50), ("neighbour", 0, 60, 1, 4.00, 1.00),
        ("far", 0, 60, 1, 5.00, 1.50), ("remote", 0, 60, 1, 9.00, 4.00)]
ON = dt.date(2026, 3, 1)


def _q(tree, weight, dest=SAME, user="prov", **kw):
    with tree.store.session(actor=tree.store.actor(user)) as s:
        return quote(s, market_id=kw.pop("market_id", tree.market), dest_adcode=dest,
                     weight_kg=weight, product=kw.pop("product", "parcel"),
                     on=kw.pop("on", ON), **kw)


@pytest.fixture
def market_card(tree):
    with tree.store.transaction() as s:
        card(s, tree, "SG-PARCEL", RateOrigin.MARKET, FLAT)
    return tree


def test_the_first_weight_is_one_price(market_card):
    for weight in (0.05, 0.8, 1.0):
        assert _q(market_card, weight).price == D("3.00")
    assert _q(market_card, 0.8, FAR).price == D("5.00")
    assert _q(market_card, 0.8, FAR).rule.zone == "far"
    assert _q(market_card, 0.8, NEIGHBOUR).rule.zone == "neighbour"


def test_each_part_kilogram_counts_as_a_whole_one(market_card):
    assert extra_kilograms(D("1.01"), D(1)) == 1
    assert _q(market_card, 1.01).price == D("3.50")  # charged as 2 kg
    assert _q(market_card, 2.0).price == D("3.50")
    assert _q(market_card, 2.01).price == D("4.00")  # 3 kg
    assert _q(market_card, 1.01).chargeable_weight == D("1.01")
    # A float32 weight of the lake (1.0099999904632568) is the 1.01 kg it was recorded as.
    assert kilograms(1.0099999904632568) == D("1.01")


def test_a_weight_band_has_its_own_first_weight_and_rate(tree):
    bands = [("same", 0, 3, 1, 3.00, 0.50), ("same", 3, 60, 3, 4.20, 0.30)]
    with tree.store.transaction() as s:
        card(s, tree, "SG-BANDS", RateOrigin.MARKET, bands)
    assert _q(tree, 3.0).price == D("4.00")  # 3.00 + 2 × 0.50, first band
    assert _q(tree, 3.2).price == D("4.50")  # second band: 4.20 + 1 × 0.30
    assert _q(tree, 3.2).rule.weight_from_kg == D(3)
    with pytest.raises(Invalid):
        _q(tree, 61)  # no band holds it


def test_the_most_specific_card_wins(tree):
    with tree.store.transaction() as s:
        card(s, tree, "HA-DEFAULT", RateOrigin.PROVINCE, [("same", 0, 60, 1, 4.00, 1.0)])
        card(s, tree, "YC-COUNTY", RateOrigin.COUNTY, [("same", 0, 60, 1, 3.50, 1.0)])
    assert _q(tree, 1).rule.card_code == "YC-COUNTY"  # county over province
    assert _q(tree, 1).price == D("3.50")
    with tree.store.transaction() as s:
        card(s, tree, "SG-MARKET", RateOrigin.MARKET, [("same", 0, 60, 1, 3.00, 1.0)],
             valid_from=dt.date(2026, 2, 1))
        card(s, tree, "SG-CUSTOMER", RateOrigin.CUSTOMER, [("same", 0, 60, 1, 2.50, 1.0)],
             customer=True)
    assert _q(tree, 1).rule.card_code == "SG-MARKET"
    assert _q(tree, 1, on=dt.date(2026, 1, 15)).rule.card_code == "YC-COUNTY"  # before it
    mine = _q(tree, 1, customer_id=tree.customer)
    assert (mine.rule.card_code, mine.price, mine.rule.override) == ("SG-CUSTOMER", D("2.50"), True)
    # The outlet's account manager sees the province's default through the market it prices.
    assert _q(tree, 1, user="am", product="parcel").price == D("3.00")


def test_a_waybills_date_picks_the_version_in_force_then(tree):
    with tree.store.transaction() as s:
        card(s, tree, "SG", RateOrigin.MARKET, [("same", 0, 60, 1, 3.00, 0.5)],
             status=PriceStatus.IN_FORCE)
    with tree.store.transaction() as s:
        _, draft = card(s, tree, "SG", RateOrigin.MARKET, [("same", 0, 60, 1, 3.30, 0.6)],
                        status=PriceStatus.DRAFT, number=2, valid_from=dt.date(2026, 6, 1))
    assert _q(tree, 1.5, on=dt.date(2026, 7, 1)).price == D("3.50")  # a draft never applies
    with as_user(tree, "city") as s:
        cards.activate(s, "SG", 2, version=1)
    before, after = (_q(tree, 1.5, on=d) for d in (dt.date(2026, 5, 31), dt.date(2026, 6, 1)))
    assert (before.price, before.rule.version) == (D("3.50"), 1)
    assert (after.price, after.rule.version) == (D("3.90"), 2)
    with tree.store.session() as s:
        v1 = s.query(RateCardVersion).filter_by(number=1).one()
        assert (v1.status, v1.valid_to) == (PriceStatus.SUPERSEDED, dt.date(2026, 5, 31))
    with pytest.raises(Conflict), as_user(tree, "city") as s:
        cards.activate(s, "SG", 2)  # in force: never stepped again


def test_volumetric_weight_is_charged_when_larger(tree):
    with tree.store.transaction() as s:
        card(s, tree, "SG", RateOrigin.MARKET, [("same", 0, 60, 1, 3.00, 0.5)], divisor=6000)
    light_big = _q(tree, 0.5, dims_cm=(40, 30, 20))  # 24 000 cm³ / 6000 = 4 kg
    assert light_big.chargeable_weight == D("4.00")
    assert light_big.price == D("4.50")
    assert _q(tree, 5.0, dims_cm=(40, 30, 20)).chargeable_weight == D("5.00")
    assert chargeable_weight(0.2, (10, 10, 10), 6000) == D("0.20")  # 0.17 kg volumetric
    with pytest.raises(Invalid):
        _q(tree, 1, dims_cm=(40, 30))


def test_surcharges_apply_in_their_stated_order(tree):
    peak = (dt.date(2026, 11, 1), dt.date(2026, 11, 15))
    with tree.store.transaction() as s:
        card(s, tree, "SG-A", RateOrigin.MARKET, FLAT,
             surcharges=[(1, "remote", 2.0, 0, ["650000"], None, None),
                         (2, "peak", 0, 10, None, *peak)])
    nov = dt.date(2026, 11, 5)
    q = _q(tree, 1, "650100", on=nov)  # Urumqi: remote zone and remote surcharge, in the peak
    assert q.price == D("12.10")  # (9.00 + 2.00) × 1.10
    assert [(a.kind, a.added) for a in q.rule.surcharges] == [("remote", D("2.00")),
                                                               ("peak", D("1.10"))]
    assert _q(tree, 1, "650100", on=ON).price == D("11.00")  # outside the peak
    assert _q(tree, 1, FAR, on=nov).price == D("5.50")  # peak only
    with tree.store.transaction() as s:
        card(s, tree, "SG-A", RateOrigin.MARKET, FLAT, number=2, valid_from=dt.date(2026, 10, 1),
             surcharges=[(1, "peak", 0, 10, None, *peak),
                         (2, "remote", 2.0, 0, ["650000"], None, None)])
        v1 = s.query(RateCardVersion).filter_by(number=1).one()
        v1.valid_to, v1.status = dt.date(2026, 9, 30), PriceStatus.SUPERSEDED
    assert _q(tree, 1, "650100", on=nov).price == D("11.90")  # 9.00 × 1.10 + 2.00
    assert prefix("650000") == "65" and prefix("411400") == "4114"


def test_a_contract_discounts_the_tariff_and_its_bundle_adjusts_it(market_card):
    tree = market_card
    with tree.store.transaction() as s:
        bundle = PriceBundle(code="B-TB", name="淘系次日达", segment="taobao", product=Product.PARCEL,
                             promise_hours=48, rate_adjustment=-0.05, org_unit_id=tree.units["HA"])
        s.add(bundle)
    with as_user(tree, "county") as s:
        contract = cards.set_contract(s, customer="HA-SG-00001", valid_from=dt.date(2026, 2, 1),
                                      discount=0.1, bundle="B-TB")
        assert contract.status == PriceStatus.IN_FORCE
    q = _q(tree, 2.5, customer_id=tree.customer)
    # 3.00 × 0.9 = 2.70 × 0.95 = 2.565 → 2.57; 0.50 × 0.9 = 0.45 × 0.95 = 0.4275 → 0.43
    assert (q.rule.first_price, q.rule.extra_per_kg) == (D("2.57"), D("0.43"))
    assert q.price == D("3.43")  # 2.57 + 2 × 0.43
    assert (q.rule.contract, q.rule.bundle, q.rule.override) == (contract.code, "B-TB", True)
    assert _q(tree, 2.5, customer_id=tree.customer, on=dt.date(2026, 1, 15)).price == D("4.00")
    with tree.store.transaction() as s:
        card(s, tree, "SG-EXPRESS", RateOrigin.MARKET, [("same", 0, 60, 1, 6.00, 1.50)],
             product=Product.EXPRESS)
    express = _q(tree, 2.5, customer_id=tree.customer, product="express")
    # The bundle is a parcel (快包) bundle: express gets the contract's discount only.
    assert (express.rule.bundle, express.rule.first_price, express.price) == (
        None, D("5.40"), D("8.10"))


def test_a_price_below_the_floor_needs_approval_one_level_up(tree):
    rules = PriceRules(minimum_parcel_price=1.0)
    with tree.store.transaction() as s:
        card(s, tree, "SG", RateOrigin.MARKET, [("same", 0, 60, 1, 0.80, 0.5)],
             status=PriceStatus.DRAFT)
    with as_user(tree, "city") as s:
        v = cards.activate(s, "SG", 1, rules=rules)
        assert v.status == PriceStatus.PENDING
    with pytest.raises(Invalid):
        _q(tree, 1)  # pending: not in force
    with pytest.raises(NotAllowed, match="above the level"), as_user(tree, "city") as s:
        cards.approve(s, "SG", 1)  # the proposer's own level
    with as_user(tree, "prov") as s:
        cards.approve(s, "SG", 1, now=dt.datetime(2026, 1, 2, 9))
    q = _q(tree, 1, rules=rules)
    assert q.price == D("0.80") and q.below_floor and q.floor == D("1.00")
    assert q.floor_source == "minimum"


def test_a_contract_below_the_floor_waits_for_approval(market_card):
    tree = market_card
    rules = PriceRules(minimum_parcel_price=2.9)
    with as_user(tree, "county") as s:
        c = cards.set_contract(s, customer="HA-SG-00001", valid_from=dt.date(2026, 2, 1),
                               discount=0.1, rules=rules)  # 2.70 < 2.90
        assert c.status == PriceStatus.PENDING
        code = c.code
    assert _q(tree, 1, customer_id=tree.customer).price == D("3.00")  # not yet
    with as_user(tree, "city") as s:
        assert [p.ref for p in cards.pending_approvals(s) if p.can_approve] == [code]
        cards.approve_contract(s, code)
    assert _q(tree, 1, customer_id=tree.customer).price == D("2.70")
    with tree.store.session() as s:
        assert s.query(PriceContract).one().status == PriceStatus.IN_FORCE


def test_what_cannot_be_quoted_is_refused(market_card):
    tree = market_card
    with pytest.raises(NotFound):
        _q(tree, 1, user="xc-city")  # another city's market
    with pytest.raises(Invalid):
        _q(tree, 0)
    with pytest.raises(Invalid):
        _q(tree, 1, dest="999999")
    with pytest.raises(Invalid):
        _q(tree, 1, product="nope")
    with pytest.raises(Invalid):
        _q(tree, 1, product="express")  # no express card


def test_the_floor_is_the_cost_when_the_cost_model_knows_it(tree):
    def costs(market_id, product, on):  # as jiqun.money.floor.cost_floor answers
        return 2.40 if (market_id, product) == (tree.market, Product.PARCEL) else None

    with tree.store.transaction() as s:
        card(s, tree, "SG", RateOrigin.MARKET, [("same", 0, 60, 1, 2.20, 0.5)],
             status=PriceStatus.DRAFT)
    q_rules = PriceRules(minimum_parcel_price=1.0)
    with as_user(tree, "city") as s:
        assert cards.activate(s, "SG", 1, rules=q_rules, costs=costs).status == PriceStatus.PENDING
    with as_user(tree, "prov") as s:
        cards.approve(s, "SG", 1)
    q = _q(tree, 1, rules=q_rules, costs=costs)
    assert (q.floor, q.floor_source, q.below_floor) == (D("2.40"), "cost", True)
    q = _q(tree, 2, rules=q_rules, costs=costs)
    assert (q.price, q.below_floor) == (D("2.70"), False)
    no_cost = _q(tree, 1, rules=q_rules, costs=lambda *a: None)
    assert no_cost.floor_source == "minimum"
