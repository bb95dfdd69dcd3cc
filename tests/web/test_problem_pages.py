"""The problem pages (R2) and their /api twins: raise, escalate, merge from the list, solve;
what a city and its province each see; refusals (403, 404, 409, 400)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import pytest
from fastapi.testclient import TestClient

from jiqun.store.models import Customer, ExceptionKind, ServiceCase, Visit
from jiqun.web.app import create_app
from tests.web.conftest import bearer, csrf_of, fresh_world, signed_in


@pytest.fixture
def site(tmp_path):
    world = fresh_world(tmp_path)
    app = create_app(world.settings)
    yield world, app
    world.store.engine.dispose()


def _raise(client: TestClient, title: str, **extra) -> int:
    token = csrf_of(client, "/problems/new")
    r = client.post("/problems/new", data={"title": title, "csrf_token": token, **extra},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    return int(r.headers["location"].rsplit("/", 1)[1])


def _post(client: TestClient, path: str, page: str, **data):
    token = csrf_of(client, page)
    return client.post(path, data={"csrf_token": token, **data}, follow_redirects=False)


def _version(client: TestClient, pid: int) -> str:
    return re.search(r'name="version" value="(\d+)"', client.get(f"/problems/{pid}").text)[1]


def test_a_city_raises_and_escalates_and_the_province_sees_it_above(site):
    _, app = site
    city = signed_in(app, "hz-city")
    pid = _raise(city, "旺季集包产能不足", description="双11集包笼不够")
    page = city.get(f"/problems/{pid}").text
    assert "旺季集包产能不足" in page and "双11集包笼不够" in page
    assert 'data-testid="problem-level"><span class="level level-city">市</span>' in page
    r = _post(city, f"/problems/{pid}/escalate", f"/problems/{pid}", note="请省公司协调",
              version=_version(city, pid))
    assert r.status_code == 303
    page = city.get(f"/problems/{pid}").text
    assert "level-province" in page and "浙江省分公司" in page and "请省公司协调" in page
    assert 'data-testid="escalate"' not in page  # the city may not push it on to HQ
    older = _raise(city, "另一个问题")
    province = signed_in(app, "zj-prov")
    rows = province.get("/api/problems").json()
    assert [(r["id"], r["level"]) for r in rows] == [(pid, "province"), (older, "city")]
    listing = province.get("/problems").text
    assert listing.index(f'data-testid="problem-{pid}"') < listing.index(
        f'data-testid="problem-{older}"')
    assert re.search(r'data-testid="count-province">1<', listing)
    download = province.get("/problems?format=csv")
    table = list(csv.reader(io.StringIO(download.text.lstrip("\ufeff"))))
    assert [row[1] for row in table[1:]] == ["旺季集包产能不足", "另一个问题"]
    assert len(re.findall(r'data-testid="problem-\d+"', province.get("/problems?level=city").text)) == 1


def test_the_province_merges_two_cities_problems_and_solves_the_common_one(site):
    _, app = site
    hz, hgz = signed_in(app, "hz-city"), signed_in(app, "hgz-city")
    a = _raise(hz, "直播退货逆向成本高")
    b = _raise(hgz, "直播退货逆向物流成本高")
    province = signed_in(app, "zj-prov")
    listing = province.get("/problems").text
    assert 'data-testid="suggestions"' in listing  # likely the same problem
    token = csrf_of(province, "/problems")
    r = province.post("/problems/merge", data={"csrf_token": token, "problem_ids": [a, b],
                                               "title": "直播退货逆向物流"},
                      follow_redirects=False)
    assert r.status_code == 303, r.text
    common = int(r.headers["location"].rsplit("/", 1)[1])
    page = province.get(f"/problems/{common}").text
    assert 'data-testid="members"' in page and "直播退货逆向成本高" in page
    assert [r["id"] for r in province.get("/api/problems").json()] == [common]
    # the city sees its own problem following the common one, held by the province
    mine = hz.get(f"/problems/{a}").text
    assert 'data-testid="merged-note"' in mine and "浙江省分公司" in mine
    assert 'data-testid="solve"' not in mine
    assert hz.get(f"/problems/{common}").status_code == 404
    r = _post(province, f"/problems/{common}/solve", f"/problems/{common}",
              solution="省公司统一逆向物流合同", version=_version(province, common))
    assert r.status_code == 303
    solved = hz.get("/api/problems?status=solved").json()
    assert [(r["id"], r["status"], r["solved_by"]) for r in solved] == [(a, "solved", "浙江经理")]


def test_forms_refuse_what_cannot_be_saved(site):
    _, app = site
    city = signed_in(app, "hz-city")
    r = _post(city, "/problems/new", "/problems/new", title="  ")
    assert r.status_code == 400 and "请给问题一个标题" in r.text
    pid = _raise(city, "问题")
    r = _post(city, f"/problems/{pid}/solve", f"/problems/{pid}", solution="", version="1")
    assert r.status_code == 400 and "请说明如何解决" in r.text
    stale = _post(city, f"/problems/{pid}/escalate", f"/problems/{pid}", version="7")
    assert stale.status_code == 409
    province = signed_in(app, "zj-prov")
    r = _post(province, "/problems/merge", "/problems", problem_ids=str(pid), title="x")
    assert r.status_code == 400 and 'data-testid="merge-error"' in r.text


def _visit_and_case(world) -> tuple[int, int]:
    """A visit of a Zhili customer and a service case of the same customer (Huzhou's)."""
    at = dt.datetime(2024, 6, 3, 10)
    with world.store.transaction() as s:
        customer = s.get(Customer, world.ids["zl_big"])
        visit = Visit(customer_id=customer.id, user_id=world.ids["zl-marketer"], visited_at=at,
                      method="sweep", outcome="interested", org_unit_id=customer.org_unit_id)
        case = ServiceCase(code="SC-1", group_key=f"customer:{customer.id}",
                           customer_id=customer.id, kind=ExceptionKind.STALLED, opened_at=at,
                           first_response_due=at, resolve_due=at,
                           org_unit_id=customer.org_unit_id)
        s.add_all([visit, case])
        s.flush()
        return visit.id, case.id


def test_the_form_is_reached_from_a_visit_or_a_case(site):
    world, app = site
    visit_id, case_id = _visit_and_case(world)
    city = signed_in(app, "hz-city")
    page = city.get(f"/problems/new?visit_id={visit_id}").text
    assert f'name="visit_id" value="{visit_id}"' in page
    pid = _raise(city, "客户反映揽收晚", visit_id=str(visit_id))
    assert city.get(f"/api/problems/{pid}").json()["problem"]["source"] == "visit"
    page = city.get(f"/problems/new?case_id={case_id}").text
    assert f'name="case_id" value="{case_id}"' in page
    pid = _raise(city, "同一批次滞留", case_id=str(case_id))
    detail = city.get(f"/api/problems/{pid}").json()
    assert (detail["case_id"], detail["problem"]["market_id"]) == (case_id, world.ids["zhili"])
    assert city.get("/problems/new?case_id=abc").status_code == 422
    # Hangzhou does not see Huzhou's visit: the form is not found, and nothing is raised
    other = signed_in(app, "hgz-city")
    assert other.get(f"/problems/new?visit_id={visit_id}").status_code == 404
    r = _post(other, "/problems/new", "/problems/new", title="x", visit_id=str(visit_id))
    assert r.status_code == 404
    assert other.get("/api/problems").json() == []


def test_the_api_twins_raise_escalate_solve_and_refuse(site):
    world, app = site
    with TestClient(app) as c:
        city, marketer = bearer(c, "hz-city"), bearer(c, "zl-marketer")
        other = bearer(c, "hgz-city")
        r = c.post("/api/problems", json={"title": "系统不支持混合收寄"}, headers=marketer)
        assert r.status_code == 201
        body = r.json()
        pid = body["problem"]["id"]
        assert body["problem"]["level"] == "city" and body["history"][0]["kind"] == "raised"
        assert c.post(f"/api/problems/{pid}/solve", json={"solution": "x"},
                      headers=marketer).status_code == 403
        assert c.get(f"/api/problems/{pid}", headers=other).status_code == 404
        r = c.post(f"/api/problems/{pid}/escalate", json={"version": 9}, headers=city)
        assert r.status_code == 409
        r = c.post(f"/api/problems/{pid}/escalate", json={"note": "n", "version": 1},
                   headers=city)
        assert r.status_code == 200 and r.json()["problem"]["level"] == "province"
        r = c.post(f"/api/problems/{pid}/solve", json={"solution": "已解决"}, headers=city)
        assert r.json()["problem"]["solved_by"] == "湖州经理"
        assert c.post("/api/problems/merge", json={"problem_ids": [pid, pid], "title": "x"},
                      headers=city).status_code == 403
