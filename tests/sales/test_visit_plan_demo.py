"""The visit plan on the demo province: the model beats "visit the biggest first" on held-out
history, the CLI's JSON, and the phone page (scoped: another outlet's marketer is 404)."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from jiqun.cli import app as cli_app
from jiqun.config import Settings, get_settings
from jiqun.demo import build_demo
from jiqun.sales import conversion
from jiqun.sales.visit_plan import minutes
from jiqun.store import Store
from jiqun.store.models import Customer, User
from jiqun.web.app import create_app
from tests.web.conftest import login

UNTIL = dt.date(2026, 11, 26)
DAY = dt.date(2026, 11, 27)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("visit-plan-demo")
    store = Store(f"sqlite:///{root}/store.db")
    store.upgrade()
    build_demo(store, root / "lake", scale="tiny", seed=7, until=UNTIL, progress=False)
    store.root, store.lake = root, root / "lake"
    yield store
    store.engine.dispose()


def _user(store, username) -> User:
    with store.session() as s:
        user = s.scalars(select(User).where(User.username == username)).one()
        s.expunge(user)
        return user


def test_model_beats_biggest_first_on_held_out_history(demo):
    """Trained on what was known on 2026-05-01, scored on the 13 fortnightly snapshots after it:
    the top 10 prospects of each grid by value × probability hold more conversions, and more
    converted volume, than the top 10 by volume."""
    with demo.session() as s:
        history = conversion.load_history(s)
    result = conversion.evaluate(history, dt.date(2026, 5, 1), UNTIL, horizon=30, k=10)
    assert result.snapshots >= 10 and result.conversions > 50
    assert result.train_positives > 100
    assert result.model_conversions > result.biggest_conversions
    assert result.model_volume > result.biggest_volume


def test_cli_json(demo, monkeypatch):
    monkeypatch.setenv("JIQUN_STORE_URL", demo.url)
    monkeypatch.setenv("JIQUN_LAKE_PATH", str(demo.lake))
    get_settings.cache_clear()
    try:
        runs = [CliRunner().invoke(cli_app, ["sales", "plan", "--user", "demo-marketer",
                                             "--date", DAY.isoformat(), "--format", "json"])]
    finally:
        get_settings.cache_clear()
    for run in runs:
        assert run.exit_code == 0, run.output
    plan = json.loads(runs[0].stdout)
    assert plan["user"] == "demo-marketer" and plan["date"] == DAY.isoformat()
    assert plan["solver"] in {"ortools", "greedy"} and len(plan["stops"]) >= 5  # the better route
    assert [s["seq"] for s in plan["stops"]] == list(range(1, len(plan["stops"]) + 1))
    assert minutes(plan["back_at"]) <= minutes(plan["leave_at"]) + 480
    assert plan["score"] == pytest.approx(sum(s["score"] for s in plan["stops"]), rel=1e-3)
    marketer = _user(demo, "demo-marketer")
    with demo.session(scope=None) as s:  # every stop is a merchant of the marketer's outlet
        units = {s.get(Customer, stop["customer_id"]).org_unit_id for stop in plan["stops"]}
    assert units == {marketer.org_unit_id}


def _client(demo, username, **extra) -> TestClient:
    settings = Settings(store_url=demo.url, lake_path=demo.lake, environment="test",
                        secret_key="test-secret-key", locale="zh-CN", **extra)
    client = TestClient(create_app(settings))
    assert login(client, username, "jiqun-demo").status_code == 303
    return client


def test_page_for_the_marketer(demo):
    client = _client(demo, "demo-marketer")
    page = client.get(f"/visit-plan?date={DAY}")
    assert page.status_code == 200
    links = re.findall(r'href="/visits/new\?customer_id=(\d+)"', page.text)
    api = client.get(f"/api/visit-plan?date={DAY}").json()
    assert [int(i) for i in links] == [s["customer_id"] for s in api["stops"]] and links
    assert 'data-route-map' in page.text and "route-map-data" in page.text
    assert "pick-marketer" not in page.text  # a marketer sees only their own plan


def test_outside_scope_is_404_and_managers_pick(demo):
    marketer = _user(demo, "demo-marketer")
    with demo.session() as s:  # a marketer of another city (许昌)
        other = s.scalars(select(User).where(User.username.like("ha-xc-%mkt%"))).first()
        outside = other.id
    client = _client(demo, "demo-marketer")
    assert client.get(f"/visit-plan?marketer={outside}&date={DAY}").status_code == 404
    assert client.get(f"/api/visit-plan?marketer={outside}&date={DAY}").status_code == 404
    city = _client(demo, "demo-city")  # 商丘: sees its marketers, not Xuchang's
    page = city.get(f"/visit-plan?marketer={marketer.id}&date={DAY}")
    assert page.status_code == 200 and "pick-marketer" in page.text
    assert city.get(f"/visit-plan?marketer={outside}&date={DAY}").status_code == 404


def test_a_manager_opens_a_marketers_plan_never_their_own(demo):
    """Issue 13: the city manager got a plan of their own ("no merchants in your grids"); now
    the page and the API default to the first marketer (by user name) with merchants, the
    picker lists every marketer of the city and none of another, and the choice is in the URL."""
    from jiqun.sales import visit_plan as plan_mod

    city = _client(demo, "demo-city")
    with demo.session() as s:
        sq = s.scalars(select(User).where(User.username == "demo-city")).one()
        scope = plan_mod.Scope.for_unit(s, sq.org_unit_id)
    with demo.session(scope=scope) as s:
        marketers = plan_mod.marketers_in_scope(s)
        first = next(m for m in marketers if plan_mod.has_merchants(s, m.id))
    assert len(marketers) == 15 and all(m.username.startswith(("ha-sq-", "demo-"))
                                        for m in marketers)
    api = city.get(f"/api/visit-plan?date={DAY}").json()
    assert api["user"] == first.username and api["stops"]
    page = city.get(f"/visit-plan?date={DAY}").text
    picked = re.search(r'<option value="(\d+)" selected>', page).group(1)
    assert int(picked) == first.id
    assert len(re.findall(r'<option value="\d+"', page)) == len(marketers)
    links = re.findall(r'href="/visits/new\?customer_id=(\d+)"', page)
    assert [int(i) for i in links] == [s["customer_id"] for s in api["stops"]]
    other = next(m for m in marketers if m.id != first.id)
    shared = city.get(f"/api/visit-plan?marketer={other.id}&date={DAY}").json()
    assert shared["user"] == other.username
    assert f'<option value="{other.id}" selected>' in city.get(
        f"/visit-plan?marketer={other.id}&date={DAY}").text
    not_a_marketer = sq.id  # the manager is in scope, but no marketer
    assert city.get(f"/api/visit-plan?marketer={not_a_marketer}&date={DAY}").status_code == 404


def test_a_marketer_cannot_pick_a_colleague(demo):
    marketer = _user(demo, "demo-marketer")
    with demo.session() as s:  # same outlet, so inside the marketer's subtree
        colleague = s.scalars(select(User).where(
            User.org_unit_id == marketer.org_unit_id, User.role == "marketer",
            User.id != marketer.id)).first()
    client = _client(demo, "demo-marketer")
    assert client.get(f"/visit-plan?marketer={colleague.id}&date={DAY}").status_code == 403
    assert client.get(f"/api/visit-plan?marketer={colleague.id}&date={DAY}").status_code == 403
    own = client.get(f"/api/visit-plan?marketer={marketer.id}&date={DAY}")
    assert own.status_code == 200 and own.json()["user"] == "demo-marketer"


def test_a_marketers_plan_is_the_same_whoever_opens_it(demo, tmp_path):
    """Issue 9: a plan is a fact of the marketer — scored by the model of the marketer's own
    scope and routed from their outlet also when the city manager opens it (it was scored by a
    model of the whole city's history, so the manager saw other values and stops)."""
    from jiqun.sales import visit_plan as plan_mod

    rules = tmp_path / "rules.toml"
    rules.write_text("[sales.plan]\nmax_candidates = 8\n", encoding="utf-8")  # exact search
    marketer = _user(demo, "demo-marketer")
    plans = {}
    for viewer in ("demo-marketer", "demo-city"):
        client = _client(demo, viewer, rules_file=rules)  # its own app: no shared plan cache
        plan_mod.clear_trained_models()  # nor a shared model: each viewer trains its own
        answer = client.get(f"/api/visit-plan?marketer={marketer.id}&date={DAY}")
        assert answer.status_code == 200, answer.text
        plans[viewer] = answer.json()
    plan_mod.clear_trained_models()
    assert plans["demo-marketer"]["stops"] and plans["demo-marketer"]["solver"] == "exact"
    assert plans["demo-city"] == plans["demo-marketer"]


def test_second_plan_in_the_scope_reuses_the_trained_model(demo, monkeypatch):
    """Two plans of the same outlet and day (the page reloaded, or a second marketer): the
    conversion model is fitted once; it took seconds on every load before."""
    from jiqun.lake import connect
    from jiqun.sales import visit_plan as plan_mod
    from jiqun.store.scope import Scope

    fits = []
    train = conversion.train
    monkeypatch.setattr(conversion, "train", lambda *a, **k: fits.append(a[1]) or train(*a, **k))
    plan_mod.clear_trained_models()
    marketer = _user(demo, "demo-marketer")
    with demo.session() as s:
        scope = Scope.for_unit(s, marketer.org_unit_id)
    con = connect()
    plans = []
    for _ in range(2):
        with demo.session(scope=scope, user_id=marketer.id) as s:
            plans.append(plan_mod.load_plan(s, con, demo.lake, scope, marketer.id, DAY))
    plan_mod.clear_trained_models()
    assert fits == [DAY]
    assert plans[0].model is plans[1].model
    assert [s.code for s in plans[0].plan.stops] and plans[0].plan.candidates == \
        plans[1].plan.candidates


def test_cli_refuses_a_marketer_outside_the_acting_users_subtree(demo, monkeypatch):
    """Issue 13: the plan service raises the shared NotFound (it imported typer before); the
    command prints it through cli_actor.refusals(): one line, exit 2, for a marketer of another
    city as for a name nobody has, so the answer tells nothing of who exists elsewhere."""
    monkeypatch.setenv("JIQUN_STORE_URL", demo.url)
    monkeypatch.setenv("JIQUN_LAKE_PATH", str(demo.lake))
    monkeypatch.setenv("JIQUN_LOCALE", "en")
    with demo.session() as s:
        outside = s.scalars(select(User.username).where(User.username.like("ha-xc-%mkt%"))).first()
    get_settings.cache_clear()
    try:
        runs = {name: CliRunner().invoke(cli_app, [
            "sales", "plan", "--user", "demo-marketer", "--marketer", name,
            "--date", DAY.isoformat(), "--format", "json"]) for name in (outside, "nobody-here")}
    finally:
        get_settings.cache_clear()
    for name, run in runs.items():
        assert run.exit_code == 2, run.output
        assert run.output.strip() == f"Not found: {name}"
