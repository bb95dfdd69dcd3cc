"""Ten signed-in users at once against the real server: no errors, the same figures for all.

The app runs under uvicorn in its own process on a loopback port over the tiny demo (built with
``jiqun demo build --scale tiny`` into a temporary folder, a few seconds). Ten users of several
roles, each with their own session (half of them call ``/api`` with a bearer token), load the
dashboard, the KPI pages, the lists and their ``/api`` twins concurrently for a bounded time
(:mod:`benchmarks.load`, the driver of the 50-user benchmark). Every answer must be what the
same user got alone — the status, and for the JSON figures the very same body — with no 5xx,
no timeout, no refused connection, and no traceback in the server log. No timing is asserted.

On SQLite the figure cache is off, so that every request computes its figures on its own lake
connection and store session (a cached figure would hide a thread-safety bug); on PostgreSQL
(when configured) the server runs as deployed, cache on. The cache itself is tested in
``test_figure_cache.py``.

Before the fix, 10 users on the small demo saw ``/api/share`` answer 500 (DuckDB
``ResourceInUse``: Ibis ran an expression of in-memory tables on its one process-wide
connection) and, at 50 users, SQLAlchemy's default pool of 5 + 10 ran dry.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import ibis
import pytest
from benchmarks.load import (
    DEMO_PASSWORD,
    DEMO_USERS,
    ENDPOINTS,
    Think,
    build_demo,
    endpoint_list,
    error_summary,
    run_load,
    serve,
)
from fastapi.testclient import TestClient
from sqlalchemy import select

from jiqun.accounts import add_user
from jiqun.config import Settings
from jiqun.store import Store
from jiqun.store.models import Role
from jiqun.web.app import create_app
from tests.conftest import PG_URL, _pg_database, build_org
from tests.web.conftest import PASSWORD, signed_in

USERS = 10  # sessions, over five roles (HQ, province, city, county, marketer)
ROLES = DEMO_USERS[:5]
SECONDS = 12  # the concurrent phase; the requests are bounded too
MAX_REQUESTS = 3000


@pytest.fixture(
    scope="module",
    params=[
        # Without the figure cache every request computes its figures: the most concurrent use
        # of the lake connections and the store pool.
        pytest.param(("sqlite", "0"), id="sqlite-cache-off"),
        # With it (the default), as served: shared figures under concurrent requests.
        pytest.param(("postgresql", "1024"), id="postgresql-cache-on",
                     marks=pytest.mark.postgres),
    ],
)
def demo(request, tmp_path_factory) -> dict[str, str]:
    """The server's environment over a freshly built tiny demo."""
    database, cache_size = request.param
    drop = None
    url = None
    if database == "postgresql":
        if not PG_URL:
            pytest.skip("PostgreSQL not configured: set JIQUN_TEST_PG_URL (.ci/run does)")
        url, drop = _pg_database()
    env, _seconds = build_demo(tmp_path_factory.mktemp("load"), "tiny", store_url=url)
    yield {**env, "JIQUN_FIGURE_CACHE_SIZE": cache_size}
    if drop:
        drop()


def test_ten_users_at_once_get_no_errors_and_the_same_figures(demo, tmp_path):
    log = tmp_path / "server.log"
    with serve(demo, log) as base:
        try:
            run = asyncio.run(run_load(base, list(ROLES), DEMO_PASSWORD, users=USERS,
                                       seconds=SECONDS, max_requests=MAX_REQUESTS,
                                       baseline_rounds=0, rounds=1))
        except RuntimeError as e:  # an error while alone: show the server's side
            raise AssertionError(f"{e}\n{log.read_text()[-6000:]}") from e

    # Alone, every user may open every endpoint of the run (all of them read-only pages).
    assert set(run.expected.status.values()) == {200}
    assert {user for user, _ in run.expected.status} == set(ROLES)
    # Under load: every endpoint was hit by every user (a round each at least, however busy
    # the machine), with no error at all.
    assert {h.group for h in run.loaded} == set(ENDPOINTS)
    assert len(run.loaded) >= USERS * len(endpoint_list())
    assert not run.errors, error_summary(run) + "\n" + log.read_text()[-6000:]
    assert all(h.status == 200 for h in run.loaded)
    text = log.read_text()
    assert "Traceback" not in text and "ERROR" not in text, text[-6000:]


def test_think_times_are_read_as_the_benchmark_documents_them():
    """``--think 1,5`` is locust's ``between(1, 5)``: 50 users offer at most 50 / 3 requests a
    second; ``--think 0`` is the stress mode (no pause, no offered rate)."""
    think = Think.parse("1,5", seed=3)
    assert (think.low, think.high, think.mean) == (1, 5, 3)
    assert think.offered_rate(50) == pytest.approx(50 / 3)
    assert Think.parse("0").offered_rate(50) is None
    assert Think.parse("2").mean == 2
    with pytest.raises(ValueError, match="MIN,MAX"):
        Think.parse("5,1")


class _Refusing:
    """Stands in for Ibis's process-wide default DuckDB connection, which every thread would
    share: any use of it fails the request."""

    def __getattr__(self, name):
        raise AssertionError(f"Ibis's shared default backend used ({name})")


PAGES = [path for paths in ENDPOINTS.values() for path, _ in paths] + [
    "/flows", "/api/flows", "/lines", "/api/lines", "/hubs", "/api/hubs", "/campaigns",
    "/api/campaigns", "/visit-plan", "/api/visit-plan", "/bulletin", "/api/tiers/changes",
    "/markets/top", "/api/markets/top",
]


@pytest.mark.parametrize("username", ["zj-prov", "hz-city", "zl-marketer"])
def test_no_request_runs_on_ibis_shared_default_connection(world, app, monkeypatch, username):
    """A figure built only from in-memory tables (market estimates, targets) is bound to no
    connection; executed as ``expr.to_pyarrow()`` Ibis runs it on its one default connection,
    shared by all threads (``/api/share`` answered 500 ``ResourceInUse`` under 10 users). Every
    figure must run on the request's own connection, deterministically checked here."""
    monkeypatch.setattr(ibis.options, "default_backend", _Refusing())
    paths = [*PAGES, f"/markets/{world.ids['zhili']}", f"/customers/{world.ids['zl_big']}"]
    with signed_in(app, username) as client:
        failed = {p: r.status_code for p in paths if (r := client.get(p)).status_code >= 500}
    assert not failed


@pytest.fixture
def empty_lake_app(tmp_path):
    """A fresh installation: an organisation and a user, no waybill imported yet."""
    store = Store(f"sqlite:///{tmp_path}/store.db")
    store.upgrade()
    org = build_org(store)
    with store.transaction() as s:
        add_user(s, "hz-city", PASSWORD, org.huzhou, Role.CITY_MANAGER, "湖州经理")
    settings = Settings(store_url=store.url, lake_path=tmp_path / "lake", environment="test",
                        secret_key="test-secret-key-for-an-empty-lake-0123")
    yield create_app(settings)
    store.engine.dispose()


def test_a_lake_without_files_does_not_use_the_shared_default_connection(
        empty_lake_app, monkeypatch):
    """Without files the lake's tables are empty in-memory tables; they are bound to the
    request's connection too (else every page of a fresh installation would share one)."""
    monkeypatch.setattr(ibis.options, "default_backend", _Refusing())
    with TestClient(empty_lake_app), signed_in(empty_lake_app, "hz-city") as client:
        failed = {p: r.status_code for p in PAGES if (r := client.get(p)).status_code >= 500}
    assert not failed


def test_the_store_pool_lends_two_connections_to_every_server_thread(any_store):
    """Each of the server's threads may hold its request's session and open a short second one
    at the same time; SQLAlchemy's default pool (5 + 10 connections) made the 16th wait 30 s and
    fail (the 50-user load measured it). All of them at once, here, on each database."""
    threads = Settings().web_threads * 2
    store = Store(any_store.url)  # the default pool size, as the app opens it
    barrier = threading.Barrier(threads, timeout=60)

    def hold_one() -> int:
        with store.session() as s:
            value = s.execute(select(1)).scalar_one()  # the connection is checked out
            barrier.wait()  # ... and held until every thread has its own
            return value

    try:
        with ThreadPoolExecutor(threads) as pool:
            assert sum(pool.map(lambda _: hold_one(), range(threads))) == threads
    finally:
        store.engine.dispose()


def test_a_pool_smaller_than_the_server_threads_is_refused(monkeypatch):
    monkeypatch.setenv("JIQUN_WEB_THREADS", "40")
    monkeypatch.setenv("JIQUN_STORE_POOL_SIZE", "15")
    with pytest.raises(ValueError, match="JIQUN_STORE_POOL_SIZE .15. must be at least"):
        Settings()
