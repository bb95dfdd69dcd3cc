"""Data uploads (数据导入): one page for every import kind, dry run first, then commit.

``/import`` — choose the kind, upload a CSV or XLSX: the dry run shows what would be added,
changed, left alone and rejected, the first rejects (row, column, value, reason) and the whole
reject report as CSV/XLSX; **Import** then applies exactly that (the file waits on the server
under a random token, :mod:`jiqun.ingest.uploads` says why) or answers 409 with the new counts
when the data changed meanwhile. ``POST /api/import/{kind}`` is the twin for scripts: a dry run,
or a commit that may carry the dry run's fingerprint.

Everything is :mod:`jiqun.ingest.uploads` (the service); the routes parse, call and render.
Every write declares ``data.import``; the service asks it again, with the kind's own action,
and imports in the user's subtree (rows outside it are rejects with a reason).
"""

from __future__ import annotations

import csv
import enum
import io
import threading
from pathlib import Path
from typing import Annotated, Literal

import xlsxwriter
from fastapi import APIRouter, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, Field

from jiqun.ingest import uploads
from jiqun.ingest.kinds import IMPORT_KINDS, MIB
from jiqun.ingest.report import ImportChanged, ImportFileError, reason_text
from jiqun.permissions import Action
from jiqun.web.deps import Context, RequestContext, allow
from jiqun.web.tables import Column, DownloadRequest, download_response
from jiqun.web.templating import render

router = APIRouter()

# The kinds of the registry, as a path/query type: an unknown kind is a 422 before any code runs.
KindName = enum.Enum("KindName", {name: name for name in IMPORT_KINDS}, type=str)
FileFormat = Literal["csv", "xlsx"]
TokenQuery = Annotated[str, Query(min_length=43, max_length=43, pattern=r"^[A-Za-z0-9_-]{43}$",
                                  description="The upload's token.")]
REJECT_COLUMNS = (Column("row", "row", "int"), Column("column", "column"),
                  Column("value", "value"), Column("reason", "reason"))
_SHELF_LOCK = threading.Lock()
GONE = ("This upload is no longer here (kept for an hour, imported already, or someone "
        "else's): upload the file again")


def upload_shelf(request: Request) -> uploads.UploadShelf:
    """The app's shelf of uploads: ``<lake>/../uploads``, beside the lake (never inside it,
    where it would count as data), shared by every process of the installation."""
    state = request.app.state
    with _SHELF_LOCK:
        shelf = getattr(state, "upload_shelf", None)
        if shelf is None:
            shelf = uploads.UploadShelf(Path(state.settings.lake_path).resolve().parent
                                        / "uploads")
            state.upload_shelf = shelf
    return shelf


# -- the page -----------------------------------------------------------------------------------
def _kinds(ctx: RequestContext) -> list[dict]:
    """What the page lists of each kind: name, columns, limits, whether the user may."""
    return [{"name": k.name, "label": k.label, "help": k.help, "columns": k.format.columns,
             "one_of": k.format.one_of, "max_mib": k.max_upload_bytes // MIB,
             "max_rows": k.max_upload_rows, "may": ctx.user.may(k.action)}
            for k in IMPORT_KINDS.values()]


def _page(request: Request, ctx: RequestContext, *, kind: str | None,
          outcome: uploads.UploadOutcome | None = None, error: str | None = None,
          status_code: int = 200, changed: bool = False):
    t = ctx.t
    rejects = [(row, column, value, reason_text(reason, ctx.locale))
               for row, column, value, reason in (outcome.rejects if outcome else [])]
    reasons = sorted(((reason_text(code, ctx.locale), n)
                      for code, n in (outcome.reasons if outcome else {}).items()),
                     key=lambda item: -item[1])
    chosen = kind if kind in IMPORT_KINDS else (outcome.kind if outcome else "waybills")
    return render(request, "upload.html", {
        "kinds": _kinds(ctx), "chosen": chosen, "outcome": outcome, "error": error,
        "rejects": rejects, "reasons": reasons, "changed": changed,
        "kind_label": t(IMPORT_KINDS[outcome.kind].label) if outcome else "",
    }, status_code=status_code)


@router.get("/import", include_in_schema=False)
def import_page(request: Request, ctx: Context, kind: KindName | None = None):
    return _page(request, ctx, kind=kind.value if kind else None)


@router.post("/import", include_in_schema=False, dependencies=[allow(Action.DATA_IMPORT)])
def import_check(request: Request, ctx: Context,
                 kind: Annotated[str, Form(max_length=40)] = "",
                 file: Annotated[UploadFile | None, File()] = None):
    """The dry run of an upload: nothing is written; the file waits for **Import**."""
    try:
        if file is None or not file.filename:
            raise ImportFileError("choose a file to upload")
        outcome = uploads.check_upload(upload_shelf(request), file.file, file.filename, kind,
                                       ctx.store, ctx.lake, actor=ctx.user.actor,
                                       scope=ctx.scope, locale=ctx.locale)
    except ImportFileError as exc:
        status = 413 if isinstance(exc, uploads.UploadTooLarge) else 400
        return _page(request, ctx, kind=kind, error=exc.message(ctx.locale), status_code=status)
    return _page(request, ctx, kind=outcome.kind, outcome=outcome)


@router.post("/import/commit", include_in_schema=False,
             dependencies=[allow(Action.DATA_IMPORT)])
def import_commit(request: Request, ctx: Context,
                  token: Annotated[str, Form(max_length=64)] = ""):
    """Apply the shelved upload as its dry run showed (409 and the new dry run if it changed)."""
    try:
        outcome = uploads.commit_upload(upload_shelf(request), token, ctx.store, ctx.lake,
                                        actor=ctx.user.actor, scope=ctx.scope,
                                        locale=ctx.locale)
    except uploads.UploadGone:
        return _page(request, ctx, kind=None, error=ctx.t(GONE), status_code=404)
    except ImportChanged as exc:
        return _page(request, ctx, kind=None, outcome=exc.outcome,
                     error=exc.translated(ctx.t), status_code=409, changed=True)
    except ImportFileError as exc:
        return _page(request, ctx, kind=None, error=exc.message(ctx.locale), status_code=400)
    return _page(request, ctx, kind=outcome.kind, outcome=outcome)


@router.get("/import/rejects", include_in_schema=False)
def import_rejects(request: Request, ctx: Context, token: TokenQuery,
                   format: FileFormat = "csv"):  # noqa: A002 — the query parameter's name
    """The whole reject report of one's own upload, in the reader's language."""
    try:
        shelved = upload_shelf(request).get(token, ctx.user.id)
    except uploads.UploadGone:
        raise HTTPException(404, ctx.t(GONE)) from None
    rows = ({"row": row, "column": column, "value": value,
             "reason": reason_text(reason, ctx.locale)}
            for row, column, value, reason in shelved.reject_lines())
    return download_response(rows, REJECT_COLUMNS, f"rejects-{shelved.kind.name}",
                             DownloadRequest(format), ctx.locale)


@router.get("/import/template", include_in_schema=False)
def import_template(ctx: Context, kind: KindName, format: FileFormat = "csv"):  # noqa: A002
    """A kind's empty template: the header row with every column (Chinese headers; English
    names are accepted too, ``docs/formats.md``). No example row: imported by mistake, it
    would be data."""
    header = uploads.template_header(kind.value)
    name = f"{kind.value}-template.{format}"
    if format == "csv":
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\r\n").writerow(header)
        content = ("\ufeff" + buffer.getvalue()).encode("utf-8")  # BOM: Excel reads it as UTF-8
        media = "text/csv; charset=utf-8"
    else:
        content = _xlsx_header(header, kind.value)
        media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return Response(content, media_type=media,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _xlsx_header(header: list[str], sheet: str) -> bytes:
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_formulas": False})
    ws = book.add_worksheet(sheet)
    bold = book.add_format({"bold": True})
    text = book.add_format({"num_format": "@"})  # codes such as 330502 stay text
    for j, cell in enumerate(header):
        ws.write_string(0, j, cell, bold)
        ws.set_column(j, j, max(12, 2 * len(cell) + 4), text)
    ws.freeze_panes(1, 0)
    book.close()
    return buffer.getvalue()


# -- the JSON twin ------------------------------------------------------------------------------
class RejectOut(BaseModel):
    row: int = Field(description="Spreadsheet row number: the header is row 1.")
    column: str = Field(description="The column's header as the file wrote it.")
    value: str | None
    code: str = Field(description="Reason code (docs/formats.md).")
    reason: str = Field(description="The reason in the caller's language.")


class ImportOut(BaseModel):
    """What an upload's dry run would do, or what its import did."""

    kind: str
    file_name: str
    dry_run: bool
    total: int = Field(description="Data rows in the file.")
    added: int = Field(description="Rows inserted (a dry run: that would be).")
    changed: int = Field(description="Rows that update a record (markets, customers).")
    unchanged: int = Field(description="Rows identical to the store, or already in the lake.")
    rejected: int = Field(description="Rows with at least one problem; never applied.")
    written: int = Field(description="Rows inserted or updated (0 on a dry run).")
    reasons: dict[str, int] = Field(description="Reason code → problems.")
    fingerprint: str = Field(description="Of the file and this outcome: send it back with "
                             "dry_run=false to apply exactly this, or nothing (409).")
    reject_count: int = Field(description="Reject lines in all (a row may have several).")
    rejects: list[RejectOut] = Field(description=f"The first {uploads.API_REJECTS} lines.")


class UploadErrorOut(BaseModel):
    detail: str


@router.post("/api/import/{kind}", tags=["import"], response_model=ImportOut,
             dependencies=[allow(Action.DATA_IMPORT)],
             responses={400: {"description": "Not a CSV/XLSX import file of this kind "
                                             "(empty, unreadable, wrong columns, too many rows)"},
                        409: {"description": "The file no longer does what the dry run with "
                                             "this fingerprint showed: nothing applied"},
                        413: {"model": UploadErrorOut,
                              "description": "The file is larger than this kind's limit"}})
def api_import(ctx: Context, kind: KindName, file: Annotated[UploadFile, File()],
               dry_run: bool = False,
               fingerprint: Annotated[str | None, Query(
                   pattern=r"^[0-9a-f]{32}$",
                   description="A dry run's fingerprint: apply only that outcome.")] = None,
               ) -> ImportOut:
    """Import a CSV/XLSX file of ``kind`` (multipart field ``file``) in the caller's subtree:
    ``dry_run=true`` counts what would be added, changed, left alone and rejected and writes
    nothing; otherwise the good rows are applied at once (with ``fingerprint``: only if the
    outcome is still the dry run's). Rejects carry the row, column, value and reason."""
    try:
        outcome = uploads.import_upload(file.file, file.filename, kind.value, ctx.store,
                                        ctx.lake, actor=ctx.user.actor, scope=ctx.scope,
                                        locale=ctx.locale, dry_run=dry_run, expect=fingerprint)
    except ImportFileError as exc:
        status = 413 if isinstance(exc, uploads.UploadTooLarge) else 400
        raise HTTPException(status, exc.message(ctx.locale)) from None
    return ImportOut(
        kind=outcome.kind, file_name=outcome.file_name, dry_run=outcome.dry_run,
        total=outcome.total, added=outcome.added, changed=outcome.changed,
        unchanged=outcome.unchanged, rejected=outcome.rejected, written=outcome.written,
        reasons=outcome.reasons, fingerprint=outcome.fingerprint,
        reject_count=outcome.reject_count,
        rejects=[RejectOut(row=row, column=column, value=value, code=reason,
                           reason=reason_text(reason, ctx.locale))
                 for row, column, value, reason in outcome.rejects])
