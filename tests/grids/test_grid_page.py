"""/grids and /grids/{id} on the tiny demo province, as every demo role: the list links every
grid to its page, page and /api agree, each role sees exactly its own grids (HQ's rows within
its subtree), and any other grid is 404 by page and by JSON."""

from __future__ import annotations

import csv
import io
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from jiqun.config import Settings
from jiqun.store import Store
from jiqun.store.models import Customer, Grid, OrgUnit, User
from jiqun.web.app import create_app

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
ROLES = ("demo-hq", "demo-province", "demo-city", "demo-marketer")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo built once: settings, and per role the ids of the grids in its subtree."""
    from jiqun.demo import build_demo

    tmp = tmp_path_factory.mktemp("grid-page")
    store = Store(f"sqlite:///{tmp}/store.db")
    store.upgrade()
    build_demo(store, tmp / "lake", scale="tiny", seed=7, progress=False)
    with store.session() as s:
        subtree = {}
        for username in ROLES:
            user = s.scalars(select(User).where(User.username == username)).one()
            path = s.get(OrgUnit, user.org_unit_id).path
            units = select(OrgUnit.id).where(OrgUnit.path.startswith(path))
            subtree[username] = set(s.scalars(select(Grid.id).where(Grid.org_unit_id.in_(units))))
        every = set(s.scalars(select(Grid.id)))
    store.engine.dispose()
    settings = Settings(store_url=f"sqlite:///{tmp}/store.db", lake_path=tmp / "lake",
                        environment="test", secret_key="grid-page-secret-0123456789abcdef",
                        locale="zh-CN")
    return settings, subtree, every


@pytest.fixture(scope="module")
def clients(demo):
    settings, _, _ = demo
    app = create_app(settings)
    out = {}
    for username in ROLES:
        client = TestClient(app)
        token = CSRF.search(client.get("/login").text).group(1)
        r = client.post("/login", data={"username": username, "password": "jiqun-demo",
                                        "csrf_token": token}, follow_redirects=False)
        assert r.status_code == 303
        out[username] = client
    return out


@pytest.mark.parametrize("username", ROLES)
def test_each_role_sees_exactly_its_grids(demo, clients, username):
    _, subtree, every = demo
    hq = {r["grid_id"]: r for r in clients["demo-hq"].get("/api/grids").json()["rows"]}
    client = clients[username]
    rows = {r["grid_id"]: r for r in client.get("/api/grids").json()["rows"]}
    assert rows and set(rows) == set(hq) & subtree[username]
    for gid, row in rows.items():  # the same figures as HQ's, rank aside
        assert {k: v for k, v in row.items() if k != "rank"} == \
            {k: v for k, v in hq[gid].items() if k != "rank"}
    page = client.get("/grids").text
    assert set(map(int, re.findall(r'href="/grids/(\d+)"', page))) == set(rows)
    for gid in sorted(every - subtree[username])[:3]:
        assert client.get(f"/grids/{gid}").status_code == 404
        assert client.get(f"/api/grids/{gid}").status_code == 404


def test_the_marketer_sees_the_grid_of_their_team(clients):
    rows = clients["demo-marketer"].get("/api/grids").json()["rows"]
    one = next(r for r in rows if r["grid"].startswith("闫集") and r["grid"].endswith("一号网格"))
    data = clients["demo-marketer"].get(f"/api/grids/{one['grid_id']}").json()
    assert data["team"]["name"] == "闫集一组" and data["team"]["members"][0]["role"] == "leader"
    assert data["manager"] == data["team"]["leader"]


@pytest.mark.parametrize("username", ["demo-city", "demo-marketer"])
def test_page_and_api_agree(demo, clients, username):
    settings, _, _ = demo
    client = clients[username]
    listed = client.get("/api/grids").json()["rows"]
    row = listed[0]
    data = client.get(f"/api/grids/{row['grid_id']}").json()
    assert data["kpis"] == row
    assert data["merchants_page"]["total"] == _merchant_count(settings, row["grid_id"])
    page = client.get(f"/grids/{row['grid_id']}")
    assert page.status_code == 200
    html = page.text
    assert re.search(r'data-testid="kpi-parcels">{}<'.format(
        re.escape(f"{row['parcels']:,}")), html)
    assert data["team"]["name"] in html and data["manager"] in html
    shown = re.findall(r'href="/customers/(\d+)"', html)
    assert [int(c) for c in shown] == [m["id"] for m in data["merchants"]]
    parcels = [m["parcels"] for m in data["merchants"]]
    assert parcels == sorted(parcels, reverse=True)
    assert 'data-grid-map' in html and "/static/grid.js" in html


def test_merchants_are_paged_in_one_order(clients):
    client = clients["demo-city"]
    gid = client.get("/api/grids").json()["rows"][0]["grid_id"]
    whole = client.get(f"/api/grids/{gid}?per_page=500").json()
    second = client.get(f"/api/grids/{gid}?page=2&per_page=10").json()
    assert [m["id"] for m in second["merchants"]] == [m["id"] for m in whole["merchants"][10:20]]
    past = client.get(f"/api/grids/{gid}?page=9999&per_page=100").json()["merchants_page"]
    assert past["page"] == past["pages"] == -(-whole["merchants_page"]["total"] // 100)
    assert client.get(f"/api/grids/{gid}?per_page=0").status_code == 422
    assert client.get("/api/grids/0").status_code == 422


def _merchant_count(settings, grid_id: int) -> int:
    store = Store(settings.store_url)
    try:
        with store.session() as s:
            return len(s.scalars(select(Customer.id).where(Customer.grid_id == grid_id)).all())
    finally:
        store.engine.dispose()


def test_the_merchants_download_as_the_page_lists_them(clients):
    client = clients["demo-city"]
    gid = client.get("/api/grids").json()["rows"][0]["grid_id"]
    whole = client.get(f"/api/grids/{gid}?per_page=500").json()["merchants"]
    r = client.get(f"/grids/{gid}?format=csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert lines[0][:2] == ["编码", "客户"] and len(lines) == len(whole) + 1
    first = lines[1]
    assert (first[0], int(first[-1])) == (whole[0]["code"], whole[0]["parcels"])
