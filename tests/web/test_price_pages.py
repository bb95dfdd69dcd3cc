"""The price pages on the tiny demo: the cards in scope, a card's versions with their history
and diff, its XLSX, the quote form against its /api twin, bundles with their figures, and the
approval of a contract below the floor one level up."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from fastapi.testclient import TestClient

from jiqun.config import Settings
from jiqun.demo import DEMO_PASSWORD, build_demo
from jiqun.store import Store
from jiqun.web.app import create_app
from tests.web.conftest import csrf_of, login

UNTIL = dt.date(2026, 11, 26)


@pytest.fixture(scope="module")
def demo_app(tmp_path_factory):
    root = tmp_path_factory.mktemp("prices")
    store = Store(f"sqlite:///{root}/store.db")
    build_demo(store, root / "lake", scale="tiny", seed=7, until=UNTIL, progress=False)
    settings = Settings(store_url=store.url, lake_path=root / "lake",
                        rules_file=root / "rules.toml", planning_file=root / "planning.toml")
    yield create_app(settings)
    store.engine.dispose()


def _as(app, user):
    client = TestClient(app)
    assert login(client, user, DEMO_PASSWORD).status_code == 303
    return client


def test_cards_page_lists_the_cards_in_scope_with_their_version(demo_app):
    city = _as(demo_app, "demo-city")
    page = city.get("/prices")
    assert page.status_code == 200
    assert "HA-SG-parcel" in page.text and "ZJ-" not in page.text  # Shangqiu's, not Zhejiang's
    cards = city.get("/api/prices/cards").json()["cards"]
    sg = next(c for c in cards if c["code"] == "HA-SG-parcel")
    assert sg["version"] == 2 and sg["pending"] == 0
    detail = city.get(f"/api/prices/cards/{sg['id']}").json()
    assert [v["status"] for v in detail["versions"]] == ["draft", "in_force", "superseded"]
    assert detail["versions"][1]["changes"]  # v2 against v1: every line 5 % dearer
    html = city.get(f"/prices/cards/{sg['id']}").text
    assert "v3" in html and "v1" in html
    xlsx = city.get(f"/prices/cards/{sg['id']}/xlsx")
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    assert city.get("/prices/cards/999999").status_code == 404


def test_the_quote_form_answers_as_its_api_twin(demo_app):
    city = _as(demo_app, "demo-city")
    api = city.get("/api/prices/quote?market=HA-SG&to=440100&weight=1.01&on=2026-11-20").json()
    assert api["rule"]["card_code"] == "HA-SG-parcel" and api["rule"]["version"] == 2
    assert api["price"] == round(api["rule"]["first_price"] + api["rule"]["extra_per_kg"], 2)
    page = city.get("/prices/quote?market=HA-SG&to=440100&weight=1.01&on=2026-11-20")
    assert page.status_code == 200 and "HA-SG-parcel" not in page.text.split("quote-form")[0]
    assert f"{api['price']:.2f}" in page.text
    bad = city.get("/prices/quote?market=HA-SG&to=999999&weight=1")
    assert bad.status_code == 422
    assert city.get("/api/prices/quote?market=ZJ-ZL&to=440100&weight=1").status_code == 422


def test_bundles_show_their_merchants_parcels_and_revenue(demo_app):
    city = _as(demo_app, "demo-city")
    rows = city.get("/api/prices/bundles?month=2026-11").json()["bundles"]
    assert {b["segment"] for b in rows} == {"taobao", "pdd", "live"}
    assert sum(b["parcels"] for b in rows) > 0
    for b in rows:
        if b["parcels"]:
            assert b["revenue"] > 0 and b["cost"] > 0
            assert b["margin"] == pytest.approx(b["revenue"] - b["cost"], abs=0.011)
    assert city.get("/prices/bundles?month=2026-11").status_code == 200
    assert city.get("/api/prices/bundles?month=2026-13").status_code == 422


def test_a_contract_below_the_floor_is_approved_one_level_up(demo_app):
    city = _as(demo_app, "demo-city")
    pending = [p for p in city.get("/api/prices/cards").json()["approvals"]
               if p["kind"] == "contract"]
    assert len(pending) == 1 and pending[0]["can_approve"]  # a county proposed it
    county = _as(demo_app, "demo-marketer")
    refused = county.post(f"/prices/contracts/{pending[0]['contract_id']}/approve",
                          data={"row_version": "1", "csrf_token": csrf_of(county, "/prices")},
                          follow_redirects=False)
    assert refused.status_code == 403
    done = city.post(f"/prices/contracts/{pending[0]['contract_id']}/approve",
                     data={"row_version": "1", "csrf_token": csrf_of(city, "/prices")},
                     follow_redirects=False)
    assert done.status_code == 303
    assert not [p for p in city.get("/api/prices/cards").json()["approvals"]
                if p["kind"] == "contract"]
    assert re.search(r"HA-SG-\d{5}-C1", done.headers["location"])


def test_the_customer_page_offers_a_contract_price_to_those_who_may_set_one(demo_app):
    manager = _as(demo_app, "ha-sq-sy-yj-am1")  # an account manager
    customer = manager.get("/api/customers").json()["items"][0]
    page = manager.get(f"/customers/{customer['id']}")
    assert 'action="/customers/{}/contract"'.format(customer["id"]) in page.text
    token = csrf_of(manager, f"/customers/{customer['id']}")
    form = {"discount_percent": "4", "product": "parcel", "valid_from": "2026-11-20",
            "csrf_token": token}
    done = manager.post(f"/customers/{customer['id']}/contract", data=form,
                        follow_redirects=False)
    assert done.status_code == 303
    code = re.search(r"contract=([^#&]+)", done.headers["location"]).group(1)
    shown = manager.get(done.headers["location"]).text
    section = shown.split('data-testid="contracts"')[1].split("</section>")[0]
    assert code in section and "4%" in section
    assert manager.post(f"/customers/{customer['id']}/contract",
                        data={**form, "discount_percent": "150"}).status_code == 422
    marketer = _as(demo_app, "demo-marketer")  # may visit, may not price
    mine = marketer.get("/api/customers").json()["items"][0]
    assert "/contract\"" not in marketer.get(f"/customers/{mine['id']}").text
    refused = marketer.post(f"/customers/{mine['id']}/contract",
                            data={**form, "csrf_token": csrf_of(marketer, "/customers")},
                            follow_redirects=False)
    assert refused.status_code == 403
