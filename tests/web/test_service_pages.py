"""The service queue's pages and their /api twins on the hand-made world of tests/service:
the queue of one's scope (own cases first, filters, downloads), a case with its parcels and
work forms (contact with a prefilled message, wait/resume, resolve, assign; a stale form is a
conflict), the exceptions list, and the dashboard's tiles."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from jiqun.config import Settings
from jiqun.service import cases
from jiqun.service.rules import ServiceRules
from jiqun.store.models import CaseEvent, CaseStatus, ExceptionKind, ServiceCase
from jiqun.web.app import create_app
from tests.service.cases_world import PASSWORD, build_world

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
OPENED = dt.datetime(2026, 11, 24, 17, 0)


@pytest.fixture
def web(store, tmp_path):
    world = build_world(store)
    world.exception("Z1", ExceptionKind.LATE, reason="held_at_hub")
    world.exception("Z1", ExceptionKind.STALLED)
    world.exception("Z2", ExceptionKind.LOST)
    world.exception("X1", ExceptionKind.LATE)
    with store.transaction() as s:
        cases.open_cases(s, OPENED, ServiceRules())
    settings = Settings(store_url=store.url, lake_path=tmp_path / "lake", environment="test",
                        secret_key="test-secret-key-for-the-service-pages", locale="zh-CN")
    world.app = create_app(settings)
    return world


def _client(world, username: str, lang: str = "zh-CN") -> TestClient:
    client = TestClient(world.app)
    token = CSRF.search(client.get("/login").text).group(1)
    r = client.post("/login", data={"username": username, "password": PASSWORD,
                                    "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303, r.text[:200]
    if lang == "en":
        client.get("/?lang=en")
    return client


def _bearer(world, username: str) -> dict:
    client = TestClient(world.app)
    r = client.post("/api/token", data={"username": username, "password": PASSWORD})
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _case(world, customer: str) -> ServiceCase:
    with world.store.session() as s:
        case = s.scalar(select(ServiceCase).where(
            ServiceCase.customer_id == world.customers[customer]))
        s.expunge(case)
        return case


def _csrf(page: str) -> str:
    return CSRF.search(page).group(1)


def test_the_queue_shows_the_scope_with_own_cases_first(web):
    client = _client(web, "hz-cs2")
    page = client.get("/service")
    assert page.status_code == 200
    codes = re.findall(r'data-testid="case-(SC-[0-9-]+)"', page.text)
    z1, z2 = _case(web, "Z1"), _case(web, "Z2")
    assert z1.owner_id == web.users["hz-cs1"] and z2.owner_id == web.users["hz-cs2"]
    assert codes == [z2.code, z1.code]  # cs2's own case first; Hangzhou's is not in scope
    assert "客服工单" in page.text  # the page speaks Chinese by default
    mine = client.get("/service?mine=true")
    assert re.findall(r'data-testid="case-(SC-[0-9-]+)"', mine.text) == [z2.code]
    assert 'data-testid="case-SC' not in client.get("/service?status=resolved").text
    lost_only = client.get("/service?kind=lost")
    assert re.findall(r'data-testid="case-(SC-[0-9-]+)"', lost_only.text) == [z2.code]
    # all cases opened in 2026-11 are long overdue by now
    assert len(re.findall(r'data-testid="case-SC', client.get("/service?breach=yes").text)) == 2
    assert client.get("/service?status=nonsense").status_code == 422


def test_the_queue_downloads_every_row(web):
    client = _client(web, "zj-manager", lang="en")
    r = client.get("/service?format=csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["Case", "Status", "Kind"]
    assert len(rows) == 1 + 3  # the province sees both cities' cases
    xlsx = client.get("/service?format=xlsx")
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"


def test_a_case_page_lists_its_parcels_and_prefills_the_message(web):
    client = _client(web, "hz-cs1")
    z1 = _case(web, "Z1")
    page = client.get(f"/service/cases/{z1.id}")
    assert page.status_code == 200
    assert 'href="/parcels/9800000001"' in page.text and 'href="/parcels/9800000002"' in page.text
    assert "商户Z1您好" in page.text  # the prefilled delay apology
    assert 'data-testid="contact-form"' in page.text and 'data-testid="assign-form"' in page.text
    # outside the scope: not found
    assert _client(web, "hgz-cs1").get(f"/service/cases/{z1.id}").status_code == 404


def test_contact_wait_resume_resolve_through_the_forms(web):
    client = _client(web, "hz-cs1")
    z1 = _case(web, "Z1")
    url = f"/service/cases/{z1.id}"
    token = _csrf(client.get(url).text)
    r = client.post(f"{url}/contact", data={
        "csrf_token": token, "version": z1.version, "channel": "phone", "template": "delay",
        "message": "已电话告知商家延误原因"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"{url}?done=contact"
    contacted = _case(web, "Z1")
    assert contacted.first_response_at is not None and contacted.version == z1.version + 1
    # the same form again: stale
    stale = client.post(f"{url}/contact", data={
        "csrf_token": token, "version": z1.version, "channel": "phone", "message": "again"})
    assert stale.status_code == 409 and 'data-testid="error"' in stale.text
    bad = client.post(f"{url}/contact", data={"csrf_token": token, "version": contacted.version,
                                              "channel": "fax", "message": " "})
    assert bad.status_code == 422 and 'data-testid="error-channel"' in bad.text
    for step, data in [("wait", {"note": "等商家确认地址"}), ("resume", {}),
                       ("resolve", {"note": "已妥投"})]:
        version = _case(web, "Z1").version
        r = client.post(f"{url}/{step}", data={"csrf_token": token, "version": version, **data},
                        follow_redirects=False)
        assert r.status_code == 303, (step, r.text[:300])
    assert _case(web, "Z1").status == CaseStatus.RESOLVED
    with web.store.session() as s:
        kinds = s.scalars(select(CaseEvent.kind).where(CaseEvent.case_id == z1.id)
                          .order_by(CaseEvent.id)).all()
    assert kinds == ["open", "contact", "wait", "resume", "resolve"]
    done = client.get(url)
    assert 'data-testid="contact-form"' not in done.text  # a resolved case takes no more work


def test_assign_through_the_form_and_who_may(web):
    z1 = _case(web, "Z1")
    url = f"/service/cases/{z1.id}"
    manager = _client(web, "hz-manager")
    token = _csrf(manager.get(url).text)
    r = manager.post(f"{url}/assign", data={"csrf_token": token, "version": z1.version,
                                            "owner_id": web.users["hz-cs2"]},
                     follow_redirects=False)
    assert r.status_code == 303
    assert _case(web, "Z1").owner_id == web.users["hz-cs2"]
    marketer = _client(web, "zl-marketer")
    page = marketer.get(url)
    assert page.status_code == 200 and 'data-testid="contact-form"' not in page.text
    r = marketer.post(f"{url}/contact", data={"csrf_token": _csrf(page.text), "version": 1,
                                              "channel": "phone", "message": "x"})
    assert r.status_code == 403


def test_the_api_twins(web):
    headers = _bearer(web, "hz-cs1")
    client = TestClient(web.app)
    r = client.get("/api/service/cases", headers=headers)
    assert r.status_code == 200
    body = r.json()
    assert body["page"]["total"] == 2
    assert body["items"][0]["mine"] is True and body["items"][0]["owner_id"] == web.users["hz-cs1"]
    z1 = _case(web, "Z1")
    detail = client.get(f"/api/service/cases/{z1.id}", headers=headers).json()
    assert {e["waybill_no"] for e in detail["exceptions"]} == {"9800000001", "9800000002"}
    assert detail["default_template"] == "delay"
    assert "9800000001" in detail["messages"]["delay"]
    r = client.post(f"/api/service/cases/{z1.id}/contact", headers=headers, json={
        "channel": "wechat", "template": "delay", "message": detail["messages"]["delay"],
        "version": z1.version})
    assert r.status_code == 200 and r.json()["first_response_at"] is not None
    assert r.json()["version"] == z1.version + 1
    stale = client.post(f"/api/service/cases/{z1.id}/wait", headers=headers,
                        json={"version": z1.version})
    assert stale.status_code == 409
    waiting = client.post(f"/api/service/cases/{z1.id}/wait", headers=headers,
                          json={"version": z1.version + 1, "note": "等回复"})
    assert waiting.status_code == 200 and waiting.json()["status"] == "waiting"
    other = _case(web, "X1")
    assert client.get(f"/api/service/cases/{other.id}", headers=headers).status_code == 404
    marketer = _bearer(web, "zl-marketer")
    assert client.post(f"/api/service/cases/{z1.id}/resolve", headers=marketer,
                       json={"note": "x", "version": 1}).status_code == 403
    exc = client.get("/api/service/exceptions?kind=lost", headers=headers).json()
    assert [e["waybill_no"] for e in exc["items"]] == ["9800000003"]
    cities = client.get("/api/service/cities", headers=_bearer(web, "zj-manager")).json()
    assert {c["city_code"]: c["open"] for c in cities} == {"ZJ-HUZ": 2, "ZJ-HGZ": 1}


def test_the_exceptions_page_links_parcels_and_cases(web):
    client = _client(web, "hz-cs1", lang="en")
    page = client.get("/service/exceptions")
    assert page.status_code == 200
    assert page.text.count('href="/parcels/98000000') == 3  # Huzhou's three
    z2 = _case(web, "Z2")
    assert f'href="/service/cases/{z2.id}"' in page.text
    assert "Lost" in client.get("/service/exceptions?kind=lost").text
    r = client.get("/service/exceptions?format=csv")
    assert len(r.content.decode("utf-8-sig").strip().splitlines()) == 1 + 3


def test_the_dashboard_counts_cases(web):
    page = _client(web, "zj-manager", lang="en").get("/")
    assert page.status_code == 200
    assert 'data-testid="service-open">3<' in page.text
    assert 'data-testid="service-breached">3<' in page.text
    assert 'data-testid="service-city-ZJ-HUZ"' in page.text  # per city for the province
    city = _client(web, "hz-cs1", lang="en").get("/")
    assert 'data-testid="service-open">2<' in city.text
    assert 'data-testid="service-city-' not in city.text
