"""The overview figures (概览) as plain functions, without the web layer."""

from __future__ import annotations

import datetime as dt

import pytest

from jiqun.kpi import overview
from jiqun.lake import connect
from jiqun.store import Store
from jiqun.store.scope import Scope
from tests.web.conftest import DATA_DATE, FEE


@pytest.mark.parametrize("as_of,expected", [
    (dt.date(2024, 6, 15), (dt.date(2024, 5, 1), dt.date(2024, 5, 15))),
    (dt.date(2024, 3, 31), (dt.date(2024, 2, 1), dt.date(2024, 2, 29))),  # leap February
    (dt.date(2024, 1, 10), (dt.date(2023, 12, 1), dt.date(2023, 12, 10))),
])
def test_previous_month_same_days(as_of, expected):
    assert overview.previous_month_same_days(as_of) == expected


def test_kpis_from_a_daily_series():
    start = dt.date(2024, 2, 1)
    points = [overview.DailyPoint(start + dt.timedelta(days=i), i + 1, 2.0 * (i + 1))
              for i in range(29 + 10)]  # Feb 1 (1 parcel) .. Mar 10 (39 parcels)
    k = overview.kpis_from_trend(points, dt.date(2024, 3, 10))
    assert (k.parcels_day, k.revenue_day) == (39, 78.0)
    assert k.parcels_month == sum(range(30, 40))
    assert k.parcels_prev_month == sum(range(1, 11))
    assert k.parcels_mom == pytest.approx((345 - 55) / 55)
    with pytest.raises(ValueError):
        overview.kpis_from_trend(points[5:], dt.date(2024, 3, 10))


def test_growth_without_a_base_is_unknown():
    k = overview.Kpis(dt.date(2024, 1, 1), 1, 1.0, 5, 5.0, 0, 0.0)
    assert k.parcels_mom is None and k.revenue_mom is None


@pytest.fixture(scope="module")
def figures(world):
    store = Store(world.settings.store_url)
    with store.session() as s:
        huzhou = Scope.for_unit(s, _unit_of(s, world.ids["hz-city"]))
    yield store, huzhou, connect(world.settings), world.settings.lake_path
    store.engine.dispose()


def _unit_of(session, user_id):
    from jiqun.store.models import User

    return session.get(User, user_id).org_unit_id


def test_data_date_and_daily_trend_fill_empty_days(figures, world):
    store, scope, con, lake = figures
    assert overview.data_date(con, lake, scope) == DATA_DATE
    trend = overview.daily_trend(con, lake, scope, dt.date(2024, 3, 30), dt.date(2024, 4, 2),
                                 customer_id=world.ids["zl_big"])
    assert [(p.day.day, p.parcels, p.revenue) for p in trend] == [
        (30, 0, 0.0), (31, 0, 0.0), (1, 3, 3 * FEE), (2, 3, 3 * FEE)]
    assert all(type(p.parcels) is int for p in trend)


def test_market_summaries_use_the_estimate_valid_at_the_period_end(figures, world):
    store, scope, con, lake = figures
    with store.session(scope=scope) as s:
        may = overview.market_summaries(con, lake, scope, s, dt.date(2024, 5, 1),
                                        dt.date(2024, 5, 31))
    zhili = next(m for m in may if m.code == "M-ZL")
    assert zhili.parcels == (3 + 1) * 2 * 31
    assert zhili.market_daily_total == 40.0  # the June estimate is not valid yet
    assert zhili.share == pytest.approx(8 / 40)
    assert {m.code for m in may} == {"M-ZL", "M-HZP"}


def test_customer_monthly_volume_and_top_customers(figures, world):
    store, scope, con, lake = figures
    months = overview.customer_monthly_volume(con, lake, scope, world.ids["zl_small"],
                                              dt.date(2024, 3, 5), DATA_DATE)
    assert [(m.month.month, m.parcels) for m in months] == [(3, 0), (4, 30), (5, 62), (6, 45)]
    with store.session(scope=scope) as s:
        top = overview.top_customers(con, lake, scope, s, world.ids["zhili"],
                                     dt.date(2024, 6, 1), DATA_DATE, limit=1)
    assert [(c.code, v.parcels) for c, v in top] == [("C-ZL-1", 9 * 15)]
    # The lake answers nothing about another city's customer to this scope.
    assert overview.customer_volumes(con, lake, scope, dt.date(2024, 4, 1), DATA_DATE,
                                     customer_ids=[world.ids["xh_live"]]) == []
