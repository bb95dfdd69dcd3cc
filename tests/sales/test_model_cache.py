"""The visit plan's conversion model is trained once per scope and plan day, then reused."""

from __future__ import annotations

import datetime as dt

import pytest

from jiqun.sales import conversion, visit_plan
from jiqun.store.scope import Scope

DAY = dt.date(2024, 6, 30)


def _history(n: int) -> conversion.History:
    merchants = {
        i: conversion.MerchantFacts(i, "third", ("taobao",), 10.0, dt.date(2023, 1, 1),
                                    dt.date(2024, 3, 1) if i % 2 else None)
        for i in range(n)
    }
    visits = {i: [conversion.VisitFact(dt.date(2024, 2, 1), "sweep", "interested", None)]
              for i in range(n)}
    return conversion.History(merchants, visits)


@pytest.fixture
def fits(monkeypatch):
    calls = []
    train = conversion.train

    def counting(*args, **kwargs):
        calls.append(args[1])
        return train(*args, **kwargs)

    visit_plan.clear_trained_models()
    monkeypatch.setattr(conversion, "train", counting)
    yield calls
    visit_plan.clear_trained_models()


def test_second_plan_of_the_day_does_not_retrain(fits):
    scope = Scope(root_id=4, root_path="/1/4/", org_ids=frozenset({4}))
    history = _history(20)
    first = visit_plan.trained_model(history, scope, DAY, 30)
    again = visit_plan.trained_model(_history(20), scope, DAY, 30)
    assert again is first and fits == [DAY]

    visit_plan.trained_model(history, scope, DAY + dt.timedelta(days=1), 30)  # another day
    visit_plan.trained_model(history, Scope(5, "/1/5/", frozenset({5})), DAY, 30)  # another scope
    visit_plan.trained_model(_history(21), scope, DAY, 30)  # a merchant more: new data
    assert len(fits) == 4


def test_the_cache_is_bounded(fits):
    history = _history(6)
    for i in range(visit_plan.MODELS_KEPT + 3):
        visit_plan.trained_model(history, None, DAY + dt.timedelta(days=i), 30)
    assert len(visit_plan._models) == visit_plan.MODELS_KEPT
    visit_plan.trained_model(history, None, DAY, 30)  # the oldest was dropped: trained again
    assert len(fits) == visit_plan.MODELS_KEPT + 4
