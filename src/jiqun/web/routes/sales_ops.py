"""Field-sales operations (客户开发运营): the bulk archive and its duplicate review, campaigns
and their effect, and the in-app inbox of reminders — pages with their JSON twins under /api.

Every read and write goes through the request's scoped session (``ctx.db``): a pair, campaign or
notification outside the user's subtree is 404, and every change is audited (``web`` / ``api``).
Who may do what is asked of :mod:`jiqun.permissions` by the services; every write route also
declares its action (``allow``) so a refused user gets 403 before the request is read, and the
pages hide what the user may not do (``user.may``).
"""

from __future__ import annotations

import csv
import datetime as dt
import enum
import tempfile
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field
from sqlalchemy import select

from jiqun.bounds import MAX_ID
from jiqun.ingest.report import ImportFileError, reason_text
from jiqun.kpi import overview
from jiqun.permissions import Action
from jiqun.sales import archive as archive_mod
from jiqun.sales import campaigns as campaign_mod
from jiqun.sales import reminders as reminder_mod
from jiqun.store.models import CustomerTier, Grid, LifecycleStage, Market
from jiqun.web import labels
from jiqun.web.deps import Context, RequestContext, allow
from jiqun.web.params import IdPath
from jiqun.web.tables import Column, Download, download_response
from jiqun.web.templating import render

router = APIRouter()

UPLOAD_SUFFIXES = {".csv", ".txt", ".xlsx", ".xls", ".xlsm", ".ods"}
MAX_UPLOAD = 20 * 1024 * 1024


def unread_count(ctx: RequestContext) -> int:
    """Unread inbox notifications of the signed-in user (the header's bell)."""
    return reminder_mod.unread_count(ctx.db, ctx.user.id)


# -- bulk archive (批量建档) ---------------------------------------------------------------------
def _run_archive(ctx: RequestContext, upload: UploadFile, dry_run: bool
                 ) -> tuple[archive_mod.ArchiveReport, list[list[str]]]:
    """Save the upload to a temporary file, archive it, read back the reject lines."""
    suffix = Path(upload.filename or "").suffix.lower()
    if suffix not in UPLOAD_SUFFIXES:
        raise ImportFileError("upload a CSV or XLSX file")
    data = upload.file.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        raise ImportFileError("the file is larger than 20 MB")
    with tempfile.TemporaryDirectory(prefix="jiqun-archive-web-") as work:
        path = Path(work) / ("upload" + suffix)
        path.write_bytes(data)
        report = archive_mod.archive_file(ctx.db, path, dry_run=dry_run, locale=ctx.locale,
                                          source_name=upload.filename)
        report.path = Path(upload.filename or path.name)
        rejects = []
        if report.rejects_path:
            with open(report.rejects_path, encoding="utf-8-sig", newline="") as fh:
                rejects = list(csv.reader(fh))[1:]
            report.rejects_path = None  # a temporary file: the lines travel in the answer
    return report, rejects


@router.get("/archive/template.csv", include_in_schema=False)
def archive_template(ctx: Context):
    """The archive file's headers (Chinese) and one example row, UTF-8 with BOM for Excel."""
    import io

    from fastapi.responses import Response

    columns = [c for c in archive_mod.ARCHIVE_FORMAT.columns if c.name != "code"]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([c.zh for c in columns])
    writer.writerow([c.example for c in columns])
    return Response("\ufeff" + buffer.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": "attachment; filename=archive.csv"})


@router.get("/archive", include_in_schema=False)
def archive_page(request: Request, ctx: Context):
    return render(request, "archive.html", {"report": None, "rejects": [], "error": None,
                                            "open_pairs": archive_mod.open_pair_count(ctx.db),
                                            "match_labels": archive_mod.MATCH_LABELS,
                                            "reason_labels": archive_mod.REASON_LABELS})


@router.post("/archive", include_in_schema=False,
             dependencies=[allow(Action.CUSTOMER_ARCHIVE)])
def archive_upload(request: Request, ctx: Context, file: Annotated[UploadFile, File()],
                   dry_run: Annotated[str | None, Form()] = None):
    error, report, rejects = None, None, []
    try:
        report, rejects = _run_archive(ctx, file, bool(dry_run))
    except ImportFileError as exc:
        error = exc.message(ctx.locale)
    return render(request, "archive.html", {
        "report": report, "rejects": rejects[:200], "reject_count": len(rejects), "error": error,
        "open_pairs": archive_mod.open_pair_count(ctx.db),
        "match_labels": archive_mod.MATCH_LABELS, "reason_labels": archive_mod.REASON_LABELS,
        "filled": {e.row: ("、" if ctx.locale == "zh-CN" else ", ").join(dict.fromkeys(archive_mod.field_label(f, ctx.locale)
                                                 for f in e.filled))
                   for e in (report.exact if report else [])},
    }, status_code=400 if error else 200)


@router.post("/api/archive", tags=["sales"], dependencies=[allow(Action.CUSTOMER_ARCHIVE)],
             responses={400: {"description": "The file could not be read"},
                        403: {"description": "The role may not archive merchants"}})
def api_archive(ctx: Context, file: Annotated[UploadFile, File()], dry_run: bool = False) -> dict:
    """Archive merchants from an uploaded CSV/XLSX (multipart field ``file``): the summary,
    the exact duplicates merged or skipped, the likely pairs for review and the reject lines
    (row, column, value, reason in the caller's language)."""
    try:
        report, rejects = _run_archive(ctx, file, dry_run)
    except ImportFileError as exc:
        raise HTTPException(400, exc.message(ctx.locale)) from None
    out = report.as_dict()
    out["rejects"] = [dict(zip(("row", "column", "value", "reason"), r, strict=False))
                      for r in rejects]
    out["reasons"] = {reason_text(k, ctx.locale): v for k, v in report.reasons.items()}
    return out


class PairStatus(str, enum.Enum):
    """Which pairs to list (an unknown value is a 422, not a server error)."""

    OPEN = "open"
    MERGED = "merged"
    KEPT = "kept"
    ALL = "all"


@router.get("/archive/review", include_in_schema=False)
def review_page(request: Request, ctx: Context, done: str | None = None,
                status: str = "open"):
    status = status if status in ("open", "merged", "kept") else "open"  # a link's leftovers
    return render(request, "archive_review.html", {
        "pairs": archive_mod.pairs(ctx.db, status), "status": status, "done": done,
        "may_decide": ctx.user.may(Action.DUPLICATE_DECIDE),
        "reason_labels": archive_mod.REASON_LABELS,
    })


def _decide(ctx: RequestContext, pair_id: int, merge: bool) -> archive_mod.DuplicateCandidate:
    """Merge or keep through the service: it refuses a role that may not (403), a pair
    outside the scope (404), one decided already or a merchant that has shipped (409)."""
    pair = (archive_mod.merge_pair if merge else archive_mod.keep_pair)(
        ctx.db, pair_id, ctx.user.id)
    ctx.db.commit()
    return pair


DECIDED = {409: {"description": "Decided already, or the merchant has shipped: keep both"},
           403: {"description": "The role may not decide duplicates"},
           404: {"description": "No such open pair in the caller's scope"}}


@router.post("/archive/review/{pair_id}/merge", include_in_schema=False,
             dependencies=[allow(Action.DUPLICATE_DECIDE)])
def merge_page(ctx: Context, pair_id: IdPath):
    pair = _decide(ctx, pair_id, merge=True)
    return RedirectResponse(f"/archive/review?done=merged-{pair.id}", status_code=303)


@router.post("/archive/review/{pair_id}/keep", include_in_schema=False,
             dependencies=[allow(Action.DUPLICATE_DECIDE)])
def keep_page(ctx: Context, pair_id: IdPath):
    pair = _decide(ctx, pair_id, merge=False)
    return RedirectResponse(f"/archive/review?done=kept-{pair.id}", status_code=303)


@router.get("/api/archive/duplicates", tags=["sales"])
def api_duplicates(ctx: Context, status: PairStatus = PairStatus.OPEN) -> list[dict]:
    """Likely duplicate pairs in scope (``open``, ``merged``, ``kept`` or ``all``)."""
    from dataclasses import asdict

    rows = archive_mod.pairs(ctx.db, None if status is PairStatus.ALL else status.value)
    return [asdict(r) for r in rows]


@router.post("/api/archive/duplicates/{pair_id}/{decision}", tags=["sales"],
             dependencies=[allow(Action.DUPLICATE_DECIDE)], responses=DECIDED)
def api_decide(ctx: Context, pair_id: IdPath, decision: Literal["merge", "keep"]) -> dict:
    """Decide a pair: ``merge`` (fold the newer record into the older) or ``keep`` (both)."""
    pair = _decide(ctx, pair_id, merge=decision == "merge")
    return {"id": pair.id, "status": pair.status.value, "customer_id": pair.customer_id,
            "other_code": pair.other_code}


# -- campaigns (营销活动) ------------------------------------------------------------------------
CampaignIn = campaign_mod.CampaignIn  # the service's own input model: the same checks everywhere


def _choices(ctx: RequestContext) -> dict:
    return {
        "markets": list(ctx.db.execute(select(Market.code, Market.name).order_by(Market.code))),
        "grids": list(ctx.db.execute(select(Grid.code, Grid.name).order_by(Grid.code))),
        "stages": [s.value for s in LifecycleStage],
        "tiers": [t.value for t in CustomerTier],
        "platforms": {k: labels.PLATFORMS[k] for k in ("taobao", "pdd", "live")},
    }


def _campaign_form(form) -> tuple[dict, campaign_mod.TargetFilters, list[str] | None]:
    def text(name: str) -> str:
        value = form.get(name)
        return value.strip() if isinstance(value, str) else ""

    values = {k: text(k) for k in ("name", "starts_on", "ends_on", "description", "codes",
                                   "target_by")}
    filters = campaign_mod.TargetFilters(**{
        k: [v for v in form.getlist(k) if isinstance(v, str) and v]
        for k in campaign_mod.FILTER_KEYS})
    codes = campaign_mod.codes_from_text(values["codes"]) if values["target_by"] == "codes" \
        else None
    return values, filters, codes


def _dates(values: dict) -> tuple[dt.date | str, dt.date | str]:
    """The form's dates; text that is no date goes to the service, which names the field."""
    out = []
    for name in ("starts_on", "ends_on"):
        try:
            out.append(dt.date.fromisoformat(values[name]))
        except ValueError:
            out.append(values[name])
    return out[0], out[1]


def _error_text(ctx: RequestContext, exc: campaign_mod.CampaignError) -> str:
    separator = "；" if ctx.locale == "zh-CN" else "; "  # Chinese sentences take full-width
    return separator.join(dict.fromkeys(exc.translated(ctx.t).values()))


CAMPAIGN_COLUMNS = (
    Column("name", "Campaign"), Column("starts_on", "Starts", "date"),
    Column("ends_on", "Ends", "date"), Column("targets", "Targets", "int"),
)


@router.get("/campaigns", include_in_schema=False)
def campaigns_page(request: Request, ctx: Context, download: Download):
    if download:
        return download_response(campaign_mod.list_campaigns(ctx.db), CAMPAIGN_COLUMNS,
                                 "campaigns", download, ctx.locale)
    return render(request, "campaigns.html", {
        "campaigns": campaign_mod.list_campaigns(ctx.db), "choices": _choices(ctx),
        "values": {"target_by": "filters"}, "selected": {}, "error": None})


@router.post("/campaigns", include_in_schema=False,
             dependencies=[allow(Action.CAMPAIGN_CREATE)])
async def create_campaign_page(request: Request, ctx: Context):
    values, filters, codes = _campaign_form(await request.form())
    try:
        starts, ends = _dates(values)
        campaign, missing = campaign_mod.create_campaign(
            ctx.db, name=values["name"], starts_on=starts, ends_on=ends,
            org_unit_id=ctx.user.org_unit_id, filters=filters, codes=codes,
            description=values["description"] or None)
    except campaign_mod.CampaignError as exc:
        ctx.db.rollback()
        return render(request, "campaigns.html", {
            "campaigns": campaign_mod.list_campaigns(ctx.db), "choices": _choices(ctx),
            "values": values, "selected": filters.as_dict(),
            "error": _error_text(ctx, exc)}, status_code=422)
    ctx.db.commit()
    suffix = f"?missing={len(missing)}" if missing else ""
    return RedirectResponse(f"/campaigns/{campaign.id}{suffix}", status_code=303)


def _effect(ctx: RequestContext, campaign_id: int) -> campaign_mod.CampaignEffect:
    try:
        return campaign_mod.campaign_effect(
            ctx.db, ctx.con, ctx.lake, ctx.scope, campaign_id,
            overview.data_date(ctx.con, ctx.lake, ctx.scope))
    except campaign_mod.CampaignNotFound:
        raise HTTPException(404, ctx.t("Not found")) from None


Count = Annotated[int, Query(ge=0, le=MAX_ID)]


@router.get("/campaigns/{campaign_id}", include_in_schema=False)
def campaign_page(request: Request, ctx: Context, campaign_id: IdPath, missing: Count = 0,
                  saved: Count = 0):
    return _campaign_view(request, ctx, campaign_id, missing=missing, saved=saved)


def _campaign_view(request: Request, ctx: RequestContext, campaign_id: int, *, missing: int = 0,
                   saved: int = 0, error: str | None = None, status_code: int = 200):
    effect = _effect(ctx, campaign_id)
    campaign = campaign_mod.get_campaign(ctx.db, campaign_id)
    selected = {k: v for k, v in (campaign.filters or {}).items() if k != "upload"}
    return render(request, "campaign.html", {
        "effect": effect, "campaign": campaign, "missing": missing, "saved": saved,
        "choices": _choices(ctx), "selected": selected, "error": error,
        "values": {"name": campaign.name, "starts_on": campaign.starts_on.isoformat(),
                   "ends_on": campaign.ends_on.isoformat(),
                   "description": campaign.description or "",
                   "target_by": "codes" if "upload" in (campaign.filters or {}) else "filters",
                   "version": campaign.version},
    }, status_code=status_code)


def _version(form) -> int | None:
    """The version the editor saw (a hidden field); junk is treated as "unknown"."""
    raw = form.get("version")
    return int(raw) if isinstance(raw, str) and raw.isascii() and raw.isdigit() \
        and len(raw) < 10 else None


@router.post("/campaigns/{campaign_id}", include_in_schema=False,
             dependencies=[allow(Action.CAMPAIGN_CREATE)])
async def edit_campaign_page(request: Request, ctx: Context, campaign_id: IdPath):
    form = await request.form()
    values, filters, codes = _campaign_form(form)
    try:
        starts, ends = _dates(values)
        _, missing = campaign_mod.update_campaign(
            ctx.db, campaign_id, name=values["name"], starts_on=starts, ends_on=ends,
            description=values["description"] or None, filters=filters, codes=codes,
            retarget=bool(form.get("retarget")), version=_version(form))
    except campaign_mod.CampaignError as exc:
        ctx.db.rollback()
        return _campaign_view(request, ctx, campaign_id, error=_error_text(ctx, exc),
                              status_code=422)
    ctx.db.commit()
    return RedirectResponse(f"/campaigns/{campaign_id}?saved=1&missing={len(missing)}",
                            status_code=303)


@router.get("/api/campaigns", tags=["sales"])
def api_campaigns(ctx: Context) -> list[dict]:
    """Campaigns in scope with their target counts."""
    from dataclasses import asdict

    return [asdict(c) for c in campaign_mod.list_campaigns(ctx.db)]


@router.post("/api/campaigns", status_code=201, tags=["sales"],
             dependencies=[allow(Action.CAMPAIGN_CREATE)],
             responses={403: {"description": "The role may not start campaigns"},
                        422: {"description": "Dates outside 2000–2100, an end before the "
                                             "start, or unknown filter values"}})
def api_create_campaign(ctx: Context, body: CampaignIn) -> dict:
    """Create a campaign whose targets match the filters (or are the given codes)."""
    campaign, missing = campaign_mod.create_campaign(
        ctx.db, name=body.name, starts_on=body.starts_on, ends_on=body.ends_on,
        org_unit_id=ctx.user.org_unit_id, filters=body.target_filters(), codes=body.codes,
        description=body.description)
    ctx.db.commit()
    return {"id": campaign.id, "targets": len(campaign_mod.campaign_targets(ctx.db, campaign.id)),
            "missing_codes": missing}


@router.get("/api/campaigns/{campaign_id}", tags=["sales"],
            responses={404: {"description": "No such campaign in the caller's scope"}})
def api_campaign(ctx: Context, campaign_id: IdPath) -> dict:
    """A campaign's measured effect (targets vs before vs control)."""
    return _effect(ctx, campaign_id).as_dict()


# -- inbox (站内提醒) ----------------------------------------------------------------------------
@router.get("/inbox", include_in_schema=False)
def inbox_page(request: Request, ctx: Context, unread: bool = False):
    items = reminder_mod.inbox(ctx.db, ctx.user.id, ctx.t, dt.date.today(), unread_only=unread)
    return render(request, "inbox.html", {"items": items, "unread_only": unread,
                                          "unread": unread_count(ctx)})


def _ids(values) -> list[int]:
    """Ids of a form's checkboxes; anything that is not a plain id is left out (``²`` passes
    ``isdigit`` and fails ``int``)."""
    return [int(v) for v in values if isinstance(v, str) and v.isascii() and v.isdigit()
            and 0 < int(v) <= MAX_ID]


@router.post("/inbox/read", include_in_schema=False, dependencies=[allow(Action.INBOX_READ)])
async def inbox_read_page(request: Request, ctx: Context):
    form = await request.form()
    ids = _ids(form.getlist("id"))
    reminder_mod.mark_read(ctx.db, ctx.user.id, None if form.get("all") else ids)
    ctx.db.commit()
    return RedirectResponse("/inbox", status_code=303)


class InboxOut(BaseModel):
    unread: int
    items: list[dict]


@router.get("/api/inbox", response_model=InboxOut, tags=["sales"])
def api_inbox(ctx: Context, unread: bool = False,
              limit: Annotated[int, Query(ge=1, le=500)] = 200) -> InboxOut:
    """The caller's notifications (unread first) and the unread count."""
    from dataclasses import asdict

    items = reminder_mod.inbox(ctx.db, ctx.user.id, ctx.t, dt.date.today(), unread_only=unread,
                               limit=limit)
    return InboxOut(unread=unread_count(ctx), items=[asdict(i) for i in items])


class ReadIn(BaseModel):
    ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] | None = Field(
        None, max_length=10_000, description="omit to mark every notification read")


@router.post("/api/inbox/read", tags=["sales"], dependencies=[allow(Action.INBOX_READ)])
def api_inbox_read(ctx: Context, body: ReadIn) -> dict:
    """Mark notifications read; returns how many and the unread count left."""
    marked = reminder_mod.mark_read(ctx.db, ctx.user.id, body.ids)
    ctx.db.commit()
    return {"marked": marked, "unread": unread_count(ctx)}
