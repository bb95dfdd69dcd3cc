"""The grid design page: a city manager drafts, compares, approves and activates; a marketer
sees the page but cannot approve; POSTs need the CSRF token."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from jiqun.accounts import add_user
from jiqun.config import Settings
from jiqun.grids import redraw
from jiqun.store.models import Customer, Role
from jiqun.web.app import create_app
from tests.grids.test_redraw import build_market

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def market(store):
    return build_market(store)


def _client(store, tmp_path, username):
    settings = Settings(store_url=str(store.engine.url), lake_path=tmp_path / "lake",
                        secret_key="grids-test-secret-0123456789abcdef")
    client = TestClient(create_app(settings))
    token = CSRF.search(client.get("/login").text).group(1)
    r = client.post("/login", data={"username": username, "password": "pw-123456789",
                                    "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    return client


def test_city_manager_redraws_a_market_on_the_page(store, market, tmp_path):
    mid = market["market_id"]
    client = _client(store, tmp_path, "hz-boss")
    page = client.get(f"/grids/design?market_id={mid}")
    assert page.status_code == 200 and 'data-grids-chart="scatter"' in page.text
    token = CSRF.search(page.text).group(1)
    refused = client.post("/grids/design/draft", data={"market_id": mid, "k": 2},
                          follow_redirects=False)
    assert refused.status_code == 403  # no CSRF token
    r = client.post("/grids/design/draft", data={"market_id": mid, "k": 2, "tolerance": 0.2,
                                                 "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    page = client.get(f"/grids/design?market_id={mid}")
    assert 'data-testid="draft-grids"' in page.text
    api = client.get(f"/api/grids/design?market_id={mid}").json()["comparison"]
    assert api["current"]["workload_ratio"] == 4.0 and api["draft_grids"]["workload_ratio"] <= 1.2
    assert re.search(r'data-testid="moves">\s*{}\s*<'.format(api["moves"]), page.text)
    form = {"market_id": mid, "draft": api["draft"], "seen": api["fingerprint"],
            "csrf_token": token}
    assert f'name="seen" value="{api["fingerprint"]}"' in page.text
    assert client.post("/grids/design/approve", data=form, follow_redirects=False).status_code == 303
    approved = client.get(f"/api/grids/design?market_id={mid}").json()["comparison"]
    assert approved["approved_by_name"] == "hz-boss"
    stale = client.post("/grids/design/activate", data=form, follow_redirects=False)
    assert stale.status_code == 409 and "请重新查看" in stale.text  # seen before the approval
    form["seen"] = approved["fingerprint"]
    assert client.post("/grids/design/activate", data=form, follow_redirects=False).status_code == 303
    with store.session() as s:
        active = {g.id for g in redraw.active_grids(s, mid)}
        assert {c.grid_id for c in s.scalars(select(Customer))} == active
    assert client.get(f"/api/grids/design?market_id={mid}").json()["comparison"] is None


def test_a_marketer_cannot_approve(store, market, tmp_path):
    mid = market["market_id"]
    with store.transaction() as s:
        draft_id, _ = redraw.create_draft(s, mid, 2, 0.2)
        seen = redraw.draft_fingerprint(s, mid, draft_id)
        add_user(s, "hz-seller", "pw-123456789", market["org"].huzhou, Role.MARKETER)
    client = _client(store, tmp_path, "hz-seller")  # sees the city's market, may not approve
    page = client.get(f"/grids/design?market_id={mid}")
    assert page.status_code == 200 and "/grids/design/approve" not in page.text
    assert "/grids/design/draft" not in page.text
    token = CSRF.search(page.text).group(1)
    r = client.post("/grids/design/approve", data={"market_id": mid, "draft": draft_id,
                                                   "seen": seen, "csrf_token": token},
                    follow_redirects=False)
    assert r.status_code == 403 and "无权" in r.text
    with store.session() as s:
        assert redraw.draft_grids(s, mid, draft_id)[0].geometry["properties"][
            "approved_at"] is None


def _bearer(client, username) -> dict:
    r = client.post("/api/token", data={"username": username, "password": "pw-123456789"})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_a_marketer_cannot_create_grid_drafts_by_page_or_api(store, market, tmp_path):
    """Reproduction of issue 9: demo-marketer could create grid drafts."""
    mid = market["market_id"]
    with store.transaction() as s:
        add_user(s, "hz-seller", "pw-123456789", market["org"].huzhou, Role.MARKETER)
    client = _client(store, tmp_path, "hz-seller")
    token = CSRF.search(client.get(f"/grids/design?market_id={mid}").text).group(1)
    page = client.post("/grids/design/draft", data={"market_id": mid, "k": 2, "tolerance": 0.2,
                                                    "csrf_token": token}, follow_redirects=False)
    assert page.status_code == 403
    api = client.post("/api/grids/design/draft", json={"market_id": mid, "k": 2},
                      headers=_bearer(client, "hz-seller"))
    assert api.status_code == 403
    assert api.json()["detail"] == "您的角色无权执行此操作：保存网格调整草案"
    bad = client.post("/api/grids/design/draft", json={"market_id": "x"},
                      headers=_bearer(client, "hz-seller"))
    assert bad.status_code == 403  # refused before the body is read: nothing learnt from it
    with store.session() as s:
        assert redraw.latest_draft_id(s, mid) is None


def test_a_city_manager_drafts_approves_and_activates_through_the_api(store, market, tmp_path):
    mid = market["market_id"]
    client = _client(store, tmp_path, "hz-boss")
    headers = _bearer(client, "hz-boss")
    made = client.post("/api/grids/design/draft", json={"market_id": mid, "k": 2,
                                                        "tolerance": 0.2}, headers=headers)
    assert made.status_code == 201, made.text
    draft = made.json()["comparison"]
    assert draft["approved_at"] is None and draft["current"]["workload_ratio"] == 4.0
    decision = {"market_id": mid, "draft": draft["draft"], "fingerprint": "0" * 16}
    stale = client.post("/api/grids/design/approve", json=decision, headers=headers)
    assert stale.status_code == 409 and stale.json()["mine"] == {"fingerprint": "0" * 16}
    assert stale.json()["theirs"] == {"fingerprint": draft["fingerprint"]}
    decision["fingerprint"] = draft["fingerprint"]
    approved = client.post("/api/grids/design/approve", json=decision, headers=headers)
    assert approved.status_code == 200, approved.text
    fingerprint = approved.json()["comparison"]["fingerprint"]
    again = client.post("/api/grids/design/approve",
                        json={**decision, "fingerprint": fingerprint}, headers=headers)
    assert again.status_code == 409 and "hz-boss" in again.json()["detail"]
    on = "2026-04-01"
    active = client.post("/api/grids/design/activate",
                         json={**decision, "fingerprint": fingerprint, "on": on},
                         headers=headers)
    assert active.status_code == 200 and active.json()["comparison"] is None
    twice = client.post("/api/grids/design/activate",
                        json={**decision, "fingerprint": fingerprint, "on": on},
                        headers=headers)
    assert twice.status_code == 409
    with store.session() as s:
        grids = redraw.active_grids(s, mid)
        assert len(grids) == 2 and {g.valid_from.isoformat() for g in grids} == {on}
    too_many = client.post("/api/grids/design/draft", json={"market_id": mid, "k": 41},
                           headers=headers)
    assert too_many.status_code == 422
    assert client.post("/api/grids/design/activate",
                       json={**decision, "on": "0001-01-02"}, headers=headers).status_code == 422


@pytest.mark.parametrize("query", ["market_id=²", "market_id=99999999999999999999",
                                   "market_id=0", "market_id=1&error=boom"])
def test_bad_parameters_of_the_design_page_never_answer_500(store, market, tmp_path, query):
    client = _client(store, tmp_path, "hz-boss")
    assert client.get(f"/grids/design?{query}").status_code in (400, 422)
    api = query.split("&")[0]
    if api != "market_id=1":
        assert client.get(f"/api/grids/design?{api}").status_code == 422


def test_the_design_page_links_the_grids_in_force_to_their_pages(store, market, tmp_path):
    mid = market["market_id"]
    client = _client(store, tmp_path, "hz-boss")
    links = {f'href="/grids/{market["west"]}"', f'href="/grids/{market["east"]}"'}
    page = client.get(f"/grids/design?market_id={mid}").text  # no draft yet
    assert 'data-testid="active-grids"' in page and all(link in page for link in links)
    with store.transaction(user_id=market["boss"]) as s:
        redraw.create_draft(s, mid, 2, 0.2)
    page = client.get(f"/grids/design?market_id={mid}").text
    current = page.split('data-testid="current-grids"')[1].split("</table>")[0]
    draft = page.split('data-testid="draft-grids"')[1].split("</table>")[0]
    assert all(link in current for link in links)
    assert 'href="/grids/' not in draft  # a draft grid has no figures of its own yet
    assert client.get(f"/grids/{market['west']}").status_code == 200
