"""On the ``small`` demo: the price response fitted recovers the demo's known truth
(``demo.pricing``), and every time-sensitive merchant on a slower product gets product advice.

The ``small`` demo (the one ``make demo`` builds): four markets moved their price gap, the
merchants answer with a true sensitivity of −1.5 per yuan. Measured here: the fit's estimate,
its interval, and the held-out months against no response (docs/money.md, "Price response").
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from jiqun.demo import build_demo
from jiqun.demo.pricing import TRUE_BETA
from jiqun.lake import connect
from jiqun.lake.engine import waybills
from jiqun.money import price_advice, product_advice
from jiqun.store import Scope, Store
from jiqun.store.models import Customer

TOLERANCE = 0.25  # per yuan: the estimate lies within this of the truth
UNTIL = dt.date(2026, 11, 30)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("price-demo")
    store = Store(f"sqlite:///{root}/store.db")
    store.upgrade()
    build_demo(store, root / "lake", scale="small", seed=7, until=UNTIL, progress=False)
    yield store, root / "lake"
    store.engine.dispose()


@pytest.fixture(scope="module")
def fitted(demo):
    store, lake = demo
    with store.session() as session:
        return price_advice.fit_response(session, connect(engine="duckdb"), lake, Scope.WHOLE,
                                         UNTIL)


def test_the_fit_recovers_the_demos_true_response(fitted):
    model, report = fitted
    assert model.identified
    assert abs(model.beta - TRUE_BETA) <= TOLERANCE, (model.beta, model.interval)
    low, high = model.interval
    assert high < 0 and low < TRUE_BETA + TOLERANCE
    assert report.merchants > 1000 and report.months >= 20


def test_held_out_months_beat_no_response(fitted):
    _, report = fitted
    check = report.validation
    assert check is not None and check.holdout_months == 3
    assert check.model_error < check.baseline_error
    assert check.model_error < 0.25  # a fifth of parcels off would be no forecast


def test_every_time_sensitive_merchant_on_a_slower_product_gets_advice(demo):
    store, lake = demo
    con = connect(engine="duckdb")
    with store.session() as session:
        found = {a.customer_id: a for a in product_advice.advice(session, con, lake,
                                                                 Scope.WHOLE, UNTIL)}
        since = UNTIL - dt.timedelta(days=product_advice.WINDOW_DAYS - 1)
        t = waybills(con, lake, Scope.WHOLE)
        recent = t.filter(t.ship_time >= since)
        slower = recent.filter(recent.product != "express")
        shipped = slower.group_by("customer_id").aggregate(n=slower.count()).to_pyarrow()
        totals = recent.group_by("customer_id").aggregate(n=recent.count()).to_pyarrow()
        big = {r["customer_id"] for r in totals.to_pylist()
               if r["n"] >= product_advice.MIN_PARCELS}
        slow = {r["customer_id"] for r in shipped.to_pylist() if r["n"] > 0} & big
        sensitive = {c.id for c in session.scalars(select(Customer))
                     if product_advice.time_sensitive(c.categories)}
    expected = slow & sensitive
    assert expected, "the demo has time-sensitive merchants on a slower product"
    assert expected <= set(found)
    assert {found[c].market for c in expected} >= {"HA-XY", "GD-SZ-HG"}  # tea and glasses
    for c in expected:
        assert "goods" in found[c].reasons and found[c].recommended == "express"
        assert found[c].moved_parcels > 0 and found[c].revenue_change > 0
