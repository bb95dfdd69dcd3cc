"""Paged tables and their downloads (分页与导出): one mechanism for every page that lists rows.

**Paging.** A route takes ``paging: Paging`` (``?page=`` from 1 and ``?per_page=`` up to
:data:`MAX_PER_PAGE`; out of those bounds is a 422) and shows ``paginate(rows, paging)``, a
:class:`Paged` with the page's ``items``, the ``total`` and the number of ``pages``. A page past
the last one (the list shrank since the link was made) shows the **last page**, never an empty
one or an error; ``Paged.page`` says which page is shown. A list read from the database a
page at a time is ``paginate_counted(total, fetch, paging)``. ``paging(per_page=25)`` makes a
query type with another default; ``paging(param="visits_page", size_param="visits_per_page")``
a second paged table on the same page (declare these types at module level). The template's ``pager(paged)`` macro
(``_macros.html``) writes the page links, keeping the other query parameters.

**Download.** The same route takes ``download: Download`` (``?format=csv`` or ``?format=xlsx``,
and ``?table=`` where a page has several tables). When it is set the route answers
``download_response(rows, COLUMNS, "tiers", download, ctx.locale)`` with **every row** — the
same rows it would page, computed in the request's scope with the page's filters — and
localised column headers. CSV is UTF-8 with a BOM (so Excel opens Chinese) and passes text
through :func:`jiqun.cells.spreadsheet_safe`; XLSX (XlsxWriter) writes text as text cells,
never formulas or links. Cells hold the full number (no ``¥``, no rounding); the column's kind
gives XLSX its number format. The ``downloads()`` macro writes the two links. Downloads live on
the page's URL rather than on ``/api``: the JSON twin stays one documented schema, and the file
is exactly what the page lists. Usage::

    TIER_COLUMNS = (Column("code", "Code"), Column("name", "Name"),
                    Column("daily_parcels", "Parcels a day", "dec"),
                    Column("issues", "Issues", value=lambda r: " ".join(r.issues)))

    @router.get("/tiers", include_in_schema=False)
    def tiers_page(request: Request, ctx: Context, paging: Paging, download: Download):
        rows = tier_rows(ctx)                       # every row, scoped and filtered
        if download:
            return download_response(rows, TIER_COLUMNS, "tiers", download, ctx.locale)
        return render(request, "tiers.html", {"paged": paginate(rows, paging)})

    {# tiers.html #}
    {% from "_macros.html" import pager, downloads with context %}
    {{ downloads() }} <table>{% for r in paged.items %}…{% endfor %}</table> {{ pager(paged) }}
"""

from __future__ import annotations

import csv
import datetime as dt
import enum
import inspect
import io
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, Literal, TypeVar

import xlsxwriter
from fastapi import Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from jiqun.bounds import MAX_PAGE
from jiqun.cells import spreadsheet_safe
from jiqun.i18n import translator

T = TypeVar("T")

DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 500
PAGE_LINKS_AROUND = 2  # page links shown either side of the current page

CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MEDIA_TYPES = {"csv": CSV_TYPE, "xlsx": XLSX_TYPE}
BOM = "\ufeff"
_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")

Kind = Literal["text", "int", "dec", "money", "pct", "date"]
XLSX_FORMATS: dict[str, str] = {
    "int": "#,##0", "dec": "#,##0.0", "money": "#,##0.00", "pct": "0.0%", "date": "yyyy-mm-dd",
}


# -- paging -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PageRequest:
    """The page a request asks for; ``param`` and ``size_param`` name its query parameters."""

    page: int = 1
    per_page: int = DEFAULT_PER_PAGE
    param: str = "page"
    size_param: str = "per_page"


@dataclass(frozen=True)
class Paged(Generic[T]):
    """One page of rows: ``items`` and where they sit in the whole list."""

    items: list[T]
    total: int
    page: int
    per_page: int
    param: str = "page"
    size_param: str = "per_page"
    capped: bool = False  # more rows than ``total`` match: the count stopped at a cap

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def first(self) -> int:
        """The position of the first item shown, from 1 (0 when there is none)."""
        return (self.page - 1) * self.per_page + 1 if self.items else 0

    @property
    def last(self) -> int:
        return (self.page - 1) * self.per_page + len(self.items)

    def links(self) -> list[int | None]:
        """Page numbers to link: the first, the last and a few around this one; ``None`` is
        a gap (``1 … 4 5 [6] 7 8 … 20``)."""
        near = range(max(1, self.page - PAGE_LINKS_AROUND),
                     min(self.pages, self.page + PAGE_LINKS_AROUND) + 1)
        shown = sorted({1, self.pages, *near})
        out: list[int | None] = []
        for n in shown:
            if out and n - out[-1] > 1:
                out.append(None)
            out.append(n)
        return out

    def out(self) -> PageOut:
        """Where the page sits, for a JSON answer."""
        return PageOut(page=self.page, per_page=self.per_page, total=self.total,
                       pages=self.pages)


class PageOut(BaseModel):
    page: int = Field(description="The page shown (the last one when a later one was asked).")
    per_page: int
    total: int = Field(description="Rows in the whole list.")
    pages: int


def paginate(rows: Sequence[T] | Iterable[T], request: PageRequest) -> Paged[T]:
    """The page ``request`` asks for of ``rows`` (already in their order); a page past the end
    is the last page."""
    rows = rows if isinstance(rows, Sequence) else list(rows)
    total = len(rows)
    pages = max(1, math.ceil(total / request.per_page))
    page = min(request.page, pages)
    start = (page - 1) * request.per_page
    return Paged(list(rows[start:start + request.per_page]), total, page, request.per_page,
                 request.param, request.size_param)


def paginate_counted(total: int, fetch: Callable[[int, int], Sequence[T]],
                     request: PageRequest, capped: bool = False) -> Paged[T]:
    """A page of a list too long to load whole (a database query): ``total`` rows (``capped``:
    more, of which the pages offer ``total``), of which ``fetch(offset, limit)`` reads one page;
    a page past the end is the last page."""
    pages = max(1, math.ceil(total / request.per_page))
    page = min(request.page, pages)
    items = list(fetch((page - 1) * request.per_page, request.per_page)) if total else []
    return Paged(items, total, page, request.per_page, request.param, request.size_param, capped)


def paging(per_page: int = DEFAULT_PER_PAGE, param: str = "page",
           size_param: str = "per_page") -> Any:
    """A bounded ``page``/``per_page`` query type (a FastAPI dependency) with these names and
    this default page size."""

    def page_request(page: int = 1, size: int = per_page) -> PageRequest:
        return PageRequest(page, size, param, size_param)

    # The names are chosen by the caller, so the signature FastAPI reads is built here (string
    # annotations of a closure could not be resolved).
    page_request.__signature__ = inspect.Signature([
        inspect.Parameter("page", inspect.Parameter.KEYWORD_ONLY, default=1, annotation=Annotated[
            int, Query(alias=param, ge=1, le=MAX_PAGE, description="Page number, from 1.")]),
        inspect.Parameter("size", inspect.Parameter.KEYWORD_ONLY, default=per_page,
                          annotation=Annotated[int, Query(alias=size_param, ge=1,
                                                          le=MAX_PER_PAGE,
                                                          description="Rows a page.")]),
    ], return_annotation=PageRequest)
    return Annotated[PageRequest, Depends(page_request)]


Paging = paging()


# -- download -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Column:
    """A column of a downloaded table: the row's attribute or key ``key`` (or ``value(row)``),
    an English header (a msgid, translated in the reader's locale) and the kind of its cells."""

    key: str
    header: str
    kind: Kind = "text"
    value: Callable[[Any], Any] | None = None

    def of(self, row: Any) -> Any:
        if self.value is not None:
            return self.value(row)
        return row[self.key] if isinstance(row, Mapping) else getattr(row, self.key)


@dataclass(frozen=True)
class DownloadRequest:
    format: Literal["csv", "xlsx"]
    table: str | None = None


TableName = Annotated[str | None, Query(pattern=r"^[a-z][a-z0-9_]{0,39}$", max_length=40,
                                        description="Which table of the page to download.")]


def _download_request(
    fmt: Annotated[Literal["csv", "xlsx"] | None,
                   Query(alias="format", description="Download the table as a file.")] = None,
    table: TableName = None,
) -> DownloadRequest | None:
    return DownloadRequest(fmt, table) if fmt else None


Download = Annotated[DownloadRequest | None, Depends(_download_request)]


def _plain(value: Any) -> Any:
    """A cell's value: enums by value, lists joined, NaN and infinities empty."""
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, (list, tuple, set, frozenset)):
        return ", ".join(str(_plain(v)) for v in value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _headers(columns: Sequence[Column], locale: str) -> list[str]:
    t = translator(locale)
    return [t(c.header) for c in columns]


def table_csv(rows: Iterable[Any], columns: Sequence[Column], locale: str) -> bytes:
    """``rows`` as CSV, UTF-8 with a BOM, headers in ``locale``; text never runs as a formula."""
    out = io.StringIO()
    out.write(BOM)
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(_headers(columns, locale))
    for row in rows:
        cells = []
        for column in columns:
            value = _plain(column.of(row))
            if value is None:
                cells.append("")
            elif isinstance(value, bool):
                cells.append(int(value))
            elif isinstance(value, (dt.date, dt.datetime)):
                cells.append(value.isoformat())
            else:
                cells.append(spreadsheet_safe(value))
        writer.writerow(cells)
    return out.getvalue().encode("utf-8")


def table_xlsx(rows: Iterable[Any], columns: Sequence[Column], locale: str,
               sheet: str = "Sheet1") -> bytes:
    """``rows`` as one XLSX sheet: bold frozen headers in ``locale``, numbers as numbers with
    the column's format, text as text cells (never a formula or a link)."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {
        "in_memory": True, "strings_to_formulas": False, "strings_to_urls": False,
        "strings_to_numbers": False, "remove_timezone": True})
    ws = book.add_worksheet(sheet[:31])
    bold = book.add_format({"bold": True})
    formats = {kind: book.add_format({"num_format": f}) for kind, f in XLSX_FORMATS.items()}
    headers = _headers(columns, locale)
    for j, header in enumerate(headers):
        ws.write_string(0, j, header, bold)
        ws.set_column(j, j, max(10, min(40, 2 * len(header) + 2)))
    count = 0
    for i, row in enumerate(rows, start=1):
        count = i
        for j, column in enumerate(columns):
            _write_cell(ws, i, j, _plain(column.of(row)), formats.get(column.kind))
    ws.freeze_panes(1, 0)
    ws.autofilter(0, 0, count, max(0, len(columns) - 1))
    book.close()
    return buffer.getvalue()


def _write_cell(ws, i: int, j: int, value: Any, fmt) -> None:
    if value is None:
        return
    if isinstance(value, bool):
        ws.write_boolean(i, j, value)
    elif isinstance(value, (int, float)):
        ws.write_number(i, j, value, fmt)
    elif isinstance(value, (dt.date, dt.datetime)):
        ws.write_datetime(i, j, value, fmt)
    else:
        ws.write_string(i, j, str(value))


def download_response(rows: Iterable[Any], columns: Sequence[Column], name: str,
                      request: DownloadRequest, locale: str) -> Response:
    """Every one of ``rows`` as the file ``request`` asks for, named ``<name>.<format>``
    (``name``: ASCII letters, digits, ``.``, ``_``, ``-``)."""
    if not _FILE_NAME.match(name):
        raise ValueError(f"not a file name: {name!r}")
    if request.format == "csv":
        content = table_csv(rows, columns, locale)
    else:
        content = table_xlsx(rows, columns, locale, sheet=name)
    return Response(content, media_type=MEDIA_TYPES[request.format], headers={
        "Content-Disposition": f'attachment; filename="{name}.{request.format}"'})
