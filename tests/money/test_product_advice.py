"""Product advice (P2) on hand cases: time-sensitive goods, late lanes, and the money."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from jiqun.money.product_advice import _advice_of, counts_by_market, time_sensitive

FEES = {(1, "express"): 12.0}
COSTS = {"express": 3.0, "parcel": 2.0}


def _merchant(categories):
    return SimpleNamespace(id=7, code="HA-XY-00007", name="夏邑茶庄", market_id=1, owner_id=5,
                           categories=categories)


def _lane(product, dest, parcels, revenue_each, late=0):
    return {"customer_id": 7, "market_id": 1, "product": product, "dest_province": dest,
            "parcels": parcels, "revenue": parcels * revenue_each, "late": late}


def test_time_sensitive_goods_are_named_by_their_category():
    assert time_sensitive(["茶叶"]) and time_sensitive(["眼镜", "镜片"]) and time_sensitive(["医疗器械"])
    assert not time_sensitive(["童装"]) and not time_sensitive(None)


def test_tea_on_the_parcel_product_moves_every_slow_parcel_to_express():
    advice = _advice_of(_merchant(["茶叶"]), [
        _lane("parcel", "110000", 60, 4.0), _lane("express", "320000", 20, 12.0)], FEES, COSTS)
    assert advice.reasons == ["goods"] and advice.current_product == "parcel"
    assert advice.moved_parcels == 60  # 30-day window = a month
    assert advice.revenue_change == pytest.approx(60 * (12.0 - 4.0))
    assert advice.margin_change == pytest.approx(60 * (12.0 - 4.0 - (3.0 - 2.0)))


def test_a_late_lane_is_advised_and_an_on_time_one_is_not():
    lanes = [_lane("parcel", "110000", 50, 4.0, late=10),  # 20 % late: advised
             _lane("parcel", "320000", 80, 4.0, late=2),  # 2.5 % late: stays
             _lane("parcel", "650000", 10, 6.0, late=5)]  # late, but too few parcels to tell
    advice = _advice_of(_merchant(["童装"]), lanes, FEES, COSTS)
    assert advice.reasons == ["late"] and advice.late_lanes == ["110000"]
    assert advice.moved_parcels == 50
    assert advice.late_share == pytest.approx(17 / 140)


def test_no_advice_on_time_for_ordinary_goods_or_when_already_express_or_small():
    assert _advice_of(_merchant(["童装"]), [_lane("parcel", "110000", 90, 4.0, late=3)],
                      FEES, COSTS) is None
    assert _advice_of(_merchant(["茶叶"]), [_lane("express", "110000", 90, 12.0)],
                      FEES, COSTS) is None
    assert _advice_of(_merchant(["茶叶"]), [_lane("parcel", "110000", 12, 4.0)],
                      FEES, COSTS) is None


def test_counts_per_market_for_the_bulletin():
    a = SimpleNamespace(market="HA-XY")
    b = SimpleNamespace(market="GD-SZ-HG")
    assert counts_by_market([a, b, a]) == [("HA-XY", 2), ("GD-SZ-HG", 1)]
