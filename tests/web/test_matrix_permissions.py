"""Permission matrix: every write action × every role, through the web, the API and the CLI,
allowed or refused exactly as :data:`jiqun.permissions.REGISTRY` says.

* Every unsafe route (POST/PUT/PATCH/DELETE) of the app's route table declares its action with
  ``web.deps.allow`` (read back from the route's dependencies), unless it is listed below with
  the reason it needs none.
* Each such route × each role of the matrix world: a role the registry refuses gets 403; an
  allowed role never does (a probe body with a record id that does not exist answers 404 or
  422, which is fine, and writes nothing).
* Each action with CLI commands has a command line here, run with ``--user <role's user>``:
  refused (exit 2 and the refusal message) exactly when the registry refuses.
* Every action has a route, a CLI command or an explicit reason for having neither.
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from jiqun.config import get_settings
from jiqun.permissions import REGISTRY, Action, allowed
from jiqun.store.models import Role
from tests.web.matrix import (
    LEVEL_USERS,
    ROLE_USERS,
    SELF_SERVICE_WRITES,
    UNSAFE,
    RouteInfo,
    Tokens,
    fill,
    routes,
)

# Actions that have no route, with the reason (the CLI table below must then have them).
NO_ROUTE = {
    Action.REMINDERS_RUN: "a scheduled job: `jiqun sales remind`",
    Action.LIFECYCLE_RUN: "a scheduled job: `jiqun sales lifecycle`",
}

# Actions that have no CLI command, with the reason.
NO_CLI = {
    Action.GRID_DRAFT: "drafts are drawn on the grid design page (/grids/design)",
    Action.VISIT_LOG: "visits are logged on the phone form (/visits/new) or POST /api/visits",
    Action.POOL_CLAIM: "claimed on /pool or POST /api/pool/{id}/claim",
    Action.LINE_ACCEPT: "accepted on /lines or POST /api/lines/accept",
    Action.INBOX_READ: "one's own inbox, on /inbox",
}

MISSING_ID = 2**31 - 2  # within the id bound, and no record has it
REFUSAL = "Your role may not do this"
PASSWORD = "Matrix-Cli-Password-2024!"



@pytest.fixture(scope="module")
def table(mclient) -> list[RouteInfo]:
    return routes(mclient.app)


def _writes(table: list[RouteInfo]) -> list[RouteInfo]:
    return [r for r in table if r.method in UNSAFE]


def test_every_write_route_declares_its_action(table):
    undeclared = [str(r) for r in _writes(table) if not r.actions and r.key not in SELF_SERVICE_WRITES]
    assert undeclared == [], "add dependencies=[allow(Action.X)] (or a reason to SELF_SERVICE_WRITES)"
    stale = [k for k in SELF_SERVICE_WRITES if k not in {r.key for r in table}]
    assert stale == []


def test_every_action_has_a_route_or_a_command(table):
    on_routes = {a for r in table for a in r.actions}
    orphans = [a.value for a in Action
               if a not in on_routes and a not in CLI_ROWS and a not in NO_ROUTE]
    assert orphans == [], "give the action a route, a CLI row or a reason in NO_ROUTE"
    assert not (set(CLI_ROWS) & set(NO_CLI))
    uncovered = [a.value for a in Action if a not in CLI_ROWS and a not in NO_CLI]
    assert uncovered == [], "add a CLI row or a reason to NO_CLI"
    stale = [a.value for a in NO_ROUTE if a in on_routes]
    assert stale == [], "NO_ROUTE lists actions that now have a route"


def _probe(route: RouteInfo) -> dict:
    """A request that passes no validation that could hide the answer: no record exists."""
    values = {n: ("merge" if n == "decision" else MISSING_ID) for n in route.path_params}
    kwargs: dict = {"url": fill(route.path, values)}
    if route.api and route.body_fields:
        kwargs["json"] = [] if route.body_fields == ("body",) else {}
    elif not route.api:
        kwargs["data"] = {"market_id": str(MISSING_ID)}
    return kwargs


def test_web_and_api_answer_as_the_registry_says(mworld, mclient, table):
    tokens = Tokens(mclient)
    failures, requests = [], 0
    declared = [r for r in _writes(table) if r.actions]
    assert len(declared) >= 30
    users = [u for u, _ in ROLE_USERS.values()] + list(LEVEL_USERS)
    for user in users:
        actor = mworld.store.actor(user)
        who = f"{user} ({actor.role.value}@{actor.level.value})"
        headers = tokens(user)
        for route in declared:
            may = all(allowed(actor, a) for a in route.actions)
            kwargs = _probe(route)
            r = mclient.request(route.method, headers=headers, follow_redirects=False, **kwargs)
            requests += 1
            if may and r.status_code == 403:
                failures.append(f"{who} may {route.actions[0].value} but "
                                f"{route} -> 403 {r.text[:120]}")
            elif not may and r.status_code != 403:
                failures.append(f"{who} may not {route.actions[0].value} but "
                                f"{route} -> {r.status_code} {r.text[:120]}")
            elif r.status_code >= 500:
                failures.append(f"{who}: {route} -> {r.status_code}")
    print(f"permission matrix (web/API): {len(declared)} routes × {len(users)} users "
          f"({len(Role)} roles, {len(LEVEL_USERS)} at a lower level) = {requests} requests")
    assert failures == [], f"{len(failures)} of {requests}:\n" + "\n".join(failures)


# -- the CLI ------------------------------------------------------------------------------------
def _files(tmp, n: str, i: int) -> dict[str, str]:
    """Files to import, new for each run (an import already done may answer without asking)."""
    archive = tmp / f"archive-{n}.csv"
    archive.write_text(f"客户名称,电话,机构编码\n矩阵商家{n},136{i:08d},"
                       "ZJ-HUZ-WX-ZL\n", encoding="utf-8")
    markets = tmp / f"markets-{n}.csv"
    markets.write_text(f"市场编码,市场名称,市场类型,行业,机构编码\nM-IMP-{n},矩阵导入{n},产业集群,"
                       "童装,ZJ-HUZ-WX-ZL\n", encoding="utf-8")
    return {"archive": str(archive), "markets": str(markets)}


# Action → the command line that takes it (without --user). {unit} is the acting user's org
# unit, {n} a number unique to the run, {team}/{pair} ids of Huzhou records, {archive} etc. files.
CLI_ROWS: dict[Action, list[str]] = {
    Action.MARKET_CREATE: ["markets", "add", "--code", "M-CLI-{n}", "--name", "矩阵市场{n}",
                           "--type", "industrial_cluster", "--industry", "童装",
                           "--org", "{unit}"],
    Action.MARKET_EDIT: ["markets", "edit", "M-ZLO", "--industry", "综合"],
    Action.TARGET_SET: ["markets", "edit", "M-ZLO", "--revenue-target", "18000000",
                        "--year", "2024"],
    Action.TEAM_PROPOSE: ["teams", "propose", "--name", "矩阵队{n}", "--market", "M-ZLO",
                          "--member", "zl-marketer:leader"],
    Action.TEAM_DECIDE: ["teams", "reject", "{team}", "--reason", "matrix"],
    Action.TEAM_EDIT_MEMBERS: ["teams", "members", "{team}", "--member", "zl-marketer:leader"],
    Action.GRID_APPROVE: ["grids", "approve", "--market", "M-ZLO", "--draft", "1",
                           "--fingerprint", "0"],
    Action.GRID_ACTIVATE: ["grids", "activate", "--market", "M-ZLO", "--draft", "1",
                           "--fingerprint", "0"],
    Action.LINE_APPROVE: ["plan", "lines", "approve", "L-MATRIX-NONE", "--version", "1"],
    Action.LINE_OPEN: ["plan", "lines", "open", "L-MATRIX-NONE", "--version", "1"],
    Action.LINE_CLOSE: ["plan", "lines", "close", "L-MATRIX-NONE", "--version", "1"],
    Action.TIER_APPLY: ["tiers", "apply"],
    Action.CUSTOMER_ARCHIVE: ["sales", "archive", "{archive}"],
    Action.DUPLICATE_DECIDE: ["sales", "duplicates", "keep", "{pair}"],
    Action.CAMPAIGN_CREATE: ["sales", "campaigns", "create", "--name", "矩阵活动{n}",
                             "--start", "2024-06-01", "--end", "2024-06-10", "--tier", "first"],
    Action.REMINDERS_RUN: ["sales", "remind", "--date", "2024-06-15"],
    Action.LIFECYCLE_RUN: ["sales", "lifecycle"],
    # The job that takes no action of its own beyond job.run (the others also want theirs).
    Action.JOB_RUN: ["jobs", "run", "aggregates"],
    # Customers are archived (customer.archive, the row above); markets, waybills and events
    # are data imports.
    Action.DATA_IMPORT: ["import", "markets", "{markets}"],
    Action.USER_MANAGE: ["users", "add", "cli-{n}", "--org", "{unit}", "--role", "marketer",
                         "--password", PASSWORD, "--name", "矩阵{n}"],
    Action.PASSWORD_RESET: ["users", "reset-password", "m-courier", "--password", PASSWORD],
    Action.PROBLEM_RAISE: ["problems", "raise", "--title", "矩阵问题{n}"],
    Action.PROBLEM_ESCALATE: ["problems", "escalate", str(MISSING_ID), "--note", "matrix"],
    Action.PROBLEM_MERGE: ["problems", "merge", str(MISSING_ID), str(MISSING_ID - 1),
                           "--title", "matrix"],
    Action.PROBLEM_SOLVE: ["problems", "solve", str(MISSING_ID), "--solution", "matrix"],
    Action.WAREHOUSE_ASSIGN: ["warehouses", "assign", "C-MATRIX-NONE", "--warehouse",
                              "W-MATRIX-NONE"],
    Action.CASE_WORK: ["service", "resolve", "SC-000000-0000", "--note", "matrix"],
    Action.CASE_ASSIGN: ["service", "assign", "SC-000000-0000", "--to", "m-courier"],
    Action.EXCEPTIONS_RUN: ["service", "detect", "--at", "2024-06-15"],
    Action.COST_EDIT: ["finance", "costs", "set", "--org", "{unit}", "--pool", "pickup",
                       "--driver", "pieces", "--rate", "0.3", "--from", "2024-06"],
    Action.PRICE_CARD_EDIT: ["price", "cards", "activate", "RC-MATRIX-NONE", "--number", "1"],
    Action.PRICE_APPROVE: ["price", "cards", "approve", "RC-MATRIX-NONE", "--number", "1"],
    Action.PRICE_CONTRACT: ["price", "contract", "set", "C-MATRIX-NONE", "--from", "2024-06-01",
                            "--discount", "0.1"],
}


@pytest.fixture(scope="module")
def cli_env(mworld, tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("JIQUN_STORE_URL", mworld.store.url)
    mp.setenv("JIQUN_LAKE_PATH", str(mworld.settings.lake_path))
    mp.setenv("JIQUN_LOCALE", "en")
    mp.delenv("JIQUN_USER", raising=False)
    get_settings.cache_clear()
    yield tmp_path_factory.mktemp("cli")
    mp.undo()
    get_settings.cache_clear()


@pytest.mark.parametrize("action", list(CLI_ROWS), ids=lambda a: a.value)
def test_cli_answers_as_the_registry_says(mworld, cli_env, action):
    from jiqun.cli import app as cli_app

    runner = CliRunner()
    failures = []
    users = [*ROLE_USERS.values(), *((u, unit) for u, (_, unit) in LEVEL_USERS.items())]
    for n, (user, unit) in enumerate(users):
        role = mworld.store.actor(user).role
        values = {"n": f"{action.value.replace('.', '')}{n}", "unit": unit,
                  "team": str(mworld.own["team"]), "pair": str(mworld.own["pair"])}
        values.update(_files(cli_env, values["n"], n))
        argv = [part.format(**values) for part in CLI_ROWS[action]] + ["--user", user]
        result = runner.invoke(cli_app, argv)
        output = result.output + (result.stderr if result.stderr_bytes is not None else "")
        refused = result.exit_code == 2 and REFUSAL in output
        may = allowed(mworld.store.actor(user), action)
        if "No such option" in output or "No such command" in output:
            failures.append(f"{' '.join(argv)}: {output.strip()[-160:]}")
        elif may == refused:
            failures.append(f"{role.value} {'may' if may else 'may not'} {action.value}: "
                            f"`jiqun {' '.join(argv)}` exit {result.exit_code}: "
                            f"{output.strip()[-200:]} {result.exception!r}")
    assert failures == [], "\n".join(failures)


def test_registry_rules_are_not_empty():
    """Every action is allowed to someone besides the system account."""
    assert all(rule.roles and rule.levels for rule in REGISTRY.values())
