"""The finance pages on the tiny demo: the ledger with Xuchang's loss covered by Henan (both
sides), a city's own ledger, cost per parcel explained by its drivers, downloads, the cost
parameters' form (cost.edit) and their /api twins."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from jiqun.config import Settings
from jiqun.demo import DEMO_PASSWORD, build_demo
from jiqun.store import Store
from jiqun.store.models import AuditEntry
from jiqun.web.app import create_app
from tests.web.conftest import csrf_of, login

UNTIL = dt.date(2026, 11, 26)
MONTH = "2026-11"


@pytest.fixture(scope="module")
def demo_app(tmp_path_factory):
    root = tmp_path_factory.mktemp("finance")
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


def test_the_province_sees_the_loss_of_xuchang_covered_on_both_sides(demo_app):
    prov = _as(demo_app, "demo-province")
    data = prov.get(f"/api/finance/ledger?month={MONTH}").json()
    rows = {r["org_code"]: r for r in data["rows"]}
    assert rows["HA-XC"]["profit"] < 0 < rows["HA-SQ"]["profit"]
    assert rows["HA-XC"]["loss_cover"] > 0 and rows["HA-SQ"]["loss_cover"] == 0
    assert rows["HA"]["loss_cover"] == pytest.approx(-rows["HA-XC"]["loss_cover"])
    assert [(t["from_code"], t["to_code"]) for t in data["transfers"]] == [("HA", "HA-XC")]
    cities = [r for r in data["rows"] if r["level"] == "city"]
    cents = {"abs": 0.05}  # each row is rounded to the fen on its own
    assert sum(c["revenue"] for c in cities) == pytest.approx(rows["HA"]["revenue"], **cents)
    assert sum(c["result"] for c in cities) + rows["HA"]["loss_cover"] == pytest.approx(
        rows["HA"]["profit"] - rows["HA"]["bonus_pool"] - rows["HA"]["outlet_share"], **cents)
    for city in cities:
        markets = [m for m in data["markets"] if m["city_code"] == city["org_code"]]
        assert sum(m["profit"] for m in markets) == pytest.approx(city["profit"], **cents)
    page = prov.get(f"/finance?month={MONTH}")
    assert page.status_code == 200 and 'data-testid="transfers"' in page.text
    assert "HA-XC" in page.text


def test_a_city_sees_its_own_ledger(demo_app):
    city = _as(demo_app, "demo-city")
    rows = city.get(f"/api/finance/ledger?month={MONTH}").json()["rows"]
    assert rows and all(r["org_code"].startswith("HA-SQ") for r in rows)
    assert rows[0]["parent_code"] == "HA"


def test_cost_per_parcel_is_explained_by_its_drivers(demo_app):
    prov = _as(demo_app, "demo-province")
    data = prov.get(f"/api/finance/cost?month={MONTH}&by=market").json()
    assert data["rows"]
    for row in data["rows"]:
        total = 0.0
        for pool in row["pools"]:
            assert pool["variable"] == pytest.approx(sum(d["cost"] for d in pool["drivers"]))
            for d in pool["drivers"]:
                if d["rate"] is not None:
                    assert d["quantity"] * d["rate"] == pytest.approx(d["cost"])
            total += pool["variable"] + pool["fixed"]
        assert total == pytest.approx(row["cost"])
    assert data["mixed_saving"]["total"] >= 0
    for by in ("customer", "lane", "product", "grid"):
        assert prov.get(f"/finance/cost?month={MONTH}&by={by}").status_code == 200
    assert prov.get(f"/finance/cost?month={MONTH}&by=planet").status_code == 422
    assert prov.get("/finance?month=2026-13").status_code == 422


def test_downloads_are_the_pages_rows(demo_app):
    prov = _as(demo_app, "demo-province")
    csv = prov.get(f"/finance?month={MONTH}&format=csv&table=ledger")
    assert csv.status_code == 200 and "HA-XC" in csv.text
    xlsx = prov.get(f"/finance/cost?month={MONTH}&format=xlsx")
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    assert prov.get(f"/finance?month={MONTH}&format=csv&table=nope").status_code == 404


def test_cost_parameters_are_edited_by_a_city_manager_not_a_marketer(demo_app):
    city = _as(demo_app, "demo-city")
    form = {"org_code": "HA-SQ", "pool": "pickup", "driver": "pieces", "rate": "0.31",
            "valid_from": "2027-01", "csrf_token": csrf_of(city, "/finance/parameters")}
    done = city.post("/finance/parameters", data=form, follow_redirects=False)
    assert done.status_code == 303, done.text
    rows = city.get("/api/finance/parameters?month=2027-01").json()["parameters"]
    mine = [r for r in rows if r["org_code"] == "HA-SQ" and r["pool"] == "pickup"
            and r["valid_from"] == "2027-01-01"]
    assert len(mine) == 1 and mine[0]["rate"] == 0.31 and mine[0]["in_force"]
    store = Store(demo_app.state.settings.store_url)
    with store.session() as s:  # the change is in the audit log, with who made it
        entry = s.scalars(select(AuditEntry).where(
            AuditEntry.entity == "cost_parameters",
            AuditEntry.entity_id == str(mine[0]["id"]))).one()
    assert (entry.action, entry.username, entry.source) == ("insert", "demo-city", "web")
    bad = city.post("/finance/parameters", data={**form, "driver": "visits"})
    assert bad.status_code == 422
    marketer = _as(demo_app, "demo-marketer")
    token = csrf_of(marketer, "/finance/parameters")
    refused = marketer.post("/finance/parameters", data={**form, "csrf_token": token})
    assert refused.status_code == 403
    assert "cost-form" not in marketer.get("/finance/parameters").text


def test_grid_kpis_carry_the_ledgers_grid_profit(demo_app):
    prov = _as(demo_app, "demo-province")
    kpis = prov.get("/api/grids").json()
    assert kpis["as_of"].startswith(MONTH)
    ledger = {r["key"]: r["profit"] for r in
              prov.get(f"/api/finance/ledger/grid?month={MONTH}").json() if r["key"]}
    with_parcels = [r for r in kpis["rows"] if r["parcels"]]
    assert with_parcels
    for row in with_parcels:
        assert row["grid_profit"] == pytest.approx(ledger[str(row["grid_id"])], abs=0.005)  # to the fen


def test_the_weekly_bulletin_has_the_months_ledger(demo_app):
    prov = _as(demo_app, "demo-province")
    html = prov.get("/bulletin/2026-W47.html")
    assert html.status_code == 200
    section = html.text.split('id="finance"')[1]
    assert "许昌市分公司" in section and "商丘市分公司" in section
    assert "HA 为 HA-XC 托底亏损" in section  # the transfer, both sides named
