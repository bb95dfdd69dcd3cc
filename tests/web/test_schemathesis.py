"""API robustness: schemathesis against ``/openapi.json``, and hostile values on every page.

schemathesis loads the app's own schema over its ASGI transport (no network) and sends
generated requests — valid ones and invalid ones — to every operation as a signed-in city
manager and a marketer (bearer tokens) of the matrix world. Every answer must be no server
error, a documented status code, of the documented content type and match the documented
schema. The run is bounded (a fixed number of examples per operation and mode, derandomised,
no deadline), so it is the same run every time and takes a few minutes at most.

The HTML routes are not in the schema; a second test calls every GET page with hostile values
in each of its parameters (``²`` passes ``str.isdigit`` and fails ``int``, a huge int overflows
SQLite, year 1 breaks date arithmetic, long strings) and expects no 5xx.
"""

from __future__ import annotations

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from jiqun.store.models import Role
from jiqun.web.app import create_app
from tests.web.matrix import MatrixWorld, Tokens, build_matrix_world, routes

EXAMPLES = {schemathesis.GenerationMode.POSITIVE: 25, schemathesis.GenerationMode.NEGATIVE: 15}
USERS = (Role.CITY_MANAGER, Role.MARKETER)


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


@pytest.fixture(scope="module")
def mworld(tmp_path_factory) -> MatrixWorld:
    world = build_matrix_world(tmp_path_factory.mktemp("schemathesis"))
    yield world
    world.store.engine.dispose()


@pytest.fixture(scope="module")
def app(mworld):
    return create_app(mworld.settings)


@pytest.fixture(scope="module")
def tokens(app, mworld):
    """Both users' tokens, issued before schemathesis sends its own guesses to /api/token."""
    with TestClient(app) as client:
        tokens = Tokens(client)
        for role in USERS:
            tokens(mworld.role_user(role))
        yield tokens


def _describe(err: BaseException) -> str:
    """One line per failed check: its title and the first line of its message."""
    parts = err.exceptions if isinstance(err, FailureGroup) else (err,)
    lines = []
    for part in parts:
        title = getattr(part, "title", type(part).__name__)
        message = (getattr(part, "message", None) or str(part)).strip().splitlines()
        lines.append(f"{title}: {message[0][:160] if message else ''}")
    return "; ".join(lines)


def _short(case, response, err: BaseException) -> str:
    return (f"{case.method} {case.formatted_path} query={case.query} body={case.body!r:.100}"
            f" -> {response.status_code}: {_describe(err)}")


def _run_operation(operation, headers: dict, mode, failures: list[str], counter: list[int]):
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES[mode], deadline=None, derandomize=True, database=None,
              phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck))
    def run(case):
        counter[0] += 1
        try:
            response = case.call(headers=headers)
        except Exception as err:  # noqa: BLE001 — the app raised: a 500 for a real client
            failures.append(f"{case.method} {case.formatted_path} query={case.query} "
                            f"body={case.body!r:.100} -> 500: {type(err).__name__}: {err}")
            return
        try:
            case.validate_response(response, checks=CHECKS)
        except (AssertionError, FailureGroup) as err:  # collected: none stops the run
            failures.append(_short(case, response, err))

    try:
        run()
    except Unsatisfiable:
        assert not mode.is_positive  # nothing to make invalid: no parameters and no body


@pytest.mark.parametrize("role", USERS, ids=lambda r: r.value)
def test_api_conforms_to_its_schema(app, mworld, tokens, role):
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    headers = tokens(mworld.role_user(role))
    failures: list[str] = []
    counter, operations = [0], 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in EXAMPLES:
            _run_operation(operation, headers, mode, failures, counter)
    print(f"schemathesis {role.value}: {operations} operations, {counter[0]} cases, "
          f"{len(failures)} failures")
    assert operations >= 40
    unique = sorted(set(failures))
    assert unique == [], f"{len(unique)} failures in {counter[0]} cases:\n" + "\n".join(unique)


# -- hostile values on every page ---------------------------------------------------------------
HOSTILE = ("²", "-1", "0", "10000000000000000000", "x", "0001-01-02", "9999-12-31", "1e309",
           "nan", "%00", "<script>", "x" * 5000)


def test_pages_never_answer_a_server_error(mworld, app, tokens):
    """Every GET page (and /api read) × every parameter × every hostile value: no 5xx."""
    headers = tokens(mworld.role_user(Role.CITY_MANAGER))
    failures, requests = [], 0
    with TestClient(app, raise_server_exceptions=False) as client:
        for route in routes(app):
            if route.method != "GET" or not route.signed_in:
                continue
            for value in HOSTILE:
                for name in route.query_params:
                    url = _with_path(route, "1")
                    r = client.get(url, params={name: value}, headers=headers,
                                   follow_redirects=False)
                    requests += 1
                    if r.status_code >= 500:
                        failures.append(f"GET {url}?{name}={value[:20]} -> {r.status_code}")
                for name in route.path_params:
                    url = _with_path(route, "1", **{name: value})
                    r = client.get(url, headers=headers, follow_redirects=False)
                    requests += 1
                    if r.status_code >= 500:
                        failures.append(f"GET {url[:80]} -> {r.status_code}")
    print(f"hostile values: {requests} requests")
    assert failures == [], f"{len(failures)} of {requests} requests:\n" + "\n".join(failures)


def _with_path(route, default: str, **values: str) -> str:
    """The route's path with every parameter set (``default`` where none is given)."""
    from urllib.parse import quote

    path = route.path
    for name in route.path_params:
        path = path.replace("{" + name + "}", quote(values.get(name, default), safe=""))
    return path


# -- the reproductions of the issue ---------------------------------------------------------------
# (method, url, JSON body, the statuses that are right). Each one answered 500 before.
REPRODUCTIONS = [
    ("GET", "/api/customers?page=10000000000000000000", None, {422}),
    ("GET", "/api/archive/duplicates?status=x", None, {422}),
    ("PATCH", "/api/markets/{zhili}", {"target_year": 10000}, {422}),
    ("GET", "/api/hubs?model=pmedian&p=73", None, {200, 422}),
    ("POST", "/api/campaigns", {"name": "远古活动", "starts_on": "0001-01-02",
                                "ends_on": "0001-01-09"}, {422}),
    ("GET", "/customers?market_id=²", None, {422}),
    ("GET", "/markets/top?n=²", None, {200, 422}),
    ("GET", "/visits/new?customer_id=²", None, {422}),
    ("GET", "/teams/²", None, {404, 422}),
    ("GET", "/customers/10000000000000000000", None, {404, 422}),
]


@pytest.mark.parametrize("method,url,body,right", REPRODUCTIONS,
                         ids=[f"{m} {u}" for m, u, _, _ in REPRODUCTIONS])
def test_issue_reproductions_answer_without_a_server_error(mworld, app, tokens, method, url,
                                                           body, right):
    headers = tokens(mworld.role_user(Role.CITY_MANAGER))
    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.request(method, url.format(zhili=mworld.base.ids["zhili"]), json=body,
                           headers=headers, follow_redirects=False)
        assert r.status_code in right, r.text[:300]
        campaigns = client.get("/api/campaigns", headers=headers).json()
        assert all(c["starts_on"] >= "2000-01-01" for c in campaigns)  # nothing unreadable kept
