"""The planning pages on the demo province: scoped, in Chinese, and accepting a proposal."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from jiqun.config import Settings
from jiqun.store.models import AuditEntry, DedicatedLine
from jiqun.web.app import create_app
from tests.network.demo_province import demo_province


@pytest.fixture(scope="module")
def client():
    demo = demo_province()
    path = demo.root / "planning.toml"
    path.write_text(demo.params.to_toml(), encoding="utf-8")
    settings = Settings(store_url=f"sqlite:///{demo.root}/store.db", lake_path=demo.lake,
                        environment="test", planning_file=path)
    app = create_app(settings)
    with TestClient(app) as c:
        page = c.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        r = c.post("/login", data={"username": "demo-city", "password": "jiqun-demo",
                                   "csrf_token": token}, follow_redirects=False)
        assert r.status_code == 303
        yield c


def _csrf(text):
    return re.search(r'name="csrf_token" value="([^"]+)"', text).group(1)


def test_flows_page_lists_lanes_and_peaks(client):
    r = client.get("/flows")
    assert r.status_code == 200
    assert "稍岗五金工量具产业集群" in r.text and "广州市" in r.text
    assert "织里" not in r.text  # Zhejiang is outside 商丘's scope
    assert "flow-map-data" in r.text and "/static/vendor/china.js" in r.text
    assert "618" in r.text


def test_lines_page_and_accept_records_a_draft(client):
    r = client.get("/lines")
    assert r.status_code == 200 and "广州市" in r.text and "南京市" in r.text
    demo = demo_province()
    page = client.get("/lines")
    sg = re.search(r'name="origin_id" value="(\d+)">\s*<input type="hidden" name="dest_code" '
                   r'value="440100"', page.text)
    assert sg, "the Guangzhou proposal has an accept button"
    # Without the CSRF token the POST is refused.
    bad = client.post("/lines/accept", data={"origin_id": sg.group(1), "dest_code": "440100"})
    assert bad.status_code == 403
    ok = client.post("/lines/accept", data={"origin_id": sg.group(1), "dest_code": "440100",
                                            "csrf_token": _csrf(page.text)},
                     follow_redirects=False)
    assert ok.status_code == 303
    with demo.store.session() as s:
        line = s.scalar(select(DedicatedLine).where(DedicatedLine.code.like("P-%-440100")))
        assert line.status.value == "draft" and line.proposal["dest"] == "广州市"
        assert line.proposal["break_even"] > 0 and line.proposal["reasons"]
        audited = s.scalars(select(AuditEntry).where(AuditEntry.entity == "dedicated_lines",
                                                     AuditEntry.source == "web")).all()
        assert any(a.action == "insert" and a.changes.get("code") == line.code
                   for a in audited)


def test_hubs_page_with_what_if(client):
    r = client.get("/hubs?model=pmedian&p=2")
    assert r.status_code == 200 and 'data-testid="hub-summary"' in r.text
    part = client.get("/hubs?model=cover&radius=20", headers={"HX-Request": "true"})
    assert part.status_code == 200 and part.text.lstrip().startswith('<div id="hubs-result">')
