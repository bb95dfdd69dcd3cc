"""Field sales pages (客户开发): the phone visit form, a marketer's visits, the pool (公海) and
the funnel (转化漏斗), with their JSON twins under ``/api``.

Every read and write goes through the request's scoped session (``ctx.db``): a customer outside
the user's subtree is 404, and every change is audited with the user and ``web``/``api``. The
services ask :mod:`jiqun.permissions` who may log a visit or claim from the pool; the write
routes declare the same action (``allow``) to answer 403 before reading the request.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field

from jiqun.bounds import MAX_ID, FiniteFloat, PlausibleDate
from jiqun.permissions import Action
from jiqun.sales import funnel as funnel_mod
from jiqun.sales import pool as pool_mod
from jiqun.sales import visits as visit_mod
from jiqun.sales.rules import SalesRules
from jiqun.store.models import Customer
from jiqun.web.deps import Context, RequestContext, allow, not_found, rules_of
from jiqun.web.params import FormIdQuery, IdPath, IdQuery
from jiqun.web.templating import render

router = APIRouter()


def _now() -> dt.datetime:
    return dt.datetime.now().replace(microsecond=0)


# -- schemas of the API -------------------------------------------------------------------------
class VisitIn(BaseModel):
    """A visit to log (POST /api/visits)."""

    customer_id: int = Field(ge=1, le=MAX_ID)
    method: str = Field(description="|".join(visit_mod.METHODS))
    outcome: str = Field(description="|".join(visit_mod.OUTCOMES))
    next_step: str | None = None
    next_visit_on: PlausibleDate | None = None
    competitor: str | None = None
    competitor_price: FiniteFloat | None = Field(None, description="First-kg price heard, yuan.")
    notes: str | None = None


class StageChangeOut(BaseModel):
    from_stage: str | None
    to_stage: str
    reason: str


class VisitCreatedOut(BaseModel):
    visit: visit_mod.VisitRow  # the service's public row: one type, no copy
    stage_change: StageChangeOut | None


class PoolEntryOut(BaseModel):
    customer_id: int
    code: str
    name: str
    stage: str
    owner_name: str | None
    manager_name: str | None
    last_follow_up: dt.date
    days_silent: int
    days_left: int
    action: str


class PoolCustomerOut(BaseModel):
    id: int
    code: str
    name: str
    stage: str
    est_daily_volume: float | None


class PoolOut(BaseModel):
    pool: list[PoolCustomerOut]
    clock: list[PoolEntryOut]  # owned prospects due or with a reminder


class FunnelStepOut(BaseModel):
    step: str
    customers: int
    share_of_archived: float | None
    from_previous: float | None


class ConversionRowOut(BaseModel):
    key: str
    name: str
    archived: int
    nurturing: int
    trial: int
    cooperating: int
    upgraded: int
    conversion: float | None


class StageTimeOut(BaseModel):
    stage: str
    finished: int
    mean_days: float | None
    median_days: float | None
    still_in: int
    mean_days_so_far: float | None


class FunnelOut(BaseModel):
    steps: list[FunnelStepOut]
    by: str
    groups: list[ConversionRowOut]
    time_in_stage: list[StageTimeOut]


# -- visits -------------------------------------------------------------------------------------
def _save_visit(ctx: RequestContext, data: visit_mod.VisitInput) -> visit_mod.LoggedVisit:
    logged = visit_mod.log_visit(ctx.db, data, ctx.user.id, _now())  # 403 / 404 from it
    ctx.db.commit()
    return logged


def _plain_int(text: str | None, largest: int = MAX_ID) -> int | None:
    """A form's whole number, or None: ``²`` passes ``isdigit`` and fails ``int``, and a
    huge one overflows dates and ids."""
    if text and text.isascii() and text.isdigit() and len(text) <= 10 and int(text) <= largest:
        return int(text)
    return None


def _form_input(form, customer_id: int, today: dt.date) -> visit_mod.VisitInput:
    """The visit of the phone form: chips for method, outcome, next date and competitor, with
    free fields beside them (a typed date or competitor wins over the chip)."""
    def text(name: str) -> str | None:
        value = form.get(name)
        return value.strip() if isinstance(value, str) and value.strip() else None

    next_on = None
    if text("next_visit_on"):
        try:
            next_on = dt.date.fromisoformat(text("next_visit_on"))
        except ValueError:
            next_on = dt.date.min  # reported as a date in the past
    elif _plain_int(text("next_in_days"), 366) is not None:
        next_on = today + dt.timedelta(days=_plain_int(text("next_in_days"), 366))
    price = None
    if text("competitor_price"):
        try:
            price = float(text("competitor_price").replace(",", "."))
        except ValueError:
            price = -1.0  # reported as out of range (so are inf and nan)
    return visit_mod.VisitInput(
        customer_id=customer_id, method=text("method") or "", outcome=text("outcome") or "",
        next_step=text("next_step") or text("next_step_chip"), next_visit_on=next_on,
        competitor=text("competitor_other") or text("competitor"), competitor_price=price,
        notes=text("notes"),
    )


def _customer_or_404(ctx: RequestContext, customer_id: int | None) -> Customer:
    customer = ctx.db.get(Customer, customer_id) if customer_id else None  # scoped
    if customer is None:
        raise not_found(ctx, "Customer not found")
    return customer


def _form_page(request: Request, ctx: RequestContext, customer: Customer, *, errors=None,
               values=None, status_code: int = 200):
    recent = visit_mod.visits_of(ctx.db, customer_id=customer.id, limit=3)
    return render(request, "visit_form.html", {
        "customer": customer, "recent": recent, "methods": visit_mod.METHODS,
        "outcomes": visit_mod.OUTCOMES, "competitors": visit_mod.COMPETITORS,
        "next_in_days": visit_mod.NEXT_IN_DAYS, "errors": errors or {}, "values": values or {},
    }, status_code=status_code)


@router.get("/visits/new", include_in_schema=False)
def new_visit(request: Request, ctx: Context, customer_id: FormIdQuery = None,
              q: Annotated[str | None, Query(max_length=100)] = None):
    if customer_id is not None:
        return _form_page(request, ctx, _customer_or_404(ctx, customer_id))
    found = visit_mod.find_customers(ctx.db, ctx.user.id, q)
    return render(request, "visit_pick.html", {"customers": found, "q": q or ""})


@router.post("/visits", include_in_schema=False, dependencies=[allow(Action.VISIT_LOG)])
async def create_visit(request: Request, ctx: Context):
    form = await request.form()
    raw_id = form.get("customer_id")
    customer_id = _plain_int(raw_id if isinstance(raw_id, str) else None)
    if customer_id is None:
        raise HTTPException(400, ctx.t("Invalid request"))
    customer = _customer_or_404(ctx, customer_id)
    today = dt.date.today()
    data = _form_input(form, customer.id, today)
    errors = visit_mod.problems(data, today)
    if errors:
        values = {k: v for k, v in form.items() if k != "csrf_token"}
        return _form_page(request, ctx, customer, errors=errors, values=values, status_code=400)
    logged = _save_visit(ctx, data)
    return RedirectResponse(f"/visits?saved={logged.visit.id}", status_code=303)


@router.get("/visits", include_in_schema=False)
def visits_page(request: Request, ctx: Context, saved: str | None = None):
    saved_id = _plain_int(saved)
    today = dt.date.today()
    mine = visit_mod.my_visits(ctx.db, ctx.user.id, today)
    rules = rules_of(request, SalesRules)
    reminders = [r for r in pool_mod.reminders(pool_mod.pool_clock(ctx.db, today, rules), rules)
                 if r.to_user_id == ctx.user.id]
    return render(request, "visits.html", {
        "mine": mine, "reminders": reminders, "saved": saved_id,
        "methods": visit_mod.METHODS, "outcomes": visit_mod.OUTCOMES,
    })


@router.get("/api/visits", response_model=list[visit_mod.VisitRow], tags=["sales"],
            responses={404: {"description": "No such customer in the caller's scope"}})
def api_visits(
    ctx: Context,
    mine: bool = True,
    customer_id: IdQuery = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[visit_mod.VisitRow]:
    """Visits in the caller's scope, newest first: the caller's own (``mine``, default) or
    everyone's, optionally of one customer (404 when the customer is not in the scope)."""
    return visit_mod.visits_of(ctx.db, user_id=ctx.user.id if mine else None,
                               customer_id=customer_id, limit=limit)


@router.post("/api/visits", response_model=VisitCreatedOut, status_code=201, tags=["sales"],
             dependencies=[allow(Action.VISIT_LOG)],
             responses={403: {"description": "The role may not log visits"},
                        404: {"description": "No such customer in the caller's scope"}})
def api_create_visit(ctx: Context, body: VisitIn) -> VisitCreatedOut:
    """Log a visit (bearer token, or the session with ``X-CSRF-Token``); the outcome moves the
    customer's stage (interested → nurturing, trial → trial, signed → cooperating)."""
    data = visit_mod.VisitInput(**body.model_dump())
    errors = visit_mod.problems(data, dt.date.today())
    if errors:
        raise HTTPException(422, {k: ctx.t(v) for k, v in errors.items()})
    logged = _save_visit(ctx, data)
    row = visit_mod.visit_row(ctx.db, logged.visit)
    change = logged.stage_change
    return VisitCreatedOut(visit=row, stage_change=StageChangeOut(
        from_stage=change.from_stage.value if change.from_stage else None,
        to_stage=change.to_stage.value, reason=change.reason) if change else None)


# -- pool ---------------------------------------------------------------------------------------
def _pool(request: Request, ctx: RequestContext) -> tuple[PoolOut, list]:
    rules = rules_of(request, SalesRules)
    entries = pool_mod.pool_clock(ctx.db, dt.date.today(), rules)
    pooled = pool_mod.pool_customers(ctx.db)
    out = PoolOut(
        pool=[PoolCustomerOut(id=c.id, code=c.code, name=c.name, stage=c.lifecycle_stage.value,
                              est_daily_volume=c.est_daily_volume) for c in pooled],
        clock=[PoolEntryOut(**{k: getattr(e, k) for k in PoolEntryOut.model_fields})
               for e in entries if e.action != pool_mod.WATCH],
    )
    return out, pool_mod.reminders(entries, rules)


@router.get("/api/pool", response_model=PoolOut, tags=["sales"])
def api_pool(request: Request, ctx: Context) -> PoolOut:
    """Unowned prospects (公海) and owned prospects due back to it or with a reminder."""
    return _pool(request, ctx)[0]


@router.get("/pool", include_in_schema=False)
def pool_page(request: Request, ctx: Context, claimed: str | None = None):
    data, reminders = _pool(request, ctx)
    mine = [r for r in reminders if r.to_user_id == ctx.user.id]
    return render(request, "pool.html", {"data": data, "reminders": mine, "claimed": claimed,
                                         "rules": rules_of(request, SalesRules)})


@router.post("/pool/{customer_id}/claim", include_in_schema=False,
             dependencies=[allow(Action.POOL_CLAIM)])
def claim_page(ctx: Context, customer_id: IdPath):
    """Take a prospect from the pool: once — a second marketer gets 409 (pool.claim)."""
    customer = pool_mod.claim(ctx.db, customer_id, ctx.user.id, dt.date.today())
    ctx.db.commit()
    return RedirectResponse(f"/pool?claimed={customer.code}", status_code=303)


class ClaimedOut(BaseModel):
    id: int
    code: str
    owner_id: int
    owned_since: dt.date


@router.post("/api/pool/{customer_id}/claim", response_model=ClaimedOut, tags=["sales"],
             dependencies=[allow(Action.POOL_CLAIM)],
             responses={403: {"description": "The role may not claim from the pool"},
                        404: {"description": "No such prospect in the caller's scope"},
                        409: {"description": "Someone else claimed it first"}})
def api_claim(ctx: Context, customer_id: IdPath) -> ClaimedOut:
    """Take a prospect from the pool (公海认领); decided once, the second claim gets 409."""
    customer = pool_mod.claim(ctx.db, customer_id, ctx.user.id, dt.date.today())
    ctx.db.commit()
    return ClaimedOut(id=customer.id, code=customer.code, owner_id=customer.owner_id,
                      owned_since=customer.owned_since)


# -- funnel -------------------------------------------------------------------------------------
By = Literal["method", "campaign", "platform", "person"]


def funnel_data(ctx: RequestContext, by: str) -> FunnelOut:
    facts = funnel_mod.load_facts(ctx.db)
    names = funnel_mod.group_names(ctx.db, by, facts)
    groups = funnel_mod.conversion_by(facts, by, names)
    return FunnelOut(
        steps=[FunnelStepOut(**s) for s in funnel_mod.funnel(facts)],
        by=by,
        groups=[ConversionRowOut(**{**g, "key": str(g["key"]), "name": str(g["name"])})
                for g in groups],
        time_in_stage=[StageTimeOut(**r) for r in funnel_mod.time_in_stage(
            funnel_mod.load_spells(ctx.db), dt.datetime.now())],
    )


@router.get("/api/funnel", response_model=FunnelOut, tags=["sales"])
def api_funnel(ctx: Context, by: By = "method") -> FunnelOut:
    """The funnel of the caller's scope, conversion by ``by`` and time in stage."""
    return funnel_data(ctx, by)


@router.get("/funnel", include_in_schema=False)
def funnel_page(request: Request, ctx: Context, by: str = "method"):
    by = by if by in funnel_mod.BY else "method"
    data = funnel_data(ctx, by)
    chart = {"names": [ctx.t(funnel_mod.STEP_LABELS[s.step]) for s in data.steps],
             "values": [s.customers for s in data.steps]}
    return render(request, "funnel.html", {"data": data, "chart": chart,
                                           "step_labels": funnel_mod.STEP_LABELS,
                                           "methods": visit_mod.METHODS})
