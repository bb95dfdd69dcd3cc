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


ACCEPT_FORM = re.compile(r'name="origin_id" value="(\d+)">\s*<input type="hidden" '
                         r'name="dest_code" value="(\d+)"')


def _row_of(html: str, origin: str, dest: str) -> str:
    """The table row of the lane from ``origin`` (a name's start) to ``dest``."""
    rows = re.findall(r"<tr>(.*?)</tr>", html, re.S)
    return next(r for r in rows if re.search(rf"<td>{origin}[^<]*→ {dest}", r))


def test_a_lane_served_by_a_running_line_shows_the_line_not_an_accept(client):
    """Issue 13: 虞城→广州 runs as L-YC-广州; the page offered 全年开通 and Accept for it."""
    html = client.get("/lines").text
    for dest, line in (("广州市", "L-YC-广州"), ("南京市", "L-YC-南京"), ("杭州市", "L-YC-杭州")):
        row = _row_of(html, "稍岗", dest)
        assert f"全年运行 · {line}" in row, row
        assert "全年开通" not in row and 'action="/lines/accept"' not in row


def test_accepting_a_lane_shows_its_draft_instead_of_a_second_accept(client):
    demo = demo_province()
    # A lane without a line (other test modules of the process accept lanes of the demo too).
    by, page = next((by, page) for by in ("market", "outlet")
                    if ACCEPT_FORM.search((page := client.get(f"/lines?by={by}")).text))
    origin_id, dest = ACCEPT_FORM.findall(page.text)[0]
    # Without the CSRF token the POST is refused.
    bad = client.post("/lines/accept", data={"origin_id": origin_id, "dest_code": dest})
    assert bad.status_code == 403
    ok = client.post("/lines/accept", data={"by": by, "origin_id": origin_id, "dest_code": dest,
                                            "csrf_token": _csrf(page.text)},
                     follow_redirects=False)
    assert ok.status_code == 303
    code = ok.headers["location"].split("accepted=")[1]
    with demo.store.session() as s:
        line = s.scalar(select(DedicatedLine).where(DedicatedLine.code == code))
        assert line.status.value == "draft" and line.proposal["dest_code"] == dest
        assert line.proposal["break_even"] > 0 and line.proposal["reasons"]
        assert line.proposed_level.value == "city"  # demo-city accepted it
        assert line.proposal["origin_kind"] == by
        audited = s.scalars(select(AuditEntry).where(AuditEntry.entity == "dedicated_lines",
                                                     AuditEntry.source == "web")).all()
        assert any(a.action == "insert" and a.changes.get("code") == line.code
                   for a in audited)
    after = client.get(ok.headers["location"]).text
    assert (origin_id, dest) not in ACCEPT_FORM.findall(after)
    assert f"草案 · {code}" in after and f"已记录为专线草案：{code}" in after


def test_hubs_page_with_what_if(client):
    r = client.get("/hubs?model=pmedian&p=2")
    assert r.status_code == 200 and 'data-testid="hub-summary"' in r.text
    part = client.get("/hubs?model=cover&radius=20", headers={"HX-Request": "true"})
    assert part.status_code == 200 and part.text.lstrip().startswith('<div id="hubs-result">')


def _table_rows(html: str, testid: str) -> list[str]:
    table = html.split(f'data-testid="{testid}"')[1].split("</table>")[0]
    return re.findall(r"<tr>(.*?)</tr>", table.split("<tbody>")[1], re.S)


def test_flows_are_paged_and_every_table_downloads_whole(client):
    """Issue 13: /flows was 8–12k px long on a phone (every lane on one page)."""
    import csv
    import io

    first = client.get("/flows?period=month").text
    total = int(re.search(r"流向 <span class=\"muted\">\(([\d,]+)\)", first)[1].replace(",", ""))
    assert total > 25 and len(_table_rows(first, "lanes")) == 25
    assert 'class="pager"' in first and "page=2" in first
    windows = int(re.search(r"旺季窗口 <span class=\"muted\">\((\d+)\)", first)[1])
    assert len(_table_rows(first, "peaks")) == min(windows, 10)  # the windows are paged too
    second = client.get("/flows?period=month&page=2").text
    assert _table_rows(second, "lanes") != _table_rows(first, "lanes")
    last = client.get("/flows?period=month&page=100000").text  # past the end: the last page
    assert len(_table_rows(last, "lanes")) == total - (total - 1) // 25 * 25
    lanes = client.get("/flows?period=month&format=csv&table=lanes")
    assert lanes.status_code == 200 and lanes.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(lanes.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["期间", "始发", "目的地"] and len(rows) == total + 1
    peaks = client.get("/flows?format=csv&table=peaks").content.decode("utf-8-sig")
    assert "双11" in peaks and "618" in peaks
    xlsx = client.get("/flows?format=xlsx")
    assert xlsx.content[:2] == b"PK"
    assert client.get("/flows?format=csv&table=nope").status_code == 404


def test_lines_tables_download_with_the_line_of_each_served_lane(client):
    import csv
    import io

    lanes = client.get("/lines?format=csv&table=lanes")
    rows = list(csv.DictReader(io.StringIO(lanes.content.decode("utf-8-sig"))))
    served = next(r for r in rows if r["始发"].startswith("稍岗") and r["目的地"] == "广州市")
    assert served["专线"] == "L-YC-广州" and served["状态"] == "全年运行"
    html = client.get("/lines").text
    assert f"专线建议 <span class=\"muted\">({len(rows)})</span>" in html
    pools = client.get("/lines?format=csv&table=pools").content.decode("utf-8-sig")
    assert pools.splitlines()[0].startswith("集货点,目的地,始发地")
