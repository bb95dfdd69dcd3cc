"""Long computations kept per version of what they read (:mod:`jiqun.web.computed`): a kept
result is the one a fresh computation gives; accepting a line shows at once without computing
the lanes' economics again; an import, or an edit of what a computation reads, computes it again;
an edit of anything else keeps it."""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, select

from jiqun.config import Settings
from jiqun.lake import WAYBILL_DATASET, append
from jiqun.store import Store
from jiqun.store.models import (
    Customer,
    DedicatedLine,
    Facility,
    FacilityKind,
    LineStatus,
    Market,
)
from jiqun.web.app import create_app
from jiqun.web.computed import Reads, computations, lake_version, version
from tests.network.demo_province import demo_province

PASSWORD = "jiqun-demo"
LINE_READS = Reads(tables=("markets", "facilities", "org_units"))


@pytest.fixture(scope="module")
def settings(tmp_path_factory) -> Settings:
    """A copy of the demo province that these tests may change (the planning tests share the
    original)."""
    demo = demo_province()
    root = tmp_path_factory.mktemp("computed")
    with sqlite3.connect(demo.root / "store.db") as source, \
            sqlite3.connect(root / "store.db") as copy:
        source.backup(copy)  # the store runs in WAL mode: a file copy could miss pages
    shutil.copytree(demo.lake, root / "lake")
    # The planning tests accept lanes on the original; the copy offers every lane again.
    with Store(f"sqlite:///{root}/store.db").transaction() as s:
        s.execute(delete(DedicatedLine).where(DedicatedLine.status == LineStatus.DRAFT))
    planning = root / "planning.toml"
    planning.write_text(demo.params.to_toml(), encoding="utf-8")
    return Settings(store_url=f"sqlite:///{root}/store.db", lake_path=root / "lake",
                    environment="test", planning_file=planning,
                    rules_file=root / "kpi-rules.toml")


def _client(app, username: str = "demo-city") -> TestClient:
    client = TestClient(app)
    token = client.post("/api/token", data={"username": username, "password": PASSWORD})
    assert token.status_code == 200, token.text
    client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
    return client


def test_the_version_follows_what_a_computation_reads(settings):
    store = Store(settings.store_url)
    lake = settings.lake_path
    before = version(store.engine, lake, LINE_READS)
    assert version(store.engine, lake, LINE_READS) == before
    # A visit's customer edited: not read by the lines' economics.
    with store.transaction() as s:
        customer = s.scalars(select(Customer).limit(1)).one()
        customer.contact = (customer.contact or "") + "·"
    assert version(store.engine, lake, LINE_READS) == before
    assert version(store.engine, lake, Reads(tables=("customers",))) != \
        version(store.engine, lake, Reads(tables=("markets",)))
    # A market moved (an update: same count, same ids, a higher version).
    with store.transaction() as s:
        market = s.scalars(select(Market).order_by(Market.id).limit(1)).one()
        market.name = market.name + "·"
    moved = version(store.engine, lake, LINE_READS)
    assert moved != before
    # A settings file edited.
    planning = settings.planning_file
    assert version(store.engine, lake, LINE_READS, [planning]) != \
        version(store.engine, lake, LINE_READS, [planning.with_name("absent.toml")])
    store.engine.dispose()


def test_kept_line_plans_are_the_fresh_ones_and_follow_accepts_and_imports(settings):
    kept = create_app(settings)
    fresh = create_app(settings.model_copy(update={"figure_cache_size": 0}))
    with _client(kept) as k, _client(fresh) as f:
        first = k.get("/api/lines?show=all")
        assert first.status_code == 200, first.text
        plan = first.json()
        assert plan["lanes"] and plan == f.get("/api/lines?show=all").json()
        cache = computations(k)
        computed = cache.computed
        assert k.get("/api/lines?show=all").json() == plan
        assert k.get("/lines").status_code == 200
        assert cache.computed == computed  # the page and its twin share the kept economics

        # Accepting a lane: the next plan shows its draft, with no new computation.
        lane = next(x for x in plan["lanes"] if x["offered"])
        accepted = k.post("/api/lines/accept", json={
            "kind": "lane", "by": "market", "origin_id": lane["origin_id"],
            "dest_code": lane["dest_code"]})
        assert accepted.status_code == 201, accepted.text
        after = k.get("/api/lines?show=all").json()
        assert cache.computed == computed
        again = next(x for x in after["lanes"] if x["origin_id"] == lane["origin_id"]
                     and x["dest_code"] == lane["dest_code"])
        assert again["existing_line"] == "draft" and not again["offered"]
        assert again["line_code"] == accepted.json()["code"]
        assert after == f.get("/api/lines?show=all").json()

        # An import into the lake: the plan is computed again, and equals a fresh one.
        stamp = lake_version(settings.lake_path)
        append(settings.lake_path, WAYBILL_DATASET, _waybills(settings, lane, plan["as_of"]))
        assert lake_version(settings.lake_path) != stamp
        imported = k.get("/api/lines?show=all").json()
        assert cache.computed == computed + 1
        assert imported == f.get("/api/lines?show=all").json()
        busier = next(x for x in imported["lanes"] if x["origin_id"] == lane["origin_id"]
                      and x["dest_code"] == lane["dest_code"])
        assert busier["mean_daily"] > lane["mean_daily"]

        # A consolidation centre closed (an edit of a table the plan reads): computed again.
        store = Store(settings.store_url)
        with store.transaction() as s:
            centre = s.scalars(select(Facility).where(
                Facility.kind == FacilityKind.CONSOLIDATION_CENTRE).limit(1)).first()
            if centre is not None:
                centre.name = centre.name + "·"
        store.engine.dispose()
        k.get("/api/lines?show=all")
        assert cache.computed == computed + (2 if centre is not None else 1)


def _waybills(settings: Settings, lane: dict, as_of: str, n: int = 100,
              prefix: str = "computed") -> pa.Table:
    """``n`` parcels on the lane's last day, from a merchant of its market to its city."""
    store = Store(settings.store_url)
    with store.session() as s:
        customer = s.scalars(select(Customer).where(Customer.market_id == lane["origin_id"])
                             .limit(1)).one()
        org_unit_id, customer_id, grid_id = customer.org_unit_id, customer.id, customer.grid_id
    store.engine.dispose()
    day = dt.date.fromisoformat(as_of)
    return pa.Table.from_pylist([{
        "waybill_no": f"{prefix}-{i}", "org_unit_id": org_unit_id, "customer_id": customer_id,
        "market_id": lane["origin_id"], "grid_id": grid_id, "product": "parcel",
        "platform": "taobao", "ship_time": dt.datetime.combine(day, dt.time(9, i % 60)),
        "dest_province": lane["dest_code"][:2] + "0000", "dest_city": lane["dest_code"],
        "weight_kg": 0.5, "fee": 5.0, "status": "delivered"} for i in range(n)])


def test_a_kept_visit_plan_stays_until_new_waybills_arrive(settings):
    app = create_app(settings)
    with _client(app, "demo-marketer") as c:
        first = c.get("/api/visit-plan")
        assert first.status_code == 200, first.text
        assert c.get("/api/visit-plan").json() == first.json()
        kept = app.state.visit_plans.cache
        assert len(kept) == 1
        with _client(app) as city:
            lanes = city.get("/api/lines?show=all").json()
        append(settings.lake_path, WAYBILL_DATASET,
               _waybills(settings, lanes["lanes"][0], lanes["as_of"], n=3, prefix="plan"))
        assert c.get("/api/visit-plan").status_code == 200
        assert len(kept) == 2  # planned again for the new data


def test_a_kept_bulletin_is_the_fresh_one(settings):
    kept = create_app(settings)
    fresh = create_app(settings.model_copy(update={"figure_cache_size": 0}))
    with _client(kept) as k, _client(fresh) as f:
        page = k.get("/bulletin")
        assert page.status_code == 200
        week = page.text.split('href="/bulletin/')[1].split(".html")[0]
        first = k.get(f"/bulletin/{week}.html")
        assert first.status_code == 200
        computed = computations(k).computed
        assert k.get(f"/bulletin/{week}.html").content == first.content
        assert computations(k).computed == computed
        assert f.get(f"/bulletin/{week}.html").content == first.content
        # An edit anywhere in the store: the bulletin gathers from everything, so it is
        # written again (and still equals a fresh one).
        store = Store(settings.store_url)
        with store.transaction() as s:
            customer = s.scalars(select(Customer).limit(1)).one()
            customer.contact = (customer.contact or "") + "·"
        store.engine.dispose()
        assert k.get(f"/bulletin/{week}.html").content == \
            f.get(f"/bulletin/{week}.html").content
        assert computations(k).computed > computed
