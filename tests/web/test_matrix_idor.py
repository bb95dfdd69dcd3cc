"""IDOR matrix: every route with an id × every role × an id from another subtree.

The routes come from the app's own table (``tests/web/matrix.routes``): a new route with a path
parameter or an id-like query or body field is probed the day it is added, or this test fails
until it is classified below. Per request:

* a read (GET) naming a foreign record — in the path or as a filter — answers 403 or 404, never
  a 2xx that shows it or an empty list that confirms nothing either way;
* a write naming a foreign record changes nothing there (every row of every org-scoped table in
  the foreign province, and every row pointing at a foreign record, before == after) and never
  answers 2xx/3xx unless the route is listed as one that skips ids it cannot see;
* no answer to any user shows the name of a record outside their subtree.

A positive control sends the same reads with the city manager's own ids and expects 200, so a
probe that cannot reach the record at all does not pass for the wrong reason.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from fastapi.testclient import TestClient

from jiqun.store.models import Role
from tests.web.conftest import DATA_DATE
from tests.web.matrix import (
    HQ_USER,
    ROLE_USERS,
    SELF_SERVICE_WRITES,
    UNSAFE,
    MatrixWorld,
    RouteInfo,
    Tokens,
    fill,
    foreign_fingerprint,
    is_id_like,
    routes,
)

# Which record an id parameter names (by parameter name, the same on every route).
KIND_OF_PARAM = {
    "market_id": "market",
    "customer_id": "customer",
    "team_id": "team",
    "grid_id": "grid",
    "pair_id": "pair",
    "campaign_id": "campaign",
    "user_id": "user",
    "line_id": "line",
    "marketer": "user",  # whose visit plan or visits (/visit-plan, /visits)
    "waybill_no": "waybill_no",  # a parcel of the lake (/parcels/{waybill_no})
    "problem_id": "problem",  # a problem (/problems/{problem_id})
    "visit_id": "visit",  # the visit a problem is raised from (/problems/new?visit_id=)
    "case_id": "case",  # a service case (/service/cases/{case_id})
    "card_id": "card",  # a rate card (/prices/cards/{card_id})
    "contract_id": "contract",  # a contract price (/prices/contracts/{contract_id}/approve)
}

# Path or id-like parameters that do not name a scoped record, with the reason.
NOT_RECORDS = {
    ("/bulletin/{week}.{fmt}", "week"): "an ISO week (2024-W23), checked by its pattern",
    ("/bulletin/{week}.{fmt}", "fmt"): "a file format (html, xlsx, pdf)",
    ("/api/archive/duplicates/{pair_id}/{decision}", "decision"): "merge or keep",
    ("/api/import/{kind}", "kind"): "an import kind (markets, customers, waybills, events)",
    ("/jobs/{name}/run", "name"): "a job of the registry (organisation-wide, no scope)",
    ("/api/finance/ledger/{by}", "by"): "a breakdown: market, grid or customer",
    ("/api/jobs/{name}/run", "name"): "a job of the registry (organisation-wide, no scope)",
    # origin_id / point_id of a line proposal name a market or a point of the caller's own
    # plan; the route looks the proposal up in that plan. The write probes below send a
    # foreign market as origin_id.
    ("/lines/accept", "origin_id"): "an origin of the caller's own line plan (write probe)",
    ("/lines/accept", "point_id"): "a pick-up point of the caller's own plan (write probe)",
    ("/api/lines/accept", "origin_id"): "an origin of the caller's own line plan (write probe)",
    ("/api/lines/accept", "point_id"): "a pick-up point of the caller's own plan (write probe)",
    # Body fields of writes are covered by WRITE_PROBES, which send foreign ids in them.
    ("/warehouses/assign", "warehouse_id"): "write probe: a foreign customer into no "
        "warehouse (a foreign warehouse: tests/service/test_warehousing.py)",
    ("/api/warehouses/assign", "warehouse_id"): "write probe: a foreign customer into no "
        "warehouse (a foreign warehouse: tests/service/test_warehousing.py)",
    ("/api/markets", "org_unit_id"): "write probe: a market placed in a foreign unit",
    ("/api/markets/{market_id}", "org_unit_id"): "write probe: a market moved to a foreign unit",
    ("/api/teams", "market_id"): "write probe: a team for a foreign market",
    ("/api/teams", "grid_id"): "write probe: a team for a foreign grid",
    ("/api/visits", "customer_id"): "write probe: a visit to a foreign customer",
    ("/api/inbox/read", "ids"): "write probe: a foreign notification marked read",
    ("/api/problems/merge", "problem_ids"): "write probe: a foreign problem merged",
    ("/api/service/cases/{case_id}/assign", "owner_id"): "write probe: a case given to a "
                                                          "foreign user",
    **{(f"{api}/prices/cards/{{card_id}}/versions/{{number}}/{step}", "number"):
       "a version's number within the card that card_id names"
       for api in ("", "/api") for step in ("activate", "approve")},
}

# Routes that may answer 2xx/3xx to a write naming a foreign id, because they skip ids the user
# cannot see and say so (the fingerprint still proves nothing foreign changed).
SKIPS_UNSEEN = {
    ("POST", "/api/tiers/apply"): "answers the foreign id under 'skipped'",
    ("POST", "/tiers/apply"): "redirects with the skipped count",
    ("POST", "/api/inbox/read"): "marks only the caller's own notifications (marked: 0)",
    ("POST", "/inbox/read"): "marks only the caller's own notifications",
    ("POST", "/campaigns"): "a campaign of the caller's unit; foreign codes are 'missing'",
    ("POST", "/api/campaigns"): "a campaign of the caller's unit; foreign codes are missing",
    ("POST", "/archive"): "archives into the caller's subtree; a foreign unit is a reject",
    ("POST", "/api/archive"): "archives into the caller's subtree; a foreign unit is a reject",
    ("POST", "/teams"): "the form page answers 400 with errors, or 303 to the caller's team",
    ("POST", "/import"): "a dry run in the caller's subtree: foreign codes are rejects",
    ("POST", "/api/import/{kind}"): "imports into the caller's subtree: foreign codes are rejects",
}



@dataclass
class Probe:
    """How to send one write with foreign ids: path values, and a JSON, form or file body."""

    path: Callable[[dict], dict] = lambda ids: {}
    json: Callable[[dict], object] | None = None
    data: Callable[[dict], dict] | None = None
    files: Callable[[dict], dict] | None = None
    extra: dict = field(default_factory=dict)


def _archive_file(ids: dict) -> dict:
    # A merchant placed in the foreign outlet, on a foreign market, owned by a foreign user,
    # with the foreign customer's name and phone (an exact duplicate, if the archive could see it).
    text = ("客户名称,电话,市场编码,机构编码,客户经理\n"
            "QQFOREIGN外省客户,13700000007,M-QQX,JS-NJ-GL-1,js-marketer\n")
    return {"file": ("idor.csv", io.BytesIO(text.encode()), "text/csv")}


def _import_file(ids: dict) -> dict:
    # The foreign customer's code (moved into an own unit), and a new merchant on the foreign
    # market in the foreign outlet: every row refers to Jiangsu.
    text = ("客户编码,客户名称,市场编码,机构编码\n"
            "C-QQX-1,越权改名,,ZJ-HUZ-WX-ZL\nC-IDOR-1,越权商家,M-QQX,JS-NJ-GL-1\n")
    return {"file": ("idor.csv", io.BytesIO(text.encode()), "text/csv")}


NEW_PASSWORD = "Idor-Probe-Password-2024!"


def _new_user(ids: dict) -> dict:
    return {"username": "idor-user", "password": NEW_PASSWORD, "org_unit_code": "JS-NJ-GL-1",
            "role": "marketer", "display_name": "越权用户"}


WRITE_PROBES: dict[tuple[str, str], Probe] = {
    # Jobs belong to the whole organisation and name no record: an unknown job is not found.
    ("POST", "/jobs/{name}/run"): Probe(path=lambda ids: {"name": "no-such-job"}),
    ("POST", "/api/jobs/{name}/run"): Probe(path=lambda ids: {"name": "no-such-job"}),
    # A cost rate for the foreign city: outside the caller's area, a 422 that names nothing.
    ("POST", "/finance/parameters"): Probe(data=lambda ids: {
        "org_code": "JS-NJ", "pool": "pickup", "driver": "pieces", "rate": "9.9",
        "valid_from": "2024-06"}),
    ("POST", "/api/finance/parameters"): Probe(json=lambda ids: {
        "org_code": "JS-NJ", "pool": "pickup", "driver": "pieces", "rate": 9.9,
        "valid_from": "2024-06"}),
    ("POST", "/markets/new"): Probe(data=lambda ids: {
        "code": "M-IDOR-1", "name": "越权市场", "type": "industrial_cluster",
        "industry": "童装", "org_unit_id": ids["unit"]}),
    ("POST", "/markets/{market_id}/edit"): Probe(
        path=lambda ids: {"market_id": ids["market"]},
        data=lambda ids: {"code": "M-QQX", "name": "越权改名", "type": "wholesale_market",
                          "industry": "箱包", "org_unit_id": ids["unit"]}),
    ("POST", "/api/markets"): Probe(json=lambda ids: {
        "code": "M-IDOR-2", "name": "越权市场", "type": "industrial_cluster",
        "industry": "童装", "org_unit_id": ids["unit"]}),
    ("PATCH", "/api/markets/{market_id}"): Probe(
        path=lambda ids: {"market_id": ids["market"]},
        json=lambda ids: {"name": "越权改名", "yearly_revenue_target": 1000}),
    ("POST", "/teams"): Probe(data=lambda ids: {
        "name": "越权团队", "market_id": ids["market"], "grid_id": ids["grid"],
        "leader_id": ids["user"]}),
    ("POST", "/teams/{team_id}/approve"): Probe(path=lambda ids: {"team_id": ids["team"]}),
    ("POST", "/teams/{team_id}/reject"): Probe(path=lambda ids: {"team_id": ids["team"]},
                                               data=lambda ids: {"reason": "越权"}),
    ("POST", "/teams/{team_id}/members"): Probe(
        path=lambda ids: {"team_id": ids["team"]},
        data=lambda ids: {"user_ids": [ids["user"]], f"remove_{ids['user']}": "1"}),
    ("POST", "/api/teams"): Probe(json=lambda ids: {
        "name": "越权团队", "market_id": ids["market"], "grid_id": ids["grid"],
        "members": [{"user_id": ids["user"], "role": "leader"}]}),
    ("POST", "/api/teams/{team_id}/approve"): Probe(path=lambda ids: {"team_id": ids["team"]}),
    ("POST", "/api/teams/{team_id}/reject"): Probe(path=lambda ids: {"team_id": ids["team"]},
                                                   json=lambda ids: {"reason": "越权"}),
    ("PUT", "/api/teams/{team_id}/members"): Probe(path=lambda ids: {"team_id": ids["team"]},
                                                   json=lambda ids: []),
    ("POST", "/api/tiers/apply"): Probe(json=lambda ids: {
        "changes": [{"customer_id": ids["customer"], "fingerprint": "0"}]}),
    ("POST", "/tiers/apply"): Probe(data=lambda ids: {"change": [f"{ids['customer']}:0"]}),
    ("POST", "/visits"): Probe(data=lambda ids: {
        "customer_id": ids["customer"], "method": "sweep", "outcome": "interested"}),
    ("POST", "/api/visits"): Probe(json=lambda ids: {
        "customer_id": ids["customer"], "method": "sweep", "outcome": "interested"}),
    ("POST", "/pool/{customer_id}/claim"): Probe(
        path=lambda ids: {"customer_id": ids["prospect"]}),
    ("POST", "/api/pool/{customer_id}/claim"): Probe(
        path=lambda ids: {"customer_id": ids["prospect"]}),
    ("POST", "/lines/accept"): Probe(data=lambda ids: {
        "dest_code": "440100", "kind": "lane", "by": "market", "origin_id": ids["market"]}),
    ("POST", "/api/lines/accept"): Probe(json=lambda ids: {
        "dest_code": "440100", "kind": "lane", "by": "market", "origin_id": ids["market"]}),
    **{("POST", f"/lines/{{line_id}}/{step}"): Probe(
        path=lambda ids: {"line_id": ids["line"]}, data=lambda ids: {"version": "1"})
       for step in ("approve", "open", "close")},
    **{("POST", f"/api/lines/{{line_id}}/{step}"): Probe(
        path=lambda ids: {"line_id": ids["line"]}, json=lambda ids: {"version": 1})
       for step in ("approve", "open", "close")},
    **{("POST", f"/service/cases/{{case_id}}/{step}"): Probe(
        path=lambda ids: {"case_id": ids["case"]}, data=lambda ids: {
            "version": "1", "channel": "phone", "message": "越权", "note": "越权",
            "owner_id": str(ids["user"])})
       for step in ("contact", "wait", "resume", "resolve", "assign")},
    **{("POST", f"/api/service/cases/{{case_id}}/{step}"): Probe(
        path=lambda ids: {"case_id": ids["case"]}, json=lambda ids: {
            "version": 1, "channel": "phone", "message": "越权", "note": "越权",
            "owner_id": ids["user"]})
       for step in ("contact", "wait", "resume", "resolve", "assign")},
    ("POST", "/grids/design/draft"): Probe(data=lambda ids: {"market_id": ids["market"],
                                                             "k": "2"}),
    ("POST", "/grids/design/approve"): Probe(data=lambda ids: {"market_id": ids["market"],
                                                               "draft": "1"}),
    ("POST", "/grids/design/activate"): Probe(data=lambda ids: {"market_id": ids["market"],
                                                                "draft": "1"}),
    ("POST", "/api/grids/design/draft"): Probe(json=lambda ids: {"market_id": ids["market"],
                                                                 "k": 2}),
    ("POST", "/api/grids/design/approve"): Probe(json=lambda ids: {"market_id": ids["market"],
                                                                   "draft": "1"}),
    ("POST", "/api/grids/design/activate"): Probe(json=lambda ids: {"market_id": ids["market"],
                                                                    "draft": "1"}),
    ("POST", "/archive"): Probe(files=_archive_file),
    ("POST", "/api/archive"): Probe(files=_archive_file),
    ("POST", "/archive/review/{pair_id}/merge"): Probe(path=lambda ids: {"pair_id": ids["pair"]}),
    ("POST", "/archive/review/{pair_id}/keep"): Probe(path=lambda ids: {"pair_id": ids["pair"]}),
    ("POST", "/api/archive/duplicates/{pair_id}/{decision}"): Probe(
        path=lambda ids: {"pair_id": ids["pair"], "decision": "merge"}),
    ("POST", "/campaigns"): Probe(data=lambda ids: {
        "name": "越权活动", "starts_on": "2024-06-01", "ends_on": "2024-06-10",
        "target_by": "codes", "codes": "C-QQX-1"}),
    ("POST", "/campaigns/{campaign_id}"): Probe(
        path=lambda ids: {"campaign_id": ids["campaign"]},
        data=lambda ids: {"name": "越权改名", "starts_on": "2024-05-01",
                          "ends_on": "2024-05-31"}),
    ("POST", "/api/campaigns"): Probe(json=lambda ids: {
        "name": "越权活动", "starts_on": "2024-06-01", "ends_on": "2024-06-10",
        "markets": ["M-QQX"], "codes": ["C-QQX-1"]}),
    ("POST", "/users"): Probe(data=lambda ids: _new_user(ids)),
    ("POST", "/api/users"): Probe(json=lambda ids: _new_user(ids)),
    ("POST", "/users/{user_id}"): Probe(path=lambda ids: {"user_id": ids["user"]},
                                        data=lambda ids: {"role": "city_manager",
                                                          "version": "1", "active": "on"}),
    ("PATCH", "/api/users/{user_id}"): Probe(path=lambda ids: {"user_id": ids["user"]},
                                             json=lambda ids: {"role": "city_manager",
                                                               "active": False, "version": 1}),
    ("POST", "/users/{user_id}/password"): Probe(path=lambda ids: {"user_id": ids["user"]},
                                                 data=lambda ids: {"password": NEW_PASSWORD,
                                                                   "version": "1"}),
    ("POST", "/api/users/{user_id}/password"): Probe(
        path=lambda ids: {"user_id": ids["user"]},
        json=lambda ids: {"password": NEW_PASSWORD, "version": 1}),
    ("POST", "/import"): Probe(data=lambda ids: {"kind": "customers"}, files=_import_file),
    ("POST", "/import/commit"): Probe(data=lambda ids: {"token": "A" * 43}),
    ("POST", "/api/import/{kind}"): Probe(path=lambda ids: {"kind": "customers"},
                                          files=_import_file),
    ("POST", "/inbox/read"): Probe(data=lambda ids: {"id": [ids["notification"]]}),
    ("POST", "/problems/new"): Probe(data=lambda ids: {
        "title": "越权问题", "visit_id": str(ids["visit"]), "market_id": str(ids["market"])}),
    ("POST", "/api/problems"): Probe(json=lambda ids: {
        "title": "越权问题", "visit_id": ids["visit"], "market_id": ids["market"]}),
    ("POST", "/problems/merge"): Probe(data=lambda ids: {
        "problem_ids": [str(ids["problem"])] * 2, "title": "越权"}),
    ("POST", "/api/problems/merge"): Probe(json=lambda ids: {
        "problem_ids": [ids["problem"]] * 2, "title": "越权"}),
    **{(method, path): Probe(path=lambda ids: {"problem_id": ids["problem"]}, **body)
       for method, path, body in (
           ("POST", "/problems/{problem_id}/escalate", {"data": lambda ids: {"note": "越权"}}),
           ("POST", "/problems/{problem_id}/solve", {"data": lambda ids: {"solution": "越权"}}),
           ("POST", "/api/problems/{problem_id}/escalate",
            {"json": lambda ids: {"note": "越权"}}),
           ("POST", "/api/problems/{problem_id}/solve",
            {"json": lambda ids: {"solution": "越权"}}))},
    ("POST", "/warehouses/assign"): Probe(data=lambda ids: {
        "customer_id": ids["customer"], "warehouse_id": ""}),
    ("POST", "/api/warehouses/assign"): Probe(json=lambda ids: {
        "customer_id": ids["customer"], "warehouse_id": None}),
    ("POST", "/api/inbox/read"): Probe(json=lambda ids: {"ids": [ids["notification"]]}),
    **{("POST", f"/prices/cards/{{card_id}}/versions/{{number}}/{step}"): Probe(
        path=lambda ids: {"card_id": ids["card"], "number": 1},
        data=lambda ids: {"row_version": "1"}) for step in ("activate", "approve")},
    **{("POST", f"/api/prices/cards/{{card_id}}/versions/{{number}}/{step}"): Probe(
        path=lambda ids: {"card_id": ids["card"], "number": 1},
        json=lambda ids: {"row_version": 1}) for step in ("activate", "approve")},
    ("POST", "/prices/contracts/{contract_id}/approve"): Probe(
        path=lambda ids: {"contract_id": ids["contract"]}, data=lambda ids: {"row_version": "1"}),
    ("POST", "/api/prices/contracts/{contract_id}/approve"): Probe(
        path=lambda ids: {"contract_id": ids["contract"]}, json=lambda ids: {"row_version": 1}),
    ("POST", "/customers/{customer_id}/contract"): Probe(
        path=lambda ids: {"customer_id": ids["customer"]},
        data=lambda ids: {"valid_from": "2024-06-01", "discount_percent": "10"}),
    # A contract for the foreign customer (by its code): not found.
    ("POST", "/api/prices/contracts"): Probe(json=lambda ids: {
        "customer": "C-QQX-1", "valid_from": "2024-06-01", "discount": 0.1}),
}

# Roles whose unit is below HQ: everything in Jiangsu (and, in Huzhou, Hangzhou) is foreign.
SCOPED_ROLES = [role for role, (_, unit) in ROLE_USERS.items() if unit != "HQ"]



@pytest.fixture(scope="module")
def tokens(mclient):
    return Tokens(mclient)


@pytest.fixture(scope="module")
def table(mclient) -> list[RouteInfo]:
    return routes(mclient.app)


def _id_params(route: RouteInfo) -> list[str]:
    names = list(route.path_params)
    names += [n for n in (*route.query_params, *route.body_fields) if is_id_like(n)]
    return list(dict.fromkeys(names))


def _read_probes(table: list[RouteInfo]) -> list[tuple[RouteInfo, str, str]]:
    """(route, parameter, kind) for every id parameter of every signed-in read."""
    return [(r, name, KIND_OF_PARAM[name]) for r in table
            if r.method == "GET" and r.signed_in for name in _id_params(r)
            if (r.path, name) not in NOT_RECORDS]


def _read_url(route: RouteInfo, name: str, value: int) -> str:
    if name in route.path_params:
        return fill(route.path, {name: value})
    return f"{route.path}?{name}={value}"


def _leaks(text: str, markers: tuple[str, ...]) -> list[str]:
    return [m for m in markers if m in text]


def test_every_id_parameter_is_classified(table):
    """A new route with an id the matrix cannot map to a record kind fails here."""
    unknown = [f"{r} {name}" for r in table if r.signed_in for name in _id_params(r)
               if (r.path, name) not in NOT_RECORDS and name not in KIND_OF_PARAM]
    assert unknown == [], "classify these in KIND_OF_PARAM or NOT_RECORDS"
    stale = [k for k in NOT_RECORDS if not any(
        r.path == k[0] and k[1] in _id_params(r) for r in table)]
    assert stale == [], "NOT_RECORDS names parameters that no longer exist"


def test_every_write_has_a_probe(table):
    missing = [str(r) for r in table if r.method in UNSAFE
               and r.key not in WRITE_PROBES and r.key not in SELF_SERVICE_WRITES]
    assert missing == [], "add a probe to WRITE_PROBES (or a reason to SELF_SERVICE_WRITES)"
    stale = [k for k in (*WRITE_PROBES, *SKIPS_UNSEEN)
             if k not in {r.key for r in table}]
    assert stale == []


def _foreign_sets(mworld: MatrixWorld, user: str) -> list[dict]:
    """Foreign ids for ``user``: Jiangsu's, and for Huzhou's people Hangzhou's (the sibling
    city in the same province)."""
    sets = [mworld.foreign]
    if mworld.unit_of[user].startswith("ZJ-HUZ"):
        ids = mworld.base.ids
        sets.append({"market": ids["xihu"], "customer": ids["xh_live"],
                     "waybill_no": f"xh_live-{DATA_DATE:%Y%m%d}-0"})
    return sets


def test_reads_of_foreign_records_are_not_found(mworld, mclient, tokens, table):
    probes = _read_probes(table)
    assert len(probes) >= 15  # the matrix is not silently empty
    failures, requests = [], 0
    for role in SCOPED_ROLES:
        user = mworld.role_user(role)
        headers = tokens(user)
        for route, name, kind in probes:
            for foreign in _foreign_sets(mworld, user):
                if kind not in foreign:
                    continue
                url = _read_url(route, name, foreign[kind])
                r = mclient.get(url, headers=headers, follow_redirects=False)
                requests += 1
                if r.status_code not in (403, 404) or _leaks(r.text, mworld.markers(user)):
                    failures.append(f"{user}: GET {url} -> {r.status_code} "
                                    f"{_leaks(r.text, mworld.markers(user))}")
    print(f"IDOR reads: {len(probes)} (route, id) × {len(SCOPED_ROLES)} roles × foreign "
          f"subtrees = {requests}")
    assert failures == [], f"{len(failures)} of {requests} reads:\n" + "\n".join(failures)


def test_reads_of_own_records_answer(mworld, mclient, tokens, table):
    """Positive control: the same probes with the city manager's own ids answer 200."""
    headers = tokens(mworld.role_user(Role.CITY_MANAGER))
    failures = []
    for route, name, kind in _read_probes(table):
        url = _read_url(route, name, mworld.own[kind])
        r = mclient.get(url, headers=headers, follow_redirects=False)
        if r.status_code != 200:
            failures.append(f"GET {url} -> {r.status_code}: {r.text[:200]}")
    assert failures == []


def _send(mclient: TestClient, route: RouteInfo, probe: Probe, ids: dict, headers: dict):
    kwargs = {}
    if probe.json is not None:
        kwargs["json"] = probe.json(ids)
    if probe.data is not None:
        kwargs["data"] = probe.data(ids)
    if probe.files is not None:
        kwargs["files"] = probe.files(ids)
    url = fill(route.path, probe.path(ids))
    return url, mclient.request(route.method, url, headers=headers, follow_redirects=False,
                               **kwargs)


def test_writes_naming_foreign_records_change_nothing(mworld, mclient, tokens, table):
    failures, requests = [], 0
    for route in (r for r in table if r.key in WRITE_PROBES):
        probe = WRITE_PROBES[route.key]
        before = foreign_fingerprint(mworld)
        for role in SCOPED_ROLES:
            user = mworld.role_user(role)
            url, r = _send(mclient, route, probe, mworld.foreign, tokens(user))
            requests += 1
            leaked = _leaks(r.text, mworld.markers(user))
            succeeded = r.status_code < 400 and route.key not in SKIPS_UNSEEN
            if succeeded or leaked or r.status_code >= 500:
                failures.append(f"{user}: {route.method} {url} -> {r.status_code} {leaked} "
                                f"{r.text[:160]}")
        after = foreign_fingerprint(mworld)
        changed = [t for t in before if before[t] != after[t]]
        if changed:
            failures.append(f"{route}: foreign rows changed in {changed}")
    print(f"IDOR writes: {len(WRITE_PROBES)} routes × {len(SCOPED_ROLES)} roles = {requests}")
    assert failures == [], f"{len(failures)} of {requests} writes:\n" + "\n".join(failures)


# -- every read, every role: no foreign name in any answer --------------------------------------
# Values for the path parameters of reads that are not records.
SAMPLE_PATHS = {"/bulletin/{week}.{fmt}": {"week": "2024-W23", "fmt": "html"},
                "/api/finance/ledger/{by}": {"by": "customer"}}


def _plain_reads(mworld: MatrixWorld, table: list[RouteInfo]) -> list[str]:
    urls = []
    for r in table:
        if r.method != "GET" or not r.signed_in:
            continue
        if r.path in SAMPLE_PATHS:
            urls.append(fill(r.path, SAMPLE_PATHS[r.path]))
        elif not r.path_params:
            urls.append(r.path)
        else:
            kinds = {n: KIND_OF_PARAM[n] for n in r.path_params}
            urls.append(fill(r.path, {n: mworld.own[k] for n, k in kinds.items()}))
    return urls


def test_no_answer_names_a_foreign_record(mworld, mclient, tokens, table):
    """Every read (lists, figures, pages, the bulletin) as every role shows nothing foreign."""
    failures, requests = [], 0
    urls = _plain_reads(mworld, table)
    for role in SCOPED_ROLES:
        user = mworld.role_user(role)
        headers = tokens(user)
        for url in urls:
            r = mclient.get(url, headers=headers, follow_redirects=False)
            requests += 1
            leaked = _leaks(r.text, mworld.markers(user))
            if leaked or r.status_code >= 500:
                failures.append(f"{user}: GET {url} -> {r.status_code} {leaked}")
    print(f"IDOR leaks: {len(urls)} reads × {len(SCOPED_ROLES)} roles = {requests}")
    assert failures == [], f"{len(failures)} of {requests} reads:\n" + "\n".join(failures)


def test_hq_sees_the_foreign_records(mworld, mclient, tokens):
    """The markers are real: HQ, whose subtree holds Jiangsu, does see them."""
    headers = tokens(HQ_USER)
    assert "QQFOREIGN" in mclient.get("/api/customers?page_size=200", headers=headers).text
    assert mclient.get(f"/api/markets/{mworld.foreign['market']}",
                      headers=headers).status_code == 200


@pytest.mark.parametrize("url,kind", [("/api/customers?market_id={}", "market"),
                                      ("/api/visits?mine=false&customer_id={}", "customer"),
                                      ("/customers?market_id={}", "market")])
def test_a_filter_naming_a_foreign_record_is_not_found(mworld, mclient, tokens, url, kind):
    """The issue's reproduction: 200 with an empty list confirms nothing either way; 404 does
    not pretend the record is known. The same filter with an own record answers its rows."""
    headers = tokens(mworld.role_user(Role.CITY_MANAGER))
    assert mclient.get(url.format(mworld.foreign[kind]), headers=headers).status_code == 404
    own = mclient.get(url.format(mworld.own[kind]), headers=headers)
    assert own.status_code == 200
    if url.startswith("/api/customers"):
        assert {c["code"] for c in own.json()["items"]} == {"C-ZL-1", "C-ZL-2", "C-ZL-3"}
    elif url.startswith("/api/visits"):
        assert [v["customer_code"] for v in own.json()] == ["C-ZL-1"]
