"""Grid redraw in the store: draft → compare → approve → activate, KPI history across it, and
``jiqun grids --format json``."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from jiqun.accounts import add_user
from jiqun.errors import Conflict, NotAllowed
from jiqun.grids import redraw
from jiqun.kpi.service import OperatingPicture
from jiqun.lake import WAYBILL_DATASET, append
from jiqun.store import Scope
from jiqun.store.models import AuditEntry, Customer, CustomerTier, Grid, Market, MarketType, Role
from tests.conftest import build_org
from tests.grids.test_design import lattice

TODAY = dt.date(2026, 4, 1)
LAST_MONTH = (dt.date(2026, 3, 1), dt.date(2026, 3, 31))


@pytest.fixture
def market(store):
    return build_market(store)


def build_market(store) -> dict:
    """织里: 10 × 4 merchants 100 m apart; the west grid holds 32 of them, the east grid 8."""
    org = build_org(store)
    with store.transaction() as s:
        m = Market(code="ZL", name="织里童装", type=MarketType.INDUSTRIAL_CLUSTER,
                   industry="童装", org_unit_id=org.huzhou.id)
        s.add(m)
        s.flush()
        west = Grid(market_id=m.id, code="ZL-G1", name="西片", status="active",
                    org_unit_id=org.huzhou.id, valid_from=dt.date(2025, 1, 1))
        east = Grid(market_id=m.id, code="ZL-G2", name="东片", status="active",
                    org_unit_id=org.huzhou.id, valid_from=dt.date(2025, 1, 1))
        s.add_all([west, east])
        s.flush()
        for p in lattice(10, 4):
            col = (p.id - 1) // 4
            s.add(Customer(id=p.id, code=f"C{p.id}", name=f"商家{p.id}", lon=p.lon, lat=p.lat,
                           market_id=m.id, grid_id=west.id if col < 8 else east.id,
                           tier=CustomerTier.THIRD, est_daily_volume=10.0,
                           org_unit_id=org.zhili_outlet.id))
        boss = add_user(s, "hz-boss", "pw-123456789", org.huzhou, Role.CITY_MANAGER)
        walker = add_user(s, "zl-walker", "pw-123456789", org.zhili_outlet, Role.MARKETER)
        return {"org": org, "market_id": m.id, "west": west.id, "east": east.id,
                "boss": boss.id, "walker": walker.id}


def _waybills(tmp_path, market, grid_of: dict[int, int]) -> None:
    rows = [{"waybill_no": f"W{cid}-{d}", "org_unit_id": market["org"].zhili_outlet.id,
             "customer_id": cid, "market_id": market["market_id"], "grid_id": gid,
             "product": "parcel", "platform": "taobao",
             "ship_time": dt.datetime(2026, 3, d, 10), "dest_province": "440000",
             "weight_kg": 0.5, "fee": 5.0, "status": "delivered"}
            for cid, gid in grid_of.items() for d in (3, 17)]
    append(tmp_path / "lake", WAYBILL_DATASET, pa.Table.from_pylist(rows))


def test_draft_compare_approve_activate(store, market):
    mid = market["market_id"]
    with store.transaction(user_id=market["boss"], source="test") as s:
        draft_id, plan = redraw.create_draft(s, mid, 2, 0.2, today=TODAY)
    assert plan.within_tolerance and plan.moves >= 10  # 32/8 → at most 22/18 needs ≥ 10 moves
    with store.session() as s:
        drafts = redraw.draft_grids(s, mid, draft_id)
        assert len(drafts) == 2 and {g.status for g in drafts} == {"draft"}
        cmp = redraw.compare(s, mid, draft_id, parcels={1: 7})
        assert [r["merchants"] for r in cmp["current"]["grids"]] == [32, 8]
        assert cmp["current"]["workload_ratio"] == 4.0
        assert cmp["draft_grids"]["workload_ratio"] <= 1.2
        assert cmp["moves"] == plan.moves
        assert sum(r["parcels_30d"] for r in cmp["draft_grids"]["grids"]) == 7
        assert {g.geometry["geometry"]["type"] for g in drafts} == {"Polygon"}
        assert redraw.latest_draft_id(s, mid) == draft_id

    with store.session() as s:
        seen = redraw.draft_fingerprint(s, mid, draft_id)
    with store.transaction(user_id=market["walker"]) as s, pytest.raises(NotAllowed):
        redraw.approve(s, mid, draft_id, seen=seen)  # a marketer: refused by the registry
    with store.transaction(user_id=market["boss"]) as s, pytest.raises(
            Conflict, match="not approved"):
        redraw.activate(s, mid, draft_id, seen=seen, on=TODAY)

    with store.transaction(user_id=market["boss"], source="test") as s:
        redraw.approve(s, mid, draft_id, seen=seen)
        approved = redraw.draft_fingerprint(s, mid, draft_id)
        assert approved != seen  # the approval is part of what the activating user sees
        redraw.activate(s, mid, draft_id, seen=approved, on=TODAY)
    with store.session() as s:
        old = s.scalars(select(Grid).where(Grid.id.in_([market["west"], market["east"]]))).all()
        assert {(g.status, g.valid_to) for g in old} == {("retired", TODAY - dt.timedelta(days=1))}
        new = {g.id: g for g in redraw.active_grids(s, mid)}
        assert len(new) == 2 and all(g.valid_from == TODAY for g in new.values())
        counts = {}
        for c in s.scalars(select(Customer)):
            counts[c.grid_id] = counts.get(c.grid_id, 0) + 1
        assert set(counts) == set(new) and max(counts.values()) / min(counts.values()) <= 1.2
        audited = s.scalars(select(AuditEntry).where(
            AuditEntry.entity == "customers", AuditEntry.action == "update")).all()
        # every customer points at a new grid version; the audit has one update each
        assert len(audited) == 40
        assert {a.user_id for a in audited} == {market["boss"]}


def test_last_months_grid_kpis_are_unchanged_by_a_redraw(store, market, tmp_path):
    mid = market["market_id"]
    with store.session() as s:
        before_grid = {c.id: c.grid_id for c in s.scalars(select(Customer))}
    _waybills(tmp_path, market, before_grid)
    from jiqun.lake.aggregates import rebuild

    rebuild(tmp_path / "lake")

    def last_month():
        rows = OperatingPicture(store, tmp_path / "lake", Scope.WHOLE).volume("grid", "month", *LAST_MONTH)
        return {r["grid_id"]: r["parcels"] for r in rows}

    before = last_month()
    assert before == {market["west"]: 64, market["east"]: 16}
    with store.transaction(user_id=market["boss"]) as s:
        draft_id, _ = redraw.create_draft(s, mid, 2, 0.2, today=TODAY)
        redraw.approve(s, mid, draft_id, seen=redraw.draft_fingerprint(s, mid, draft_id))
        redraw.activate(s, mid, draft_id, seen=redraw.draft_fingerprint(s, mid, draft_id),
                            on=TODAY)
    assert last_month() == before


def test_redrawing_grids_already_balanced_moves_nobody(store, market):
    with store.transaction() as s:  # make it 20/20
        for c in s.scalars(select(Customer)):
            c.grid_id = market["west"] if (c.id - 1) // 4 < 5 else market["east"]
    with store.session() as s:
        _, plan = redraw.plan_market(s, market["market_id"], 2, 0.2)
    assert plan.moves == 0 and plan.workload_ratio == 1.0


def test_cli_reports_grids_as_json(store, market, monkeypatch):
    from jiqun.cli import app

    monkeypatch.setenv("JIQUN_STORE_URL", str(store.engine.url))
    from jiqun.config import get_settings

    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["grids", "--market", "ZL", "--k", "2",
                                      "--tolerance", "0.2", "--format", "json",
                                      "--user", "system"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert {"k", "tolerance", "workload_ratio", "potential_ratio", "moves", "within_tolerance",
            "grids"} <= set(data)
    assert data["k"] == 2 and len(data["grids"]) == 2
    assert {"merchants", "workload", "potential", "moves_in"} <= set(data["grids"][0])
    assert sum(g["merchants"] for g in data["grids"]) == 40
    assert data["moves"] == sum(g["moves_in"] for g in data["grids"]) >= 10


def test_a_marketer_may_not_draft_grids_and_a_city_manager_may(store, market):
    mid = market["market_id"]
    with store.transaction() as s:
        add_user(s, "hz-seller", "pw-123456789", market["org"].huzhou, Role.MARKETER)
    with store.transaction(actor=store.actor("hz-seller")) as s, pytest.raises(NotAllowed):
        redraw.create_draft(s, mid, 2, 0.2, today=TODAY)  # sees the market, may not draft
    with store.session() as s:
        assert redraw.latest_draft_id(s, mid) is None
    with store.transaction(actor=store.actor("hz-boss")) as s:
        draft_id, _ = redraw.create_draft(s, mid, 2, 0.2, today=TODAY)
    with store.session() as s:
        assert redraw.latest_draft_id(s, mid) == draft_id


def _draft(store, mid, today=TODAY, k=2) -> tuple[str, str]:
    with store.transaction(actor=store.actor("hz-boss")) as s:
        draft_id, _ = redraw.create_draft(s, mid, k, 0.2, today=today)
        return draft_id, redraw.draft_fingerprint(s, mid, draft_id)


def _approval(store, mid, draft_id) -> tuple[str | None, int | None]:
    with store.session() as s:
        props = redraw.draft_grids(s, mid, draft_id)[0].geometry["properties"]
        return props["approved_at"], props["approved_by"]


def test_approving_a_draft_that_was_replaced_since_it_was_seen_is_a_conflict(store, market):
    """A discarded draft's id is given to the next draft of the day: the approver of the first
    must not approve the second by its id."""
    mid = market["market_id"]
    first, seen = _draft(store, mid)
    second, now = _draft(store, mid, k=3)  # a colleague redraws meanwhile
    assert second == first and now != seen
    with store.transaction(actor=store.actor("hz-boss")) as s, pytest.raises(
            Conflict, match="changed since you saw it") as refused:
        redraw.approve(s, mid, first, seen=seen)
    assert refused.value.mine == {"fingerprint": seen}
    assert refused.value.theirs == {"fingerprint": now}
    assert _approval(store, mid, first) == (None, None)  # nothing written


def test_a_decision_is_taken_once(store, market):
    mid = market["market_id"]
    draft_id, seen = _draft(store, mid)
    with store.transaction(actor=store.actor("hz-boss")) as s:
        redraw.approve(s, mid, draft_id, seen=seen)
        approved = redraw.draft_fingerprint(s, mid, draft_id)
    stamp = _approval(store, mid, draft_id)
    assert stamp[1] == market["boss"]
    with store.transaction(actor=store.actor("hz-boss")) as s, pytest.raises(
            Conflict, match="already approved by {name}") as again:
        redraw.approve(s, mid, draft_id, seen=approved)  # even with the current fingerprint
    assert again.value.values["name"] == "hz-boss"
    assert _approval(store, mid, draft_id) == stamp
    with store.transaction(actor=store.actor("hz-boss")) as s:
        redraw.activate(s, mid, draft_id, seen=approved, on=TODAY)
    with store.transaction(actor=store.actor("hz-boss")) as s, pytest.raises(
            Conflict, match="already in force") as twice:
        redraw.activate(s, mid, draft_id, seen=approved, on=TODAY + dt.timedelta(days=1))
    assert twice.value.theirs["valid_from"] == TODAY
    with store.session() as s:
        assert {g.valid_from for g in redraw.active_grids(s, mid)} == {TODAY}


def test_two_approvals_at_once_end_as_one(store, market):
    """Both approvers read the same draft; the second write finds its version gone."""
    from sqlalchemy.orm.exc import StaleDataError

    mid = market["market_id"]
    draft_id, seen = _draft(store, mid)
    with store.session(actor=store.actor("hz-boss")) as first, \
            store.session(actor=store.actor("hz-boss")) as second:
        redraw.approve(first, mid, draft_id, seen=seen,
                           now=dt.datetime(2026, 4, 1, 9))
        redraw.draft_grids(second, mid, draft_id)  # read before the first commits
        first.commit()
        with pytest.raises((Conflict, StaleDataError)):
            redraw.approve(second, mid, draft_id, seen=seen,
                               now=dt.datetime(2026, 4, 1, 10))
            second.commit()
        second.rollback()
    assert _approval(store, mid, draft_id) == ("2026-04-01T09:00:00", market["boss"])
