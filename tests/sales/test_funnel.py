"""Funnel and conversion numbers against a plain-Python count over the same random archive."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from jiqun.sales import funnel
from jiqun.store.models import (
    Campaign,
    CampaignCustomer,
    Customer,
    LifecycleStage,
    StageChange,
    TrialShipment,
    Visit,
)

S = LifecycleStage
ORDER = {"archived": 0, "nurturing": 1, "trial": 2, "cooperating": 3, "growing": 4, "vip": 4,
         "churned": 3}
METHODS = ["card", "directory", "sweep", "referral"]


@pytest.fixture
def archive(store, outlet):
    """40 random customers with stages, visits, trials, first shipments, campaigns, platforms;
    returns the plain description the reference count works from."""
    rnd = random.Random(11)
    org = outlet.org.zhili_outlet.id
    people = [outlet.users["zl-marketer"], outlet.users["zl-marketer2"]]
    plain = []
    with store.transaction() as s:
        camps = [Campaign(name=n, starts_on=dt.date(2024, 3, 1), ends_on=dt.date(2024, 5, 31),
                          org_unit_id=org) for n in ("春耕计划", "中秋")]
        s.add_all(camps)
        s.flush()
        for k in range(40):
            stage = rnd.choice(list(S))
            platforms = rnd.sample(["taobao", "pdd", "live"], rnd.randint(0, 2))
            shipped = stage in (S.COOPERATING, S.GROWING, S.VIP, S.CHURNED) or rnd.random() < 0.1
            c = Customer(code=f"F{k:02d}", name=f"F{k}", org_unit_id=org, lifecycle_stage=stage,
                         platforms=platforms,
                         first_shipped_on=dt.date(2024, 5, 1) if shipped else None)
            s.add(c)
            s.flush()
            visits = [(dt.datetime(2024, 4, 1) + dt.timedelta(days=rnd.randint(0, 60)),
                       rnd.choice(METHODS), rnd.choice(people)) for _ in range(rnd.randint(0, 3))]
            for at, method, who in visits:
                s.add(Visit(customer_id=c.id, user_id=who, org_unit_id=org, visited_at=at,
                            method=method, outcome="interested"))
            trial = rnd.random() < 0.3
            if trial:
                s.add(TrialShipment(customer_id=c.id, org_unit_id=org,
                                    started_on=dt.date(2024, 4, 5)))
            in_camps = [cp.id for cp in camps if rnd.random() < 0.3]
            for cp in in_camps:
                s.add(CampaignCustomer(campaign_id=cp, customer_id=c.id))
            history = []
            if rnd.random() < 0.2:  # once cooperated, now back in the archive
                history = [S.COOPERATING]
                s.add(StageChange(customer_id=c.id, org_unit_id=org, from_stage=S.NURTURING,
                                  to_stage=S.COOPERATING, at=dt.datetime(2024, 5, 2),
                                  reason="first_waybills"))
            first = min(visits) if visits else None
            plain.append({"stage": stage.value, "visited": bool(visits), "trial": trial,
                          "shipped": shipped, "history": [h.value for h in history],
                          "method": first[1] if first else None,
                          "person": first[2] if first else None,
                          "campaigns": in_camps, "platforms": platforms})
    return plain


def _furthest(c: dict) -> int:
    step = ORDER[c["stage"]]
    step = max([step] + [1] * c["visited"] + [2] * c["trial"] + [3] * c["shipped"]
               + [ORDER[h] for h in c["history"]])
    return step


def test_funnel_counts_match_a_plain_count(store, archive):
    with store.session() as s:
        steps = funnel.funnel(funnel.load_facts(s))
    expected = [sum(_furthest(c) >= k for c in archive) for k in range(5)]
    assert [r["customers"] for r in steps] == expected
    assert expected[0] == 40 and expected[3] < expected[0]
    assert steps[3]["from_previous"] == pytest.approx(expected[3] / expected[2])
    assert steps[4]["share_of_archived"] == pytest.approx(expected[4] / 40)


@pytest.mark.parametrize("by", ["method", "person", "campaign", "platform"])
def test_conversion_by_group_matches_a_plain_count(store, archive, by):
    with store.session() as s:
        rows = funnel.conversion_by(funnel.load_facts(s), by)
    expected: dict[str, list[int]] = {}
    for c in archive:
        if by in ("method", "person"):
            keys = [c[by]] if c[by] is not None else ["none"]
        else:
            keys = c[by + "s"] or ["none"]
        for key in keys:
            expected.setdefault(str(key), []).append(_furthest(c))
    got = {str(r["key"]): r for r in rows}
    assert set(got) == set(expected)
    for key, steps in expected.items():
        assert got[key]["archived"] == len(steps)
        assert got[key]["cooperating"] == sum(s >= 3 for s in steps)
        assert got[key]["trial"] == sum(s >= 2 for s in steps)
        assert got[key]["conversion"] == pytest.approx(sum(s >= 3 for s in steps) / len(steps))


def test_time_in_stage_from_stage_changes():
    t = dt.datetime(2024, 1, 1)
    changes = [(1, S.NURTURING, t), (1, S.TRIAL, t + dt.timedelta(days=10)),
               (1, S.COOPERATING, t + dt.timedelta(days=24)),
               (2, S.NURTURING, t + dt.timedelta(days=2)), (2, S.TRIAL, t + dt.timedelta(days=6))]
    rows = {r["stage"]: r for r in funnel.time_in_stage(funnel.spells(changes),
                                                        t + dt.timedelta(days=30))}
    assert rows["nurturing"]["finished"] == 2 and rows["nurturing"]["mean_days"] == 7.0
    assert rows["trial"]["finished"] == 1 and rows["trial"]["mean_days"] == 14.0
    assert rows["trial"]["still_in"] == 1 and rows["trial"]["mean_days_so_far"] == 24.0
    assert rows["cooperating"]["still_in"] == 1 and rows["cooperating"]["mean_days_so_far"] == 6.0
