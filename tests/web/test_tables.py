"""The shared paged tables and downloads (jiqun.web.tables): page bounds, the last page for a
page past the end, CSV with BOM and localised headers, XLSX read back as the same rows, and
formula-looking text that stays text."""

from __future__ import annotations

import csv
import datetime as dt
import io

import openpyxl
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from jiqun.web.tables import (
    BOM,
    Column,
    Download,
    DownloadRequest,
    PageRequest,
    Paging,
    download_response,
    paginate,
    paginate_counted,
    paging,
    table_csv,
    table_xlsx,
)

ROWS = [{"code": f"C{i:03d}", "name": f"客户{i}", "parcels": i * 10, "share": i / 100,
         "day": dt.date(2026, 11, i % 28 + 1)} for i in range(1, 124)]
COLUMNS = (Column("code", "Code"), Column("name", "Name"), Column("parcels", "Parcels", "int"),
           Column("share", "Share", "pct"), Column("day", "Date", "date"))


def test_paginate_cuts_the_asked_page_and_counts_the_pages():
    paged = paginate(ROWS, PageRequest(page=2, per_page=50))
    assert [r["code"] for r in paged.items] == [f"C{i:03d}" for i in range(51, 101)]
    assert (paged.total, paged.pages, paged.page, paged.first, paged.last) == (123, 3, 2, 51, 100)


def test_a_page_past_the_end_is_the_last_page():
    paged = paginate(ROWS, PageRequest(page=99, per_page=50))
    assert paged.page == 3
    assert [r["code"] for r in paged.items] == [f"C{i:03d}" for i in range(101, 124)]


def test_an_empty_list_is_one_empty_page():
    paged = paginate([], PageRequest(page=5))
    assert (paged.items, paged.page, paged.pages, paged.first, paged.last) == ([], 1, 1, 0, 0)


def test_page_links_show_the_ends_and_the_neighbourhood_with_gaps():
    paged = paginate(range(1000), PageRequest(page=6, per_page=50))
    assert paged.links() == [1, None, 4, 5, 6, 7, 8, None, 20]
    assert paginate(range(100), PageRequest(page=1, per_page=50)).links() == [1, 2]


# At module level, as in a routes module: FastAPI resolves the string annotations there.
Short = paging(per_page=10, param="visits_page", size_param="visits_per_page")


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/rows")
    def rows(page: Paging, download: Download):
        if download:
            return download_response(ROWS, COLUMNS, "rows", download, "zh-CN")
        found = paginate(ROWS, page)
        return {"page": found.page, "n": len(found.items), **found.out().model_dump()}

    @app.get("/short")
    def short(page: Short):
        found = paginate(ROWS, page)
        return {"page": found.page, "n": len(found.items), "param": found.param}

    return app


@pytest.fixture(scope="module")
def client():
    return TestClient(_app())


@pytest.mark.parametrize("query", ["page=0", "page=-1", "page=100001", "page=x", "per_page=0",
                                   "per_page=501", "format=pdf", "format=csv&table=Bad-Name"])
def test_out_of_bounds_queries_are_422(client, query):
    assert client.get(f"/rows?{query}").status_code == 422


def test_the_paging_query_defaults_and_answers_where_the_page_sits(client):
    assert client.get("/rows").json() == {"page": 1, "n": 50, "per_page": 50, "total": 123,
                                          "pages": 3}
    assert client.get("/rows?page=7&per_page=100").json()["page"] == 2


def test_a_second_paged_table_has_its_own_parameters(client):
    assert client.get("/short?visits_page=3").json() == {"page": 3, "n": 10,
                                                         "param": "visits_page"}
    assert client.get("/short?page=3").json()["page"] == 1  # not its parameter
    assert client.get("/short?visits_per_page=501").status_code == 422


def test_csv_download_has_a_bom_localised_headers_and_every_row(client):
    response = client.get("/rows?format=csv&page=2")  # the page is ignored: every row
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == 'attachment; filename="rows.csv"'
    assert response.content.startswith(BOM.encode("utf-8"))
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == ["编码", "名称", "件量", "市场占有率", "日期"]
    assert len(rows) == 1 + len(ROWS)
    assert rows[1] == ["C001", "客户1", "10", "0.01", "2026-11-02"]
    assert rows[-1][0] == "C123"


def test_csv_headers_follow_the_locale():
    text = table_csv(ROWS[:1], COLUMNS, "en").decode("utf-8-sig")
    assert text.splitlines()[0] == "Code,Name,Parcels,Share,Date"


def test_xlsx_download_reads_back_as_the_same_rows(client):
    response = client.get("/rows?format=xlsx")
    assert response.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    values = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert values[0] == ["编码", "名称", "件量", "市场占有率", "日期"]
    assert len(values) == 1 + len(ROWS)
    for got, row in zip(values[1:], ROWS, strict=True):
        assert got[:4] == [row["code"], row["name"], row["parcels"], row["share"]]
        assert got[4].date() == row["day"]
    assert sheet.cell(2, 4).number_format == "0.0%"


FORMULAS = ["=cmd|' /C calc'!A0", "+1+1", "@SUM(A1)", "-2+3", "=HYPERLINK(\"http://x\")"]


def test_formula_looking_text_stays_text_in_csv_and_xlsx():
    rows = [{"name": f, "n": -1} for f in FORMULAS]
    columns = (Column("name", "Name"), Column("n", "Parcels", "int"))
    lines = list(csv.reader(io.StringIO(table_csv(rows, columns, "en").decode("utf-8-sig"))))
    assert [line[0] for line in lines[1:]] == ["'" + f for f in FORMULAS]
    assert {line[1] for line in lines[1:]} == {"-1"}  # a number keeps its sign
    sheet = openpyxl.load_workbook(io.BytesIO(table_xlsx(rows, columns, "en"))).active
    cells = [sheet.cell(i, 1) for i in range(2, 2 + len(FORMULAS))]
    assert [c.value for c in cells] == FORMULAS
    assert {c.data_type for c in cells} == {"s"}  # text, not a formula ("f")
    assert sheet.cell(2, 2).value == -1


def test_cells_of_missing_lists_enums_and_computed_values():
    from jiqun.store.models import CustomerTier

    rows = [{"a": None, "b": float("nan"), "c": ["tier", "no_owner"], "d": CustomerTier.FIRST,
             "e": True}]
    columns = (Column("a", "A"), Column("b", "B", "dec"), Column("c", "C"), Column("d", "D"),
               Column("e", "E"), Column("x", "X", value=lambda r: len(r["c"])))
    line = table_csv(rows, columns, "en").decode("utf-8-sig").splitlines()[1]
    assert line == ",,\"tier, no_owner\",first,1,2"
    sheet = openpyxl.load_workbook(io.BytesIO(table_xlsx(rows, columns, "en"))).active
    assert [c.value for c in sheet[2]] == [None, None, "tier, no_owner", "first",
                                           True, 2]


def test_a_file_name_must_be_plain_ascii():
    with pytest.raises(ValueError):
        download_response([], COLUMNS, "../x", DownloadRequest("csv"), "en")


def _render_macros(source: str, **values) -> str:
    from jiqun.i18n import translator
    from jiqun.web.templating import make_templates

    env = make_templates().env
    query = "/tiers?q=x&page=6"

    def url_with(**changes):
        from urllib.parse import parse_qsl, urlencode

        params = dict(parse_qsl(query.split("?")[1]))
        for k, v in changes.items():
            if v is None:
                params.pop(k, None)
            else:
                params[k] = str(v)
        return "/tiers?" + urlencode(params)

    return env.from_string('{% from "_macros.html" import pager, downloads with context %}'
                           + source).render(_=translator("en"), locale="en",
                                            url_with=url_with, **values)


def test_the_pager_macro_links_pages_and_keeps_the_other_parameters():
    html = _render_macros("{{ pager(paged) }}",
                          paged=paginate(range(1000), PageRequest(page=6, per_page=50)))
    assert 'href="/tiers?q=x&amp;page=5"' in html and 'rel="prev"' in html
    assert 'aria-current="page">6<' in html and 'href="/tiers?q=x&amp;page=20"' in html
    assert "Rows 251–300 of 1,000" in html
    assert _render_macros("{{ pager(paged) }}", paged=paginate(range(10), PageRequest())) \
        .strip() == ""  # one page: no pager


def test_the_downloads_macro_links_both_formats_without_the_page():
    html = _render_macros("{{ downloads('competitors') }}")
    assert 'href="/tiers?q=x&amp;format=csv&amp;table=competitors"' in html
    assert 'href="/tiers?q=x&amp;format=xlsx&amp;table=competitors"' in html


def test_paginate_counted_fetches_only_the_shown_page_and_clamps():
    asked = []

    def fetch(offset, limit):
        asked.append((offset, limit))
        return list(range(offset, min(offset + limit, 123)))

    paged = paginate_counted(123, fetch, PageRequest(page=9, per_page=50))
    assert (paged.page, paged.pages, paged.items[0], len(paged.items)) == (3, 3, 100, 23)
    assert asked == [(100, 50)]
    assert paginate_counted(0, fetch, PageRequest(page=2)).items == [] and len(asked) == 1
