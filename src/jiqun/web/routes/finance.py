"""Finance (P3, P4): /finance (the month's ledger), /finance/cost (cost per parcel by a
dimension with its drivers), /finance/parameters (the cost parameters, their history and the
edit form), a PDF statement, and their JSON twins under /api/finance (tag ``money``).

Every figure comes from :mod:`jiqun.money.ledger` and :mod:`jiqun.money.cost` through the
request's scoped context: the same calls as ``jiqun finance …``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import tempfile
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from jiqun.errors import Invalid
from jiqun.money import cost, ledger
from jiqun.money.rules import FinanceRules
from jiqun.permissions import Action
from jiqun.store.models import ALL_ZONES, CostDriver, CostPool, OrgUnit
from jiqun.web.deps import Context, RequestContext, allow, rules_of
from jiqun.web.params import MONTH_PATTERN, MonthQuery
from jiqun.web.schemas import model_of
from jiqun.web.tables import Column, Download, download_response
from jiqun.web.templating import render

router = APIRouter()

# What the pages call the pools, drivers, zones, keys and dimensions (msgids).
POOL_LABELS = {"marketing": "Marketing", "pickup": "Pickup", "customer_service":
               "Customer service", "processing": "Processing and sorting",
               "consolidation": "Consolidation centre", "line_haul": "Line haul",
               "last_mile": "Last mile"}
DRIVER_LABELS = {"visits": "Visits", "stops": "Pickup stops", "pieces": "Pieces",
                 "contacts": "Service contacts", "trips": "Truck trips", "kg_km": "kg·km"}
ZONE_LABELS = {"*": "All zones", "same": "Same province", "neighbour": "Neighbouring province",
               "far": "Far province", "remote": "Remote province"}
KEY_LABELS = {"pieces": "Pieces", "weight": "Weight", "revenue": "Revenue"}
DIMENSION_LABELS = {"customer": "Customer", "market": "Market", "lane": "Lane",
                    "product": "Product", "grid": "Grid", "city": "City"}
PRODUCT_LABELS = {"express": "express", "parcel": "parcel", "standard": "standard"}
LABELS = {"pools": POOL_LABELS, "drivers": DRIVER_LABELS, "zones": ZONE_LABELS,
          "keys": KEY_LABELS, "dimensions": DIMENSION_LABELS, "products": PRODUCT_LABELS}

By = Literal["customer", "market", "lane", "product", "grid", "city"]
Breakdown = Literal["market", "grid", "customer"]

LedgerRowOut = model_of(ledger.LedgerRow, "LedgerRowOut", "One org unit's month (P4).",
                        result=(float, Field(description="profit − bonus pool − outlet share "
                                                         "+ loss cover")))
TransferOut = model_of(ledger.Transfer, "TransferOut",
                       "A province covering a city's loss (亏损托底): both sides.")
DetailOut = model_of(ledger.DetailRow, "LedgerDetailOut",
                     "A market, grid or customer of a city: revenue, cost, profit.")
DriverOut = model_of(cost.DriverUse, "CostDriverOut",
                     "A pool's driver: quantity × rate = cost (rate: cost ÷ quantity).")
ParameterOut = model_of(cost.ParameterView, "CostParameterOut",
                        "A cost parameter row; in_force marks the row used in the month.")


class BonusOut(BaseModel):
    market_id: int
    kind: str = Field(description="team or person (key person 关键人)")
    recipient_id: int
    name: str
    amount: float


class LedgerOut(BaseModel):
    month: dt.date
    rows: list[LedgerRowOut]
    transfers: list[TransferOut]
    bonuses: list[BonusOut]
    markets: list[DetailOut]


class PoolOut(BaseModel):
    pool: str
    variable: float
    fixed: float
    drivers: list[DriverOut]


class CostRowOut(BaseModel):
    key: str
    label: str
    parcels: int
    revenue: float
    cost: float
    cost_per_parcel: float | None
    pools: list[PoolOut]


class CostOut(BaseModel):
    month: dt.date
    by: str
    rows: list[CostRowOut]
    mixed_saving: dict[str, float] = Field(description="Mixed collection (N4): stops and "
                                           "yuan saved in the month.")


class ParametersOut(BaseModel):
    month: dt.date
    parameters: list[ParameterOut]


class ParameterIn(BaseModel):
    org_code: str = Field(min_length=1, max_length=32)
    pool: CostPool
    driver: CostDriver
    zone: Literal["*", "same", "neighbour", "far", "remote"] = ALL_ZONES
    rate: float = Field(ge=0, le=1e9)
    fixed_per_month: float = Field(0.0, ge=0, le=1e12)
    allocation_key: Literal["pieces", "weight", "revenue"] = "pieces"
    valid_from: str = Field(pattern=MONTH_PATTERN, description="First month, YYYY-MM.")
    version: int | None = Field(None, ge=1, le=2**31 - 1)


# -- the service calls, shared by page, API and downloads ----------------------------------------
def _month(ctx: RequestContext, month: str | None) -> dt.date:
    if month:
        return dt.datetime.strptime(month, "%Y-%m").date()
    return ctx.figure("finance.latest_month",
                      lambda: ledger.latest_month(ctx.con, ctx.lake, ctx.scope))


def statement(request: Request, ctx: RequestContext, month: dt.date) -> ledger.Statement:
    rules = rules_of(request, FinanceRules)
    return ctx.figure("finance.statement", lambda: ledger.statement(
        ctx.con, ctx.lake, ctx.db, ctx.scope, month, rules), month, rules.model_dump_json())


def cost_rows(request: Request, ctx: RequestContext, month: dt.date, by: str):
    rules = rules_of(request, FinanceRules)
    return ctx.figure("finance.cost", lambda: cost.cost_per_parcel(
        ctx.con, ctx.lake, ctx.db, ctx.scope, month, by, rules), month, by,
        rules.model_dump_json())


def mixed_saving(request: Request, ctx: RequestContext, month: dt.date) -> cost.MixedSaving:
    rules = rules_of(request, FinanceRules)

    def compute():
        inputs = cost.CostInputs.load(ctx.db, ctx.scope, month, rules)
        return cost.mixed_collection_saving(ctx.con, ctx.lake, inputs)

    return ctx.figure("finance.mixed", compute, month, rules.model_dump_json())


def _ledger_out(st: ledger.Statement) -> LedgerOut:
    return LedgerOut(
        month=st.month,
        rows=[{**dataclasses.asdict(r), "result": round(r.result, 2)} for r in st.rows],
        transfers=[dataclasses.asdict(t) for t in st.transfers],
        bonuses=[BonusOut(market_id=b.market_id, kind=b.recipient.kind,
                          recipient_id=b.recipient.id, name=b.recipient.name, amount=b.amount)
                 for b in st.bonuses],
        markets=[dataclasses.asdict(m) for m in st.markets])


def _saving_dict(s: cost.MixedSaving) -> dict[str, float]:
    return {**{k: float(v) for k, v in dataclasses.asdict(s).items()}, "total": s.total}


# -- downloads -----------------------------------------------------------------------------------
LEDGER_COLUMNS = (
    Column("org_code", "Code"), Column("name", "Org unit"), Column("level", "Level"),
    Column("parent_code", "Parent"), Column("parcels", "Parcels", "int"),
    Column("revenue", "Revenue", "money"), Column("cost", "Cost", "money"),
    Column("profit", "Profit", "money"), Column("loss_cover", "Loss cover", "money"),
    Column("bonus_pool", "Bonus pool", "money"), Column("outlet_share", "Outlet share", "money"),
    Column("result", "Result", "money", value=lambda r: r.result),
)
MARKET_COLUMNS = (
    Column("city_code", "City"), Column("label", "Market"), Column("parcels", "Parcels", "int"),
    Column("revenue", "Revenue", "money"), Column("cost", "Cost", "money"),
    Column("profit", "Profit", "money"), Column("bonus_pool", "Bonus pool", "money"),
)
TRANSFER_COLUMNS = (Column("from_code", "From"), Column("to_code", "To"),
                    Column("amount", "Loss cover", "money"))


def _cost_columns() -> tuple[Column, ...]:
    cols = [Column("key", "Key"), Column("label", "Name"), Column("parcels", "Parcels", "int"),
            Column("revenue", "Revenue", "money"), Column("cost", "Cost", "money"),
            Column("cost_per_parcel", "Cost per parcel", "money")]
    for i, pool in enumerate(cost.POOLS):
        cols.append(Column(f"{pool.value}_variable", POOL_LABELS[pool.value],
                           "money", value=lambda r, i=i: r.pools[i].variable))
        cols.append(Column(f"{pool.value}_fixed", "Fixed part", "money",
                           value=lambda r, i=i: r.pools[i].fixed))
    return tuple(cols)


PARAMETER_COLUMNS = (
    Column("org_code", "Org unit"), Column("pool", "Cost pool"), Column("driver", "Driver"),
    Column("zone", "Zone"), Column("rate", "Rate", "dec"),
    Column("fixed_per_month", "Fixed a month", "money"),
    Column("allocation_key", "Allocation key"), Column("valid_from", "Valid from", "date"),
    Column("in_force", "In force"),
)


# -- the ledger ----------------------------------------------------------------------------------
@router.get("/finance", include_in_schema=False)
def finance_page(request: Request, ctx: Context, download: Download, month: MonthQuery = None):
    """The month's ledger: org units, both sides of each loss cover, bonus shares, markets."""
    when = _month(ctx, month)
    st = statement(request, ctx, when)
    if download:
        table = download.table or "ledger"
        rows, cols = {"ledger": (st.rows, LEDGER_COLUMNS),
                      "markets": (st.markets, MARKET_COLUMNS),
                      "transfers": (st.transfers, TRANSFER_COLUMNS)}.get(table, (None, None))
        if rows is None:
            raise HTTPException(404, ctx.t("Not found"))
        return download_response(rows, cols, f"ledger-{when:%Y-%m}-{table}", download,
                                 ctx.locale)
    return render(request, "finance.html", {"st": st, "month": when, "fl": LABELS})


@router.get("/api/finance/ledger", response_model=LedgerOut, tags=["money"])
def api_ledger(request: Request, ctx: Context, month: MonthQuery = None) -> LedgerOut:
    """The monthly ledger in the caller's scope (same rows as ``/finance`` and ``jiqun finance
    ledger``): revenue, cost, profit, loss cover, bonus pool, outlet share per org unit."""
    return _ledger_out(statement(request, ctx, _month(ctx, month)))


@router.get("/api/finance/ledger/{by}", response_model=list[DetailOut], tags=["money"])
def api_ledger_by(request: Request, ctx: Context, by: Breakdown,
                  month: MonthQuery = None) -> list[DetailOut]:
    """Revenue, cost and profit of the month per market, grid or customer, by city."""
    when = _month(ctx, month)
    rules = rules_of(request, FinanceRules)
    rows = ctx.figure("finance.by", lambda: ledger.ledger_by(
        ctx.con, ctx.lake, ctx.db, ctx.scope, when, by, rules), when, by,
        rules.model_dump_json())
    return [dataclasses.asdict(r) for r in rows]


@router.get("/finance/statement.pdf", include_in_schema=False)
def statement_pdf(request: Request, ctx: Context, month: MonthQuery = None):
    """The month's statement printed as PDF (503 where the server has no browser)."""
    from jiqun.reports.pdf import PdfError, html_to_pdf

    when = _month(ctx, month)
    st = statement(request, ctx, when)
    page = render(request, "finance_statement.html", {"st": st, "month": when})
    with tempfile.TemporaryDirectory(prefix="jiqun-statement-") as tmp:
        html = Path(tmp) / "statement.html"
        html.write_bytes(page.body)
        out = Path(tmp) / "statement.pdf"
        try:
            html_to_pdf(html, out)
        except PdfError as e:
            raise HTTPException(503, ctx.t("The PDF cannot be printed on this server.")) from e
        data = out.read_bytes()
    return Response(data, media_type="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="statement-{when:%Y-%m}.pdf"'})


# -- cost per parcel -----------------------------------------------------------------------------
@router.get("/finance/cost", include_in_schema=False)
def cost_page(request: Request, ctx: Context, download: Download, by: By = "market",
              month: MonthQuery = None):
    """Cost per parcel by a dimension, each row explained by its drivers."""
    when = _month(ctx, month)
    rows = cost_rows(request, ctx, when, by)
    if download:
        return download_response(rows, _cost_columns(), f"cost-{when:%Y-%m}-{by}", download,
                                 ctx.locale)
    return render(request, "finance_cost.html", {
        "rows": rows[:200], "total": len(rows), "by": by, "month": when,
        "dimensions": cost.DIMENSIONS, "saving": mixed_saving(request, ctx, when),
        "fl": LABELS})


@router.get("/api/finance/cost", response_model=CostOut, tags=["money"])
def api_cost(request: Request, ctx: Context, by: By = "market",
             month: MonthQuery = None) -> CostOut:
    """Cost per parcel of the month by customer, market, lane, product, grid or city, each pool
    as driver quantity × rate + fixed part (same rows as ``jiqun finance cost``)."""
    when = _month(ctx, month)
    rows = cost_rows(request, ctx, when, by)
    return CostOut(month=when, by=by, rows=[dataclasses.asdict(r) for r in rows],
                   mixed_saving=_saving_dict(mixed_saving(request, ctx, when)))


# -- parameters ----------------------------------------------------------------------------------
def _set(ctx: RequestContext, data: ParameterIn):
    from sqlalchemy import select

    unit = ctx.db.scalar(select(OrgUnit.id).where(OrgUnit.code == data.org_code))
    if unit is None or not ctx.scope.allows(unit):
        raise Invalid({"org_code": "Cost parameters belong to a province or a city"})
    row = cost.set_parameter(
        ctx.db, org_unit_id=unit, pool=data.pool, driver=data.driver,
        valid_from=dt.datetime.strptime(data.valid_from, "%Y-%m").date(), rate=data.rate,
        fixed_per_month=data.fixed_per_month, zone=data.zone,
        allocation_key=data.allocation_key, version=data.version)
    ctx.db.commit()
    return row


def _units_editable(ctx: RequestContext) -> list[str]:
    from sqlalchemy import select

    from jiqun.store.models import OrgLevel

    codes = ctx.db.execute(select(OrgUnit.id, OrgUnit.code).where(OrgUnit.level.in_(
        (OrgLevel.HQ, OrgLevel.PROVINCE, OrgLevel.CITY))).order_by(OrgUnit.path)).all()
    return [c for i, c in codes if ctx.scope.allows(i)]


@router.get("/finance/parameters", include_in_schema=False)
def parameters_page(request: Request, ctx: Context, download: Download,
                    month: MonthQuery = None, done: str | None = None):
    """The cost parameters in scope (every dated row: the history) and the edit form."""
    when = dt.datetime.strptime(month, "%Y-%m").date() if month else dt.date.today()
    rows = cost.parameter_list(ctx.db, when)
    if download:
        return download_response(rows, PARAMETER_COLUMNS, "cost-parameters", download,
                                 ctx.locale)
    return render(request, "finance_parameters.html", {
        "rows": rows, "month": when.replace(day=1), "may_edit": ctx.user.may(Action.COST_EDIT),
        "units": _units_editable(ctx), "pools": list(cost.POOL_DRIVERS.items()),
        "zones": ("*", *cost.ZONES), "done": bool(done), "fl": LABELS})


@router.get("/api/finance/parameters", response_model=ParametersOut, tags=["money"])
def api_parameters(ctx: Context, month: MonthQuery = None) -> ParametersOut:
    """The cost parameters the caller's units own; ``in_force`` in the month (this month)."""
    when = dt.datetime.strptime(month, "%Y-%m").date() if month else dt.date.today()
    return ParametersOut(month=when.replace(day=1), parameters=[
        dataclasses.asdict(r) for r in cost.parameter_list(ctx.db, when)])


@router.post("/finance/parameters", include_in_schema=False,
             dependencies=[allow(Action.COST_EDIT)])
def parameters_form(
    ctx: Context,
    org_code: Annotated[str, Form(min_length=1, max_length=32)],
    pool: Annotated[CostPool, Form()],
    driver: Annotated[CostDriver, Form()],
    rate: Annotated[float, Form(ge=0, le=1e9)],
    valid_from: Annotated[str, Form(pattern=MONTH_PATTERN)],
    zone: Annotated[Literal["*", "same", "neighbour", "far", "remote"], Form()] = ALL_ZONES,
    fixed_per_month: Annotated[float, Form(ge=0, le=1e12)] = 0.0,
    allocation_key: Annotated[Literal["pieces", "weight", "revenue"], Form()] = "pieces",
):
    _set(ctx, ParameterIn(org_code=org_code, pool=pool, driver=driver, zone=zone, rate=rate,
                          fixed_per_month=fixed_per_month, allocation_key=allocation_key,
                          valid_from=valid_from))
    return RedirectResponse("/finance/parameters?done=1", status_code=303)


@router.post("/api/finance/parameters", response_model=ParameterOut, tags=["money"],
             dependencies=[allow(Action.COST_EDIT)],
             responses={409: {"description": "The row changed since the version sent"}})
def api_set_parameter(ctx: Context, data: ParameterIn) -> ParameterOut:
    """Set one driver rate of a pool for a province or city from a month on (cost.edit)."""
    row = _set(ctx, data)
    view = next(v for v in cost.parameter_list(ctx.db, row.valid_from) if v.id == row.id)
    return dataclasses.asdict(view)


