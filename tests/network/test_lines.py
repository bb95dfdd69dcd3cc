"""Dedicated lines: the economics by hand, and the planner on the demo province."""

from __future__ import annotations

import math

import numpy as np
import pytest

from jiqun.lake import connect
from jiqun.network.lines import (
    NOT_YET,
    OPEN_ALL_YEAR,
    break_even_volume,
    day_saving,
    plan_lines,
    saving_per_parcel,
    trip_cost,
)
from jiqun.network.params import PlanningParams, TruckType
from jiqun.store import Scope
from jiqun.store.org import unit_by_code
from tests.network.demo_province import demo_province

TRUCK = TruckType(name="t", payload_kg=10_000, volume_m3=50, cost_per_km=4.0,
                  fixed_cost_per_trip=500)


def test_break_even_against_a_hand_computation():
    params = PlanningParams(backhaul_share=0.25, second_driver_above_km=600,
                            second_driver_cost_per_trip=400, direct_handling_per_parcel=0.3)
    # 800 km: 500 + 4 × 800 × (1 + 0.75) + 400 (second driver) = 6,500 yuan a trip.
    assert trip_cost(TRUCK, 800, params) == pytest.approx(6500)
    # 500 km: no second driver: 500 + 4 × 500 × 1.75 = 4,000.
    assert trip_cost(TRUCK, 500, params) == pytest.approx(4000)
    u = saving_per_parcel("far", params)  # 0.70 + 1.10 − 0.30
    assert u == pytest.approx(1.5)
    assert break_even_volume(6500, u, capacity=10_000) == pytest.approx(6500 / 1.5)
    # A full truck that cannot pay its trip never breaks even.
    assert math.isinf(break_even_volume(6500, u, capacity=4000))


def test_capacity_is_the_smaller_of_weight_and_volume():
    # 2 kg parcels of 400 kg/m³: 0.005 m³ each; 50 m³ × 0.8 / 0.005 = 8,000; 10 t / 2 kg = 5,000.
    assert TRUCK.capacity_parcels(2.0, 400, 0.8, 0.004) == pytest.approx(5000)
    # Light clothing (0.5 kg, 120 kg/m³): volume binds: 40 / (0.5/120) = 9,600 < 20,000.
    assert TRUCK.capacity_parcels(0.5, 120, 0.8, 0.004) == pytest.approx(9600)


def test_day_saving_takes_the_best_number_of_trucks():
    cap, u, cost = 100.0, 2.0, 150.0
    # 250 parcels: two full trucks save 2 × (200 − 150); the 50 left pay 100 < 150: hub route.
    assert day_saving(np.array([250.0]), cap, u, cost)[0] == pytest.approx(100)
    # 180: one full truck (+50) and the 80 left pay 160 − 150 = 10.
    assert day_saving(np.array([180.0]), cap, u, cost)[0] == pytest.approx(60)
    # A line that runs every day loses on a thin day: 40 × 2 − 150.
    assert day_saving(np.array([40.0]), cap, u, cost)[0] == pytest.approx(-70)


@pytest.fixture(scope="module")
def shangqiu_plan():
    demo = demo_province()
    with demo.store.session() as s:
        scope = Scope.for_unit(s, unit_by_code(s, "HA-SQ"))
    with demo.store.session(scope=scope) as s:
        return plan_lines(s, connect(engine="duckdb"), demo.lake, scope, demo.params)


def test_demo_proposes_yucheng_lines_to_guangzhou_nanjing_hangzhou(shangqiu_plan):
    yucheng = {p.dest: p for p in shangqiu_plan.proposals if p.origin.startswith("稍岗")}
    assert {"广州市", "南京市", "杭州市"} <= set(yucheng)
    for dest in ("广州市", "南京市", "杭州市"):
        p = yucheng[dest]
        assert p.decision == OPEN_ALL_YEAR
        assert p.mean_daily > p.break_even
        assert p.days_above > p.days / 2
        assert p.saving_per_year > 0 and p.hours_saved > 0
        # The reasons carry the numbers behind the decision.
        assert f"{p.break_even:,.1f}" in " ".join(p.reasons)
    # The three lines are the biggest savings of the city.
    top = {p.dest for p in shangqiu_plan.proposals[:3]}
    assert top == {"广州市", "南京市", "杭州市"}


def test_a_lane_far_below_break_even_is_never_proposed(shangqiu_plan):
    far_below = [p for p in shangqiu_plan.lanes if p.mean_daily < p.break_even / 4]
    assert far_below, "the demo has thin lanes"
    assert all(p.decision == NOT_YET and p.saving_per_year == 0 for p in far_below)
    assert all(p.days_above <= p.days * 0.05 for p in far_below)


def test_pooling_lets_neighbours_ride_yucheng_trucks():
    demo = demo_province()
    with demo.store.session() as s:
        scope = Scope.for_unit(s, unit_by_code(s, "HA-SQ"))
    with demo.store.session(scope=scope) as s:
        plan = plan_lines(s, connect(engine="duckdb"), demo.lake, scope, demo.params)
    assert plan.pools
    for pool in plan.pools:
        assert len(pool.members) >= 2
        assert pool.status == "optimal" and pool.gap <= 1e-6
        assert pool.cost_per_day < pool.hub_cost_per_day


def test_every_parameter_is_documented():
    from pathlib import Path

    from jiqun.network.params import ZoneCost

    doc = (Path(__file__).resolve().parents[2] / "docs/planning.md").read_text(encoding="utf-8")
    for model in (PlanningParams, TruckType, ZoneCost):
        for name in model.model_fields:
            assert f"`{name}`" in doc, f"{model.__name__}.{name} is not in docs/planning.md"


def test_params_round_trip_through_toml_and_scale(tmp_path):
    from jiqun.demo.scale import demo_planning_params

    params = demo_planning_params(0.01)
    path = tmp_path / "planning.toml"
    path.write_text(params.to_toml(), encoding="utf-8")
    again = PlanningParams.from_file(path)
    assert again == params
    assert again.trucks[0].payload_kg == pytest.approx(PlanningParams().trucks[0].payload_kg / 100)
    assert again.direct_handling_per_parcel == PlanningParams().direct_handling_per_parcel


def test_two_accepts_at_once_record_one_line(shangqiu_plan, monkeypatch):
    """Both accepts look the code up before either inserts (held at a barrier): the unique code
    makes the second insert fail, and that accept refreshes the first one's line instead."""
    import dataclasses
    import threading

    from sqlalchemy import func, select

    from jiqun.network import lines
    from jiqun.store.models import AuditEntry, DedicatedLine

    demo = demo_province()
    with demo.store.session() as s:
        taken = set(s.scalars(select(DedicatedLine.code)))
        # A lane to a city no line goes to yet (other test modules of the process accept the
        # demo's own lanes): the race is about the code, the same for any lane.
        base = next(p for p in shangqiu_plan.proposals if p.origin_kind == "market")
        origin = lines._origin_record(s, "market", base.origin_id)
        dest = next(d for d in ("110100", "120100", "310100", "500100")
                    if lines.draft_line_code("P", origin, d) not in taken)
    lane = dataclasses.replace(base, dest_code=dest, existing_line=None, line_id=None,
                               line_code=None)
    both_looked = threading.Barrier(2)
    real = lines._line_by_code

    def look_up(session, code):
        found = real(session, code)
        if found is None:
            both_looked.wait(timeout=60)
        return found

    monkeypatch.setattr(lines, "_line_by_code", look_up)
    actor, results, errors = demo.store.actor("demo-city"), [], []

    def accept():
        try:
            with demo.store.session(actor=actor, source="test") as s:
                accepted = lines.accept_lane(s, lane)
                s.commit()
                results.append((accepted.created, accepted.line.code))
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=accept) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(created for created, _ in results) == [False, True]
    code = results[0][1]
    with demo.store.session() as s:
        assert s.scalar(select(func.count()).select_from(DedicatedLine)
                        .where(DedicatedLine.code == code)) == 1
        inserts = s.scalars(select(AuditEntry).where(
            AuditEntry.entity == "dedicated_lines", AuditEntry.action == "insert")).all()
        assert [a.changes.get("code") for a in inserts].count(code) == 1


def test_a_marketer_may_not_accept_a_line(shangqiu_plan):
    from jiqun.errors import NotAllowed
    from jiqun.network import lines

    demo = demo_province()
    with demo.store.session(actor=demo.store.actor("demo-marketer")) as s, \
            pytest.raises(NotAllowed):
        lines.accept_lane(s, shangqiu_plan.proposals[0])  # refused before it is looked up
