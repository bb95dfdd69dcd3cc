"""The price response fitted on the demo recovers the demo's known truth (``demo.pricing``).

The ``small`` demo (the one ``make demo`` builds): four markets moved their price gap, the
merchants answer with a true sensitivity of −1.5 per yuan. Measured here: the fit's estimate,
its interval, and the held-out months against no response (docs/money.md, "Price response").
"""

from __future__ import annotations

import datetime as dt

import pytest

from jiqun.demo import build_demo
from jiqun.demo.pricing import TRUE_BETA
from jiqun.lake import connect
from jiqun.money import price_advice
from jiqun.store import Scope, Store

TOLERANCE = 0.25  # per yuan: the estimate lies within this of the truth
UNTIL = dt.date(2026, 11, 30)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    root = tmp_path_factory.mktemp("price-demo")
    store = Store(f"sqlite:///{root}/store.db")
    store.upgrade()
    build_demo(store, root / "lake", scale="small", seed=7, until=UNTIL, progress=False)
    con = connect(engine="duckdb")
    with store.session() as session:
        model, report = price_advice.fit_response(session, con, root / "lake", Scope.WHOLE,
                                                  UNTIL)
    store.engine.dispose()
    return model, report


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
