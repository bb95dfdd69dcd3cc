"""The proactive service queue (主动客服): the queue of the user's scope, one case with its
parcels, log and work forms, the parcel exceptions — pages with their JSON twins under /api.

Reads go through the request's scoped session (a case outside the scope is 404); every write
declares its action (``case.work``, ``case.assign``) and carries the version of the case the
user saw, so a stale form is answered 409 with the case as it is now.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field

from jiqun.bounds import MAX_ID
from jiqun.errors import Conflict, Invalid
from jiqun.permissions import Action
from jiqun.service import cases as cs
from jiqun.service import messages
from jiqun.service.reasons import REASON_LABELS, RESPONSIBILITY_LABELS
from jiqun.store.models import ExceptionKind, OrgLevel
from jiqun.web.computed import Reads, computed
from jiqun.web.deps import Context, RequestContext, allow
from jiqun.web.params import IdPath
from jiqun.web.schemas import model_of
from jiqun.web.tables import Column, Download, PageOut, Paging, download_response, paginate
from jiqun.web.templating import render

router = APIRouter()

# Labels the pages translate (English msgids; tests/test_catalogs.py reads tables named *LABELS).
CASE_STATUS_LABELS = {"open": "Open", "waiting": "Waiting on others", "resolved": "Resolved"}
STATUS_FILTER_LABELS = {"active": "Not resolved", "open": "Open", "waiting": "Waiting on others",
                        "resolved": "Resolved", "all": "All"}
CASE_KIND_LABELS = {
    "stalled": "Stalled beyond its usual time", "late": "Late against the promise",
    "missing_scan": "An expected scan is missing", "failed_delivery": "Delivery failed",
    "returned": "Returned", "locker_uncollected": "Not collected from the locker",
    "lost": "Lost",
}
EVENT_LABELS = {"open": "Case opened", "contact": "Contacted the merchant", "note": "Note",
                "wait": "Waiting on others", "resume": "Clock running again",
                "warn": "Deadline warning", "escalate": "Deadline missed, escalated",
                "resolve": "Resolved", "assign": "Given to"}
DEADLINE_LABELS = {cs.RESPONSE: "First response", cs.RESOLUTION: "Resolution"}
CHANNEL_LABELS = {"phone": "Phone", "sms": "SMS", "wechat": "WeChat"}
TEMPLATE_LABELS = {t.code: t.label for t in messages.TEMPLATES}

StatusQuery = Annotated[Literal["active", "open", "waiting", "resolved", "all"],
                        Query(description="Which cases: active (not resolved) by default.")]
KindQuery = Annotated[ExceptionKind | None, Query(description="Only cases of this kind.")]
BreachQuery = Annotated[Literal["yes", "no"] | None,
                        Query(description="yes: only cases that missed a deadline; no: the others.")]
MineQuery = Annotated[bool, Query(description="Only the caller's own cases.")]


def _now() -> dt.datetime:
    return dt.datetime.now().replace(microsecond=0)


def _breach(value: str | None) -> bool | None:
    return None if value is None else value == "yes"


# -- schemas of the API -------------------------------------------------------------------------
CaseOut = model_of(cs.CaseRow, "CaseOut",
                   "A case of the service queue; ``hours_left``: working hours to the next "
                   "deadline (negative: overdue by so many).")
ExceptionOut = model_of(cs.ExceptionRow, "ServiceExceptionOut",
                        "A parcel exception (jiqun.service.exceptions) and its case.")
EventOut = model_of(cs.EventRow, "CaseEventOut", "One entry of a case's log.")
CitySummaryOut = model_of(cs.CitySummary, "CitySummaryOut",
                          "The queue of one city: open cases, ageing, breach rate.")


class CasesPageOut(BaseModel):
    page: PageOut
    items: list[CaseOut]


class ExceptionsPageOut(BaseModel):
    page: PageOut
    items: list[ExceptionOut]


class OwnerOut(BaseModel):
    id: int
    name: str


class CaseDetailOut(BaseModel):
    case: CaseOut
    exceptions: list[ExceptionOut]
    events: list[EventOut]
    messages: dict[str, str] = Field(description="Template code → the message, facts filled in.")
    default_template: str
    owners: list[OwnerOut] = Field(description="Whom the caller may give the case to.")


Version = Annotated[int, Field(ge=1, le=MAX_ID, description="The version of the case you saw.")]
Text = Annotated[str, Field(min_length=1, max_length=cs.MAX_MESSAGE)]


class ContactIn(BaseModel):
    channel: Literal["phone", "sms", "wechat"]
    template: Annotated[str | None, Field(max_length=32)] = None
    message: Text
    version: Version


class NoteIn(BaseModel):
    note: Annotated[str | None, Field(max_length=cs.MAX_MESSAGE)] = None
    version: Version


class ResolveIn(BaseModel):
    note: Text
    version: Version


class VersionIn(BaseModel):
    version: Version


class AssignIn(BaseModel):
    owner_id: Annotated[int, Field(ge=1, le=MAX_ID)]
    version: Version


def _out(row: cs.CaseRow) -> CaseOut:
    return CaseOut(**dataclasses.asdict(row))


def _detail_out(d: cs.CaseDetail) -> CaseDetailOut:
    return CaseDetailOut(
        case=_out(d.row), exceptions=[ExceptionOut(**dataclasses.asdict(e)) for e in d.exceptions],
        events=[EventOut(**dataclasses.asdict(e)) for e in d.events], messages=d.messages,
        default_template=d.default_template,
        owners=[OwnerOut(id=i, name=n) for i, n in d.owners])


# -- the queue ----------------------------------------------------------------------------------
CASE_COLUMNS = (
    Column("code", "Case"), Column("status", "Status"), Column("kind", "Kind"),
    Column("customer", "Customer"), Column("city", "City"), Column("owner", "Owner"),
    Column("opened_at", "Opened at"), Column("next_due", "Next deadline"),
    Column("hours_left", "Working hours left", "dec"), Column("breached", "Breached"),
    Column("exceptions", "Exceptions", "int"),
)


# What the queue reads: the cases, their exceptions, customers and owners, the org tree.
QUEUE_READS = Reads(tables=("service_cases", "parcel_exceptions", "customers", "users",
                            "org_units"))


def queue(request: Request, ctx: RequestContext, status: str, kind: ExceptionKind | None,
          breach: str | None, mine: bool) -> list[cs.CaseRow]:
    """The queue as of the current minute (its working hours left and breaches), once per
    minute and version of what it reads (a province's queue holds thousands of cases)."""
    now = _now().replace(second=0)
    value = kind.value if kind else None
    return computed(request, ctx, "case_rows",
                    lambda: cs.case_rows(ctx.db, now, status=status, kind=value,
                                         breach=_breach(breach), mine=mine, me=ctx.user.id),
                    now, status, value, breach, mine, ctx.user.id, reads=QUEUE_READS)


def _counts(request: Request, ctx: RequestContext) -> dict:
    """The queue's tiles (open, breached, one's own) as of the current minute, kept as the
    queue is."""
    now = _now().replace(second=0)
    return computed(request, ctx, "case_counts", lambda: cs.counts(ctx.db, now, me=ctx.user.id),
                    now, ctx.user.id, reads=QUEUE_READS)


@router.get("/service", include_in_schema=False)
def service_page(request: Request, ctx: Context, paging: Paging, download: Download,
                 status: StatusQuery = "active", kind: KindQuery = None,
                 breach: BreachQuery = None, mine: MineQuery = False):
    rows = queue(request, ctx, status, kind, breach, mine)
    if download:
        return download_response(rows, CASE_COLUMNS, "service-cases", download, ctx.locale)
    return render(request, "service.html", {
        "paged": paginate(rows, paging), "status": status, "kind": kind.value if kind else None,
        "breach": breach, "mine": mine, "counts": _counts(request, ctx),
        "status_labels": STATUS_FILTER_LABELS, "kind_labels": CASE_KIND_LABELS,
        "case_status_labels": CASE_STATUS_LABELS})


@router.get("/api/service/cases", response_model=CasesPageOut, tags=["service"])
def api_cases(request: Request, ctx: Context, paging: Paging, status: StatusQuery = "active",
              kind: KindQuery = None, breach: BreachQuery = None,
              mine: MineQuery = False) -> CasesPageOut:
    """The queue of the caller's scope: their own cases first, then the breached, then by the
    deadline that falls first."""
    paged = paginate(queue(request, ctx, status, kind, breach, mine), paging)
    return CasesPageOut(page=paged.out(), items=[_out(r) for r in paged.items])


# -- one case -----------------------------------------------------------------------------------
def _case_view(request: Request, ctx: RequestContext, case_id: int, *, error: str | None = None,
               errors: dict | None = None, status_code: int = 200, template: str | None = None,
               form: dict | None = None):
    detail = cs.case_detail(ctx.db, case_id, _now(), me=ctx.user.id)
    chosen = template if template in messages.BY_CODE else detail.default_template
    return render(request, "service_case.html", {
        "d": detail, "c": detail.row, "chosen": chosen, "error": error, "errors": errors or {},
        "form": form or {}, "done": request.query_params.get("done"),
        "kind_labels": CASE_KIND_LABELS, "case_status_labels": CASE_STATUS_LABELS,
        "event_labels": EVENT_LABELS, "deadline_labels": DEADLINE_LABELS,
        "channel_labels": CHANNEL_LABELS, "template_labels": TEMPLATE_LABELS,
        "reason_labels": REASON_LABELS, "responsibility_labels": RESPONSIBILITY_LABELS,
    }, status_code=status_code)


@router.get("/service/cases/{case_id}", include_in_schema=False)
def case_page(request: Request, ctx: Context, case_id: IdPath,
              template: Annotated[str | None, Query(max_length=32)] = None):
    return _case_view(request, ctx, case_id, template=template)


@router.get("/api/service/cases/{case_id}", response_model=CaseDetailOut, tags=["service"],
            responses={404: {"description": "No such case in the caller's scope"}})
def api_case(ctx: Context, case_id: IdPath) -> CaseDetailOut:
    """One case: its row, exceptions, log, the messages prefilled per template, the owners it
    can be given to."""
    return _detail_out(cs.case_detail(ctx.db, case_id, _now(), me=ctx.user.id))


def _form_version(form) -> int:
    value = form.get("version")
    if isinstance(value, str) and value.isascii() and value.isdigit() and 0 < int(value) <= MAX_ID:
        return int(value)
    raise Invalid({"version": "Reload the case: the form lost its version"})


def _form_id(form, name: str) -> int:
    value = form.get(name)
    if isinstance(value, str) and value.isascii() and value.isdigit() and 0 < int(value) <= MAX_ID:
        return int(value)
    raise Invalid({name: "Choose a colleague who works this case's customers"})


async def _act(request: Request, ctx: RequestContext, case_id: int, done: str, work):
    """Run a case action from a form; on a refusal show the case again with the reason."""
    form = await request.form()
    try:
        work(form, _form_version(form))
        ctx.db.commit()
    except Invalid as err:
        ctx.db.rollback()
        return _case_view(request, ctx, case_id, errors=err.translated(ctx.t), status_code=422,
                          template=form.get("template"), form=dict(form))
    except Conflict as err:
        ctx.db.rollback()
        return _case_view(request, ctx, case_id, error=err.translated(ctx.t), status_code=409)
    return RedirectResponse(f"/service/cases/{case_id}?done={done}", status_code=303)


def _text(form, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


@router.post("/service/cases/{case_id}/contact", include_in_schema=False,
             dependencies=[allow(Action.CASE_WORK)])
async def contact_page(request: Request, ctx: Context, case_id: IdPath):
    return await _act(request, ctx, case_id, "contact", lambda form, version: cs.log_contact(
        ctx.db, case_id, _text(form, "channel"), _text(form, "template") or None,
        _text(form, "message"), version=version))


@router.post("/service/cases/{case_id}/wait", include_in_schema=False,
             dependencies=[allow(Action.CASE_WORK)])
async def wait_page(request: Request, ctx: Context, case_id: IdPath):
    return await _act(request, ctx, case_id, "wait", lambda form, version: cs.wait(
        ctx.db, case_id, _text(form, "note"), version=version))


@router.post("/service/cases/{case_id}/resume", include_in_schema=False,
             dependencies=[allow(Action.CASE_WORK)])
async def resume_page(request: Request, ctx: Context, case_id: IdPath):
    return await _act(request, ctx, case_id, "resume", lambda form, version: cs.resume(
        ctx.db, case_id, version=version))


@router.post("/service/cases/{case_id}/resolve", include_in_schema=False,
             dependencies=[allow(Action.CASE_WORK)])
async def resolve_page(request: Request, ctx: Context, case_id: IdPath):
    return await _act(request, ctx, case_id, "resolve", lambda form, version: cs.resolve(
        ctx.db, case_id, _text(form, "note"), version=version))


@router.post("/service/cases/{case_id}/assign", include_in_schema=False,
             dependencies=[allow(Action.CASE_ASSIGN)])
async def assign_page(request: Request, ctx: Context, case_id: IdPath):
    return await _act(request, ctx, case_id, "assign", lambda form, version: cs.assign(
        ctx.db, case_id, _form_id(form, "owner_id"), version=version))


_CASE_ERRORS = {404: {"description": "No such case in the caller's scope"},
                409: {"description": "The case changed since the caller saw it, or is resolved"},
                422: {"description": "A value the case cannot take"}}


def _answer(ctx: RequestContext, case) -> CaseOut:
    ctx.db.commit()
    [row] = cs.case_rows(ctx.db, _now(), status="all", me=ctx.user.id, case_id=case.id)
    return _out(row)


@router.post("/api/service/cases/{case_id}/contact", response_model=CaseOut, tags=["service"],
             dependencies=[allow(Action.CASE_WORK)], responses=_CASE_ERRORS)
def api_contact(ctx: Context, case_id: IdPath, body: ContactIn) -> CaseOut:
    """Log the proactive contact with the merchant (the first answers the first response)."""
    return _answer(ctx, cs.log_contact(ctx.db, case_id, body.channel, body.template,
                                       body.message, version=body.version))


@router.post("/api/service/cases/{case_id}/wait", response_model=CaseOut, tags=["service"],
             dependencies=[allow(Action.CASE_WORK)], responses=_CASE_ERRORS)
def api_wait(ctx: Context, case_id: IdPath, body: NoteIn) -> CaseOut:
    """Waiting on others: the case's clock stops."""
    return _answer(ctx, cs.wait(ctx.db, case_id, body.note, version=body.version))


@router.post("/api/service/cases/{case_id}/resume", response_model=CaseOut, tags=["service"],
             dependencies=[allow(Action.CASE_WORK)], responses=_CASE_ERRORS)
def api_resume(ctx: Context, case_id: IdPath, body: VersionIn) -> CaseOut:
    """The clock runs again; the deadlines moved by the pause."""
    return _answer(ctx, cs.resume(ctx.db, case_id, version=body.version))


@router.post("/api/service/cases/{case_id}/resolve", response_model=CaseOut, tags=["service"],
             dependencies=[allow(Action.CASE_WORK)], responses=_CASE_ERRORS)
def api_resolve(ctx: Context, case_id: IdPath, body: ResolveIn) -> CaseOut:
    """Close the case with what was done."""
    return _answer(ctx, cs.resolve(ctx.db, case_id, body.note, version=body.version))


@router.post("/api/service/cases/{case_id}/assign", response_model=CaseOut, tags=["service"],
             dependencies=[allow(Action.CASE_ASSIGN)], responses=_CASE_ERRORS)
def api_assign(ctx: Context, case_id: IdPath, body: AssignIn) -> CaseOut:
    """Give the case to another owner (who sees its customers and may work cases)."""
    return _answer(ctx, cs.assign(ctx.db, case_id, body.owner_id, version=body.version))


# -- exceptions ---------------------------------------------------------------------------------
EXCEPTION_COLUMNS = (
    Column("waybill_no", "Waybill"), Column("kind", "Kind"),
    Column("responsibility", "Responsible party"), Column("reason", "Cause"),
    Column("facility", "Facility"), Column("customer", "Customer"),
    Column("detected_at", "Found"), Column("promised_at", "Promised"),
    Column("case_code", "Case"),
)
ClearedQuery = Annotated[bool, Query(description="Also the exceptions whose parcel moved on.")]


# What the exceptions list reads: the exceptions, their customers, facilities and cases.
EXCEPTION_READS = Reads(tables=("parcel_exceptions", "customers", "facilities", "service_cases",
                                "org_units"))


def _exception_rows(request: Request, ctx: RequestContext, kind: ExceptionKind | None,
                    cleared: bool) -> list[cs.ExceptionRow]:
    """:func:`jiqun.service.cases.exception_rows`, once per version of what it reads (a
    province holds tens of thousands; shared: never change them)."""
    value = kind.value if kind else None
    return computed(request, ctx, "exception_rows",
                    lambda: cs.exception_rows(ctx.db, kind=value, include_cleared=cleared),
                    value, cleared, reads=EXCEPTION_READS)


@router.get("/service/exceptions", include_in_schema=False)
def exceptions_page(request: Request, ctx: Context, paging: Paging, download: Download,
                    kind: KindQuery = None, cleared: ClearedQuery = False):
    rows = _exception_rows(request, ctx, kind, cleared)
    if download:
        return download_response(rows, EXCEPTION_COLUMNS, "service-exceptions", download,
                                 ctx.locale)
    return render(request, "service_exceptions.html", {
        "paged": paginate(rows, paging), "kind": kind.value if kind else None,
        "cleared": cleared, "kind_labels": CASE_KIND_LABELS, "reason_labels": REASON_LABELS,
        "responsibility_labels": RESPONSIBILITY_LABELS})


@router.get("/api/service/exceptions", response_model=ExceptionsPageOut, tags=["service"])
def api_exceptions(request: Request, ctx: Context, paging: Paging, kind: KindQuery = None,
                   cleared: ClearedQuery = False) -> ExceptionsPageOut:
    """Parcel exceptions of the caller's scope, newest first, with their case."""
    paged = paginate(_exception_rows(request, ctx, kind, cleared), paging)
    return ExceptionsPageOut(page=paged.out(),
                             items=[ExceptionOut(**dataclasses.asdict(e)) for e in paged.items])


# -- per city (the dashboard, the bulletin) -----------------------------------------------------
@router.get("/api/service/cities", response_model=list[CitySummaryOut], tags=["service"])
def api_cities(ctx: Context) -> list[CitySummaryOut]:
    """Per city of the caller's scope: open cases, ageing buckets (``ageing_labels`` order:
    0–4 h, 4–24 h, 24–72 h, older), and the breach rate of the cases opened in the last 7 days."""
    return [CitySummaryOut(**dataclasses.asdict(s)) for s in cs.city_summary(ctx.db, _now())]


def dashboard_tiles(ctx: RequestContext) -> dict:
    """The dashboard's service tiles: open, breached and one's own cases; per city for those
    who oversee several cities (province and HQ)."""
    now = _now()
    tiles = cs.counts(ctx.db, now, me=ctx.user.id)
    wide = ctx.user.org_unit_level in (OrgLevel.HQ.value, OrgLevel.PROVINCE.value)
    tiles["cities"] = cs.city_summary(ctx.db, now) if wide else []
    tiles["ageing_labels"] = cs.ageing_labels()
    return tiles
