"""The upload page (/import) and its twin (/api/import/{kind}): dry run, reject report, commit
of exactly what the dry run showed, 409 when the data changed, clear 4xx for every bad file."""

from __future__ import annotations

import io
import re

import pytest
from fastapi.testclient import TestClient
from python_calamine import CalamineWorkbook

from jiqun.ingest import import_file
from jiqun.ingest.columns import FORMATS
from jiqun.ingest.kinds import IMPORT_KINDS
from jiqun.ingest.source import map_headers
from jiqun.web.app import create_app
from tests.ingest.helpers import lake_rows
from tests.web.conftest import bearer, csrf_of, fresh_world, signed_in

HEADER = "运单号,客户编码,产品,寄件时间,目的省,重量,资费\n"
GOOD = "U1,C-ZL-1,快包,2024-06-14 10:00,广东,1,5\nU2,C-ZL-2,快包,2024-06-14 11:00,江苏,2,6\n"
BAD = "U3,C-ZL-1,飞机,2024-06-14 10:00,广东,1,5\n"
RAGGED = "U4,C-ZL-1,快包\n"
FOREIGN = "U5,C-XH-1,快包,2024-06-14 10:00,广东,1,5\n"  # Hangzhou's customer


@pytest.fixture
def site(tmp_path):
    world = fresh_world(tmp_path)
    app = create_app(world.settings)
    yield world, app
    world.store.engine.dispose()


def _count(html: str, testid: str) -> str:
    return re.search(rf'data-testid="{testid}">([^<]*)<', html).group(1)


def _counts(html: str) -> tuple[str, ...]:
    return tuple(_count(html, k) for k in ("total", "added", "changed-count", "unchanged",
                                            "rejected"))


def _token(html: str) -> str:
    return re.search(r'name="token" value="([^"]+)"', html).group(1)


def _upload(client: TestClient, kind: str, data: bytes | str, name: str = "w.csv"):
    raw = data.encode() if isinstance(data, str) else data
    return client.post("/import", data={"csrf_token": csrf_of(client, "/import"), "kind": kind},
                       files={"file": (name, raw, "text/csv")})


def _commit(client: TestClient, token: str):
    return client.post("/import/commit", data={"csrf_token": csrf_of(client, "/import"),
                                               "token": token})


def _error(html: str) -> str:
    return re.search(r'data-testid="upload-error">([^<]*)<', html).group(1)


def test_dry_run_then_commit_on_the_page(site):
    world, app = site
    lake = world.settings.lake_path
    client = signed_in(app, "hz-city")
    before = lake_rows(lake)

    dry = _upload(client, "waybills", HEADER + GOOD + BAD + RAGGED + FOREIGN)
    assert dry.status_code == 200, dry.text
    assert _counts(dry.text) == ("5", "2", "0", "0", "3")
    assert lake_rows(lake) == before  # the dry run wrote nothing
    rows = re.findall(r'<tr><td class="num">(\d+)</td><td>([^<]*)</td>', dry.text)
    assert rows == [("4", "产品"), ("5", ""), ("6", "客户编码")]  # header = row 1
    assert "产品无法识别" in dry.text

    token = _token(dry.text)
    report = client.get(f"/import/rejects?token={token}&format=csv")
    assert report.status_code == 200
    lines = report.content.decode("utf-8-sig").splitlines()
    assert lines[0] == "行号,列,值,原因" and lines[1].startswith("4,产品,飞机,")
    assert len(lines) == 4
    xlsx = client.get(f"/import/rejects?token={token}&format=xlsx")
    sheet = CalamineWorkbook.from_filelike(io.BytesIO(xlsx.content)).get_sheet_by_index(0)
    assert [r[:2] for r in sheet.to_python()[1:]] == [(4, "产品"), (5, ""), (6, "客户编码")] or \
        [list(r[:2]) for r in sheet.to_python()[1:]] == [[4.0, "产品"], [5.0, ""], [6.0, "客户编码"]]

    done = _commit(client, token)
    assert done.status_code == 200, done.text
    assert _counts(done.text) == ("5", "2", "0", "0", "3")
    assert 'data-testid="imported"' in done.text
    assert {r[0] for r in lake_rows(lake)} - {r[0] for r in before} == {"U1", "U2"}

    again = _upload(client, "waybills", HEADER + GOOD)  # the same rows again: harmless
    assert _counts(again.text) == ("2", "0", "0", "2", "0")
    assert 'data-testid="nothing"' in again.text
    assert _commit(client, token).status_code == 404  # used once


def test_the_commit_answers_409_with_the_new_counts_when_the_data_changed(site, tmp_path):
    world, app = site
    client = signed_in(app, "hz-city")
    dry = _upload(client, "waybills", HEADER + GOOD)
    assert _counts(dry.text)[1] == "2"
    other = tmp_path / "other.csv"
    other.write_text(HEADER + GOOD.splitlines()[0] + "\n", encoding="utf-8")
    import_file("waybills", other, world.store, world.settings.lake_path)  # U1, meanwhile
    lake = lake_rows(world.settings.lake_path)

    refused = _commit(client, _token(dry.text))
    assert refused.status_code == 409
    assert 'data-testid="changed"' in refused.text
    assert _counts(refused.text) == ("2", "1", "0", "1", "0")
    assert lake_rows(world.settings.lake_path) == lake

    done = _commit(client, _token(refused.text))
    assert done.status_code == 200 and _counts(done.text) == ("2", "1", "0", "1", "0")


def test_store_kinds_and_xlsx_on_the_page(site):
    _, app = site
    client = signed_in(app, "hz-city")
    text = "市场编码,市场名称,市场类型,行业,机构编码\nM-ZL,织里童装产业带二期,产业集群,童装,ZJ-HUZ-WX\n" \
           "M-NEW,湖州新市场,专业市场,箱包,ZJ-HUZ\nM-XH,改杭州的,直播基地,服装,ZJ-HUZ\n"
    dry = _upload(client, "markets", text)
    assert _counts(dry.text) == ("3", "1", "1", "0", "1")
    assert "该编码属于您管辖范围以外的记录" in dry.text  # M-XH is Hangzhou's

    template = client.get("/import/template?kind=markets&format=xlsx")
    assert template.status_code == 200
    refused = _upload(client, "markets", template.content, name="markets.xlsx")
    assert refused.status_code == 400
    assert _error(refused.text) == "文件未导入: 文件只有表头，没有数据行"


@pytest.mark.parametrize("kind", list(IMPORT_KINDS))
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_every_kind_has_a_template_the_importer_accepts(app, tmp_path, kind, fmt):
    r = signed_in(app, "hz-city").get(f"/import/template?kind={kind}&format={fmt}")
    assert r.status_code == 200
    path = tmp_path / f"t.{fmt}"
    path.write_bytes(r.content)
    if fmt == "csv":
        header = r.content.decode("utf-8-sig").strip().split(",")
    else:
        header = list(CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()[0])
    assert header == [c.zh for c in FORMATS[kind].columns]
    assert map_headers(header, FORMATS[kind])  # every column known, none missing


@pytest.mark.parametrize("kind, data, name, status, message", [
    ("waybills", b"", "w.csv", 400, "文件为空"),
    ("waybills", b"\x89PNG\r\n\x1a\n", "w.png", 400, "请上传 CSV 或 XLSX 文件"),
    ("waybills", b"PK\x03\x04rest", "w.csv", 400, "Excel"),
    ("waybills", b"not really", "w.xlsx", 400, "无法读取电子表格"),
    ("markets", HEADER + GOOD, "w.csv", 400, "这是运单文件的列，不是市场的"),
    ("nope", HEADER + GOOD, "w.csv", 400, "未知的导入类型"),
    ("waybills", "运单号,产品\nU1,快包\n".encode("utf-16"), "w.csv", 400, "缺少必填列"),
])
def test_bad_uploads_are_answered_4xx_in_the_users_language(app, kind, data, name, status,
                                                             message):
    r = _upload(signed_in(app, "hz-city"), kind, data, name)
    assert r.status_code == status
    assert message in _error(r.text)


def test_an_upload_larger_than_its_kind_allows_is_413(app, monkeypatch):
    import dataclasses

    monkeypatch.setitem(IMPORT_KINDS, "waybills",
                        dataclasses.replace(IMPORT_KINDS["waybills"], max_upload_bytes=1024))
    client = signed_in(app, "hz-city")
    r = _upload(client, "waybills", HEADER + GOOD * 20)
    assert r.status_code == 413 and "1024" not in _error(r.text) and "MB" in _error(r.text)
    headers = bearer(client, "hz-city")
    api = client.post("/api/import/waybills?dry_run=true", headers=headers,
                      files={"file": ("w.csv", (HEADER + GOOD * 20).encode(), "text/csv")})
    assert api.status_code == 413 and api.json()["detail"]


def test_a_marketer_gets_no_form_and_a_403(app):
    client = signed_in(app, "zl-marketer")
    page = client.get("/import")
    assert page.status_code == 200 and 'data-testid="upload-form"' not in page.text
    assert _upload(client, "customers", HEADER + GOOD).status_code == 403
    api = client.post("/api/import/customers", headers=bearer(client, "zl-marketer"),
                      files={"file": ("c.csv", b"a,b\n1,2\n", "text/csv")})
    assert api.status_code == 403


def test_another_users_upload_is_not_found(site):
    _, app = site
    mine = signed_in(app, "hz-city")
    token = _token(_upload(mine, "waybills", HEADER + GOOD).text)
    theirs = signed_in(app, "zj-prov")
    assert theirs.get(f"/import/rejects?token={token}&format=csv").status_code == 404
    assert _commit(theirs, token).status_code == 404
    assert theirs.get("/import/rejects?token=../../etc/passwd").status_code == 422
    assert _commit(mine, token).status_code == 200


def test_the_api_twin_dry_runs_and_commits_with_the_fingerprint(site):
    world, app = site
    client = TestClient(app)
    headers = bearer(client, "hz-city")
    body = (HEADER + GOOD + BAD).encode()

    def post(query: str):
        return client.post(f"/api/import/waybills{query}", headers=headers,
                           files={"file": ("w.csv", body, "text/csv")})

    dry = post("?dry_run=true")
    assert dry.status_code == 200, dry.text
    out = dry.json()
    assert (out["total"], out["added"], out["rejected"], out["written"]) == (3, 2, 1, 0)
    assert out["rejects"][0] | {"reason": "…"} == {"row": 4, "column": "产品", "value": "飞机",
                                                   "code": "unknown_product", "reason": "…"}
    assert post("?fingerprint=" + "0" * 32).status_code == 409
    done = post(f"?fingerprint={out['fingerprint']}")
    assert done.status_code == 200 and done.json()["written"] == 2
    assert post("?dry_run=true").json()["unchanged"] == 2  # again: nothing new
    assert client.post("/api/import/rates", headers=headers,
                       files={"file": ("w.csv", body, "text/csv")}).status_code == 422
    not_csv = client.post("/api/import/waybills", headers=headers,
                          files={"file": ("w.pdf", b"%PDF", "application/pdf")})
    assert not_csv.status_code == 400 and "CSV" in not_csv.json()["detail"]


def test_the_page_is_in_the_navigation_and_speaks_english(app):
    client = signed_in(app, "hz-city")
    page = client.get("/import?lang=en")
    assert page.status_code == 200
    assert 'href="/import" aria-current="page"' in page.text
    assert "Check the file (dry run)" in page.text
    assert client.get("/import?kind=rates").status_code == 422
