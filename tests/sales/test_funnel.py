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
from jiqun.store.scope import Scope

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


def _events(*rows):
    return [funnel.StageEvent(cid, stage, dt.date(2024, 1, 1) + dt.timedelta(days=day), rec)
            for cid, stage, day, rec in rows]


def test_time_in_stage_on_a_hand_built_history():
    """Five customers whose days in each stage are counted by hand (today = day 100):

    1: archived 0, visited 10, trial 20, first waybill 30; cooperating now  → 10, 10, 10, open 70
    2: archived 0, visited 4, trial 40 (recorded), first waybill 54        → 4, 36, 14, open 46
    3: archived 0, visited 30 with no interest: archived still           → open archived 100
    4: archived 0, first waybill 8, recorded churn at 60, now churned;
       a visit at 70 does not make it nurturing again                      → 8, 52, open 40
    5: archived 0, visited 2, first waybill 20, now growing, rise never recorded
                                                                           → 2, 18, (unknown: out)
    """
    events = _events(
        (1, S.ARCHIVED, 0, False), (1, S.NURTURING, 10, False), (1, S.TRIAL, 20, False),
        (1, S.COOPERATING, 30, False),
        (2, S.ARCHIVED, 0, False), (2, S.NURTURING, 4, False), (2, S.TRIAL, 40, True),
        (2, S.COOPERATING, 54, False),
        (3, S.ARCHIVED, 0, False), (3, S.NURTURING, 30, False),
        (4, S.ARCHIVED, 0, False), (4, S.COOPERATING, 8, False), (4, S.CHURNED, 60, True),
        (4, S.NURTURING, 70, False),
        (5, S.ARCHIVED, 0, False), (5, S.NURTURING, 2, False), (5, S.COOPERATING, 20, False),
    )
    current = {1: S.COOPERATING, 2: S.COOPERATING, 3: S.ARCHIVED, 4: S.CHURNED, 5: S.GROWING}
    today = dt.date(2024, 1, 1) + dt.timedelta(days=100)
    rows = {r.stage: r for r in funnel.stage_times(funnel.spells(events, current), today)}
    archived = rows["archived"]  # left after 10, 4, 8, 2 days; customer 3 still in (100)
    assert (archived.finished, archived.median_days, archived.p75_days, archived.mean_days) == \
        (4, 6.0, 8.5, 6.0)
    assert (archived.still_in, archived.median_days_so_far) == (1, 100.0)
    nurturing = rows["nurturing"]  # 10, 36, 18 (customer 4 never nurtured)
    assert (nurturing.finished, nurturing.median_days, nurturing.p75_days) == (3, 18.0, 27.0)
    assert nurturing.still_in == 0
    trial = rows["trial"]  # 10, 14
    assert (trial.finished, trial.median_days, trial.p75_days, trial.still_in) == \
        (2, 12.0, 13.0, 0)
    cooperating = rows["cooperating"]  # left: customer 4 after 52; still in: 70 and 46 days
    assert (cooperating.finished, cooperating.median_days, cooperating.still_in,
            cooperating.median_days_so_far) == (1, 52.0, 2, 58.0)
    assert (rows["churned"].finished, rows["churned"].still_in,
            rows["churned"].median_days_so_far) == (0, 1, 40.0)
    assert "growing" not in rows  # when customer 5 began growing is not known


def _milestones(store, outlet) -> None:
    """Two customers: T1 archived 01-01, visited 01-05, trial 02-01, first waybill 02-20; T2
    archived 01-11, moved to nurturing by a recorded change on 01-31."""
    org = outlet.org.zhili_outlet.id
    me = outlet.users["zl-marketer"]
    with store.transaction() as s:
        a = Customer(code="T1", name="T1", org_unit_id=org, lifecycle_stage=S.COOPERATING,
                     archived_on=dt.date(2024, 1, 1), first_shipped_on=dt.date(2024, 2, 20))
        b = Customer(code="T2", name="T2", org_unit_id=org, lifecycle_stage=S.NURTURING,
                     archived_on=dt.date(2024, 1, 11))
        s.add_all([a, b])
        s.flush()
        s.add_all([
            Visit(customer_id=a.id, user_id=me, org_unit_id=org, method="card",
                  outcome="interested", visited_at=dt.datetime(2024, 1, 5, 10)),
            Visit(customer_id=a.id, user_id=me, org_unit_id=org, method="card",
                  outcome="trial", visited_at=dt.datetime(2024, 1, 25, 10)),  # not the first
            TrialShipment(customer_id=a.id, org_unit_id=org, started_on=dt.date(2024, 2, 1)),
            StageChange(customer_id=b.id, org_unit_id=org, from_stage=S.ARCHIVED,
                        to_stage=S.NURTURING, at=dt.datetime(2024, 1, 31, 23, 59),
                        reason="visit_interested"),
        ])


def test_time_in_stage_reads_the_archive_and_the_stage_changes(store, outlet):
    """funnel.time_in_stage on the store: milestones from the archive (archived_on, first
    visit, first trial, first waybill) and a recorded change, scoped to the session."""
    _milestones(store, outlet)
    with store.session() as s:
        rows = {r.stage: r for r in funnel.time_in_stage(s, dt.date(2024, 3, 1))}
    assert (rows["archived"].finished, rows["archived"].median_days) == (2, 12.0)
    assert rows["archived"].p75_days == 16.0  # 4 and 20 days
    assert (rows["nurturing"].finished, rows["nurturing"].median_days) == (1, 27.0)
    assert (rows["nurturing"].still_in, rows["nurturing"].median_days_so_far) == (1, 30.0)
    assert (rows["trial"].finished, rows["trial"].median_days) == (1, 19.0)
    assert (rows["cooperating"].still_in, rows["cooperating"].median_days_so_far) == (1, 10.0)
    with store.session(scope=Scope.for_unit_id(store, outlet.org.xihu.id)) as s:
        assert funnel.time_in_stage(s, dt.date(2024, 3, 1)) == []  # Hangzhou sees none


def test_time_in_stage_page_api_and_cli_agree(store, outlet, tmp_path, monkeypatch):
    """Issue 13: the page's table was empty and sent users to a command; now the page, the API
    and ``jiqun sales time-in-stage`` show the same rows (as of today)."""
    import json
    import re

    from fastapi.testclient import TestClient
    from typer.testing import CliRunner

    from jiqun.cli import app as cli_app
    from jiqun.config import Settings, get_settings
    from jiqun.formats import number
    from jiqun.web.app import create_app
    from tests.web.conftest import login

    _milestones(store, outlet)
    settings = Settings(store_url=store.url, lake_path=tmp_path / "lake", environment="test",
                        secret_key="test-secret-key", locale="zh-CN")
    client = TestClient(create_app(settings))
    assert login(client, "zl-marketer", "pw-123456789").status_code == 303
    api = client.get("/api/funnel").json()["time_in_stage"]
    page = client.get("/funnel").text
    monkeypatch.setenv("JIQUN_STORE_URL", store.url)
    monkeypatch.setenv("JIQUN_LAKE_PATH", str(tmp_path / "lake"))
    get_settings.cache_clear()
    try:
        run = CliRunner().invoke(cli_app, ["sales", "time-in-stage", "--user", "zl-marketer",
                                           "--format", "json"])
    finally:
        get_settings.cache_clear()
    assert run.exit_code == 0, run.output
    assert json.loads(run.stdout) == api
    assert [r["stage"] for r in api] == ["archived", "nurturing", "trial", "cooperating"]
    assert (api[2]["finished"], api[2]["median_days"]) == (1, 19.0)
    table = page[page.index('data-testid="time-in-stage"'):]
    for row in api:
        cells = re.search(rf'<tr data-stage="{row["stage"]}">(.*?)</tr>', table, re.S).group(1)
        numbers = re.findall(r'<td class="num">([^<]*)</td>', cells)
        expected = [number(row["finished"]), number(row["median_days"], 1),
                    number(row["p75_days"], 1), number(row["still_in"]),
                    number(row["median_days_so_far"], 1)]
        assert numbers == expected, row
    assert "jiqun sales" not in page  # no "use the CLI"
