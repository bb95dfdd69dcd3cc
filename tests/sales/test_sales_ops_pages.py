"""Pages and API of field-sales operations: bulk archive upload and duplicate review, campaigns,
the inbox — CSRF on every form, managers only for decisions, 404 outside the scope."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from jiqun.sales import reminders
from jiqun.sales.rules import SalesRules
from jiqun.store.models import AuditEntry, Customer, DuplicateCandidate, Notification
from jiqun.web.app import create_app
from tests.web.conftest import CSRF_INPUT, fresh_world, signed_in

ARCHIVE = ("客户名称,联系人,电话,地址,市场编码\n"
           "童趣服饰,周一,13800000001,织里镇1号,M-ZL\n"  # the phone of C-ZL-1: exact
           "小熊 童装,周二,13800000055,织里镇9号,M-ZL\n"  # C-ZL-2 is 小熊童装: likely
           "新星童鞋,周三,13800000056,织里镇10号,M-ZL\n"
           "坏电话,周四,1-2,织里镇11号,M-ZL\n").encode()


@pytest.fixture
def world(tmp_path):
    world = fresh_world(tmp_path)
    store = world.store
    yield world
    store.engine.dispose()


@pytest.fixture
def app(world):
    return create_app(world.settings)


def csrf(client: TestClient, path: str) -> str:
    return CSRF_INPUT.search(client.get(path).text).group(1)


def upload(client, token=None, data=ARCHIVE, name="扫楼.csv"):
    form = {"csrf_token": token} if token else {}
    return client.post("/archive", data=form, files={"file": (name, data, "text/csv")})


def test_archive_upload_and_review(app, world):
    city = signed_in(app, "hz-city")
    assert upload(city).status_code == 403  # no CSRF token
    page = upload(city, csrf(city, "/archive"))
    assert page.status_code == 200
    html = page.text
    assert 'data-testid="inserted">2<' in html and 'data-testid="likely">1<' in html
    assert "不是电话号码" in html and "/archive/review" in html

    review = city.get("/archive/review")
    assert review.status_code == 200 and "小熊 童装" in review.text and "小熊童装" in review.text
    with world.store.session() as s:
        pair = s.scalars(select(DuplicateCandidate)).one()
    assert city.post(f"/archive/review/{pair.id}/merge").status_code == 403  # no token
    marketer = signed_in(app, "zl-marketer")
    assert "data-testid=\"merge\"" not in marketer.get("/archive/review").text
    denied = marketer.post(f"/archive/review/{pair.id}/merge",
                           data={"csrf_token": csrf(marketer, "/archive/review")})
    assert denied.status_code == 403
    other_city = signed_in(app, "hgz-city")
    assert other_city.post(f"/archive/review/{pair.id}/keep", data={
        "csrf_token": csrf(other_city, "/archive/review")}).status_code == 404

    done = city.post(f"/archive/review/{pair.id}/merge",
                     data={"csrf_token": csrf(city, "/archive/review")}, follow_redirects=False)
    assert done.status_code == 303
    with world.store.session() as s:
        assert s.get(Customer, pair.other_id) is None
        assert s.get(DuplicateCandidate, pair.id).decided_by_id == world.ids["hz-city"]
        entry = s.scalars(select(AuditEntry).where(AuditEntry.entity == "duplicate_candidates",
                                                   AuditEntry.action == "update")).one()
        assert entry.user_id == world.ids["hz-city"] and entry.source == "web"


def test_archive_api_in_english(app, world):
    client = TestClient(app)
    token = client.post("/api/token", data={"username": "hz-city", "password": "correct-horse-9"})
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    body = client.post("/api/archive?dry_run=true", headers={**headers, "Accept-Language": "en"},
                       files={"file": ("a.csv", ARCHIVE, "text/csv")}).json()
    # C-ZL-1 has no contact: the row fills it in (merged).
    assert (body["inserted"], body["merged"], body["likely"], body["rejected"]) == (2, 1, 1, 1)
    assert body["rejects"][0]["row"] == "5"
    with TestClient(app) as c:
        bad = c.post("/api/archive", headers=headers,
                     files={"file": ("a.pdf", b"%PDF", "application/pdf")})
    assert bad.status_code == 400
    assert client.get("/api/archive/duplicates", headers=headers).json() == []


def test_campaign_pages(app, world):
    city = signed_in(app, "hz-city")
    form = {"csrf_token": csrf(city, "/campaigns"), "name": "春季攻坚", "starts_on": "2024-05-01",
            "ends_on": "2024-05-31", "target_by": "filters", "markets": "M-ZL"}
    made = city.post("/campaigns", data=form, follow_redirects=False)
    assert made.status_code == 303
    path = made.headers["location"]
    page = city.get(path)
    assert page.status_code == 200 and "春季攻坚" in page.text and 'data-testid="effect-table"' in page.text
    campaign_id = int(path.rsplit("/", 1)[1])
    effect = city.get(f"/api/campaigns/{campaign_id}").json()
    rows = {(r["group"], r["period"]): r for r in effect["rows"]}
    # Zhili's customers (C-ZL-1 ships 3/day, C-ZL-2 1/day in April, twice that in May).
    assert rows["target", "during"]["customers"] == 3
    assert rows["target", "before"]["parcels"] == world.parcels(
        ("zl_big", "zl_small"), dt.date(2024, 3, 31), dt.date(2024, 4, 30))
    assert rows["target", "during"]["parcels"] == world.parcels(
        ("zl_big", "zl_small"), dt.date(2024, 5, 1), dt.date(2024, 5, 31))
    assert "春季攻坚" in city.get("/campaigns").text
    bad = city.post("/campaigns", data={**form, "ends_on": "2024-04-01"})
    assert bad.status_code == 422 and "结束日期早于开始日期" in bad.text
    edit = city.post(path, data={**form, "csrf_token": csrf(city, path), "name": "春季攻坚二期",
                                 "target_by": "codes", "codes": "C-ZL-1", "retarget": "1"},
                     follow_redirects=False)
    assert edit.status_code == 303
    assert city.get("/api/campaigns").json()[0]["targets"] == 1
    assert signed_in(app, "hgz-city").get(path).status_code == 404
    download = city.get("/campaigns?format=csv")
    assert download.status_code == 200 and download.content.startswith(b"\xef\xbb\xbf")
    lines = download.content.decode("utf-8-sig").splitlines()
    assert lines[0] == "营销活动,开始日期,结束日期,目标客户"
    assert lines[1] == "春季攻坚二期,2024-05-01,2024-05-31,1"
    assert signed_in(app, "hgz-city").get("/campaigns?format=csv").content.decode(
        "utf-8-sig").splitlines()[1:] == []  # Hangzhou's city sees none of Huzhou's


def test_inbox(app, world):
    with world.store.transaction() as s:
        c = s.get(Customer, world.ids["zl_small"])
        c.owner_id, c.owned_since = world.ids["zl-marketer"], dt.date.today() - dt.timedelta(days=28)
        c.archived_on = dt.date(2024, 1, 1)
    with world.store.transaction() as s:
        assert reminders.send_pool_reminders(s, dt.date.today(), SalesRules()).created >= 1
    marketer = signed_in(app, "zl-marketer")
    api = marketer.get("/api/inbox").json()
    assert api["unread"] == 1 and "小熊童装" in api["items"][0]["message"]
    page = marketer.get("/inbox")
    assert "小熊童装" in page.text and "退回公海" in page.text
    assert marketer.post("/inbox/read", data={"all": "1"}).status_code == 403
    marketer.post("/inbox/read", data={"all": "1", "csrf_token": csrf(marketer, "/inbox")})
    assert marketer.get("/api/inbox").json()["unread"] == 0
    with world.store.session() as s:
        assert s.scalar(select(func.count()).select_from(Notification)
                        .where(Notification.read_at.is_(None),
                               Notification.user_id == world.ids["zl-marketer"])) == 0


def test_archive_template_download_archives_cleanly(app, world, tmp_path):
    city = signed_in(app, "hz-city")
    template = city.get("/archive/template.csv")
    assert template.status_code == 200
    assert template.content.startswith(b"\xef\xbb\xbf") and "客户名称" in template.text
    path = tmp_path / "t.csv"
    path.write_bytes(template.content)
    from jiqun.sales.archive import read_rows

    rows, headers, total, unreadable = read_rows(path)
    assert total == 1 and headers["name"] == "客户名称" and unreadable == []
