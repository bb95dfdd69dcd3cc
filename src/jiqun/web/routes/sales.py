"""Field sales pages (客户开发): the phone visit form, a marketer's visits, the pool (公海) and
the funnel (转化漏斗), with their JSON twins under ``/api``.

Every read and write goes through the request's scoped session (``ctx.db``): a customer outside
the user's subtree is 404, and every change is audited with the user and ``web``/``api``. The
services ask :mod:`jiqun.permissions` who may log a visit or claim from the pool; the write
routes declare the same action (``allow``) to answer 403 before reading the request.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field

from jiqun.bounds import MAX_ID
from jiqun.errors import Invalid
from jiqun.permissions import Action
from jiqun.sales import funnel as funnel_mod
from jiqun.sales import pool as pool_mod
from jiqun.sales import visits as visit_mod
from jiqun.sales.rules import SalesRules
from jiqun.store.models import Customer
from jiqun.web.deps import Context, RequestContext, allow, not_found, rules_of
from jiqun.web.params import DateQuery, FormIdQuery, IdPath, IdQuery
from jiqun.web.tables import (
    Column,
    Download,
    download_response,
    paginate,
    paginate_counted,
    paging,
)
from jiqun.web.templating import render

router = APIRouter()


def _now() -> dt.datetime:
    return dt.datetime.now().replace(microsecond=0)


# -- schemas of the API -------------------------------------------------------------------------
class VisitIn(BaseModel):
    """A visit to log (POST /api/visits). The shape only: the values are checked by
    :func:`jiqun.sales.visits.parse_visit`, as on the form and the CLI, and refused with 422
    ``{"detail", "errors": {field: message}}`` in the caller's language."""

    customer_id: int = Field(ge=1, le=MAX_ID)
    method: str = Field(description="|".join(visit_mod.METHODS))
    outcome: str = Field(description="|".join(visit_mod.OUTCOMES))
    next_step: str | None = None
    next_visit_on: dt.date | None = Field(None, description="2000–2100, not before today.")
    competitor: str | None = None
    competitor_price: float | None = Field(None, description="First-kg price heard, yuan "
                                           "(0–1000).")
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
    owner_id: int
    owner_name: str | None
    manager_name: str | None
    last_follow_up: dt.date
    days_silent: int
    days_left: int = Field(description="Until the return; 0 or less: due already.")
    due: bool = Field(description="Due back to the pool already.")
    overdue_days: int | None = Field(description="Days past the return day (0: today), "
                                     "when due.")
    returns_in_days: int | None = Field(description="Days until the return, when not due.")
    action: str = Field(description="return | remind_manager | remind_owner")
    actions: list[str] = Field(description="What the caller may do: follow_up | log_visit.")


class PoolCustomerOut(BaseModel):
    id: int
    code: str
    name: str
    stage: str
    est_daily_volume: float | None
    actions: list[str] = Field(description="What the caller may do: claim.")


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
    """Days in one stage (阶段停留时长): of the customers who left it, and of those still in it."""

    stage: str
    finished: int = Field(description="Customers who left the stage (measured spells).")
    median_days: float | None
    p75_days: float | None = Field(description="75th percentile (linear between ranks).")
    mean_days: float | None
    still_in: int
    median_days_so_far: float | None


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


def _plain_id(text: str | None) -> int | None:
    """A form's id, or None: ``²`` passes ``isdigit`` and fails ``int``; a huge one is no id."""
    if text and text.isascii() and text.isdigit() and len(text) <= 10 and int(text) <= MAX_ID:
        return int(text)
    return None


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
    customer_id = _plain_id(raw_id if isinstance(raw_id, str) else None)
    if customer_id is None:
        raise HTTPException(400, ctx.t("Invalid request"))
    customer = _customer_or_404(ctx, customer_id)
    try:
        data = visit_mod.visit_from_form(form, customer.id, dt.date.today())
    except Invalid as wrong:  # the form again, each field with its message
        values = {k: v for k, v in form.items() if k != "csrf_token"}
        return _form_page(request, ctx, customer, errors=wrong.errors, values=values,
                          status_code=422)
    logged = _save_visit(ctx, data)
    return RedirectResponse(f"/visits?saved={logged.visit.id}", status_code=303)


VISIT_COLUMNS = (
    Column("visited_at", "Visited at", "date"), Column("customer_code", "Code"),
    Column("customer_name", "Customer"), Column("stage", "Stage"),
    Column("visitor", "Visited by"), Column("method", "How"), Column("outcome", "Outcome"),
    Column("next_step", "Next step"), Column("next_visit_on", "Next visit", "date"),
    Column("competitor", "Competitor heard"),
    Column("competitor_price", "First-kg price heard (yuan)", "money"),
)
VisitPaging = paging(per_page=25)
MarketerFilter = Annotated[int | None, Query(ge=1, le=MAX_ID, description=(
    "Visits of this marketer of the caller's subtree (404 for anyone else)."))]


def _team(ctx: RequestContext, marketer: int | None, since: dt.date | None,
          until: dt.date | None) -> tuple[visit_mod.VisitRange, list[visit_mod.VisitRow]]:
    days = visit_mod.VisitRange.of(since, until, dt.date.today())  # 422 when backwards
    return days, visit_mod.team_visits(ctx.db, days, marketer)


@router.get("/visits", include_in_schema=False)
def visits_page(request: Request, ctx: Context, paging: VisitPaging, download: Download,
                saved: str | None = None, marketer: MarketerFilter = None,
                since: DateQuery = None, until: DateQuery = None):
    """A manager: the visits of everyone in their subtree (by marketer, days), paged and
    downloadable. A marketer: their own (我的走访) — due follow-ups, today, the last 30 days."""
    today = dt.date.today()
    team = visit_mod.sees_team(ctx.user.role)
    days = visit_mod.VisitRange.of(since, until, today)  # 422 when backwards
    # Naming someone outside the scope is 404, for managers and marketers alike.
    if marketer is not None:
        visit_mod.check_marketer(ctx.db, marketer)
    whose = marketer if team else ctx.user.id  # a marketer lists their own visits
    if download:
        rows = visit_mod.visits_in(ctx.db, days, whose)
        return download_response(rows, VISIT_COLUMNS, "visits", download, ctx.locale)
    # One page read from the store (a province's 30 days are thousands of visits).
    paged = paginate_counted(
        visit_mod.count_visits_in(ctx.db, days, whose),
        lambda offset, limit: visit_mod.visits_in(ctx.db, days, whose, offset=offset,
                                                  limit=limit), paging)
    rules = rules_of(request, SalesRules)
    reminders = [r for r in pool_mod.reminders(_pool_clock(ctx, today, rules), rules)
                 if r.to_user_id == ctx.user.id]
    context = {
        "team": team, "saved": _plain_id(saved), "reminders": reminders, "days": days,
        "paged": paged, "methods": visit_mod.METHODS,
        "outcomes": visit_mod.OUTCOMES,
    }
    if team:
        context.update(marketers=visit_mod.marketers_in_scope(ctx.db), marketer=marketer)
    else:
        context.update(mine=visit_mod.my_visits(ctx.db, ctx.user.id, today))
    return render(request, "visits.html", context)


@router.get("/api/visits", response_model=list[visit_mod.VisitRow], tags=["sales"],
            responses={404: {"description": "No such customer or marketer in the caller's "
                                            "scope"},
                       422: {"description": "A range that ends before it starts"}})
def api_visits(
    ctx: Context,
    mine: bool = True,
    customer_id: IdQuery = None,
    marketer: MarketerFilter = None,
    since: DateQuery = None,
    until: DateQuery = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[visit_mod.VisitRow]:
    """Visits in the caller's scope, newest first: the caller's own (``mine``, default) or
    everyone's, optionally of one customer (404 when the customer is not in the scope). With
    ``marketer`` (404 outside the scope), or ``since``/``until`` with ``mine=false``: the
    team's visits a manager's ``/visits`` lists, of those days (default the last 30) — the
    first ``limit`` of them."""
    if marketer is not None or (not mine and (since or until)):
        return _team(ctx, marketer, since, until)[1][:limit]
    return visit_mod.visits_of(ctx.db, user_id=ctx.user.id if mine else None,
                               customer_id=customer_id, limit=limit)


@router.post("/api/visits", response_model=VisitCreatedOut, status_code=201, tags=["sales"],
             dependencies=[allow(Action.VISIT_LOG)],
             responses={403: {"description": "The role may not log visits"},
                        404: {"description": "No such customer in the caller's scope"},
                        422: {"description": "A value that cannot be saved, per field"}})
def api_create_visit(ctx: Context, body: VisitIn) -> VisitCreatedOut:
    """Log a visit (bearer token, or the session with ``X-CSRF-Token``); the outcome moves the
    customer's stage (interested → nurturing, trial → trial, signed → cooperating)."""
    data = visit_mod.parse_visit(body.model_dump(), dt.date.today())  # Invalid: 422
    logged = _save_visit(ctx, data)
    row = visit_mod.visit_row(ctx.db, logged.visit)
    change = logged.stage_change
    return VisitCreatedOut(visit=row, stage_change=StageChangeOut(
        from_stage=change.from_stage.value if change.from_stage else None,
        to_stage=change.to_stage.value, reason=change.reason) if change else None)


# -- pool ---------------------------------------------------------------------------------------
def _pool_clock(ctx: RequestContext, today: dt.date,
                rules: SalesRules) -> tuple[pool_mod.PoolEntry, ...]:
    """The pool clock of the scope (every owned prospect: the same for every viewer of the
    scope), computed once per day, rules and data version: ``/pool`` and ``/visits`` of a
    city read every prospect's last visit and manager, which a burst of users would repeat."""
    return ctx.figure("pool_clock", lambda: tuple(pool_mod.pool_clock(ctx.db, today, rules)),
                      today, rules.model_dump_json())


def _pool_customers(ctx: RequestContext, claim: tuple[str, ...]) -> list[PoolCustomerOut]:
    """The unowned prospects of the scope as listed, with the actions ``claim`` the caller may
    take on each, once per data version (shared: never changed)."""
    def listed() -> list[PoolCustomerOut]:
        return [PoolCustomerOut(id=c.id, code=c.code, name=c.name,
                                stage=c.lifecycle_stage.value,
                                est_daily_volume=c.est_daily_volume, actions=list(claim))
                for c in pool_mod.pool_customers(ctx.db)]

    return ctx.figure("pool_customers", listed, claim)


def _pool(request: Request, ctx: RequestContext) -> tuple[PoolOut, list]:
    """The pool and the clock as the caller sees them, with what the caller may do on each."""
    rules = rules_of(request, SalesRules)
    entries = _pool_clock(ctx, dt.date.today(), rules)
    actor, me = ctx.user.actor, ctx.user.id
    out = PoolOut(
        pool=_pool_customers(ctx, tuple(pool_mod.pool_actions(actor))),
        clock=[PoolEntryOut(
            **{k: getattr(e, k) for k in PoolEntryOut.model_fields if k != "actions"},
            actions=pool_mod.clock_actions(e, actor, me))
            for e in pool_mod.clock_split(entries)],
    )
    return out, pool_mod.reminders(entries, rules)


When = Annotated[Literal["due", "soon"] | None, Query(
    description="Only the prospects due back already (due) or those returning soon (soon).")]


@router.get("/api/pool", response_model=PoolOut, tags=["sales"])
def api_pool(request: Request, ctx: Context, when: When = None) -> PoolOut:
    """Unowned prospects (公海) and owned prospects due back to it or with a reminder, each
    with the actions the caller may take."""
    data = _pool(request, ctx)[0]
    return data.model_copy(update={"clock": pool_mod.clock_split(data.clock, when)})


CLOCK_COLUMNS = (
    Column("code", "Code"), Column("name", "Customer"), Column("stage", "Stage"),
    Column("owner_name", "Owner"), Column("manager_name", "Manager"),
    Column("last_follow_up", "Last follow-up", "date"),
    Column("overdue_days", "Overdue by (days)", "int"),
    Column("returns_in_days", "Returns in (days)", "int"),
)
POOL_COLUMNS = (
    Column("code", "Code"), Column("name", "Customer"), Column("stage", "Stage"),
    Column("est_daily_volume", "Est. parcels per day", "dec"),
)
ClockPaging = paging(per_page=20)
PoolPaging = paging(per_page=20, param="pool_page", size_param="pool_per_page")


@router.get("/pool", include_in_schema=False)
def pool_page(request: Request, ctx: Context, clock_paging: ClockPaging,
              pool_paging: PoolPaging, download: Download, when: When = None,
              claimed: Annotated[str | None, Query(max_length=32)] = None):
    data, reminders = _pool(request, ctx)
    clock = pool_mod.clock_split(data.clock, when)
    if download:
        if download.table == "pool":
            return download_response(data.pool, POOL_COLUMNS, "pool", download, ctx.locale)
        return download_response(clock, CLOCK_COLUMNS, "pool-clock", download, ctx.locale)
    counts = {"all": len(data.clock), "due": sum(e.due for e in data.clock),
              "soon": sum(not e.due for e in data.clock)}
    mine = [r for r in reminders if r.to_user_id == ctx.user.id]
    return render(request, "pool.html", {
        "clock": paginate(clock, clock_paging), "pool": paginate(data.pool, pool_paging),
        "when": when, "counts": counts, "reminders": mine, "claimed": claimed,
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


# What the funnel reads: the customers, their visits, trials, stage changes and campaigns.
FUNNEL_TABLES = ("customers", "visits", "trial_shipments", "stage_changes", "campaigns",
                 "campaign_customers", "users", "org_units")


def kept_funnel(request: Request, ctx: RequestContext, by: str) -> FunnelOut:
    """:func:`funnel_data`, once per day and version of what it reads (shared: never change)."""
    from jiqun.web.computed import Reads, computed

    return computed(request, ctx, "funnel", lambda: funnel_data(ctx, by), by, dt.date.today(),
                    reads=Reads(tables=FUNNEL_TABLES))


def funnel_data(ctx: RequestContext, by: str) -> FunnelOut:
    facts = funnel_mod.load_facts(ctx.db)
    names = funnel_mod.group_names(ctx.db, by, facts)
    groups = funnel_mod.conversion_by(facts, by, names)
    return FunnelOut(
        steps=[FunnelStepOut(**s) for s in funnel_mod.funnel(facts)],
        by=by,
        groups=[ConversionRowOut(**{**g, "key": str(g["key"]), "name": str(g["name"])})
                for g in groups],
        time_in_stage=[StageTimeOut(**asdict(r))
                       for r in funnel_mod.time_in_stage(ctx.db, dt.date.today())],
    )


@router.get("/api/funnel", response_model=FunnelOut, tags=["sales"])
def api_funnel(request: Request, ctx: Context, by: By = "method") -> FunnelOut:
    """The funnel of the caller's scope, conversion by ``by`` and time in stage."""
    return kept_funnel(request, ctx, by)


FUNNEL_COLUMNS = {
    "steps": (Column("step", "Stage"), Column("customers", "Customers", "int"),
              Column("share_of_archived", "Of archived", "pct"),
              Column("from_previous", "From the step before", "pct")),
    "groups": (Column("key", "Group"), Column("name", "Name"),
               Column("archived", "Archived", "int"), Column("nurturing", "Nurturing", "int"),
               Column("trial", "Trial", "int"), Column("cooperating", "Cooperating", "int"),
               Column("upgraded", "Upgraded", "int"),
               Column("conversion", "Conversion", "pct")),
    "time_in_stage": (Column("stage", "Stage"), Column("finished", "Left the stage", "int"),
                      Column("median_days", "Median days", "dec"),
                      Column("p75_days", "75% within (days)", "dec"),
                      Column("mean_days", "Mean days", "dec"),
                      Column("still_in", "Still in it", "int"),
                      Column("median_days_so_far", "Median days so far", "dec")),
}


@router.get("/funnel", include_in_schema=False)
def funnel_page(request: Request, ctx: Context, download: Download, by: str = "method"):
    by = by if by in funnel_mod.BY else "method"
    data = kept_funnel(request, ctx, by)
    if download:
        table = download.table or "steps"
        if table not in FUNNEL_COLUMNS:
            raise not_found(ctx)
        return download_response(getattr(data, table), FUNNEL_COLUMNS[table], f"funnel-{table}",
                                 download, ctx.locale)
    chart = {"names": [ctx.t(funnel_mod.STEP_LABELS[s.step]) for s in data.steps],
             "values": [s.customers for s in data.steps]}
    return render(request, "funnel.html", {"data": data, "chart": chart,
                                           "step_labels": funnel_mod.STEP_LABELS,
                                           "methods": visit_mod.METHODS})
