"""Aggregates matrix: for each role, every figure equals HQ's figure filtered to its subtree.

HQ (``m-admin``) sees the whole organisation. For every other role the same fact must have the
same value: a list's rows are exactly HQ's rows of the records in the role's subtree (same
values, owners and names included), and a total is the sum of HQ's per-record figures over the
subtree (HQ's per-customer monthly parcels and revenue from the customer pages).

Viewer-dependent fields (a rank within the viewer's list, whether the viewer may approve, the
actions a row offers the viewer) are
left out of the comparison, and nothing else.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from jiqun.store.models import (
    Campaign,
    Customer,
    DuplicateCandidate,
    Grid,
    Market,
    OrgUnit,
    Role,
    Team,
    Visit,
)
from tests.web.matrix import (
    HQ_USER,
    ROLE_USERS,
    MatrixWorld,
    Tokens,
)

ROLES = [role for role in Role if ROLE_USERS[role][0] != HQ_USER]
KINDS = {"customer": Customer, "market": Market, "grid": Grid, "team": Team,
         "campaign": Campaign, "pair": DuplicateCandidate, "visit": Visit}



@pytest.fixture(scope="module")
def get(mclient):
    tokens = Tokens(mclient)

    def get(user: str, url: str):
        r = mclient.get(url, headers=tokens(user))
        assert r.status_code == 200, (user, url, r.status_code, r.text[:300])
        return r.json()

    return get


@pytest.fixture(scope="module")
def visible(mworld):
    """username → kind → ids of the records in the user's subtree (read without a scope)."""
    out = {}
    with mworld.store.session() as s:
        rows = {kind: s.execute(select(model.id, model.org_unit_id)).all()
                for kind, model in KINDS.items()}
    for role in Role:
        user = ROLE_USERS[role][0]
        units = mworld.subtree(user)
        out[user] = {kind: {i for i, unit in pairs if unit in units}
                     for kind, pairs in rows.items()}
    return out


def _drop(row: dict, fields: tuple[str, ...]) -> dict:
    return {k: v for k, v in row.items() if k not in fields}


def _filtered(rows: list[dict], key: str, ids: set[int], drop: tuple[str, ...] = ()):
    return [_drop(r, drop) for r in rows if r[key] in ids]


# (url, where the rows are, the field naming the record, its kind, fields left out)
LISTS = [
    ("/api/customers?page_size=200", "items", "id", "customer", ()),
    ("/api/markets", "items", "id", "market", ()),
    ("/api/dashboard", "markets.items", "id", "market", ()),
    ("/api/grids", "rows", "grid_id", "grid", ("rank",)),
    ("/api/tiers", "rows", "customer_id", "customer", ()),
    ("/api/tiers/changes", "changes", "customer_id", "customer", ()),
    ("/api/share", "markets", "market_id", "market", ()),
    # the actions a row offers are the viewer's (claim, follow up, log a visit)
    ("/api/pool", "pool", "id", "customer", ("actions",)),
    ("/api/pool", "clock", "customer_id", "customer", ("actions",)),
    ("/api/teams", None, "id", "team", ()),
    ("/api/campaigns", None, "id", "campaign", ()),
    ("/api/archive/duplicates?status=all", None, "id", "pair", ()),
    ("/api/visits?mine=false&limit=500", None, "customer_id", "customer", ()),
    ("/api/markets/top?n=500", "items", "market_id", "market", ("rank",)),
]


def _rows(data, where: str | None) -> list[dict]:
    for part in (where.split(".") if where else ()):
        data = data[part]
    return data


@pytest.fixture(scope="module")
def hq(get):
    """HQ's answers, read once."""
    return {url: get(HQ_USER, url) for url, *_ in LISTS}


def test_the_world_has_foreign_figures(hq, visible, mworld):
    """HQ's lists hold records outside every other role's subtree, so filtering means something."""
    customers = {r["id"] for r in hq["/api/customers?page_size=200"]["items"]}
    assert mworld.foreign["customer"] in customers
    city = visible[ROLE_USERS[Role.CITY_MANAGER][0]]["customer"]
    assert customers - city


def _differences(mine: list[dict], expected: list[dict], key: str) -> list[str]:
    """What differs, record by record: missing, extra, and each differing field."""
    by_key = {r[key]: r for r in expected}
    seen = {r[key]: r for r in mine}
    out = [f"{key}={k} missing" for k in by_key if k not in seen]
    out += [f"{key}={k} not in HQ's subtree" for k in seen if k not in by_key]
    for k, row in seen.items():
        if k in by_key and row != by_key[k]:
            fields = {f: (row.get(f), by_key[k].get(f)) for f in {*row, *by_key[k]}
                      if row.get(f) != by_key[k].get(f)}
            out.append(f"{key}={k} (mine, HQ's): {str(fields)[:200]}")
    return out


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.value)
def test_lists_are_hqs_rows_of_the_subtree(role, get, hq, visible):
    user = ROLE_USERS[role][0]
    failures = []
    for url, where, key, kind, drop in LISTS:
        mine = [_drop(r, drop) for r in _rows(get(user, url), where)]
        expected = _filtered(_rows(hq[url], where), key, visible[user][kind], drop)
        if sorted(mine, key=repr) != sorted(expected, key=repr):
            failures += [f"{url} {where or ''}: {d}" for d in _differences(mine, expected, key)]
    assert failures == [], "\n".join(failures)


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.value)
def test_record_pages_are_the_same_for_every_viewer(role, get, visible):
    """A customer's or market's page (owner, visits, monthly volume …) as HQ sees it."""
    user = ROLE_USERS[role][0]
    failures = []
    for kind, url in (("customer", "/api/customers/{}"), ("market", "/api/markets/{}")):
        for record in sorted(visible[user][kind]):
            mine, theirs = get(user, url.format(record)), get(HQ_USER, url.format(record))
            for part in theirs:
                a, b = mine.get(part), theirs[part]
                if a != b and isinstance(b, dict) and isinstance(a, dict):
                    fields = {f: (a.get(f), b.get(f)) for f in b if a.get(f) != b.get(f)}
                    failures.append(f"{url.format(record)} {part} (mine, HQ's): {fields}")
                elif a != b:
                    failures.append(f"{url.format(record)} {part}: {str(a)[:120]} != "
                                    f"{str(b)[:120]}")
    assert failures == [], "\n".join(failures)


def _hq_months(get, customers: set[int]) -> dict[int, dict[str, dict]]:
    """HQ's monthly points per customer: customer → month → {parcels, revenue}."""
    return {c: {p["month"]: p for p in get(HQ_USER, f"/api/customers/{c}")["monthly"]}
            for c in customers}


def _month_sum(months: dict[int, dict[str, dict]], customers, month: str, field: str):
    return sum(months[c].get(month, {}).get(field, 0) for c in customers)


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.value)
def test_dashboard_totals_are_hqs_figures_of_the_subtree(role, get, visible):
    user = ROLE_USERS[role][0]
    data = get(user, "/api/dashboard")
    hq_as_of = get(HQ_USER, "/api/dashboard")["as_of"]
    customers = visible[user]["customer"]
    months = _hq_months(get, customers)
    if not any(months[c] for c in customers):
        assert data["kpis"] is None or data["kpis"]["parcels_month"] == 0
        return
    kpis = data["kpis"]
    month = hq_as_of[:8] + "01"
    assert data["as_of"] == hq_as_of
    assert kpis["parcels_month"] == _month_sum(months, customers, month, "parcels")
    assert kpis["revenue_month"] == pytest.approx(_month_sum(months, customers, month,
                                                             "revenue"))
    this_month = [p for p in data["trend"] if p["day"] >= month]
    assert sum(p["parcels"] for p in this_month) == kpis["parcels_month"]
    assert data["trend"][-1]["day"] == hq_as_of
    assert data["trend"][-1]["parcels"] == kpis["parcels_day"]


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.value)
def test_level_rows_are_hqs_figures_of_each_unit(role, get, visible, mworld):
    """Each row of the level table (a unit, market or grid below the viewer) is the sum of
    HQ's monthly figures of the customers it holds in the viewer's subtree."""
    user = ROLE_USERS[role][0]
    data = get(user, "/api/levels")
    if data["as_of"] is None:
        assert data["rows"] == []
        return
    month = data["as_of"][:8] + "01"
    mine = visible[user]["customer"]
    with mworld.store.session() as s:
        customers = {c.id: c for c in s.scalars(select(Customer).where(Customer.id.in_(mine)))}
        paths = dict(s.execute(select(OrgUnit.id, OrgUnit.path)).all())
    months = _hq_months(get, set(customers))

    def holds(row: dict, c: Customer) -> bool:
        if row["level"] == "market":
            return c.market_id == row["id"]
        if row["level"] == "grid":
            return c.grid_id == row["id"]
        return paths[c.org_unit_id].startswith(paths[row["id"]])

    failures = []
    for row in data["rows"]:
        held = {c for c in customers if holds(row, customers[c])}
        parcels = _month_sum(months, held, month, "parcels")
        revenue = _month_sum(months, held, month, "revenue")
        active = sum(1 for c in held if months[c].get(month, {}).get("parcels", 0) > 0)
        got = (row["parcels"], round(row["revenue"], 2), row["active_customers"])
        if got != (parcels, round(revenue, 2), active):
            failures.append(f"{row['level']} {row['code']}: {got} != HQ's "
                            f"{(parcels, round(revenue, 2), active)}")
    assert failures == [], "\n".join(failures)


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.value)
def test_tier_counts_are_hqs_of_the_subtree(role, get, hq, visible):
    user = ROLE_USERS[role][0]
    data = get(user, "/api/tiers")
    rows = _filtered(hq["/api/tiers"]["rows"], "customer_id", visible[user]["customer"])
    assert data["total"] == len(rows)
    assert data["mismatches"] == sum(1 for r in rows if r["issues"])
    expected = {c["tier"]: (sum(r["tier"] == c["tier"] for r in rows),
                            sum(r["stored_tier"] == c["tier"] for r in rows))
                for c in hq["/api/tiers"]["counts"]}
    assert {c["tier"]: (c["computed"], c["stored"]) for c in data["counts"]} == expected


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.value)
def test_share_competitors_are_hqs(role, get, visible):
    """The competitors of each market the role sees are HQ's competitors of that market."""
    user = ROLE_USERS[role][0]
    for market in sorted(visible[user]["market"]):
        url = f"/api/share?market_id={market}"
        mine, theirs = get(user, url), get(HQ_USER, url)
        assert mine["competitors"] == theirs["competitors"], url
        assert (mine["as_of"], mine["start"], mine["weeks"]) == \
            (theirs["as_of"], theirs["start"], theirs["weeks"])


# -- the weekly bulletin and the figures the CLI exports ------------------------------------------
WEEK = "2024-W23"  # the last complete week before the data date (2024-06-15)
EXPORTED = [("customer", "day"), ("customer", "week"), ("customer", "month"),
            ("market", "month"), ("grid", "month")]


def _picture(mworld: MatrixWorld, user: str):
    from jiqun.kpi.service import OperatingPicture
    from jiqun.store.org import unit_by_code
    from jiqun.store.scope import Scope

    with mworld.store.session() as s:
        scope = Scope.for_unit(s, unit_by_code(s, mworld.unit_of[user]))
    return OperatingPicture(mworld.store, mworld.settings.lake_path, scope)


@pytest.fixture(scope="module")
def hq_picture(mworld):
    with _picture(mworld, HQ_USER) as picture:
        yield picture


def _ranked(ranking, ids: set[int]) -> dict:
    """A ranking's lines of ``ids`` without the rank (which is the viewer's)."""
    return {x.id: (x.name, x.value, x.parcels) for x in ranking.lines if x.id in ids}


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.value)
def test_exported_figures_are_hqs_rows_of_the_subtree(role, mworld, hq_picture, visible):
    """``picture.volume`` rows (what ``jiqun kpi volume --format csv`` exports) by customer,
    market and grid are HQ's rows of the role's records."""
    from tests.web.conftest import DATA_DATE, FIRST_DAY

    user = ROLE_USERS[role][0]
    kinds = {"customer": "customer", "market": "market", "grid": "grid"}
    failures = []
    with _picture(mworld, user) as picture:
        for by, period in EXPORTED:
            key = f"{by}_id"
            mine = picture.volume(by, period, FIRST_DAY, DATA_DATE)
            ids = visible[user][kinds[by]]
            theirs = [r for r in hq_picture.volume(by, period, FIRST_DAY, DATA_DATE)
                      if r[key] in ids]
            mine_own = [r for r in mine if r[key] in ids]
            if sorted(mine_own, key=repr) != sorted(theirs, key=repr):
                failures.append(f"volume by {by}/{period}: {len(mine_own)} rows vs HQ's "
                                f"{len(theirs)}")
    assert failures == [], "\n".join(failures)


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.value)
def test_bulletin_is_hqs_figures_of_the_subtree(role, mworld, hq_picture, visible):
    from jiqun.reports import weekly

    user = ROLE_USERS[role][0]
    hq_bulletin = weekly.weekly_bulletin(hq_picture, WEEK, "zh-CN")
    start, end = hq_bulletin.start, hq_bulletin.end
    customers = visible[user]["customer"]
    hq_week = sum(r["parcels"] for r in hq_picture.volume("customer", "week", start, end)
                  if r["customer_id"] in customers)
    hq_days = {}
    for r in hq_picture.volume("customer", "day", start, end):
        if r["customer_id"] in customers:
            hq_days[r["period"]] = hq_days.get(r["period"], 0) + r["parcels"]
    assert hq_week > 0  # every role's subtree ships: the comparison is not of zeros
    with _picture(mworld, user) as picture:
        bulletin = weekly.weekly_bulletin(picture, WEEK, "zh-CN")
    assert bulletin.headline.parcels == hq_week
    assert {d.day: d.parcels for d in bulletin.days if d.parcels} == hq_days
    markets = visible[user]["market"]
    assert [p for p in bulletin.plans if p.id in markets] == \
        [p for p in hq_bulletin.plans if p.id in markets]
    for mine, theirs in zip(bulletin.rankings, hq_bulletin.rankings, strict=True):
        ids = visible[user].get(mine.level, set())
        assert _ranked(mine, ids) == _ranked(theirs, ids), (mine.level, mine.metric)
    assert [s for s in bulletin.share_markets if s.market_id in markets] == \
        [s for s in hq_bulletin.share_markets if s.market_id in markets]
    hq_movers = {m.customer_id: m for m in hq_bulletin.movers_up + hq_bulletin.movers_down}
    for m in bulletin.movers_up + bulletin.movers_down:
        assert m.customer_id in customers
        if m.customer_id in hq_movers:
            assert m == hq_movers[m.customer_id]


@pytest.fixture(scope="module")
def cli(mworld):
    """``jiqun`` run in-process against the matrix world; returns the CSV rows it prints."""
    import csv
    import io

    from typer.testing import CliRunner

    from jiqun.cli import app as cli_app
    from jiqun.config import get_settings

    mp = pytest.MonkeyPatch()
    mp.setenv("JIQUN_STORE_URL", mworld.store.url)
    mp.setenv("JIQUN_LAKE_PATH", str(mworld.settings.lake_path))
    mp.setenv("JIQUN_LOCALE", "en")
    get_settings.cache_clear()

    def run(*argv: str) -> list[dict]:
        result = CliRunner().invoke(cli_app, list(argv))
        assert result.exit_code == 0, (argv, result.output[-300:])
        return list(csv.DictReader(io.StringIO(result.stdout)))

    yield run
    mp.undo()
    get_settings.cache_clear()


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.value)
def test_cli_exports_are_hqs_rows_of_the_subtree(role, cli, visible):
    """``jiqun kpi volume --format csv`` by customer, market and grid, as each role."""
    user = ROLE_USERS[role][0]
    failures = []
    for by, kind in (("customer", "customer"), ("market", "market"), ("grid", "grid")):
        argv = ("kpi", "volume", "--by", by, "--period", "month", "--from", "2024-04-01",
                "--to", "2024-06-15", "--format", "csv")
        ids = {str(i) for i in visible[user][kind]}
        theirs = [r for r in cli(*argv, "--user", HQ_USER) if r[f"{by}_id"] in ids]
        exported = cli(*argv, "--user", user)
        mine = [r for r in exported if r[f"{by}_id"] in ids]
        if by == "customer":
            assert theirs  # every role's customers ship: not a comparison of nothing
            assert mine == exported  # and no customer outside the subtree is exported
        if sorted(mine, key=repr) != sorted(theirs, key=repr):
            failures.append(f"kpi volume --by {by}: {len(mine)} rows vs HQ's {len(theirs)}")
    assert failures == [], "\n".join(failures)
