"""The figure cache (:mod:`jiqun.kpi.cache`): a burst computes a figure once, a cached
figure is the one a fresh computation gives, each scope has its own, and a change of the lake or
the store is seen at once (no stale figure, no restart)."""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from jiqun.kpi.cache import FigureCache, data_version
from jiqun.lake import WAYBILL_DATASET, append
from jiqun.store import Store
from jiqun.store.models import Customer, Market
from jiqun.web.app import create_app
from tests.web.conftest import DATA_DATE, FEE, build_world, signed_in

FIGURES = ("/api/dashboard", "/api/share", "/api/levels", "/api/grids", "/api/tiers")
VIEWERS = ("hz-city", "hgz-city", "zj-prov", "zl-marketer")


def test_a_burst_of_requests_computes_a_missing_figure_once():
    cache = FigureCache(16)
    release = threading.Event()
    calls = []

    def compute():
        calls.append(1)
        release.wait(10)  # every other thread arrives while this one is still computing
        return ["the figure"]

    with ThreadPoolExecutor(16) as pool:
        futures = [pool.submit(cache.get, ("share", "HQ/", "v1"), compute) for _ in range(16)]
        threading.Timer(0.3, release.set).start()
        results = [f.result(timeout=20) for f in futures]
    assert len(calls) == 1 and cache.computed == 1
    assert all(r is results[0] for r in results)
    # Another version of the data is another figure.
    assert cache.get(("share", "HQ/", "v2"), lambda: ["newer"]) == ["newer"]
    assert cache.computed == 2


def test_a_failed_computation_is_not_cached():
    cache = FigureCache(4)

    def fails():
        raise RuntimeError("lake unreadable")

    with pytest.raises(RuntimeError):
        cache.get("k", fails)
    assert cache.get("k", lambda: 7) == 7


def test_size_zero_turns_the_cache_off():
    cache = FigureCache(0)
    assert [cache.get("k", lambda n=n: n) for n in range(3)] == [0, 1, 2]


def _figures(app, username: str) -> dict[str, object]:
    with signed_in(app, username) as client:
        out = {}
        for path in FIGURES:
            response = client.get(path)
            assert response.status_code == 200, (username, path, response.text)
            out[path] = response.json()
        return out


def test_cached_figures_are_the_freshly_computed_ones_for_every_scope(world):
    cached = create_app(world.settings)
    fresh = create_app(world.settings.model_copy(update={"figure_cache_size": 0}))
    with TestClient(cached), TestClient(fresh):
        first = {u: _figures(cached, u) for u in VIEWERS}
        computed = cached.state.figures.computed
        again = {u: _figures(cached, u) for u in VIEWERS}
        assert cached.state.figures.computed == computed  # all served from the cache
        assert again == first
        assert first == {u: _figures(fresh, u) for u in VIEWERS}
    # Each scope has its own figures: the two cities never get each other's.
    assert first["hz-city"]["/api/dashboard"] != first["hgz-city"]["/api/dashboard"]


def _waybill(world, org_unit_id: int, n: int) -> dict:
    return {"waybill_no": f"late-{n}", "org_unit_id": org_unit_id,
            "customer_id": world.ids["zl_big"], "market_id": world.ids["zhili"],
            "grid_id": world.ids["grid"], "product": "parcel", "platform": "taobao",
            "ship_time": dt.datetime.combine(DATA_DATE, dt.time(18, n)),
            "dest_province": "440000", "weight_kg": 0.5, "fee": FEE, "status": "delivered"}


@pytest.fixture
def own_world(tmp_path):
    """A world this test may change."""
    store = Store(f"sqlite:///{tmp_path}/store.db")
    store.upgrade()
    world = build_world(store, tmp_path / "lake")
    yield world, store
    store.engine.dispose()


def test_a_cached_figure_follows_the_lake_and_the_store_without_a_restart(own_world):
    world, store = own_world
    app = create_app(world.settings)
    with TestClient(app), signed_in(app, "hz-city") as client:
        before = client.get("/api/dashboard").json()
        version = data_version(store.engine, world.settings.lake_path)

        # Two more parcels on the data date: the lake's files change, so does the figure.
        with store.session() as s:
            outlet = s.get(Customer, world.ids["zl_big"]).org_unit_id
        rows = [_waybill(world, outlet, n) for n in range(2)]
        append(world.settings.lake_path, WAYBILL_DATASET, pa.Table.from_pylist(rows))
        assert data_version(store.engine, world.settings.lake_path) != version
        after = client.get("/api/dashboard").json()
        assert after["kpis"]["parcels_day"] == before["kpis"]["parcels_day"] + 2

        # A market renamed in the store: the cached market list shows the new name.
        with store.transaction() as s:
            s.get(Market, world.ids["zhili"]).name = "织里童装城"
        names = {m["name"] for m in client.get("/api/dashboard").json()["markets"]["items"]}
        assert "织里童装城" in names
