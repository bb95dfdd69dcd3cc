"""TOP-N by potential and key-city targets (M2), against hand-computed figures."""

from __future__ import annotations

import pytest

from jiqun.kpi.rules import KpiRules
from jiqun.kpi.service import OperatingPicture
from jiqun.markets import potential, registry
from jiqun.markets.potential import MarketFacts, fill_slots, rank_by_potential
from tests.markets.conftest import acting, unit_id

PLAN = KpiRules().key_city_slots()  # the seed's: one 10M and two 5M markets


def _facts(code, estimate, volumes, ours=0, total=None):
    return MarketFacts(market_id=hash(code) % 1000, code=code, name=code, city="", key_area=False,
                       tier=None, estimate_daily=estimate, merchant_volumes=volumes,
                       our_parcels=ours, market_total=total)


def test_potential_is_the_estimate_or_the_merchants_with_the_typical_one_filling_gaps():
    facts = [
        _facts("A", 100.0, [10.0], ours=600),          # estimate 100, ours 20/day → gap 80
        _facts("B", None, [10.0, None, 30.0]),          # 10 + 30 + median(10, 30) = 60
        _facts("C", None, [None, None]),                # 2 × scope median(10, 10, 30) = 20
        _facts("D", 90.0, [], ours=0),                  # estimate 90 → gap 90
    ]
    ranked = rank_by_potential(facts)
    assert [(r.code, r.potential_daily, r.potential_source) for r in ranked] == [
        ("A", 100.0, "estimate"), ("D", 90.0, "estimate"), ("B", 60.0, "merchants"),
        ("C", 20.0, "merchants")]
    by_gap = rank_by_potential(facts, top=2, by="gap")
    assert [(r.rank, r.code, r.gap_daily) for r in by_gap] == [(1, "D", 90.0), (2, "A", 80.0)]


def test_province_top_n_from_the_facade(wstore, world):
    """Window 2024-05-17 … 06-15. 西湖: estimate 100, ours 5×2×15 + 5×3×15 = 375 → 12.5/day,
    share 375 / (100×30). 织里: estimate 40 (May) → 50 (June), ours 4×2×15 + 4×3×15 = 300 → 10,
    share 300 / (40×15 + 50×15). 湖州电商园: no estimate, one merchant at 20; ours 150 → 5."""
    with acting(wstore, "zj-prov") as s, \
            OperatingPicture(wstore, world.settings.lake_path, s.info["scope"]) as picture:
        rows, as_of = potential.top_markets(s, picture, top=3)
    assert str(as_of) == "2024-06-15"
    assert [(r.code, r.potential_daily, r.our_daily, r.gap_daily) for r in rows] == [
        ("M-XH", 100.0, 12.5, 87.5), ("M-ZL", 50.0, 10.0, 40.0), ("M-HZP", 20.0, 5.0, 15.0)]
    assert rows[0].share == pytest.approx(375 / 3000)
    assert rows[1].share == pytest.approx(300 / 1350)
    assert rows[2].share is None and rows[2].potential_source == "merchants"
    assert (rows[1].city, rows[1].merchants) == ("湖州市分公司", 3)


def test_slots_fill_from_the_highest_target_down():
    slots, chosen = fill_slots([("A", 12e6), ("B", 10e6), ("C", 5e6), ("D", 4e6)], PLAN)
    assert [(s.threshold, s.planned, s.filled) for s in slots] == [(10e6, 1, 1), (5e6, 2, 2)]
    assert chosen == {"A": 10e6, "B": 5e6, "C": 5e6}
    slots, _ = fill_slots([("A", 6e6), ("B", 5e6), ("C", None)], PLAN)
    assert [(s.filled, s.met) for s in slots] == [(0, False), (2, True)]


def test_key_city_targets_against_the_plan(wstore, world):
    with acting(wstore, "hz-city") as s:
        registry.edit_market(s, world.ids["zhili"], {"yearly_revenue_target": 10_000_000})
        registry.edit_market(s, world.ids["hzpark"], {"yearly_revenue_target": 5_000_000})
    with acting(wstore, "zj-prov") as s:
        cities = potential.key_city_targets(s)
    assert [(c.code, c.met, [s.filled for s in c.slots]) for c in cities] == [
        ("ZJ-HGZ", False, [0, 0]), ("ZJ-HUZ", False, [1, 1])]
    with acting(wstore, "hz-city") as s:
        registry.create_market(s, {"code": "M-NX", "name": "南浔", "type": "wholesale_market",
                                   "industry": "家具", "org_unit_id": unit_id(wstore, "ZJ-HUZ"),
                                   "yearly_revenue_target": 6_000_000})
    with acting(wstore, "zj-prov") as s:
        huzhou = [c for c in potential.key_city_targets(s) if c.code == "ZJ-HUZ"][0]
    assert huzhou.met and huzhou.record()["filled_2"] == 2 and huzhou.record()["threshold_2"] == 5e6


def test_revenue_so_far_this_year_against_the_prorated_target(wstore, world):
    """织里 shipped 4 a day in April, 8 in May, 12 in June to the 15th, at 5 yuan."""
    with acting(wstore, "hz-city") as s:
        registry.edit_market(s, world.ids["zhili"], {"yearly_revenue_target": 3_660_000})
        with OperatingPicture(wstore, world.settings.lake_path, s.info["scope"]) as picture:
            city = potential.key_city_targets(s, picture)[0]
    zhili = city.markets[0]
    assert zhili.revenue_ytd == (4 * 30 + 8 * 31 + 12 * 15) * 5.0
    assert zhili.expected_ytd == pytest.approx(3_660_000 * 167 / 366)  # 2024-06-15: day 167
