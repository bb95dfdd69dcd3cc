"""Issue 9 (trust) for customers and field sales: who may act (asked inside the services, so
page, API, CLI and Python agree), decisions taken once, bad input never a 500, foreign filters
404, and the same owner for every viewer.

The world is the web tests' two cities (tests/web/conftest.py) with a courier and a second
marketer in the Zhili outlet; each test gets its own copy, since most of them write.
"""

from __future__ import annotations

import datetime as dt
import re
import threading

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from jiqun.accounts import add_user
from jiqun.cli import app as cli_app
from jiqun.config import get_settings
from jiqun.errors import Conflict, Invalid, NotAllowed, NotFound
from jiqun.sales import archive, campaigns, pool, visits
from jiqun.sales.people import customer_people
from jiqun.store.models import (
    Campaign,
    CompetitorPrice,
    Customer,
    DuplicateCandidate,
    DuplicateStatus,
    LifecycleStage,
    Role,
    User,
)
from jiqun.web.app import create_app
from tests.web.conftest import CSRF_INPUT, PASSWORD, bearer, fresh_world, signed_in

TODAY = dt.date(2024, 6, 15)


@pytest.fixture
def world(tmp_path):
    world = fresh_world(tmp_path)
    store = world.store
    with store.transaction() as s:
        from jiqun.store.org import unit_by_code

        outlet = unit_by_code(s, "ZJ-HUZ-WX-ZL")
        for name, role in [("zl-courier", Role.COURIER), ("zl-marketer2", Role.MARKETER)]:
            world.ids[name] = add_user(s, name, PASSWORD, outlet, role, name).id
    yield world
    store.engine.dispose()


@pytest.fixture
def app(world):
    return create_app(world.settings)


@pytest.fixture
def cli(world, monkeypatch):
    monkeypatch.setenv("JIQUN_STORE_URL", world.store.url)
    monkeypatch.setenv("JIQUN_LAKE_PATH", str(world.settings.lake_path))
    monkeypatch.setenv("JIQUN_LOCALE", "en")
    monkeypatch.delenv("JIQUN_USER", raising=False)
    get_settings.cache_clear()
    runner = CliRunner()
    yield lambda *argv: runner.invoke(cli_app, [str(a) for a in argv])
    get_settings.cache_clear()


def _pair(world) -> int:
    """A likely pair in the Zhili outlet: 小熊童装 (kept) and 童话屋 (to merge away)."""
    with world.store.transaction() as s:
        other = s.get(Customer, world.ids["zl_archived"])
        pair = DuplicateCandidate(
            customer_id=world.ids["zl_small"], other_id=other.id, other_code=other.code,
            other_name=other.name, reason="similar_name", score=90.0,
            org_unit_id=other.org_unit_id)
        s.add(pair)
        s.flush()
        return pair.id


def _status(world, pair_id: int) -> DuplicateStatus:
    with world.store.session() as s:
        return s.get(DuplicateCandidate, pair_id).status


def _csrf(client, path: str) -> str:
    return CSRF_INPUT.search(client.get(path).text).group(1)


# -- 1. who may act -----------------------------------------------------------------------------
def test_cli_duplicate_merge_asks_the_role_reproduction(world, cli):
    """`jiqun sales duplicates merge` had no role check at all: a marketer merged a pair."""
    pair_id = _pair(world)
    refused = cli("sales", "duplicates", "merge", pair_id, "--user", "zl-marketer")
    assert refused.exit_code == 2 and "Your role may not do this" in refused.output
    assert _status(world, pair_id) == DuplicateStatus.OPEN
    anonymous = cli("sales", "duplicates", "merge", pair_id)
    assert anonymous.exit_code == 2 and "--user" in anonymous.output
    assert _status(world, pair_id) == DuplicateStatus.OPEN

    merged = cli("sales", "duplicates", "merge", pair_id, "--user", "hz-city")
    assert merged.exit_code == 0, merged.output
    assert _status(world, pair_id) == DuplicateStatus.MERGED
    with world.store.session() as s:
        assert s.get(DuplicateCandidate, pair_id).decided_by_id == world.ids["hz-city"]
    again = cli("sales", "duplicates", "keep", pair_id, "--user", "hz-city")
    assert again.exit_code == 2 and "decided already" in again.output


def test_a_city_outside_the_pair_does_not_find_it(world, cli):
    pair_id = _pair(world)
    outside = cli("sales", "duplicates", "keep", pair_id, "--user", "hgz-city")
    assert outside.exit_code == 2 and "Not found" in outside.output
    assert _status(world, pair_id) == DuplicateStatus.OPEN


def test_python_api_refuses_as_the_registry_says(world):
    pair_id = _pair(world)
    with world.store.session(user_id=world.ids["zl-marketer"]) as s:
        with pytest.raises(NotAllowed):
            archive.keep_pair(s, pair_id, world.ids["zl-marketer"])
        with pytest.raises(NotAllowed):  # a marketer does not start campaigns
            campaigns.create_campaign(s, name="x", starts_on=TODAY, ends_on=TODAY,
                                      org_unit_id=1)
    # A courier logs visits but does not claim prospects; nor does a city manager.
    for user in ("zl-courier", "hz-city"):
        with world.store.session(user_id=world.ids[user]) as s, pytest.raises(NotAllowed):
            pool.claim(s, world.ids["zl_archived"], world.ids[user], TODAY)


def test_cli_archive_refuses_a_courier_and_writes_nothing(world, cli, tmp_path):
    path = tmp_path / "sweep.csv"
    path.write_text("客户名称,电话,机构编码\n新开童装,13600000001,ZJ-HUZ-WX-ZL\n", encoding="utf-8")
    with world.store.session() as s:
        before = s.scalar(select(func.count()).select_from(Customer))
    refused = cli("sales", "archive", path, "--user", "zl-courier")
    assert refused.exit_code == 2 and "Your role may not do this" in refused.output
    done = cli("sales", "archive", path, "--user", "zl-marketer")
    assert done.exit_code == 0, done.output
    with world.store.session() as s:
        assert s.scalar(select(func.count()).select_from(Customer)) == before + 1


def test_cli_pool_return_and_reminders_are_a_managers_job(world, cli):
    assert cli("sales", "remind", "--user", "zl-marketer", "--date", TODAY).exit_code == 2
    assert cli("sales", "pool", "--apply", "--user", "zl-marketer").exit_code == 2
    assert cli("sales", "pool", "--user", "zl-marketer").exit_code == 0  # reading is fine
    ok = cli("sales", "remind", "--user", "hz-city", "--date", TODAY)
    assert ok.exit_code == 0, ok.output


def test_pages_hide_and_routes_refuse_what_the_role_may_not(app, world):
    courier = signed_in(app, "zl-courier")
    page = courier.get("/archive")
    assert page.status_code == 200 and 'data-testid="archive-form"' not in page.text
    refused = courier.post("/archive", data={"csrf_token": _csrf(courier, "/archive")},
                           files={"file": ("a.csv", "客户名称\n甲\n".encode(), "text/csv")})
    assert refused.status_code == 403
    marketer = signed_in(app, "zl-marketer")
    assert 'data-testid="campaign-form"' not in marketer.get("/campaigns").text
    assert 'data-testid="claim"' in marketer.get("/pool").text
    city = signed_in(app, "hz-city")
    assert 'data-testid="claim"' not in city.get("/pool").text
    assert 'data-testid="campaign-form"' in city.get("/campaigns").text
    assert city.post(f"/pool/{world.ids['zl_archived']}/claim",
                     data={"csrf_token": _csrf(city, "/pool")}).status_code == 403
    headers = bearer(marketer, "zl-marketer")
    made = marketer.post("/api/campaigns", headers=headers, json={
        "name": "x", "starts_on": "2024-06-01", "ends_on": "2024-06-02"})
    assert made.status_code == 403
    with world.store.session() as s:
        assert s.get(Customer, world.ids["zl_archived"]).owner_id is None
        assert s.scalar(select(func.count()).select_from(Campaign)) == 0


# -- 3. decisions taken once --------------------------------------------------------------------
def test_two_sessions_claiming_one_prospect_one_wins(world):
    cid = world.ids["zl_archived"]
    first, second = world.ids["zl-marketer"], world.ids["zl-marketer2"]
    with world.store.session(user_id=first) as a, world.store.session(user_id=second) as b:
        assert a.get(Customer, cid).owner_id is None and b.get(Customer, cid).owner_id is None
        pool.claim(a, cid, first, TODAY)
        a.commit()
        with pytest.raises(pool.ClaimedAlready) as lost:  # b still holds the unowned row
            pool.claim(b, cid, second, TODAY)
        assert isinstance(lost.value, Conflict)
    with world.store.session() as s:
        assert s.get(Customer, cid).owner_id == first


def test_concurrent_claims_in_threads_one_claimed_one_conflict(world):
    cid = world.ids["zl_archived"]
    users = [world.ids["zl-marketer"], world.ids["zl-marketer2"]]
    ready = threading.Barrier(2)
    results: dict[int, str] = {}

    def claim(uid: int) -> None:
        with world.store.session(user_id=uid) as s:
            s.get(Customer, cid)  # both read the prospect while it is unowned
            ready.wait()
            try:
                pool.claim(s, cid, uid, TODAY)
                s.commit()
                results[uid] = "claimed"
            except Conflict:
                s.rollback()
                results[uid] = "conflict"

    threads = [threading.Thread(target=claim, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results.values()) == ["claimed", "conflict"]
    winner = next(u for u, r in results.items() if r == "claimed")
    with world.store.session() as s:
        assert s.get(Customer, cid).owner_id == winner


def test_api_second_claim_is_409(app, world):
    cid = world.ids["zl_archived"]
    first, second = signed_in(app, "zl-marketer"), signed_in(app, "zl-marketer2")
    won = first.post(f"/api/pool/{cid}/claim", headers=bearer(first, "zl-marketer"))
    assert won.status_code == 200 and won.json()["owner_id"] == world.ids["zl-marketer"]
    lost = second.post(f"/api/pool/{cid}/claim", headers=bearer(second, "zl-marketer2"))
    assert lost.status_code == 409 and "先行认领" in lost.json()["detail"]
    page = second.post(f"/pool/{cid}/claim", data={"csrf_token": _csrf(second, "/pool")})
    assert page.status_code == 409
    assert first.post(f"/api/pool/{world.ids['zl_big']}/claim",  # VIP: not a prospect
                      headers=bearer(first, "zl-marketer")).status_code == 404


def test_two_sessions_deciding_one_pair_the_second_gets_a_conflict(world):
    pair_id = _pair(world)
    city, prov = world.ids["hz-city"], world.ids["zj-prov"]
    with world.store.session(user_id=city) as a, world.store.session(user_id=prov) as b:
        assert a.get(DuplicateCandidate, pair_id).status == DuplicateStatus.OPEN
        assert b.get(DuplicateCandidate, pair_id).status == DuplicateStatus.OPEN
        archive.merge_pair(a, pair_id, city)
        a.commit()
        with pytest.raises(archive.PairDecided):  # b saw it open: its keep is refused
            archive.keep_pair(b, pair_id, prov)
    with world.store.session() as s:
        pair = s.get(DuplicateCandidate, pair_id)
        assert (pair.status, pair.decided_by_id) == (DuplicateStatus.MERGED, city)
        assert s.get(Customer, world.ids["zl_archived"]) is None  # merged away, once


def test_web_second_decision_is_409(app, world):
    pair_id = _pair(world)
    city, prov = signed_in(app, "hz-city"), signed_in(app, "zj-prov")
    tokens = (_csrf(city, "/archive/review"), _csrf(prov, "/archive/review"))
    kept = city.post(f"/archive/review/{pair_id}/keep", data={"csrf_token": tokens[0]},
                     follow_redirects=False)
    assert kept.status_code == 303
    merged = prov.post(f"/archive/review/{pair_id}/merge", data={"csrf_token": tokens[1]})
    assert merged.status_code == 409 and "已处理" in merged.text
    api = prov.post(f"/api/archive/duplicates/{pair_id}/keep", headers=bearer(prov, "zj-prov"))
    assert api.status_code == 409
    assert _status(world, pair_id) == DuplicateStatus.KEPT


def test_a_stale_campaign_edit_is_a_conflict_with_both_values(app, world):
    city = signed_in(app, "hz-city")
    form = {"csrf_token": _csrf(city, "/campaigns"), "name": "春季攻坚", "starts_on": "2024-05-01",
            "ends_on": "2024-05-31", "target_by": "filters"}
    path = city.post("/campaigns", data=form, follow_redirects=False).headers["location"]
    page = city.get(path).text
    token = CSRF_INPUT.search(page).group(1)
    seen = re.search(r'name="version" value="(\d+)"', page).group(1)  # both editors saw it
    first = city.post(path, data={**form, "csrf_token": token, "name": "一期", "version": seen},
                      follow_redirects=False)
    assert first.status_code == 303
    second = city.post(path, data={**form, "csrf_token": token, "name": "二期", "version": seen})
    assert second.status_code == 409 and "二期" not in city.get(path).text
    with world.store.session() as s:
        assert s.scalars(select(Campaign.name)).one() == "一期"
    with world.store.session(user_id=world.ids["hz-city"]) as s, pytest.raises(Conflict) as err:
        cid = s.scalars(select(Campaign.id)).one()
        campaigns.update_campaign(s, cid, name="三期", starts_on=dt.date(2024, 5, 1),
                                  ends_on=dt.date(2024, 5, 31), version=int(seen))
    assert err.value.mine["name"] == "三期" and err.value.theirs["name"] == "一期"


# -- 4. errors never 500 ------------------------------------------------------------------------
def test_bad_values_answer_422_or_404_never_500(app, world):
    city = signed_in(app, "hz-city")
    headers = bearer(city, "hz-city")
    for path in ("/api/archive/duplicates?status=x",
                 "/api/customers?page=10000000000000000000",
                 "/api/customers?market_id=²",
                 "/api/customers?market_id=99999999999999999999",
                 "/api/customers/99999999999999999999",
                 "/api/visits?customer_id=²",
                 "/api/visit-plan?marketer=99999999999999999999",
                 "/api/visit-plan?date=0001-01-02",
                 "/api/campaigns/99999999999999999999"):
        assert city.get(path, headers=headers).status_code == 422, path
    for path in ("/customers?market_id=²", "/customers?page=10000000000000000000",
                 "/visits/new?customer_id=²", "/campaigns/99999999999999999999",
                 "/campaigns/1?missing=99999999999999999999"):
        status = city.get(path).status_code
        assert status in (400, 404, 422), (path, status)
    assert city.get("/customers?stage=vip&tier=&market_id=").status_code == 200  # form "all"
    assert city.get("/visits?saved=²").status_code == 200
    assert city.get("/archive/review?status=x").status_code == 200  # a link's leftovers
    token = _csrf(city, "/inbox")
    assert city.post("/inbox/read", data={"csrf_token": token, "id": ["²", "1" * 30]},
                     follow_redirects=False).status_code == 303
    assert city.post("/api/archive/duplicates/1/explode", headers=headers).status_code == 422


def test_visit_form_and_api_refuse_impossible_values(app, world):
    marketer = signed_in(app, "zl-marketer")
    headers = bearer(marketer, "zl-marketer")
    cid = world.ids["zl_archived"]
    base = {"customer_id": cid, "method": "sweep", "outcome": "interested"}
    for body in ({**base, "customer_id": 10**20}, {**base, "next_visit_on": "9999-12-31"},
                 {**base, "competitor_price": "NaN"}):
        assert marketer.post("/api/visits", headers=headers, json=body).status_code == 422, body
    token = _csrf(marketer, f"/visits/new?customer_id={cid}")
    data = {"csrf_token": token, "customer_id": str(cid), "method": "sweep",
            "outcome": "interested"}
    for fields in ({"customer_id": "²"}, {"customer_id": "9" * 30},
                   {"next_visit_on": "9999-12-31"}, {"competitor_price": "inf"}):
        status = marketer.post("/visits", data={**data, **fields},
                               follow_redirects=False).status_code
        assert status in (400, 422), (fields, status)
    # A quick-choice chip that is no number of days is no next date (never a date overflow).
    saved = marketer.post("/visits", data={**data, "next_in_days": "99999999999"},
                          follow_redirects=False)
    assert saved.status_code == 303
    with world.store.session() as s:
        assert [v.next_visit_on for v in visits.visits_of(s, customer_id=cid)] == [None]


def test_cli_logs_a_visit_with_the_forms_checks(world, cli):
    """``jiqun sales visit`` goes through visits.parse_visit like the form and the API: the
    same fields refused with the same messages (in the CLI's language), nothing saved; a good
    visit moves the stage; a customer of another city is not found."""
    with world.store.session() as s:
        code = s.get(Customer, world.ids["zl_archived"]).code
        foreign = s.get(Customer, world.ids["xh_live"]).code
    past = (dt.date.today() - dt.timedelta(days=1)).isoformat()
    bad = cli("sales", "visit", "--user", "zl-marketer", "--customer", code, "--method", "x",
              "--outcome", "interested", "--next-on", past, "--price", "abc")
    assert bad.exit_code == 2
    assert bad.output.splitlines() == ["method: Choose how you visited",
                                       "next_visit_on: The next visit cannot be in the past",
                                       "competitor_price: A price between 0 and 1000 yuan"]
    with world.store.session() as s:
        assert visits.visits_of(s, customer_id=world.ids["zl_archived"]) == []
    good = cli("sales", "visit", "--user", "zl-marketer", "--customer", code, "--method",
               "sweep", "--outcome", "interested", "--competitor", "中通", "--price", "2,4")
    assert good.exit_code == 0, good.output
    assert good.output.strip().endswith(f"{code}, archived → nurturing")
    with world.store.session() as s:
        [row] = visits.visits_of(s, customer_id=world.ids["zl_archived"])
        assert (row.method, row.competitor_price, row.visitor) == ("sweep", 2.4, "织里营销员")
        # The price heard is a competitor price observation of the customer's market.
        customer = s.get(Customer, world.ids["zl_archived"])
        [heard] = s.scalars(select(CompetitorPrice).where(
            CompetitorPrice.market_id == customer.market_id)).all()
        assert (heard.competitor, heard.price, heard.weight_kg) == ("中通", 2.4, 1.0)
    outside = cli("sales", "visit", "--user", "zl-marketer", "--customer", foreign,
                  "--method", "sweep", "--outcome", "interested")
    assert outside.exit_code == 2 and outside.output.strip() == f"Not found: {foreign}"


def test_campaign_dates_are_refused_at_write_time_everywhere(app, world, cli):
    city = signed_in(app, "hz-city")
    headers = bearer(city, "hz-city")
    early = city.post("/api/campaigns", headers=headers, json={
        "name": "远古活动", "starts_on": "0001-01-02", "ends_on": "2024-06-01"})
    assert early.status_code == 422
    backwards = city.post("/api/campaigns", headers=headers, json={
        "name": "倒着走", "starts_on": "2024-06-10", "ends_on": "2024-06-01"})
    assert backwards.status_code == 422
    page = city.post("/campaigns", data={
        "csrf_token": _csrf(city, "/campaigns"), "name": "远古活动", "starts_on": "0001-01-02",
        "ends_on": "2024-06-01", "target_by": "filters"})
    assert page.status_code == 422 and "2000" in page.text
    run = cli("sales", "campaigns", "create", "--name", "远古活动", "--start", "0001-01-02",
              "--end", "2024-06-01", "--user", "hz-city")
    assert run.exit_code == 2 and "2000" in run.output
    with world.store.session() as s:
        assert s.scalar(select(func.count()).select_from(Campaign)) == 0
    with world.store.session(user_id=world.ids["hz-city"]) as s, pytest.raises(Invalid) as err:
        campaigns.create_campaign(s, name=" ", starts_on=dt.date(2024, 6, 2),
                                  ends_on=dt.date(2024, 6, 1), org_unit_id=1)
    assert set(err.value.errors) == {"name", "ends_on"}
    made = city.post("/api/campaigns", headers=headers, json={
        "name": "春季攻坚", "starts_on": "2024-06-01", "ends_on": "2024-06-01"})
    assert made.status_code == 201  # one day is a campaign


# -- 5. foreign filters are 404 -----------------------------------------------------------------
def test_a_filter_naming_a_foreign_record_is_404(app, world):
    city = signed_in(app, "hz-city")
    headers = bearer(city, "hz-city")
    foreign_market, foreign_customer = world.ids["xihu"], world.ids["xh_live"]
    assert city.get(f"/api/customers?market_id={foreign_market}",
                    headers=headers).status_code == 404
    assert city.get(f"/api/visits?customer_id={foreign_customer}&mine=false",
                    headers=headers).status_code == 404
    assert city.get(f"/customers?market_id={foreign_market}").status_code == 404
    # The same filters with own ids answer (a positive control).
    own = city.get(f"/api/customers?market_id={world.ids['zhili']}", headers=headers)
    assert own.status_code == 200 and own.json()["total"] == 3
    visits_of = city.get(f"/api/visits?customer_id={world.ids['zl_big']}&mine=false",
                         headers=headers)
    assert visits_of.status_code == 200 and len(visits_of.json()) == 1
    with world.store.session(user_id=world.ids["hz-city"]) as s, pytest.raises(NotFound):
        visits.visits_of(s, customer_id=foreign_customer)


# -- 6. facts the same for every viewer ---------------------------------------------------------
def _owned_by_the_city(world) -> int:
    """小熊童装 of the Zhili outlet, owned by the city manager (above the outlet's subtree)."""
    cid = world.ids["zl_small"]
    with world.store.transaction() as s:
        s.get(Customer, cid).owner_id = world.ids["hz-city"]
    return cid


def test_the_owner_is_the_same_for_the_marketer_the_city_and_the_province(app, world):
    cid = _owned_by_the_city(world)
    names = {}
    for user in ("zl-marketer", "hz-city", "zj-prov"):
        client = signed_in(app, user)
        headers = bearer(client, user)
        names[user] = (
            client.get(f"/api/customers/{cid}", headers=headers).json()["customer"]["owner_name"],
            {c["code"]: c["owner_name"] for c in client.get(
                "/api/customers?q=小熊", headers=headers).json()["items"]}["C-ZL-2"],
            "湖州经理" in client.get(f"/customers/{cid}").text)
    assert names == {user: ("湖州经理", "湖州经理", True) for user in names}


def test_owner_names_never_load_foreign_users_into_the_scoped_session(world):
    cid = _owned_by_the_city(world)
    with world.store.session(user_id=world.ids["zl-marketer"]) as s:
        customer = s.get(Customer, cid)
        assert customer_people(s, [customer]) == {world.ids["hz-city"]: "湖州经理"}
        assert not any(isinstance(obj, User) and obj.id == world.ids["hz-city"]
                       for obj in s.identity_map.values())
        assert s.get(User, world.ids["hz-city"]) is None  # still outside the scope


def test_the_pool_clock_names_the_same_manager_for_every_viewer(world):
    """The reminder goes to the owner's manager above the outlet whoever looks at the clock."""
    with world.store.transaction() as s:
        prospect = s.get(Customer, world.ids["zl_archived"])
        prospect.owner_id, prospect.lifecycle_stage = world.ids["zl-marketer"], \
            LifecycleStage.NURTURING
    clocks = {}
    for user in ("zl-marketer", "hz-city"):
        with world.store.session(user_id=world.ids[user]) as s:
            entry = next(e for e in pool.pool_clock(s, TODAY) if e.code == "C-ZL-3")
            clocks[user] = (entry.manager_id, entry.manager_name, entry.owner_name)
    assert clocks["zl-marketer"] == clocks["hz-city"] == (
        world.ids["hz-city"], "湖州经理", "织里营销员")
