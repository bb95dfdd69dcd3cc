"""The grid design page: a city manager drafts, compares, approves and activates; a marketer
sees the page but cannot approve; POSTs need the CSRF token."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from jiqun.accounts import add_user
from jiqun.config import Settings
from jiqun.planning import grid_store
from jiqun.store.models import Customer, Role
from jiqun.web.app import create_app
from tests.planning.test_grids_store import build_market

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
    form = {"market_id": mid, "draft": api["draft"], "csrf_token": token}
    assert client.post("/grids/design/approve", data=form, follow_redirects=False).status_code == 303
    assert client.post("/grids/design/activate", data=form, follow_redirects=False).status_code == 303
    with store.session() as s:
        active = {g.id for g in grid_store.active_grids(s, mid)}
        assert {c.grid_id for c in s.scalars(select(Customer))} == active
    assert client.get(f"/api/grids/design?market_id={mid}").json()["comparison"] is None


def test_a_marketer_cannot_approve(store, market, tmp_path):
    mid = market["market_id"]
    with store.transaction() as s:
        draft_id, _ = grid_store.create_draft(s, mid, 2, 0.2)
        add_user(s, "hz-seller", "pw-123456789", market["org"].huzhou, Role.MARKETER)
    client = _client(store, tmp_path, "hz-seller")  # sees the city's market, may not approve
    page = client.get(f"/grids/design?market_id={mid}")
    assert page.status_code == 200 and "/grids/design/approve" not in page.text
    token = CSRF.search(page.text).group(1)
    r = client.post("/grids/design/approve", data={"market_id": mid, "draft": draft_id,
                                                   "csrf_token": token}, follow_redirects=False)
    assert r.status_code in (403, 404)
