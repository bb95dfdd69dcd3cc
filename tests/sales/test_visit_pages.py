"""The phone visit form and its JSON twin: CSRF, the stage a visit's outcome sets, scoping."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from jiqun.store.models import (
    AuditEntry,
    Customer,
    LifecycleStage,
    StageChange,
    TrialShipment,
    Visit,
)
from jiqun.web.app import create_app
from tests.web.conftest import bearer, fresh_world, signed_in

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def world(tmp_path):
    world = fresh_world(tmp_path)
    store = world.store
    yield world
    store.engine.dispose()


@pytest.fixture
def marketer(world) -> TestClient:
    with signed_in(create_app(world.settings), "zl-marketer") as client:
        yield client


def _form(client: TestClient, customer_id: int) -> tuple[str, str]:
    page = client.get(f"/visits/new?customer_id={customer_id}")
    assert page.status_code == 200, page.text
    return page.text, CSRF.search(page.text).group(1)


def _visit(customer_id: int, token: str | None, **fields) -> dict:
    data = {"customer_id": str(customer_id), "method": "sweep", "outcome": "interested",
            "next_in_days": "3", "competitor": "中通", "competitor_price": "2.6", **fields}
    if token:
        data["csrf_token"] = token
    return data


def test_form_without_csrf_is_refused(world, marketer):
    cid = world.ids["zl_archived"]
    response = marketer.post("/visits", data=_visit(cid, None), follow_redirects=False)
    assert response.status_code == 403
    with world.store.session() as s:
        assert s.scalars(select(Visit).where(Visit.customer_id == cid)).all() == []


def test_form_with_csrf_logs_the_visit_and_moves_the_stage(world, marketer):
    cid = world.ids["zl_archived"]
    html, token = _form(marketer, cid)
    assert "童话屋" in html and 'value="sweep"' in html
    response = marketer.post("/visits", data=_visit(cid, token), follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/visits?saved=")
    with world.store.session() as s:
        visit = s.scalars(select(Visit).where(Visit.customer_id == cid)).one()
        assert (visit.method, visit.outcome, visit.competitor, visit.competitor_price) == \
            ("sweep", "interested", "中通", 2.6)
        assert visit.user_id == world.ids["zl-marketer"]
        assert visit.next_visit_on == dt.date.today() + dt.timedelta(days=3)
        assert s.get(Customer, cid).lifecycle_stage == LifecycleStage.NURTURING
        change = s.scalars(select(StageChange).where(StageChange.customer_id == cid)).one()
        assert (change.from_stage, change.to_stage, change.reason, change.user_id,
                change.visit_id) == (LifecycleStage.ARCHIVED, LifecycleStage.NURTURING,
                                     "visit_interested", world.ids["zl-marketer"], visit.id)
        audited = s.execute(select(AuditEntry.entity, AuditEntry.action)
                            .where(AuditEntry.source == "web",
                                   AuditEntry.user_id == world.ids["zl-marketer"])).all()
    assert {("visits", "insert"), ("customers", "update"), ("stage_changes", "insert")} \
        <= set(audited)
    listing = marketer.get(response.headers["location"])
    assert "童话屋" in listing.text and 'data-testid="saved"' in listing.text


def test_trial_outcome_opens_a_trial_shipment(world, marketer):
    cid = world.ids["zl_archived"]
    _, token = _form(marketer, cid)
    marketer.post("/visits", data=_visit(cid, token, outcome="trial"), follow_redirects=False)
    with world.store.session() as s:
        assert s.get(Customer, cid).lifecycle_stage == LifecycleStage.TRIAL
        trial = s.scalars(select(TrialShipment).where(TrialShipment.customer_id == cid)).one()
        assert trial.started_on == dt.date.today() and trial.ended_on is None


def test_invalid_form_is_shown_again_and_saves_nothing(world, marketer):
    cid = world.ids["zl_archived"]
    _, token = _form(marketer, cid)
    response = marketer.post("/visits", data=_visit(cid, token, method="telepathy",
                                                    competitor_price="abc"))
    assert response.status_code == 422
    assert 'role="alert"' in response.text
    # Each wrong field says what is wrong in the user's language; the right ones keep theirs.
    assert "请选择走访方式" in response.text and "请填写 0 到 1000 元之间的价格" in response.text
    assert "请选择走访结果" not in response.text
    with world.store.session() as s:
        assert s.scalars(select(Visit).where(Visit.customer_id == cid)).all() == []


def test_a_customer_outside_the_scope_is_404(world, marketer):
    foreign = world.ids["xh_live"]  # Hangzhou; the marketer works in Zhili
    assert marketer.get(f"/visits/new?customer_id={foreign}").status_code == 404
    _, token = _form(marketer, world.ids["zl_archived"])
    response = marketer.post("/visits", data=_visit(foreign, token), follow_redirects=False)
    assert response.status_code == 404
    with world.store.session() as s:
        assert s.scalars(select(Visit).where(Visit.customer_id == foreign)).all() == []
        assert s.get(Customer, foreign).lifecycle_stage == LifecycleStage.GROWING


def test_api_logs_a_signed_visit_with_a_bearer_token(world):
    with TestClient(create_app(world.settings)) as client:
        headers = bearer(client, "zl-marketer")
        cid = world.ids["zl_small"]  # on trial
        body = {"customer_id": cid, "method": "referral", "outcome": "signed",
                "next_step": "签订协议", "competitor": "圆通", "competitor_price": 2.4}
        response = client.post("/api/visits", json=body, headers=headers)
        assert response.status_code == 201, response.text
        out = response.json()
        assert out["stage_change"] == {"from_stage": "trial", "to_stage": "cooperating",
                                       "reason": "visit_signed"}
        assert out["visit"]["customer_id"] == cid and out["visit"]["competitor"] == "圆通"
        listed = client.get("/api/visits", headers=headers).json()
        assert [v["id"] for v in listed][:1] == [out["visit"]["id"]]
        assert client.post("/api/visits", json={**body, "customer_id": world.ids["xh_live"]},
                           headers=headers).status_code == 404
        assert client.post("/api/visits", json={**body, "outcome": "maybe"},
                           headers=headers).status_code == 422
        # Neither token nor session: the app-wide CSRF check refuses it before the login check.
        assert client.post("/api/visits", json=body).status_code == 403


def test_visit_list_puts_due_follow_ups_first(world, marketer):
    with world.store.transaction() as s:
        s.add(Visit(customer_id=world.ids["zl_archived"], user_id=world.ids["zl-marketer"],
                    org_unit_id=s.get(Customer, world.ids["zl_archived"]).org_unit_id,
                    visited_at=dt.datetime.now() - dt.timedelta(days=10), method="card",
                    outcome="follow_up", next_step="再次走访",
                    next_visit_on=dt.date.today() - dt.timedelta(days=1)))
    page = marketer.get("/visits").text
    due_section = page.index("data-testid=\"due\"")
    today_section = page.index("data-testid=\"today\"")
    assert due_section < page.index("再次走访") < today_section
    assert page.index(f"/visits/new?customer_id={world.ids['zl_archived']}") < today_section


def test_form_api_and_service_refuse_the_same_values_with_the_same_messages(world, marketer):
    """Issue 13: the form parsed by hand with ``date.min`` and ``-1.0`` sentinels; now the form,
    the API and the CLI go through one validation (visits.parse_visit) and say, per field,
    what is wrong, in the caller's language."""
    from jiqun.errors import Invalid
    from jiqun.sales import visits

    cid = world.ids["zl_archived"]
    yesterday = (dt.date.today() - dt.timedelta(days=1)).isoformat()
    bad = {"method": "telepathy", "next_visit_on": yesterday, "competitor_price": "1e9",
           "notes": "很" * 2001}
    with pytest.raises(Invalid) as err:
        visits.parse_visit({"customer_id": cid, "outcome": "interested", **bad}, dt.date.today())
    assert err.value.errors == {"method": "Choose how you visited",
                                "next_visit_on": "The next visit cannot be in the past",
                                "competitor_price": "A price between 0 and 1000 yuan",
                                "notes": "Too long"}
    headers = bearer(marketer, "zl-marketer")
    api = marketer.post("/api/visits", headers=headers, json={
        "customer_id": cid, "outcome": "interested", **bad, "competitor_price": 1e9})
    assert api.status_code == 422
    assert api.json()["errors"] == {"method": "请选择走访方式",
                                    "next_visit_on": "下次走访日期不能早于今天",
                                    "competitor_price": "请填写 0 到 1000 元之间的价格",
                                    "notes": "内容过长"}
    _, token = _form(marketer, cid)
    page = marketer.post("/visits", data=_visit(cid, token, next_in_days="",
                                                 next_visit_on="2024-13-45"))
    assert page.status_code == 422 and "请按 YYYY-MM-DD 填写下次走访日期" in page.text
    # A decimal comma is a price, not an error; a typed date wins over the days chip.
    saved = marketer.post("/visits", data=_visit(cid, token, competitor_price="2,6",
                                                 next_visit_on="2099-01-02"),
                          follow_redirects=False)
    assert saved.status_code == 303
    with world.store.session() as s:
        visit = s.scalars(select(Visit).where(Visit.customer_id == cid)).one()
        assert (visit.competitor_price, visit.next_visit_on) == (2.6, dt.date(2099, 1, 2))


def _visits_by(world, who: str, days_ago: list[int]) -> list[int]:
    ids = []
    with world.store.transaction() as s:
        customer = s.get(Customer, world.ids["zl_archived"])
        for n in days_ago:
            visit = Visit(customer_id=customer.id, user_id=world.ids[who],
                          org_unit_id=customer.org_unit_id, method="card", outcome="follow_up",
                          visited_at=dt.datetime.combine(
                              dt.date.today() - dt.timedelta(days=n), dt.time(10)),
                          competitor="中通", competitor_price=12345.678)
            s.add(visit)
            s.flush()
            ids.append(visit.id)
    return ids


def test_a_manager_sees_the_teams_visits_a_marketer_their_own(world, marketer):
    """Issue 13: /visits showed every user "my visits" (a manager has none). A manager sees
    everyone's in their subtree, by marketer and days (default the last 30), paged and
    downloadable, the same rows as /api/visits; a marketer sees their own."""
    import csv
    import io

    recent = _visits_by(world, "zl-marketer", [0, 3, 29])
    _visits_by(world, "zl-marketer", [30, 45])  # before the default 30 days
    own = _visits_by(world, "hz-city", [1])  # the manager's own visit is the team's too
    app = create_app(world.settings)
    city = signed_in(app, "hz-city")
    page = city.get("/visits").text
    assert "团队走访" in page and 'data-testid="filter-marketer"' in page
    shown = [int(i) for i in re.findall(r'data-testid="visit-(\d+)"', page)]
    assert shown == [recent[0], own[0], recent[1], recent[2]]  # newest first
    assert "¥12,346" in page  # a price of ¥10,000 or more is shown to the yuan (jiqun.formats)
    api = city.get("/api/visits?mine=false&since="
                   f"{dt.date.today() - dt.timedelta(days=29)}").json()
    assert [v["id"] for v in api] == shown
    mkt = world.ids["zl-marketer"]
    only = [int(i) for i in re.findall(r'data-testid="visit-(\d+)"',
                                       city.get(f"/visits?marketer={mkt}").text)]
    assert only == recent
    since = (dt.date.today() - dt.timedelta(days=45)).isoformat()
    wide = city.get(f"/visits?marketer={mkt}&since={since}&format=csv")
    rows = list(csv.reader(io.StringIO(wide.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["走访时间", "编码", "客户"] and len(rows) == 1 + 5
    assert rows[1][-1] == "12345.678"  # the file keeps the full number
    assert city.get(f"/visits?since={dt.date.today()}&until={since}").status_code == 422
    other_city = signed_in(app, "hgz-city")  # Hangzhou: the Zhili marketer is none of theirs
    assert other_city.get(f"/visits?marketer={mkt}").status_code == 404
    assert other_city.get(f"/api/visits?mine=false&marketer={mkt}").status_code == 404

    mine = marketer.get("/visits").text
    assert "我的走访" in mine and 'data-testid="filter-marketer"' not in mine
    assert str(own[0]) not in re.findall(r'data-testid="visit-(\d+)"', mine)
