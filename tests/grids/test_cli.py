"""``jiqun grids`` workflow on the command line: --save-draft → compare → approve →
activate, scoped to the acting user, audited as ``cli``, and grid KPIs attributed to the grid
that served each parcel on both sides of the activation."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from jiqun.accounts import add_user
from jiqun.cli import app
from jiqun.config import get_settings
from jiqun.grids import redraw
from jiqun.kpi.service import OperatingPicture
from jiqun.lake import WAYBILL_DATASET, append
from jiqun.lake.aggregates import rebuild
from jiqun.store import Scope
from jiqun.store.models import AuditEntry, Customer, Grid, Role
from tests.grids.test_redraw import build_market

MARCH = (dt.date(2026, 3, 1), dt.date(2026, 3, 31))
APRIL = (dt.date(2026, 4, 1), dt.date(2026, 4, 30))
ACTIVATION = dt.date(2026, 4, 1)


@pytest.fixture
def market(store):
    return build_market(store)


@pytest.fixture
def jiqun(store, tmp_path, monkeypatch):
    """Run ``jiqun …`` on the test store and a lake in tmp_path; returns (exit code, output)."""
    monkeypatch.setenv("JIQUN_STORE_URL", str(store.engine.url))
    monkeypatch.setenv("JIQUN_LAKE_PATH", str(tmp_path / "lake"))
    monkeypatch.setenv("JIQUN_LOCALE", "en")
    get_settings.cache_clear()

    def run(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(app, ["grids", *args])
        return result.exit_code, result.output

    yield run
    get_settings.cache_clear()


def _ship(tmp_path, market, grid_of: dict[int, int], days: list[dt.date]) -> None:
    """Waybills of every customer on ``days``, each carrying the grid that served it then."""
    rows = [{"waybill_no": f"W{cid}-{d:%m%d}", "org_unit_id": market["org"].zhili_outlet.id,
             "customer_id": cid, "market_id": market["market_id"], "grid_id": gid,
             "product": "parcel", "platform": "taobao",
             "ship_time": dt.datetime(d.year, d.month, d.day, 10), "dest_province": "440000",
             "weight_kg": 0.5, "fee": 5.0, "status": "delivered"}
            for cid, gid in grid_of.items() for d in days]
    append(tmp_path / "lake", WAYBILL_DATASET, pa.Table.from_pylist(rows))
    rebuild(tmp_path / "lake")


def _grid_of(store) -> dict[int, int]:
    with store.session() as s:
        return {c.id: c.grid_id for c in s.scalars(select(Customer))}


def _volume_by_grid(store, tmp_path, days) -> dict[int, int]:
    rows = OperatingPicture(store, tmp_path / "lake", Scope.WHOLE).volume("grid", "month", *days)
    return {r["grid_id"]: r["parcels"] for r in rows}


def test_redraw_through_the_cli_keeps_kpi_history_with_the_old_grids(store, market, tmp_path,
                                                                     jiqun):
    old_grid = _grid_of(store)
    _ship(tmp_path, market, old_grid, [dt.date(2026, 3, 3), dt.date(2026, 3, 17)])
    march = _volume_by_grid(store, tmp_path, MARCH)
    assert march == {market["west"]: 64, market["east"]: 16}

    code, out = jiqun("--market", "ZL", "--k", "2", "--save-draft", "--user", "hz-boss",
                      "--format", "json")
    assert code == 0, out
    design = json.loads(out)
    draft = design["draft"]
    assert draft and design["within_tolerance"] and design["moves"] >= 10

    code, out = jiqun("compare", "--draft", draft, "--user", "hz-boss", "--as-of",
                      "2026-03-31", "--format", "json")
    assert code == 0, out
    cmp = json.loads(out)
    assert cmp["market_id"] == market["market_id"] and cmp["moves"] == design["moves"]
    assert [g["merchants"] for g in cmp["current"]["grids"]] == [32, 8]
    assert cmp["current"]["workload_ratio"] == 4.0 and cmp["draft_grids"]["workload_ratio"] <= 1.2
    assert sum(g["parcels_30d"] for g in cmp["draft_grids"]["grids"]) == 80
    assert cmp["approved_by"] is None

    seen = cmp["fingerprint"]
    code, out = jiqun("activate", "--draft", draft, "--fingerprint", seen, "--user", "hz-boss",
                      "--on", "2026-04-01")
    assert code == 2 and "not approved" in out
    code, out = jiqun("approve", "--draft", draft, "--fingerprint", seen, "--user", "zl-walker")
    assert code == 2 and "Your role may not do this" in out  # refused before any look-up
    with store.transaction() as s:
        add_user(s, "hz-seller", "pw-123456789", market["org"].huzhou, Role.MARKETER)
    code, out = jiqun("approve", "--draft", draft, "--fingerprint", seen, "--user", "hz-seller")
    assert code == 2 and "Your role may not do this: Approve a grid draft" in out
    code, out = jiqun("approve", "--draft", draft, "--user", "hz-boss")
    assert code == 2 and "--fingerprint" in out  # what the approver saw is not optional

    code, out = jiqun("approve", "--draft", draft, "--fingerprint", seen, "--user", "hz-boss",
                      "--format", "json")
    assert code == 0, out
    approved = json.loads(out)
    assert (approved["approved_by"], approved["approved_by_name"]) == (market["boss"], "hz-boss")
    code, out = jiqun("approve", "--draft", draft, "--fingerprint", approved["fingerprint"],
                      "--user", "hz-boss")
    assert code == 2 and "already approved by hz-boss" in out  # a decision is taken once
    code, out = jiqun("activate", "--draft", draft, "--fingerprint", seen, "--user", "hz-boss",
                      "--on", "2026-04-01")
    assert code == 2 and "changed since you saw it" in out  # seen before the approval
    code, out = jiqun("activate", "--draft", draft, "--fingerprint", approved["fingerprint"],
                      "--user", "hz-boss", "--on", "2026-04-01", "--format", "json")
    assert code == 0, out
    activated = json.loads(out)
    new_ids = {g["id"] for g in activated["grids"]}
    assert {g["status"] for g in activated["grids"]} == {"active"}
    assert {g["valid_from"] for g in activated["grids"]} == {"2026-04-01"}

    new_grid = _grid_of(store)
    assert set(new_grid.values()) == new_ids
    with store.session() as s:
        old = s.scalars(select(Grid).where(Grid.id.in_([market["west"], market["east"]])))
        assert {(g.status, g.valid_to) for g in old} == {("retired", dt.date(2026, 3, 31))}
        moved = s.scalars(select(AuditEntry).where(
            AuditEntry.entity == "customers", AuditEntry.action == "update")).all()
        assert len(moved) == 40
        assert {(a.user_id, a.username, a.source) for a in moved} == {
            (market["boss"], "hz-boss", "cli")}
        grid_changes = s.scalars(select(AuditEntry).where(AuditEntry.entity == "grids")).all()
        assert {a.source for a in grid_changes} == {"cli"}
        assert {a.action for a in grid_changes} >= {"insert", "update"}

    # March stays with the grids that served it; April's parcels go to the new grids.
    _ship(tmp_path, market, new_grid, [dt.date(2026, 4, 2)])
    assert _volume_by_grid(store, tmp_path, MARCH) == march
    april = _volume_by_grid(store, tmp_path, APRIL)
    assert set(april) == new_ids and sum(april.values()) == 40
    counts: dict[int, int] = {}
    for gid in new_grid.values():
        counts[gid] = counts.get(gid, 0) + 1
    assert april == counts


def test_the_cli_only_sees_the_users_subtree(store, market, jiqun):
    with store.transaction() as s:
        add_user(s, "hgz-boss", "pw-123456789", market["org"].hangzhou, Role.CITY_MANAGER)
        draft, _ = redraw.create_draft(s, market["market_id"], 2, 0.2)
        seen = redraw.draft_fingerprint(s, market["market_id"], draft)
    code, out = jiqun("--market", "ZL", "--k", "2", "--user", "hgz-boss")
    assert code == 2 and "No market ZL in your area" in out
    code, out = jiqun("compare", "--draft", draft, "--user", "hgz-boss")
    assert code == 2 and "No draft" in out
    code, out = jiqun("approve", "--draft", draft, "--fingerprint", seen, "--user", "hgz-boss",
                      "--market", str(market["market_id"]))
    assert code == 2 and "in your area" in out
    code, out = jiqun("compare", "--draft", draft, "--user", "hz-boss", "--scope", "ZJ-HGZ")
    assert code == 2 and "not inside" in out
    with store.session() as s:  # nothing was approved by the foreign manager
        grids = redraw.draft_grids(s, market["market_id"], draft)
        assert all(g.geometry["properties"]["approved_by"] is None for g in grids)
    code, out = jiqun("compare", "--draft", draft, "--user", "system", "--scope", "ZJ-HUZ",
                      "--format", "csv")
    assert code == 0, out
    assert out.count("current,") == 2 and out.count("draft,") == 2
    code, out = jiqun("compare", "--draft", draft, "--scope", "ZJ-HUZ")
    assert code == 2 and "--user" in out  # nobody acts unnamed


def test_a_marketer_may_not_save_a_draft_and_a_city_manager_may(store, market, jiqun):
    with store.transaction() as s:
        add_user(s, "hz-seller", "pw-123456789", market["org"].huzhou, Role.MARKETER)
    code, out = jiqun("--market", "ZL", "--k", "2", "--user", "hz-seller")
    assert code == 0, out  # designing without saving writes nothing: anyone who sees may try
    code, out = jiqun("--market", "ZL", "--k", "2", "--save-draft", "--user", "hz-seller")
    assert code == 2 and "Your role may not do this: Save a grid redraw as a draft" in out
    with store.session() as s:
        assert redraw.latest_draft_id(s, market["market_id"]) is None
    code, out = jiqun("--market", "ZL", "--k", "2", "--save-draft", "--user", "hz-boss",
                      "--format", "json")
    assert code == 0, out
    with store.session() as s:
        assert redraw.latest_draft_id(s, market["market_id"]) == json.loads(out)["draft"]


def test_design_without_market_or_k_is_refused(jiqun, market):
    code, out = jiqun("--k", "2", "--user", "system")
    assert code == 2 and "--market" in out
    code, out = jiqun("--market", "ZL", "--k", "41", "--user", "system")
    assert code == 2 and "More grids than merchants" in out
