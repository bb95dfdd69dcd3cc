"""Same figure, same answer (issue 13): every figure that has a page, an ``/api`` twin and a CLI
command gives the same values in all three, on the demo province as a user builds it.

Each :class:`Figure` names the three places, how to read its rows from the API and the CLI, the
key that pairs rows and the values compared; the page must list the API's first rows with
their values formatted as pages format them (``jiqun.formats``). A figure added to pages, API
and CLI is added here once.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from jiqun import formats

Rows = list[dict]


@dataclass(frozen=True)
class Figure:
    name: str
    user: str
    page: str
    api: str
    cli: list[str]
    key: tuple[str, ...]
    values: tuple[str, ...]
    api_rows: Callable[[object], Rows] = lambda data: data
    cli_rows: Callable[[object], Rows] = lambda data: data
    shown: Callable[[dict], list[str]] = lambda row: []  # what the page shows of a row
    first: int = 5  # rows of the API the page is checked for
    subset: bool = False  # the API lists a subset of the CLI's rows (e.g. mismatches only)
    cli_fields: dict[str, str] = field(default_factory=dict)  # API field -> CLI field


def _n(value, digits: int = 0) -> str:
    return formats.number(value, digits)


def _pct(value) -> str:
    return formats.percent(value)


FIGURES = [
    Figure("grid KPIs", "demo-city", "/grids", "/api/grids", ["kpi", "grids"],
           key=("grid_id",),
           values=("target_parcels", "parcels", "revenue", "progress", "active_customers",
                   "activated_customers", "development_rate", "in_province_share"),
           api_rows=lambda d: d["rows"], shown=lambda r: [r["grid"], _n(r["parcels"])]),
    Figure("market share", "demo-city", "/share", "/api/share",
           ["kpi", "share", "--period", "week"], key=("market_id", "period"),
           values=("parcels", "market_total", "share"),
           # the page's weeks without parcels or estimate are blanks the CLI does not list
           api_rows=lambda d: [{"market_id": m["market_id"], **p} for m in d["markets"]
                               for p in m["points"] if p["parcels"] or p["market_total"]]),
    Figure("customer tiers", "demo-city", "/tiers", "/api/tiers", ["kpi", "tiers"],
           key=("customer_id",), values=("daily_parcels", "tier"),
           api_rows=lambda d: d["rows"], shown=lambda r: [r["name"]], subset=True),
    Figure("tier issues", "demo-city", "/tiers", "/api/tiers", ["tiers", "issues", "--all"],
           key=("customer_id",),
           values=("daily_parcels", "tier", "stored_tier", "owner_id", "required_role",
                   "issues"),
           api_rows=lambda d: [{**r, "issues": ",".join(r["issues"])} for r in d["rows"]],
           shown=lambda r: [r["name"]]),
    Figure("TOP-N markets", "demo-province", "/markets/top", "/api/markets/top",
           ["markets", "top"], key=("market_id",),
           values=("rank", "merchants", "estimate_daily", "potential_daily", "our_daily",
                   "share", "gap_daily"),
           api_rows=lambda d: d["items"], shown=lambda r: [r["name"]]),
    Figure("key-city targets", "demo-province", "/markets/targets", "/api/markets/targets",
           ["markets", "targets", "--detail"], key=("market_id",),
           values=("yearly_revenue_target", "revenue_ytd", "progress"),
           api_rows=lambda d: [m for c in d for m in c["markets"]],
           shown=lambda r: [r["name"]]),
    Figure("dedicated lines", "demo-province", "/lines", "/api/lines", ["plan", "lines"],
           key=("origin_id", "dest_code"),
           values=("mean_daily", "break_even", "days_above", "decision", "saving_per_year"),
           api_rows=lambda d: d["lanes"], shown=lambda r: [r["dest"]]),
    Figure("consolidation centres", "demo-city", "/hubs", "/api/hubs", ["plan", "hubs"],
           key=("model",), values=("objective", "bound", "status", "centres"),
           api_rows=lambda d: [{**d, "centres": len(d["centres"])}]),
    Figure("flows", "demo-province", "/flows", "/api/flows", ["flows"],
           key=("origin_id", "dest_code", "product"),
           values=("parcels", "daily_parcels", "revenue", "weight_kg", "line_share"),
           api_rows=lambda d: d["flows"], subset=True),  # the API's first page of the year
    Figure("pool clock", "demo-city", "/pool", "/api/pool", ["sales", "pool"],
           key=("customer_id",), values=("days_silent", "days_left", "action"),
           api_rows=lambda d: d["clock"], shown=lambda r: [r["name"]]),
    Figure("funnel", "demo-city", "/funnel", "/api/funnel", ["sales", "funnel"],
           key=("step",), values=("customers", "share_of_archived", "from_previous"),
           api_rows=lambda d: d["steps"], shown=lambda r: [_n(r["customers"])]),
    Figure("teams", "demo-province", "/teams", "/api/teams", ["teams", "list"],
           key=("id",), values=("name", "status", "members", "leader"),
           shown=lambda r: [r["name"]]),
    Figure("warehouses", "demo-city", "/warehouses", "/api/warehouses", ["warehouses", "list"],
           key=("id",),
           values=("capacity_per_day", "customer_count", "outbound_per_day", "utilisation"),
           api_rows=lambda d: d["warehouses"], shown=lambda r: [r["name"]]),
    Figure("warehousing candidates", "demo-city", "/warehouses",
           "/api/warehouses/candidates", ["warehouses", "candidates"], key=("customer_id",),
           values=("rank", "daily_parcels", "cv", "hub_km", "line_share", "saving_per_day",
                   "cutoff_hours_later", "warehouse_id"),
           api_rows=lambda d: d["candidates"], shown=lambda r: [r["name"]]),
    Figure("service queue", "demo-city", "/service", "/api/service/cases",
           ["service", "cases"], key=("id",),
           values=("code", "status", "kind", "customer_id", "owner_id", "exceptions",
                   "next_due"),
           api_rows=lambda d: [{**r, "next_due": r["next_due"] and r["next_due"][:19]}
                               for r in d["items"]],
           cli_rows=lambda d: [{**r, "next_due": r["next_due"] and r["next_due"][:19]}
                               for r in d],
           shown=lambda r: [r.get("code", "")], subset=True),
    Figure("price response", "demo-province", "/prices/advice", "/api/prices/response",
           ["price", "response"], key=("first_month",),
           values=("beta", "beta_low", "beta_high", "merchants", "merchant_months",
                   "holdout_error", "baseline_error", "beats_baseline"),
           api_rows=lambda d: [d]),
    Figure("price what-if", "demo-province",
           "/prices/advice?market=HA-YJ&zone=same&change=-0.1",
           "/api/prices/advice?market=HA-YJ&zone=same&change=-0.1",
           ["price", "advise", "--market", "HA-YJ", "--zone", "same", "--change", "-0.1"],
           key=("case",),
           values=("change", "price", "cost", "parcels", "parcels_low", "parcels_high", "share",
                   "revenue", "margin", "below_cost"),
           shown=lambda r: [formats.money(r["price"], "zh-CN")]),
    Figure("competitor prices", "demo-province", "/prices/competitors?market=HA-YJ",
           "/api/prices/competitors?market=HA-YJ", ["price", "competitors", "--market", "HA-YJ"],
           key=("zone", "band", "competitor"),
           values=("month", "observations", "ours", "theirs", "gap", "gap_trend", "their_trend"),
           api_rows=lambda d: d["gaps"], shown=lambda r: [r["competitor"]]),
]


def _equal(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is b
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def _keyed(rows: Rows, key: tuple[str, ...]) -> dict[tuple, dict]:
    keyed = {tuple(r[k] for k in key): r for r in rows}
    assert len(keyed) == len(rows), f"rows repeat the key {key}"
    return keyed


@pytest.mark.parametrize("figure", FIGURES, ids=lambda f: f.name)
def test_api_and_cli_give_the_same_values(figure, sessions, cli):
    api = figure.api_rows(sessions.api(figure.user, figure.api))
    out = figure.cli_rows(json.loads(cli([*figure.cli, "--user", figure.user,
                                          "--format", "json"])))
    assert api, f"{figure.name}: the demo has no rows to compare"
    api_by, cli_by = _keyed(api, figure.key), _keyed(out, figure.key)
    if figure.subset:
        assert set(api_by) <= set(cli_by), set(api_by) - set(cli_by)
    else:
        assert set(api_by) == set(cli_by), (set(api_by) ^ set(cli_by))
    for k, row in api_by.items():
        for name in figure.values:
            theirs = cli_by[k][figure.cli_fields.get(name, name)]
            assert _equal(row[name], theirs), (figure.name, k, name, row[name], theirs)


@pytest.mark.parametrize("figure", [f for f in FIGURES if f.shown(
    {"grid": "", "parcels": 0, "name": "", "dest": "", "customers": 0, "price": 0,
     "competitor": ""}) != []],
    ids=lambda f: f.name)
def test_the_page_shows_the_apis_rows(figure, sessions):
    page = sessions.page(figure.user, figure.page)
    rows = figure.api_rows(sessions.api(figure.user, figure.api))[: figure.first]
    assert rows
    for row in rows:
        for text in figure.shown(row):
            assert text in page, (figure.name, figure.page, text)


DOWNLOADS = [  # (user, page, API, its rows, the field the download's first text column holds)
    ("demo-city", "/grids", "/api/grids", lambda d: d["rows"], "grid"),
    ("demo-province", "/markets/top?n=50", "/api/markets/top?n=50", lambda d: d["items"],
     "code"),
    ("demo-province", "/teams", "/api/teams", lambda d: d, "name"),
    ("demo-city", "/funnel?table=groups", "/api/funnel", lambda d: d["groups"], "key"),
    ("demo-province", "/markets/targets", "/api/markets/targets",
     lambda d: [m for c in d for m in c["markets"]], "code"),
    ("demo-city", "/warehouses?table=candidates", "/api/warehouses/candidates",
     lambda d: d["candidates"], "code"),
]


@pytest.mark.parametrize(("user", "page", "api", "rows", "field"), DOWNLOADS,
                         ids=[d[1] for d in DOWNLOADS])
def test_the_pages_download_holds_the_apis_rows(user, page, api, rows, field, sessions):
    table = sessions.csv(user, page)
    expected = [r[field] for r in rows(sessions.api(user, api))]
    assert expected, "nothing to compare"
    column = next(i for i, cell in enumerate(table[1]) if cell == str(expected[0]))
    assert [r[column] for r in table[1:]] == [str(v) for v in expected]
