"""Public output schemas of the JSON API (separate from the store models, so nothing leaks)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import typing

from pydantic import BaseModel, Field, create_model

from jiqun.sales.customer_search import TEXT_COUNT_CAP, CustomerRow


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="Seconds until the token expires.")


class OrgUnitOut(BaseModel):
    id: int
    code: str
    name: str
    level: str


class MeOut(BaseModel):
    id: int
    username: str
    display_name: str
    role: str
    org_unit: OrgUnitOut


class DailyPointOut(BaseModel):
    day: dt.date
    parcels: int
    revenue: float


class MonthPointOut(BaseModel):
    month: dt.date
    parcels: int
    revenue: float


class KpisOut(BaseModel):
    """Morning-meeting figures (早会数据) as of the last day with data."""

    as_of: dt.date
    parcels_day: int
    revenue_day: float
    parcels_month: int = Field(description="Month to date.")
    revenue_month: float
    parcels_prev_month: int = Field(description="The same days of the previous month.")
    revenue_prev_month: float
    parcels_mom: float | None = Field(description="Month-on-month growth (环比), 0.1 = +10%.")
    revenue_mom: float | None


class MarketSummaryOut(BaseModel):
    id: int
    code: str
    name: str
    type: str
    industry: str
    key_area: bool
    tier: str | None
    parcels: int = Field(description="Parcels in the period.")
    revenue: float
    daily_parcels: float
    market_daily_total: float | None = Field(
        description="Estimated daily volume of the whole market, all carriers."
    )
    share: float | None = Field(description="Our share of the market total (市场占有率), 0–1.")
    active_customers: int


class PeriodOut(BaseModel):
    start: dt.date
    end: dt.date


class MarketListOut(BaseModel):
    period: PeriodOut | None
    items: list[MarketSummaryOut]


class DashboardOut(BaseModel):
    as_of: dt.date | None
    kpis: KpisOut | None
    trend: list[DailyPointOut]
    markets: MarketListOut


class GridOut(BaseModel):
    id: int
    code: str
    name: str
    parcels: int
    revenue: float
    active_customers: int


class TopCustomerOut(BaseModel):
    id: int
    code: str
    name: str
    tier: str | None
    lifecycle_stage: str
    parcels: int
    revenue: float


class EstimateOut(BaseModel):
    """A carrier's estimated daily volume in the market (``*``: all carriers together)."""

    carrier: str
    valid_from: dt.date
    daily_volume: float
    share: float | None = Field(description="Of the whole market's daily volume, 0–1.")


class MarketOut(BaseModel):
    id: int
    code: str
    name: str
    name_en: str | None
    type: str
    industry: str
    adcode: str | None
    address: str | None
    tier: str | None
    key_area: bool
    yearly_revenue_target: float | None
    org_unit: str
    version: int | None = None  # send it back with PATCH /api/markets/{id} (no lost update)


class MarketDetailOut(BaseModel):
    market: MarketOut
    period: PeriodOut | None
    summary: MarketSummaryOut | None
    trend: list[DailyPointOut]
    grids: list[GridOut]
    top_customers: list[TopCustomerOut]
    estimates: list[EstimateOut]


def model_of(cls, name: str, doc: str, overrides: dict | None = None,
             **extra) -> type[BaseModel]:
    """A response model with one field per field of the dataclass ``cls`` (its type, or the
    one in ``overrides``; its default), plus ``extra``: one definition of the fields, so the API
    cannot drift from what the service computes."""
    hints = typing.get_type_hints(cls)
    fields: dict = {}
    for f in dataclasses.fields(cls):
        if f.default_factory is not dataclasses.MISSING:
            default = Field(default_factory=f.default_factory)
        else:
            default = ... if f.default is dataclasses.MISSING else f.default
        fields[f.name] = ((overrides or {}).get(f.name, hints[f.name]), default)
    fields.update(extra)
    return create_model(name, __doc__=doc, **fields)


CustomerRowOut = model_of(CustomerRow, "CustomerRowOut",
                          "A customer of the search (sales.customer_search).")


class CustomerPageOut(BaseModel):
    items: list[CustomerRowOut]
    total: int
    total_capped: bool = Field(False, description=(
        f"A text search counts at most {TEXT_COUNT_CAP:,} customers: true when more match, "
        "`total` being the ones the pages offer."))
    page: int
    page_size: int
    pages: int


class CarrierOut(BaseModel):
    carrier: str
    share: float | None
    price_first_kg: float | None


class VisitOut(BaseModel):
    visited_at: dt.datetime
    method: str
    outcome: str
    next_step: str | None
    next_visit_on: dt.date | None
    visitor: str | None


class CustomerOut(BaseModel):
    id: int
    code: str
    name: str
    contact: str | None
    phone: str | None
    address: str | None
    adcode: str | None
    market_id: int | None
    market_name: str | None
    grid_name: str | None
    platforms: list[str]
    categories: list[str]
    est_daily_volume: float | None
    lifecycle_stage: str
    tier: str | None
    vip: bool
    owner_name: str | None
    first_shipped_on: dt.date | None
    archived_on: dt.date | None


class CustomerDetailOut(BaseModel):
    customer: CustomerOut
    carriers: list[CarrierOut]
    visits: list[VisitOut]
    monthly: list[MonthPointOut]


# -- the errors every operation can answer ------------------------------------------------------
# Every /api route reads the request context (401 without a valid token), may be refused by the
# permission registry or the scope (403), names records that may be outside the scope (404),
# edits versioned records (409) and validates its input (422); the app's error handlers answer
# all of them with this one JSON shape. ``document_errors`` adds them to every operation of the
# OpenAPI schema, so clients (and schemathesis) know every status they can get.
ERROR_SCHEMA = {
    "title": "Error",
    "type": "object",
    "properties": {
        "detail": {"description": "The message in the caller's language, or the fields of a "
                                  "validation error."},
        "errors": {"type": "object", "additionalProperties": {"type": "string"},
                   "description": "Field → message, for a refused value."},
        "mine": {"type": "object", "description": "Conflict: the values you saw."},
        "theirs": {"type": "object", "description": "Conflict: the values saved meanwhile."},
    },
    "required": ["detail"],
}
ERROR_RESPONSES = {
    "400": "The request cannot be read (e.g. an upload that is not a CSV/XLSX file)",
    "401": "Not signed in: no valid bearer token or session",
    "403": "Your role or part of the organisation may not do this",
    "404": "Not found, or outside your part of the organisation",
    "409": "Someone else changed or decided this meanwhile",
    "422": "A value is missing, malformed or out of range",
}


# Times are the organisation's local time (China Standard Time) without an offset, as the store
# keeps them; RFC 3339 ``date-time`` requires an offset, so they are documented as what they are.
LOCAL_TIME = {"type": "string", "format": "local-date-time",
              "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$",
              "description": "Local time (China Standard Time), ISO 8601 without an offset."}


def _local_times(node) -> None:
    if isinstance(node, dict):
        if node.get("type") == "string" and node.get("format") == "date-time":
            node.update(LOCAL_TIME)
        for value in node.values():
            _local_times(value)
    elif isinstance(node, list):
        for value in node:
            _local_times(value)


def document_errors(schema: dict) -> dict:
    """Add the common error answers (and the ``Error`` model) to every operation of ``schema``,
    and document times as the local times they are."""
    _local_times(schema)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = ERROR_SCHEMA
    error = {"$ref": "#/components/schemas/Error"}
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            for status, description in ERROR_RESPONSES.items():
                documented = responses.setdefault(status, {"description": description})
                content = documented.setdefault("content", {}).setdefault(
                    "application/json", {})
                known = content.get("schema")
                # FastAPI's own 422 (HTTPValidationError) stays, beside the service errors'.
                content["schema"] = {"anyOf": [known, error]} if known and known != error \
                    else error
    return schema
