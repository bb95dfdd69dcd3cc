"""Customers (客户档案): searchable, paginated list and one merchant's page.

The owner of a customer (and its VIP manager, and who visited it) are facts of the customer: the
same names for every viewer who may see the customer, read by :mod:`jiqun.sales.people` even
when the person's own record lies outside the viewer's subtree. A filter naming a market the
viewer cannot see is 404 (an empty page would neither confirm nor deny it exists elsewhere).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Query, Request
from sqlalchemy import select

from jiqun.kpi import overview
from jiqun.money import cards
from jiqun.permissions import Action
from jiqun.sales.customer_search import (
    CustomerSearch,
    count_found,
    find_customers,
    market_names,
)
from jiqun.sales.people import customer_people, names_of
from jiqun.store.models import (
    Customer,
    CustomerCarrier,
    CustomerTier,
    Grid,
    LifecycleStage,
    Market,
    Visit,
)
from jiqun.web import labels
from jiqun.web.deps import Context, RequestContext, not_found
from jiqun.web.params import FormIdQuery, IdPath, IdQuery, PageQuery
from jiqun.web.schemas import (
    CarrierOut,
    CustomerDetailOut,
    CustomerOut,
    CustomerPageOut,
    CustomerRowOut,
    MonthPointOut,
    VisitOut,
)
from jiqun.web.tables import (
    Column,
    Download,
    Paged,
    PageRequest,
    download_response,
    paginate,
    paginate_counted,
    paging,
)
from jiqun.web.templating import render

router = APIRouter()

PAGE_SIZE = 20
MAX_PAGE_SIZE = 200
CustomerPaging = paging(per_page=PAGE_SIZE)
VisitPaging = paging(per_page=10, param="visits_page", size_param="visits_per_page")
_PLAIN = re.compile(r"^[A-Za-z0-9_-]{1,40}$")  # a code that can name a file as it is
MONTHS_SHOWN = 12
VISITS_SHOWN = 20


def customer_paged(ctx: RequestContext, search: CustomerSearch,
                   request: PageRequest) -> Paged[CustomerRowOut]:
    """One page of the customers ``search`` finds (:mod:`jiqun.sales.customer_search`)."""
    found = count_found(ctx.db, search)
    return paginate_counted(
        found.total,
        lambda offset, limit: [CustomerRowOut(**asdict(r)) for r in
                               find_customers(ctx.db, search, offset, limit, found.capped)],
        request, found.capped)


def customer_page(ctx: RequestContext, search: CustomerSearch, page: int = 1,
                  page_size: int = PAGE_SIZE) -> CustomerPageOut:
    """The API's page of customers (a page past the end is the last page)."""
    found = customer_paged(ctx, search, PageRequest(page, page_size))
    return CustomerPageOut(items=found.items, total=found.total, total_capped=found.capped,
                           page=found.page, page_size=found.per_page, pages=found.pages)


def customer_detail(ctx: RequestContext, customer_id: int,
                    visits_shown: int | None = VISITS_SHOWN) -> CustomerDetailOut:
    """One customer; its latest ``visits_shown`` visits (``None``: every one)."""
    customer = ctx.db.get(Customer, customer_id)  # scoped: foreign customers are not found
    if customer is None:
        raise not_found(ctx, "Customer not found")
    carriers = ctx.db.scalars(
        select(CustomerCarrier).where(CustomerCarrier.customer_id == customer.id)
        .order_by(CustomerCarrier.share.desc().nulls_last())
    ).all()
    visits_query = select(Visit).where(Visit.customer_id == customer.id) \
        .order_by(Visit.visited_at.desc(), Visit.id.desc())
    if visits_shown is not None:
        visits_query = visits_query.limit(visits_shown)
    visits = ctx.db.scalars(visits_query).all()
    users = {**customer_people(ctx.db, [customer]), **names_of(ctx.db, (v.user_id for v in visits))}
    market_name = market_names(ctx.db, [customer.market_id]).get(customer.market_id)
    grid = ctx.db.get(Grid, customer.grid_id) if customer.grid_id else None
    as_of = overview.data_date(ctx.con, ctx.lake, ctx.scope) or dt.date.today()
    first = overview.month_start(as_of)
    for _ in range(MONTHS_SHOWN - 1):
        first = overview.month_start(first - dt.timedelta(days=1))
    monthly = overview.customer_monthly_volume(ctx.con, ctx.lake, ctx.scope, customer.id,
                                               first, as_of)
    return CustomerDetailOut(
        customer=CustomerOut(
            id=customer.id, code=customer.code, name=customer.name, contact=customer.contact,
            phone=customer.phone, address=customer.address, adcode=customer.adcode,
            market_id=customer.market_id, market_name=market_name,
            grid_name=grid.name if grid else None,
            platforms=list(customer.platforms or []), categories=list(customer.categories or []),
            est_daily_volume=customer.est_daily_volume,
            lifecycle_stage=customer.lifecycle_stage.value,
            tier=customer.tier.value if customer.tier else None, vip=bool(customer.vip),
            owner_name=users.get(customer.owner_id),
            first_shipped_on=customer.first_shipped_on, archived_on=customer.archived_on,
        ),
        carriers=[CarrierOut(carrier=c.carrier, share=c.share, price_first_kg=c.price_first_kg)
                  for c in carriers],
        visits=[VisitOut(visited_at=v.visited_at, method=v.method, outcome=v.outcome,
                         next_step=v.next_step, next_visit_on=v.next_visit_on,
                         visitor=users.get(v.user_id)) for v in visits],
        monthly=[MonthPointOut(month=m.month, parcels=m.parcels, revenue=m.revenue)
                 for m in monthly],
    )


@router.get("/api/customers", response_model=CustomerPageOut, tags=["customers"],
            responses={404: {"description": "No such market in the caller's scope"}})
def api_customers(
    ctx: Context,
    q: Annotated[str | None, Query(max_length=100)] = None,
    stage: LifecycleStage | None = None,
    tier: CustomerTier | None = None,
    market_id: IdQuery = None,
    page: PageQuery = 1,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = PAGE_SIZE,
) -> CustomerPageOut:
    """Customers in the caller's scope: search by name, code or phone; filter; paginate.
    A market the caller cannot see is 404."""
    return customer_page(ctx, CustomerSearch(q, stage, tier, market_id), page, page_size)


@router.get("/api/customers/{customer_id}", response_model=CustomerDetailOut,
            tags=["customers"],
            responses={404: {"description": "No such customer in the caller's scope"}})
def api_customer(ctx: Context, customer_id: IdPath) -> CustomerDetailOut:
    """One customer: archive, owner, carriers and prices, visits, monthly volume (12 months)."""
    return customer_detail(ctx, customer_id)


def customer_columns(t) -> tuple[Column, ...]:
    """The customer list as downloaded."""
    return (
        Column("code", "Code"), Column("name", "Customer"), Column("market_name", "Market"),
        Column("lifecycle_stage", "Stage",
               value=lambda r: t(labels.label(labels.STAGES, r.lifecycle_stage))),
        Column("tier", "Tier",
               value=lambda r: t(labels.label(labels.TIERS, r.tier)) if r.tier else None),
        Column("vip", "VIP"), Column("est_daily_volume", "Est. parcels per day", "dec"),
        Column("owner_name", "Owner"), Column("phone", "Phone"),
    )


@router.get("/customers", include_in_schema=False)
def customers_page(
    request: Request,
    ctx: Context,
    paging: CustomerPaging,
    download: Download,
    q: Annotated[str | None, Query(max_length=100)] = None,
    stage: Annotated[str | None, Query(max_length=32)] = None,
    tier: Annotated[str | None, Query(max_length=32)] = None,
    market_id: FormIdQuery = None,
):
    # The filter form sends empty strings for "all"; unknown stage or tier codes are ignored.
    stage_value = LifecycleStage(stage) if stage in LifecycleStage._value2member_map_ else None
    tier_value = CustomerTier(tier) if tier in CustomerTier._value2member_map_ else None
    search = CustomerSearch(q, stage_value, tier_value, market_id)
    if download:
        rows = find_customers(ctx.db, search)  # every one the search finds
        return download_response(rows, customer_columns(ctx.t), "customers", download,
                                 ctx.locale)
    data = customer_paged(ctx, search, paging)
    markets = ctx.db.execute(select(Market.id, Market.name).order_by(Market.name)).all()
    context = {
        "data": data, "markets": markets,
        "filters": {"q": q or "", "stage": stage_value.value if stage_value else "",
                    "tier": tier_value.value if tier_value else "", "market_id": market_id},
    }
    template = "_customer_table.html" if request.headers.get("HX-Request") == "true" \
        else "customers.html"
    return render(request, template, context)


def customer_tables(t) -> dict[str, tuple[Column, ...]]:
    """The tables of a customer's page as downloaded, by ``?table=``."""
    return {
        "visits": (
            Column("visited_at", "Date", "date", value=lambda v: v.visited_at.date()),
            Column("visitor", "Visitor"),
            Column("method", "Method",
                   value=lambda v: t(labels.label(labels.VISIT_METHODS, v.method))),
            Column("outcome", "Outcome",
                   value=lambda v: t(labels.label(labels.VISIT_OUTCOMES, v.outcome))),
            Column("next_step", "Next step"), Column("next_visit_on", "Next visit", "date"),
        ),
        "carriers": (Column("carrier", "Carrier"), Column("share", "Share of parcels", "pct"),
                     Column("price_first_kg", "First-kg price", "money")),
        "monthly": (Column("month", "Month", value=lambda m: m.month.strftime("%Y-%m")),
                    Column("parcels", "Parcels", "int"),
                    Column("revenue", "Revenue", "money")),
    }


@router.get("/customers/{customer_id}", include_in_schema=False)
def customer_detail_page(request: Request, ctx: Context, customer_id: IdPath,
                         visits_page: VisitPaging, download: Download,
                         contract: Annotated[str | None, Query(max_length=48)] = None):
    """Every visit, paged; each table downloadable (``?format=…&table=visits``); the customer's
    contract prices with the form that sets one."""
    data = customer_detail(ctx, customer_id, visits_shown=None)
    if download:
        tables = customer_tables(ctx.t)
        table = download.table or "visits"
        if table not in tables:
            raise not_found(ctx)
        return download_response(getattr(data, table), tables[table],
                                 f"customer-{data.customer.code}-{table}"
                                 if _PLAIN.match(data.customer.code)
                                 else f"customer-{data.customer.id}-{table}",
                                 download, ctx.locale)
    may_contract = ctx.user.may(Action.PRICE_CONTRACT.value)
    return render(request, "customer.html", {
        "data": data, "visits": paginate(data.visits, visits_page),
        "contracts": cards.contract_list(ctx.db, customer_id),
        "bundles": cards.visible_bundles(ctx.db) if may_contract else [],
        "may_contract": may_contract, "contract_done": contract})
