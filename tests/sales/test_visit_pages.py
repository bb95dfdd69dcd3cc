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
    assert response.status_code == 400
    assert 'role="alert"' in response.text
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
