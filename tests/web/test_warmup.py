"""The warm-up after a data change (:mod:`jiqun.web.warmup`): it loads every page as each recent
viewer, so the viewer's next loads compute nothing; it warms again only when the lake or the
settings files change; it warms as the viewer (their scope), never as anyone wider."""

from __future__ import annotations

import datetime as dt
import time

import pyarrow as pa
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from jiqun.lake import WAYBILL_DATASET, append
from jiqun.store.models import Customer, User, WebSession
from jiqun.web.app import create_app
from jiqun.web.computed import computations
from jiqun.web.warmup import Warmer, navigation_paths, recent_viewers
from tests.web.conftest import DATA_DATE, bearer, fresh_world, signed_in


def _warmer(app) -> Warmer:
    return Warmer(app, interval=60, viewers=10)


def test_recent_viewers_are_one_per_unit_and_role_latest_first(tmp_path):
    world = fresh_world(tmp_path)
    app = create_app(world.settings)
    for username in ("hz-city", "zl-marketer", "hz-city", "zj-prov"):
        signed_in(app, username)
    ids = world.ids
    assert recent_viewers(world.store, 10) == [ids["zj-prov"], ids["hz-city"],
                                               ids["zl-marketer"]]
    assert recent_viewers(world.store, 2) == [ids["zj-prov"], ids["hz-city"]]
    with world.store.transaction() as s:  # a disabled user and an expired session: not viewers
        s.execute(update(User).where(User.id == ids["zj-prov"]).values(active=False))
        s.execute(update(WebSession).where(WebSession.user_id == ids["zl-marketer"])
                  .values(expires_at=dt.datetime(2000, 1, 1)))
    assert recent_viewers(world.store, 10) == [ids["hz-city"]]


def test_after_the_warm_up_the_viewers_pages_compute_nothing(tmp_path, monkeypatch):
    # The service queue is kept per minute (its hours left): one minute for the whole test.
    minute = dt.datetime(2024, 6, 15, 10, 0)
    monkeypatch.setattr("jiqun.web.routes.service._now", lambda: minute)
    world = fresh_world(tmp_path)
    app = create_app(world.settings)
    viewer = signed_in(app, "hz-city")
    warmer = _warmer(app)
    assert warmer.check() is True
    status = warmer.status
    assert status.viewers == 1 and status.failed == 0 and not status.running
    assert status.pages >= len(navigation_paths())
    figures, kept = app.state.figures.computed, computations(viewer).computed
    assert figures > 0 and kept > 0
    for path in navigation_paths():
        assert viewer.get(path).status_code < 500, path
    assert (app.state.figures.computed, computations(viewer).computed) == (figures, kept)

    assert warmer.check() is False  # nothing changed: nothing loaded
    assert warmer.status == status

    append(world.settings.lake_path, WAYBILL_DATASET, _one_waybill(world))
    assert warmer.check() is True  # an import: every page again
    assert app.state.figures.computed > figures
    again = app.state.figures.computed
    assert viewer.get("/").status_code == 200
    assert app.state.figures.computed == again


def test_it_warms_as_the_viewer_not_wider(tmp_path):
    world = fresh_world(tmp_path)
    app = create_app(world.settings)
    city = signed_in(app, "hz-city")
    _warmer(app).check()
    province = signed_in(app, "zj-prov")  # signed in after the warm-up: nothing kept for it
    computed = app.state.figures.computed
    assert province.get("/").status_code == 200
    assert app.state.figures.computed > computed
    assert city.get("/markets").status_code == 200


def test_the_jobs_page_and_api_show_the_latest_warm_up(tmp_path):
    world = fresh_world(tmp_path)
    app = create_app(world.settings.model_copy(update={"serve_warmup": True}))
    signed_in(app, "zj-prov")
    with TestClient(app) as client:  # the lifespan starts the warmer: its first round warms
        headers = bearer(client, "zj-prov")
        shown = None
        for _ in range(600):  # the round runs in the warmer's thread
            shown = client.get("/api/jobs", headers=headers).json()["warmup"]
            if shown and shown["finished_at"]:
                break
            time.sleep(0.2)
        assert shown["viewers"] == 1 and shown["failed"] == 0 and shown["finished_at"]
        assert shown["pages"] >= len(navigation_paths())
        page = client.get("/jobs", headers=headers)
        assert page.status_code == 200 and 'data-testid="warmup-done"' in page.text
    assert create_app(world.settings).state.__dict__.get("warmer") is None


def _one_waybill(world) -> pa.Table:
    """One more parcel of a merchant of the world, on its last day: a new lake file."""
    with world.store.session() as s:
        customer_id, unit, market = s.execute(
            select(Customer.id, Customer.org_unit_id, Customer.market_id).limit(1)).one()
    return pa.Table.from_pylist([{
        "waybill_no": "warm-1", "org_unit_id": unit, "customer_id": customer_id,
        "market_id": market, "grid_id": None, "product": "parcel", "platform": "taobao",
        "ship_time": dt.datetime.combine(DATA_DATE, dt.time(9)), "dest_province": "440000",
        "weight_kg": 0.5, "fee": 5.0, "status": "delivered"}])
