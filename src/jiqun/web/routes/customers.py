"""Customers (客户档案): searchable, paginated list and one merchant's page.

The owner of a customer (and its VIP manager, and who visited it) are facts of the customer: the
same names for every viewer who may see the customer, read by :mod:`jiqun.sales.people` even
when the person's own record lies outside the viewer's subtree. A filter naming a market the
viewer cannot see is 404 (an empty page would neither confirm nor deny it exists elsewhere).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated

from fastapi import APIRouter, Query, Request
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from jiqun.errors import NotFound
from jiqun.kpi import overview
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
from jiqun.store.scope import values_by_id
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
from jiqun.web.templating import render

router = APIRouter()

PAGE_SIZE = 20
MAX_PAGE_SIZE = 200
MONTHS_SHOWN = 12
VISITS_SHOWN = 20


def market_names(db: Session, ids) -> dict[int, str]:
    """Names of the markets of records the viewer sees (a customer's, a grid's market).

    The market is a fact of the record, the same for every viewer: an outlet's merchants belong
    to the county's market, whose own row lies above the marketer's subtree. As with people's
    names (:mod:`jiqun.sales.people`), only ``id → name`` pairs are read past the scope
    (:func:`~jiqun.store.scope.values_by_id`), never ``Market`` rows into the scoped session. Callers pass only ids they read
    from records the viewer can see."""
    return {mid: row.name for mid, row in values_by_id(db, Market.id, Market.name,
                                                        ids=ids).items()}


def _market_names(ctx: RequestContext, ids) -> dict[int, str]:
    return market_names(ctx.db, ids)




def customer_page(
    ctx: RequestContext,
    *,
    q: str | None = None,
    stage: LifecycleStage | None = None,
    tier: CustomerTier | None = None,
    market_id: int | None = None,
    page: int = 1,
    page_size: int = PAGE_SIZE,
) -> CustomerPageOut:
    """One page of customers in scope matching a name/code/phone search and filters."""
    query = select(Customer)
    if q:
        pattern = f"%{q.strip()}%"
        query = query.where(or_(Customer.name.ilike(pattern), Customer.code.ilike(pattern),
                                Customer.phone.ilike(pattern)))
    if stage is not None:
        query = query.where(Customer.lifecycle_stage == stage)
    if tier is not None:
        query = query.where(Customer.tier == tier)
    if market_id is not None:
        if ctx.db.get(Market, market_id) is None:  # scoped: a foreign market is not found
            raise NotFound(market_id)
        query = query.where(Customer.market_id == market_id)
    total = ctx.db.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = list(ctx.db.scalars(
        query.order_by(Customer.est_daily_volume.desc().nulls_last(), Customer.id)
        .offset((page - 1) * page_size).limit(page_size)
    ))
    markets = _market_names(ctx, (c.market_id for c in rows))
    owners = customer_people(ctx.db, rows)
    items = [
        CustomerRowOut(
            id=c.id, code=c.code, name=c.name, phone=c.phone, market_id=c.market_id,
            market_name=markets.get(c.market_id), lifecycle_stage=c.lifecycle_stage.value,
            tier=c.tier.value if c.tier else None, vip=bool(c.vip),
            est_daily_volume=c.est_daily_volume, owner_name=owners.get(c.owner_id),
        )
        for c in rows
    ]
    return CustomerPageOut(items=items, total=total, page=page, page_size=page_size,
                           pages=max(1, math.ceil(total / page_size)))


def customer_detail(ctx: RequestContext, customer_id: int) -> CustomerDetailOut:
    customer = ctx.db.get(Customer, customer_id)  # scoped: foreign customers are not found
    if customer is None:
        raise not_found(ctx, "Customer not found")
    carriers = ctx.db.scalars(
        select(CustomerCarrier).where(CustomerCarrier.customer_id == customer.id)
        .order_by(CustomerCarrier.share.desc().nulls_last())
    ).all()
    visits = ctx.db.scalars(
        select(Visit).where(Visit.customer_id == customer.id)
        .order_by(Visit.visited_at.desc()).limit(VISITS_SHOWN)
    ).all()
    users = {**customer_people(ctx.db, [customer]), **names_of(ctx.db, (v.user_id for v in visits))}
    market_name = _market_names(ctx, [customer.market_id]).get(customer.market_id)
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
    return customer_page(ctx, q=q, stage=stage, tier=tier, market_id=market_id, page=page,
                         page_size=page_size)


@router.get("/api/customers/{customer_id}", response_model=CustomerDetailOut,
            tags=["customers"],
            responses={404: {"description": "No such customer in the caller's scope"}})
def api_customer(ctx: Context, customer_id: IdPath) -> CustomerDetailOut:
    """One customer: archive, owner, carriers and prices, visits, monthly volume (12 months)."""
    return customer_detail(ctx, customer_id)


@router.get("/customers", include_in_schema=False)
def customers_page(
    request: Request,
    ctx: Context,
    q: Annotated[str | None, Query(max_length=100)] = None,
    stage: Annotated[str | None, Query(max_length=32)] = None,
    tier: Annotated[str | None, Query(max_length=32)] = None,
    market_id: FormIdQuery = None,
    page: PageQuery = 1,
):
    # The filter form sends empty strings for "all"; unknown stage or tier codes are ignored.
    stage_value = LifecycleStage(stage) if stage in LifecycleStage._value2member_map_ else None
    tier_value = CustomerTier(tier) if tier in CustomerTier._value2member_map_ else None
    market_value = market_id
    data = customer_page(ctx, q=q, stage=stage_value, tier=tier_value, market_id=market_value,
                         page=page)
    markets = ctx.db.execute(select(Market.id, Market.name).order_by(Market.name)).all()
    context = {
        "data": data, "markets": markets,
        "filters": {"q": q or "", "stage": stage_value.value if stage_value else "",
                    "tier": tier_value.value if tier_value else "", "market_id": market_value},
    }
    template = "_customer_table.html" if request.headers.get("HX-Request") == "true" \
        else "customers.html"
    return render(request, template, context)


@router.get("/customers/{customer_id}", include_in_schema=False)
def customer_detail_page(request: Request, ctx: Context, customer_id: IdPath):
    return render(request, "customer.html", {"data": customer_detail(ctx, customer_id)})
