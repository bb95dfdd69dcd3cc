"""Problems escalated until solved (R2, 问题有人盯): the list by level and age (``/problems``,
with the suggested merges and the merge form), a problem with its history and its members
(``/problems/{id}``, with the escalate and solve forms) and the form that raises one
(``/problems/new``, also reached from a visit or a service case: ``?visit_id=`` /
``?case_id=``), each with its ``/api`` twin.

Every route calls :mod:`jiqun.service.problems` with the request's session, which acts as the
user: the service asks the permission registry, a problem outside the user's subtree is 404, and
every write declares its action (``allow``) so a refused user gets 403 before anything is parsed.
Forms carry the version the user saw; a problem changed since is 409 (``web/app.py``).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field

from jiqun.bounds import MAX_ID
from jiqun.errors import Invalid, NotFound
from jiqun.permissions import Action
from jiqun.service import problems as pr
from jiqun.service.problem_rules import ProblemRules
from jiqun.store.models import Market, OrgLevel
from jiqun.web.deps import Context, RequestContext, allow, not_found, rules_of
from jiqun.web.params import IdPath, IdQuery
from jiqun.web.schemas import model_of
from jiqun.web.tables import Column, Download, Paging, download_response, paginate
from jiqun.web.templating import render

router = APIRouter()

StatusQuery = Literal["open", "solved", "all"]
LevelQuery = Literal["hq", "province", "city"]

WRITE_ERRORS = {401: {"description": "Not signed in"},
                403: {"description": "The user's role may not do this (docs/permissions.md)"},
                404: {"description": "No such record in the user's scope"},
                409: {"description": "Changed or decided meanwhile"},
                422: {"description": "Invalid input, per field"}}
READ_ERRORS = {401: WRITE_ERRORS[401], 404: WRITE_ERRORS[404], 422: WRITE_ERRORS[422]}

STATUS_LABELS = {"open": "Open", "escalated": "Escalated", "solved": "Solved"}
LEVEL_LABELS = {"hq": "HQ", "province": "Province", "city": "City"}
EVENT_LABELS = {"raised": "Raised", "escalated": "Escalated", "merged": "Merged",
                "solved": "Solved"}
SOURCE_LABELS = {"visit": "From a visit", "case": "From a service case",
                 "meeting": "From a meeting", "merge": "Merged"}

COLUMNS = (
    Column("id", "Id", "int"), Column("title", "Problem"),
    Column("status", "Status", value=lambda r: STATUS_LABELS[r.status]),
    Column("level", "Held by level", value=lambda r: LEVEL_LABELS[r.level]),
    Column("holder", "Held by unit"), Column("unit", "Raised by"), Column("market", "Market"),
    Column("raised_on", "Raised on", "date"), Column("age_days", "Days open", "int"),
    Column("level_days", "Days at this level", "int"),
    Column("overdue", "Overdue", value=lambda r: "✓" if r.overdue else ""),
    Column("members", "Cities merged", "int"), Column("owner", "Owner"),
    Column("solved_on", "Solved on", "date"), Column("solved_by", "Solved by"),
)


# -- schemas of the API -------------------------------------------------------------------------
ProblemRowOut = model_of(pr.ProblemRow, "ProblemRowOut",
                         "A problem as /problems lists it (jiqun.service.problems).")
EventOut = model_of(pr.EventRow, "ProblemEventOut", "One step of a problem's history.")
ProblemDetailOut = model_of(
    pr.ProblemDetail, "ProblemDetailOut",
    "A problem with its history, its members (a common problem) or its common problem.",
    overrides={"problem": ProblemRowOut, "common": ProblemRowOut | None,
               "members": list[ProblemRowOut], "history": list[EventOut]})
SuggestionOut = model_of(pr.MergeSuggestion, "MergeSuggestionOut",
                         "Problems of several cities that are likely the same problem.",
                         overrides={"problems": list[ProblemRowOut]})


class ProblemIn(BaseModel):
    """A problem to raise (``POST /api/problems``); the service checks the text."""

    title: str = Field(max_length=pr.TITLE_LENGTH)
    description: str | None = Field(None, max_length=pr.TEXT_LENGTH)
    market_id: int | None = Field(None, ge=1, le=MAX_ID)
    visit_id: int | None = Field(None, ge=1, le=MAX_ID)
    case_id: int | None = Field(None, ge=1, le=MAX_ID)
    source: Literal["meeting", "visit", "case"] = "meeting"


class EscalateIn(BaseModel):
    note: str | None = Field(None, max_length=pr.TEXT_LENGTH)
    version: int | None = Field(None, ge=1, le=MAX_ID, description=(
        "The problem's version when it was read: a problem changed since is refused (409)."))


class SolveIn(BaseModel):
    solution: str = Field(max_length=pr.TEXT_LENGTH)
    version: int | None = Field(None, ge=1, le=MAX_ID, description=EscalateIn.model_fields[
        "version"].description)


class MergeIn(BaseModel):
    problem_ids: list[int] = Field(min_length=2, max_length=100, description=(
        "Two or more open problems of several cities, not merged yet."))
    title: str = Field(max_length=pr.TITLE_LENGTH)
    description: str | None = Field(None, max_length=pr.TEXT_LENGTH)


# -- helpers ------------------------------------------------------------------------------------
_DIGITS = re.compile(r"[0-9]{1,10}")


def _int(value: Any) -> int | None:
    """A form's id: ASCII digits within the id range, else ``None``."""
    if not isinstance(value, str) or not _DIGITS.fullmatch(value.strip()):
        return None
    number = int(value.strip())
    return number if 1 <= number <= MAX_ID else None


def _text(value: Any, limit: int = pr.TEXT_LENGTH) -> str:
    return str(value or "")[: limit + 1]  # one over: the service says it is too long


def _rules(request: Request) -> ProblemRules:
    return rules_of(request, ProblemRules)


def _detail(ctx: RequestContext, problem_id: int) -> pr.ProblemDetail:
    try:
        return pr.problem_detail(ctx.db, problem_id, locale=ctx.locale)
    except NotFound:
        raise not_found(ctx, "Problem not found") from None


def _rows(ctx: RequestContext, status: str, level: str | None, common: bool) -> list:
    return pr.problems(ctx.db, status=status, level=OrgLevel(level) if level else None,
                       common_only=common, locale=ctx.locale)


def _may_escalate(ctx: RequestContext, p: pr.ProblemRow) -> bool:
    """Who may press "escalate": a manager at the level holding it or above, while it is
    neither solved, nor merged, nor at HQ (the service asks the same)."""
    rank = pr.RANK[OrgLevel(ctx.user.org_unit_level)]
    return (ctx.user.may(Action.PROBLEM_ESCALATE) and p.status != "solved"
            and p.merged_into_id is None and p.level != "hq"
            and rank <= pr.RANK[OrgLevel(p.level)])


def _labels() -> dict:
    return {"statuses": STATUS_LABELS, "levels": LEVEL_LABELS, "events": EVENT_LABELS,
            "sources": SOURCE_LABELS}


# -- pages --------------------------------------------------------------------------------------
def _list_page(request: Request, ctx: RequestContext, paging, status: str, level: str | None,
               common: bool, *, errors: dict | None = None, values: dict | None = None,
               status_code: int = 200):
    rows = _rows(ctx, status, level, common)
    may_merge = ctx.user.may(Action.PROBLEM_MERGE)
    return render(request, "problems.html", {
        "paged": paginate(rows, paging), "status": status, "level": level, "common": common,
        "counts": _level_counts(rows), "may_merge": may_merge,
        "may_raise": ctx.user.may(Action.PROBLEM_RAISE),
        "suggestions": pr.suggest_merges(ctx.db, locale=ctx.locale) if may_merge else [],
        "errors": errors or {}, "values": values or {}, **_labels(),
    }, status_code=status_code)


def _level_counts(rows) -> dict[str, int]:
    counts = {"hq": 0, "province": 0, "city": 0}
    for r in rows:
        counts[r.level] = counts.get(r.level, 0) + 1
    return counts


@router.get("/problems", include_in_schema=False)
def problems_page(request: Request, ctx: Context, paging: Paging, download: Download,
                  status: StatusQuery = "open", level: LevelQuery | None = None,
                  common: bool = False):
    if download:
        return download_response(_rows(ctx, status, level, common), COLUMNS, "problems",
                                 download, ctx.locale)
    return _list_page(request, ctx, paging, status, level, common)


def _form_page(request: Request, ctx: RequestContext, values: dict, errors: dict | None = None,
               status_code: int = 200):
    markets = ctx.db.query(Market.id, Market.name).order_by(Market.name).all()
    return render(request, "problem_form.html", {
        "values": values, "errors": errors or {}, "markets": markets, **_labels()},
        status_code=status_code)


@router.get("/problems/new", include_in_schema=False)
def new_problem_page(request: Request, ctx: Context, visit_id: IdQuery = None,
                     case_id: IdQuery = None, market_id: IdQuery = None):
    source = "visit" if visit_id else "case" if case_id else "meeting"
    try:  # a visit, case or market the user does not see is not found, as everywhere
        pr.source_of(ctx.db, market_id=market_id, visit_id=visit_id, case_id=case_id)
    except NotFound:
        raise not_found(ctx) from None
    return _form_page(request, ctx, {"visit_id": visit_id, "case_id": case_id,
                                     "market_id": market_id, "source": source})


@router.post("/problems/new", include_in_schema=False,
             dependencies=[allow(Action.PROBLEM_RAISE)])
async def raise_page(request: Request, ctx: Context):
    form = await request.form()
    values = {"title": _text(form.get("title"), pr.TITLE_LENGTH),
              "description": _text(form.get("description")),
              "market_id": _int(form.get("market_id")), "visit_id": _int(form.get("visit_id")),
              "case_id": _int(form.get("case_id")),
              "source": str(form.get("source") or "meeting")[:16]}
    try:
        problem = pr.raise_problem(ctx.db, **values, rules=_rules(request))
    except Invalid as err:
        ctx.db.rollback()
        return _form_page(request, ctx, values, err.errors, status_code=400)
    except NotFound:
        ctx.db.rollback()
        raise not_found(ctx) from None
    ctx.db.commit()
    return RedirectResponse(f"/problems/{problem.id}", status_code=303)


@router.post("/problems/merge", include_in_schema=False,
             dependencies=[allow(Action.PROBLEM_MERGE)])
async def merge_page(request: Request, ctx: Context, paging: Paging):
    form = await request.form()
    ids = [i for i in (_int(v) for v in form.getlist("problem_ids")[:100]) if i]
    title = _text(form.get("title"), pr.TITLE_LENGTH)
    try:
        common = pr.merge(ctx.db, ids, title, description=_text(form.get("description")) or None,
                          rules=_rules(request))
    except Invalid as err:
        ctx.db.rollback()
        return _list_page(request, ctx, paging, "open", None, False, errors=err.errors,
                          values={"title": title, "problem_ids": ids}, status_code=400)
    except NotFound:
        ctx.db.rollback()
        raise not_found(ctx, "Problem not found") from None
    ctx.db.commit()
    return RedirectResponse(f"/problems/{common.id}", status_code=303)


def _problem_page(request: Request, ctx: RequestContext, problem_id: int, *,
                  errors: dict | None = None, status_code: int = 200):
    detail = _detail(ctx, problem_id)
    p = detail.problem
    return render(request, "problem.html", {
        "d": detail, "p": p, "may_escalate": _may_escalate(ctx, p),
        "may_solve": ctx.user.may(Action.PROBLEM_SOLVE) and p.status != "solved"
        and p.merged_into_id is None,
        "errors": errors or {}, **_labels(),
    }, status_code=status_code)


@router.get("/problems/{problem_id}", include_in_schema=False)
def problem_page(request: Request, ctx: Context, problem_id: IdPath):
    return _problem_page(request, ctx, problem_id)


async def _versioned(request: Request) -> tuple[Any, int | None]:
    form = await request.form()
    return form, _int(form.get("version"))


@router.post("/problems/{problem_id}/escalate", include_in_schema=False,
             dependencies=[allow(Action.PROBLEM_ESCALATE)])
async def escalate_page(request: Request, ctx: Context, problem_id: IdPath):
    form, version = await _versioned(request)
    try:
        pr.escalate(ctx.db, problem_id, _text(form.get("note")) or None, version=version,
                    rules=_rules(request))
    except Invalid as err:
        ctx.db.rollback()
        return _problem_page(request, ctx, problem_id, errors=err.errors, status_code=400)
    except NotFound:
        ctx.db.rollback()
        raise not_found(ctx, "Problem not found") from None
    ctx.db.commit()
    return RedirectResponse(f"/problems/{problem_id}", status_code=303)


@router.post("/problems/{problem_id}/solve", include_in_schema=False,
             dependencies=[allow(Action.PROBLEM_SOLVE)])
async def solve_page(request: Request, ctx: Context, problem_id: IdPath):
    form, version = await _versioned(request)
    try:
        pr.solve(ctx.db, problem_id, _text(form.get("solution")), version=version)
    except Invalid as err:
        ctx.db.rollback()
        return _problem_page(request, ctx, problem_id, errors=err.errors, status_code=400)
    except NotFound:
        ctx.db.rollback()
        raise not_found(ctx, "Problem not found") from None
    ctx.db.commit()
    return RedirectResponse(f"/problems/{problem_id}", status_code=303)


# -- /api ---------------------------------------------------------------------------------------
@router.get("/api/problems", response_model=list[ProblemRowOut], tags=["problems"],
            responses=READ_ERRORS)
def api_problems(ctx: Context, status: StatusQuery = "open", level: LevelQuery | None = None,
                 common: bool = False) -> list:
    """Problems of the caller's scope by level (HQ first) and age (oldest first); a common
    problem the caller sees stands for its members (``members``)."""
    return _rows(ctx, status, level, common)


@router.get("/api/problems/suggestions", response_model=list[SuggestionOut],
            tags=["problems"], responses=READ_ERRORS)
def api_suggestions(ctx: Context) -> list:
    """Open problems of several cities that look like the same problem (to merge)."""
    return pr.suggest_merges(ctx.db, locale=ctx.locale)


@router.get("/api/problems/{problem_id}", response_model=ProblemDetailOut, tags=["problems"],
            responses=READ_ERRORS)
def api_problem(ctx: Context, problem_id: IdPath):
    """A problem with its history and its members or common problem."""
    return _detail(ctx, problem_id)


@router.post("/api/problems", response_model=ProblemDetailOut, status_code=201,
             tags=["problems"], dependencies=[allow(Action.PROBLEM_RAISE)],
             responses=WRITE_ERRORS)
def api_raise(request: Request, ctx: Context, body: ProblemIn):
    """Raise a problem at the caller's city (or the city of the visit, case or market)."""
    problem = pr.raise_problem(ctx.db, **body.model_dump(), rules=_rules(request))
    ctx.db.commit()
    return _detail(ctx, problem.id)


@router.post("/api/problems/merge", response_model=ProblemDetailOut, status_code=201,
             tags=["problems"], dependencies=[allow(Action.PROBLEM_MERGE)],
             responses=WRITE_ERRORS)
def api_merge(request: Request, ctx: Context, body: MergeIn):
    """Merge the same problem of several cities into one common problem (共性问题)."""
    common = pr.merge(ctx.db, body.problem_ids, body.title, description=body.description,
                      rules=_rules(request))
    ctx.db.commit()
    return _detail(ctx, common.id)


@router.post("/api/problems/{problem_id}/escalate", response_model=ProblemDetailOut,
             tags=["problems"], dependencies=[allow(Action.PROBLEM_ESCALATE)],
             responses=WRITE_ERRORS)
def api_escalate(request: Request, ctx: Context, problem_id: IdPath, body: EscalateIn):
    """One level up: city → province → HQ, with the next level's clock."""
    pr.escalate(ctx.db, problem_id, body.note, version=body.version, rules=_rules(request))
    ctx.db.commit()
    return _detail(ctx, problem_id)


@router.post("/api/problems/{problem_id}/solve", response_model=ProblemDetailOut,
             tags=["problems"], dependencies=[allow(Action.PROBLEM_SOLVE)],
             responses=WRITE_ERRORS)
def api_solve(ctx: Context, problem_id: IdPath, body: SolveIn):
    """Mark it solved with its solution; the caller gets the credit (a common problem's
    members are solved with it)."""
    pr.solve(ctx.db, problem_id, body.solution, version=body.version)
    ctx.db.commit()
    return _detail(ctx, problem_id)
