"""Prices (一地一价, P1 and C4): /prices, /prices/cards/{id}, /prices/quote, /prices/bundles and
their JSON twins under /api/prices (tag ``money``).

Every figure comes from :mod:`jiqun.money.cards` and :mod:`jiqun.money.rates` through the
request's scoped context: the same calls as ``jiqun price …``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from jiqun.bounds import MAX_ID
from jiqun.errors import Invalid, NotFound
from jiqun.money import cards
from jiqun.money.floor import cost_floor
from jiqun.money.price_rules import PriceRules
from jiqun.money.rates import quote
from jiqun.permissions import Action
from jiqun.store.models import Customer, Market, Product
from jiqun.web.deps import Context, RequestContext, allow, rules_of
from jiqun.web.params import DateQuery, MonthQuery
from jiqun.web.schemas import model_of
from jiqun.web.tables import Column, Download, download_response
from jiqun.web.templating import render

router = APIRouter()

CardOut = model_of(cards.CardRow, "PriceCardOut",
                   "A rate card and its version in force on the day asked.")
PendingOut = model_of(cards.Pending, "PricePendingOut",
                      "A card version or contract below the floor waiting for approval.")
BundleOut = model_of(cards.BundleRow, "PriceBundleOut",
                     "A bundle (C4) with its merchants, parcels and revenue.")
ContractOut = model_of(cards.ContractRow, "PriceContractOut", "A contract price (协议价).")
ProductName = Literal["express", "parcel", "standard"]


class CardsOut(BaseModel):
    on: dt.date
    cards: list[CardOut]
    approvals: list[PendingOut]


class LineOut(BaseModel):
    zone: str
    weight_from_kg: float
    weight_to_kg: float
    first_weight_kg: float
    first_price: float
    extra_per_kg: float


class VersionOut(BaseModel):
    id: int
    number: int
    status: str
    valid_from: dt.date
    valid_to: dt.date | None
    volumetric_divisor: float
    note: str | None
    proposed_by: str | None
    approved_by: str | None
    approved_at: dt.datetime | None
    row_version: int
    lines: list[LineOut]
    surcharges: list[dict]
    changes: list[dict] = Field(description="Lines added, removed or changed against the "
                                            "previous version.")


class CardDetailOut(BaseModel):
    card: CardOut
    versions: list[VersionOut]


class SurchargeOut(BaseModel):
    kind: str
    position: int
    added: float


class RuleOut(BaseModel):
    card_code: str
    card_name: str
    origin: str
    version: int
    version_from: dt.date
    zone: str
    weight_from_kg: float
    weight_to_kg: float
    first_weight_kg: float
    first_price: float
    extra_per_kg: float
    contract: str | None
    discount: float
    bundle: str | None
    bundle_adjustment: float
    surcharges: list[SurchargeOut]
    override: bool


class QuoteOut(BaseModel):
    price: float
    chargeable_weight: float
    product: str
    on: dt.date
    floor: float
    floor_source: str
    below_floor: bool
    rule: RuleOut


class BundlesOut(BaseModel):
    month: dt.date = Field(description="First day of the month of the figures.")
    last_day: dt.date
    bundles: list[BundleOut]


class StepOut(BaseModel):
    card_id: int
    number: int
    status: str
    row_version: int


class ContractApproveOut(BaseModel):
    id: int
    code: str
    status: str


STEP_ERRORS = {403: {"description": "The user's role or level may not take this step"},
               404: {"description": "No such card or version in the user's area"},
               409: {"description": "The version changed, or is not in the state the step needs"}}

CARD_COLUMNS = (Column("code", "Code"), Column("name", "Name"), Column("origin", "Origin"),
                Column("product", "Product"), Column("market", "Market"),
                Column("version", "Version", "int"), Column("valid_from", "In force from"),
                Column("lowest_first_price", "Lowest first-weight price", "money"))


# -- reading ----------------------------------------------------------------------------------
def _find_card_id(ctx: RequestContext, card_id: int) -> int:
    return cards.find_card(ctx.db, card_id).id


@router.get("/prices", include_in_schema=False)
def prices_page(request: Request, ctx: Context, download: Download, on: DateQuery = None,
                done: str | None = None):
    """The cards in scope with their version in force, and the approvals below the floor."""
    rows = cards.card_list(ctx.db, on)
    if download:
        return download_response(rows, CARD_COLUMNS, "rate-cards", download, ctx.locale)
    return render(request, "prices.html", {
        "cards": rows, "approvals": cards.pending_approvals(ctx.db), "on": on or dt.date.today(),
        "done": (done or "")[:40] or None})


@router.get("/api/prices/cards", response_model=CardsOut, tags=["money"])
def api_cards(ctx: Context, on: DateQuery = None) -> CardsOut:
    """Rate cards in the caller's area with the version in force on ``on`` (today), and what
    waits for approval below the floor. Same rows as ``/prices`` and ``jiqun price cards``."""
    return CardsOut(on=on or dt.date.today(),
                    cards=[dataclasses.asdict(r) for r in cards.card_list(ctx.db, on)],
                    approvals=[dataclasses.asdict(p) for p in cards.pending_approvals(ctx.db)])


def _detail(ctx: RequestContext, card_id: int) -> cards.CardDetail:
    return cards.card_detail(ctx.db, _find_card_id(ctx, card_id))


@router.get("/prices/cards/{card_id}", include_in_schema=False)
def card_page(request: Request, ctx: Context, card_id: int):
    """A card: its versions with their lines, history and diff to the previous version."""
    if not 1 <= card_id <= MAX_ID:
        raise NotFound("rate card")
    detail = _detail(ctx, card_id)
    return render(request, "prices_card.html", {
        "detail": detail, "may_edit": ctx.user.may(Action.PRICE_CARD_EDIT),
        "may_approve": ctx.user.may(Action.PRICE_APPROVE)})


@router.get("/prices/cards/{card_id}/xlsx", include_in_schema=False)
def card_xlsx(ctx: Context, card_id: int, number: Annotated[int | None, Query(ge=1, le=10_000)]
              = None):
    """The card's version as the import's spreadsheet (re-importing it changes nothing)."""
    if not 1 <= card_id <= MAX_ID:
        raise NotFound("rate card")
    card = cards.find_card(ctx.db, card_id)
    data = cards.export_xlsx(ctx.db, card.id, number)
    return Response(data, media_type="application/vnd.openxmlformats-officedocument."
                    "spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="{card.code}.xlsx"'})


@router.get("/api/prices/cards/{card_id}", response_model=CardDetailOut, tags=["money"],
            responses={404: {"description": "No such card in the caller's area"}})
def api_card(ctx: Context, card_id: Annotated[int, Field(ge=1, le=MAX_ID)]) -> CardDetailOut:
    """A card's versions, newest first: status, dates, lines, surcharges and the change of
    each line against the version before it."""
    detail = _detail(ctx, card_id)
    return CardDetailOut(card=dataclasses.asdict(detail.card),
                         versions=[dataclasses.asdict(v) for v in detail.versions])


def _market_id(ctx: RequestContext, code: str) -> int:
    found = ctx.db.scalar(select(Market.id).where(Market.code == code))
    if found is None:
        raise Invalid({"market": "Unknown market"})
    return found


def _customer_id(ctx: RequestContext, code: str | None) -> int | None:
    if not code:
        return None
    found = ctx.db.scalar(select(Customer.id).where(Customer.code == code))
    if found is None:
        raise Invalid({"customer": "Unknown customer"})
    return found


Code = Annotated[str, Query(min_length=1, max_length=48)]
Adcode = Annotated[str, Query(pattern=r"^\d{6}$")]
Weight = Annotated[float, Query(gt=0, le=1000)]


def _quote(request: Request, ctx: RequestContext, market: str, to: str, weight: float,
           product: str, customer: str | None, on: dt.date | None):
    return quote(ctx.db, market_id=_market_id(ctx, market), dest_adcode=to, weight_kg=weight,
                 product=product, customer_id=_customer_id(ctx, customer), on=on,
                 rules=rules_of(request, PriceRules), costs=_costs(ctx))


def _costs(ctx: RequestContext):
    """The floor's cost per parcel, from the cost model over the request's lake connection."""
    return cost_floor(ctx.db, ctx.con, ctx.lake, ctx.scope)


@router.get("/prices/quote", include_in_schema=False)
def quote_page(request: Request, ctx: Context,
               market: Annotated[str | None, Query(max_length=48)] = None,
               to: Annotated[str | None, Query(max_length=12)] = None,
               weight: Annotated[float | None, Query(gt=0, le=1000)] = None,
               product: ProductName = "parcel",
               customer: Annotated[str | None, Query(max_length=48)] = None,
               on: DateQuery = None):
    """A quote form: market, destination, weight, product, customer → price and the rule."""
    markets = ctx.db.execute(select(Market.code, Market.name).order_by(Market.code)).all()
    answer, error = None, None
    if market and to and weight:
        try:
            answer = _quote(request, ctx, market, to, weight, product, customer, on)
        except Invalid as err:
            error = "; ".join(err.translated(ctx.t).values())
    return render(request, "prices_quote.html", {
        "markets": markets, "answer": answer, "error": error,
        "form": {"market": market or "", "to": to or "", "weight": weight or "",
                 "product": product, "customer": customer or "", "on": on},
        "products": [p.value for p in Product]}, status_code=422 if error else 200)


@router.get("/api/prices/quote", response_model=QuoteOut, tags=["money"],
            responses={404: {"description": "No such market or customer in the caller's area"},
                       422: {"description": "No card in force prices this parcel"}})
def api_quote(request: Request, ctx: Context, market: Code, to: Adcode, weight: Weight,
              product: ProductName = "parcel",
              customer: Annotated[str | None, Query(max_length=48)] = None,
              on: DateQuery = None) -> QuoteOut:
    """The price of one parcel and the rule that produced it (card, version, contract,
    bundle, surcharges). Same answer as ``jiqun price quote --format json``."""
    return QuoteOut(**_quote(request, ctx, market, to, weight, product, customer, on).as_dict())


def _month(value: str | None) -> dt.date | None:
    return None if value is None else dt.date(int(value[:4]), int(value[5:7]), 1)


@router.get("/prices/bundles", include_in_schema=False)
def bundles_page(request: Request, ctx: Context, month: MonthQuery = None):
    """Bundles per platform segment with their merchants, parcels, revenue and margin."""
    first, last = cards.month_of(_month(month) or dt.date.today() - dt.timedelta(days=1))
    rows = cards.bundle_figures(ctx.db, ctx.con, ctx.lake, ctx.scope, first)
    return render(request, "prices_bundles.html", {
        "bundles": rows, "first": first, "last": last,
        "has_cost": any(b.cost is not None for b in rows),
        "contracts": cards.contract_list(ctx.db)})


@router.get("/api/prices/bundles", response_model=BundlesOut, tags=["money"])
def api_bundles(ctx: Context, month: MonthQuery = None) -> BundlesOut:
    """Bundles the caller may offer, with the merchants on each (contracts in force on the
    month's last day), their parcels and revenue that month, and cost and margin from the cost
    model. Same rows as ``/prices/bundles``."""
    first, last = cards.month_of(_month(month) or dt.date.today() - dt.timedelta(days=1))
    rows = cards.bundle_figures(ctx.db, ctx.con, ctx.lake, ctx.scope, first)
    return BundlesOut(month=first, last_day=last,
                      bundles=[dataclasses.asdict(r) for r in rows])


# -- steps ------------------------------------------------------------------------------------
IdPath = Annotated[int, Field(ge=1, le=MAX_ID)]


def _take(request: Request, ctx: RequestContext, card_id: int, number: int, step: str,
          row_version: int | None):
    if not (1 <= card_id <= MAX_ID and 1 <= number <= MAX_ID):
        raise NotFound("rate card version")
    card = cards.find_card(ctx.db, card_id)
    if step == "activate":
        v = cards.activate(ctx.db, card.id, number, version=row_version,
                           rules=rules_of(request, PriceRules), costs=_costs(ctx))
    else:
        v = cards.approve(ctx.db, card.id, number, version=row_version)
    ctx.db.commit()
    return card, v


@router.post("/prices/cards/{card_id}/versions/{number}/activate", include_in_schema=False,
             dependencies=[allow(Action.PRICE_CARD_EDIT)])
def activate_form(request: Request, ctx: Context, card_id: int, number: int,
                  row_version: Annotated[int, Form(ge=1, le=MAX_ID)]):
    card, v = _take(request, ctx, card_id, number, "activate", row_version)
    return RedirectResponse(f"/prices/cards/{card.id}", status_code=303)


@router.post("/prices/cards/{card_id}/versions/{number}/approve", include_in_schema=False,
             dependencies=[allow(Action.PRICE_APPROVE)])
def approve_form(request: Request, ctx: Context, card_id: int, number: int,
                 row_version: Annotated[int, Form(ge=1, le=MAX_ID)]):
    card, v = _take(request, ctx, card_id, number, "approve", row_version)
    return RedirectResponse(f"/prices/cards/{card.id}", status_code=303)


class StepIn(BaseModel):
    row_version: int = Field(ge=1, le=MAX_ID, description="The version's row version as seen.")


@router.post("/api/prices/cards/{card_id}/versions/{number}/activate", response_model=StepOut,
             tags=["money"], dependencies=[allow(Action.PRICE_CARD_EDIT)],
             responses=STEP_ERRORS)
def api_activate(request: Request, ctx: Context, card_id: IdPath, number: IdPath, body: StepIn) -> StepOut:
    """Put a draft version in force from its start date; below the floor it waits for
    approval instead (status ``pending_approval``)."""
    card, v = _take(request, ctx, card_id, number, "activate", body.row_version)
    return StepOut(card_id=card.id, number=v.number, status=v.status.value,
                   row_version=v.version)


@router.post("/api/prices/cards/{card_id}/versions/{number}/approve", response_model=StepOut,
             tags=["money"], dependencies=[allow(Action.PRICE_APPROVE)], responses=STEP_ERRORS)
def api_approve(request: Request, ctx: Context, card_id: IdPath, number: IdPath, body: StepIn) -> StepOut:
    """Approve a version below the floor: the approver's unit must be above the proposer's
    level. It goes in force and supersedes the version before it."""
    card, v = _take(request, ctx, card_id, number, "approve", body.row_version)
    return StepOut(card_id=card.id, number=v.number, status=v.status.value,
                   row_version=v.version)


def _contract_code(ctx: RequestContext, contract_id: int) -> str:
    from jiqun.store.models import PriceContract

    found = ctx.db.get(PriceContract, contract_id) if 1 <= contract_id <= MAX_ID else None
    if found is None:
        raise NotFound("contract")
    return found.code


@router.post("/prices/contracts/{contract_id}/approve", include_in_schema=False,
             dependencies=[allow(Action.PRICE_APPROVE)])
def approve_contract_form(ctx: Context, contract_id: int,
                          row_version: Annotated[int, Form(ge=1, le=MAX_ID)]):
    code = _contract_code(ctx, contract_id)
    cards.approve_contract(ctx.db, code, version=row_version)
    ctx.db.commit()
    return RedirectResponse(f"/prices?done={code}", status_code=303)


@router.post("/api/prices/contracts/{contract_id}/approve", response_model=ContractApproveOut,
             tags=["money"], dependencies=[allow(Action.PRICE_APPROVE)], responses=STEP_ERRORS)
def api_approve_contract(ctx: Context, contract_id: IdPath, body: StepIn) -> ContractApproveOut:
    """Approve a contract below the floor (someone above the proposer's level)."""
    code = _contract_code(ctx, contract_id)
    c = cards.approve_contract(ctx.db, code, version=body.row_version)
    ctx.db.commit()
    return ContractApproveOut(id=c.id, code=c.code, status=c.status.value)


class ContractIn(BaseModel):
    customer: str = Field(min_length=1, max_length=48, description="The customer's code.")
    valid_from: dt.date = Field(ge=dt.date(2000, 1, 1), le=dt.date(2100, 12, 31))
    valid_to: dt.date | None = Field(None, ge=dt.date(2000, 1, 1), le=dt.date(2100, 12, 31))
    discount: float = Field(0.0, ge=0, lt=1)
    product: ProductName | None = None
    bundle: str | None = Field(None, max_length=48)


@router.post("/api/prices/contracts", response_model=ContractOut, tags=["money"],
             dependencies=[allow(Action.PRICE_CONTRACT)],
             responses={403: {"description": "The user's role may not set contract prices"},
                        404: {"description": "No such customer in the caller's area"},
                        409: {"description": "A later contract is in force already"}})
def api_set_contract(request: Request, ctx: Context, body: ContractIn) -> ContractOut:
    """Give a customer a contract price: in force from ``valid_from`` unless below the floor
    (then ``pending_approval``)."""
    c = cards.set_contract(ctx.db, customer=body.customer, valid_from=body.valid_from,
                           valid_to=body.valid_to, discount=body.discount, product=body.product,
                           bundle=body.bundle, rules=rules_of(request, PriceRules),
                           costs=_costs(ctx))
    ctx.db.commit()
    row = next(r for r in cards.contract_list(ctx.db, c.customer_id) if r.id == c.id)
    return ContractOut(**dataclasses.asdict(row))


@router.post("/customers/{customer_id}/contract", include_in_schema=False,
             dependencies=[allow(Action.PRICE_CONTRACT)])
def set_contract_form(
    request: Request, ctx: Context, customer_id: int,
    valid_from: Annotated[dt.date, Form(ge=dt.date(2000, 1, 1), le=dt.date(2100, 12, 31))],
    discount_percent: Annotated[float, Form(ge=0, lt=100)] = 0.0,
    product: Annotated[ProductName | Literal[""], Form()] = "",
    bundle: Annotated[str, Form(max_length=48)] = "",
    valid_to: Annotated[dt.date | Literal[""], Form()] = "",
):
    """The customer page's contract form (the marketer offering a price on the doorstep): the
    same service as ``POST /api/prices/contracts``; below the floor it waits for approval."""
    found = ctx.db.get(Customer, customer_id) if 1 <= customer_id <= MAX_ID else None
    if found is None:
        raise NotFound("customer")
    c = cards.set_contract(ctx.db, customer=found.code, valid_from=valid_from,
                           valid_to=valid_to or None, discount=round(discount_percent / 100, 6),
                           product=product or None, bundle=bundle or None,
                           rules=rules_of(request, PriceRules), costs=_costs(ctx))
    ctx.db.commit()
    return RedirectResponse(f"/customers/{customer_id}?contract={c.code}#contracts",
                            status_code=303)
