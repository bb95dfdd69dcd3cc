"""Grid design on tiny instances whose best split is known (the pure algorithm, no store)."""

from __future__ import annotations

import math
import random

import pytest

from jiqun.grids.design import (
    EARTH_M_PER_DEG,
    VISITS_PER_MONTH,
    Merchant,
    build_units,
    components,
    design_grids,
    max_min_ratio,
)

LAT0 = 30.0
STEP_M = 100.0


def lattice(cols: int, rows: int, *, tier: str = "third", potential: float = 10.0,
            current=None) -> list[Merchant]:
    """One merchant per 100 m lattice point (cell centres when the cell is 100 m)."""
    dlon = STEP_M / (EARTH_M_PER_DEG * math.cos(math.radians(LAT0)))
    dlat = STEP_M / EARTH_M_PER_DEG
    out = []
    for i in range(cols):
        for j in range(rows):
            out.append(Merchant(id=i * rows + j + 1, lon=120.0 + (i + 0.5) * dlon,
                                lat=LAT0 + (j + 0.5) * dlat, tier=tier, potential=potential,
                                current=current(i, j) if current else None))
    return out


def loads(plan, merchants):
    by_id = {m.id: m for m in merchants}
    work, pot = [0.0] * plan.k, [0.0] * plan.k
    for mid, g in plan.assignment.items():
        work[g] += by_id[mid].workload
        pot[g] += by_id[mid].potential
    return work, pot


def test_symmetric_market_splits_evenly_in_two():
    merchants = lattice(10, 10)
    plan = design_grids(merchants, 2, 0.05, cell_size_m=STEP_M)
    work, pot = loads(plan, merchants)
    assert work == [50.0, 50.0] and pot == [500.0, 500.0]
    assert plan.workload_ratio == 1.0 and plan.potential_ratio == 1.0
    assert [g.merchants for g in plan.grids] == [50, 50]
    assert plan.within_tolerance and plan.contiguous


def test_every_grid_is_one_piece_of_touching_cells():
    rng = random.Random(3)
    merchants = [Merchant(i, 120 + rng.random() * 0.02, 30 + rng.random() * 0.02,
                          rng.choice(list(VISITS_PER_MONTH)), rng.expovariate(0.05))
                 for i in range(600)]
    plan = design_grids(merchants, 6, 0.2)
    units = build_units(merchants, 6, cell_size_m=plan.cell_size_m)
    label_of_unit = {}
    for m in merchants:
        label_of_unit.setdefault(plan.unit_of[m.id], plan.assignment[m.id])
        assert label_of_unit[plan.unit_of[m.id]] == plan.assignment[m.id]  # cells are whole
    for g in range(6):
        cells = [u for u, label in label_of_unit.items() if label == g]
        assert cells and len(components(cells, units.neighbours)) == 1
    assert plan.contiguous


def test_tolerance_is_met_and_the_ratios_are_the_real_ones():
    rng = random.Random(5)
    merchants = [Merchant(i, 120 + rng.random() * 0.03, 30 + rng.random() * 0.02,
                          rng.choice(["special", "first", "second", "third", "micro"]),
                          rng.expovariate(0.02)) for i in range(1500)]
    plan = design_grids(merchants, 5, 0.15)
    work, pot = loads(plan, merchants)
    assert plan.within_tolerance
    assert plan.workload_ratio == pytest.approx(max(work) / min(work))
    assert plan.potential_ratio == pytest.approx(max(pot) / min(pot))
    assert max(work) / min(work) <= 1.15 and max(pot) / min(pot) <= 1.15
    assert sum(g.merchants for g in plan.grids) == 1500


def test_a_tolerance_out_of_reach_is_reported_not_hidden():
    merchants = lattice(4, 4)
    giant = merchants[0]
    merchants[0] = Merchant(giant.id, giant.lon, giant.lat, "special", potential=10_000.0)
    plan = design_grids(merchants, 2, 0.1, cell_size_m=STEP_M)
    assert not plan.within_tolerance
    assert plan.potential_ratio > 1.1
    _, pot = loads(plan, merchants)
    assert plan.potential_ratio == pytest.approx(max(pot) / min(pot))


def test_balanced_current_grids_are_kept_with_zero_moves():
    merchants = lattice(10, 6, current=lambda i, j: "west" if i < 5 else "east")
    plan = design_grids(merchants, 2, 0.2, cell_size_m=STEP_M)
    assert plan.moves == 0
    replaced = {g.index: g.replaces for g in plan.grids}
    for m in merchants:
        assert replaced[plan.assignment[m.id]] == m.current
    assert sorted(g.replaces for g in plan.grids) == ["east", "west"]


def test_unbalanced_current_grids_move_few_merchants_to_reach_the_tolerance():
    # 80 of 100 merchants sit in the west grid; within 20% needs the east grid ≥ 100/2.2 ≈ 46,
    # so at least 26 merchants must move and a good redraw moves not many more.
    merchants = lattice(10, 10, current=lambda i, j: "west" if i < 8 else "east")
    plan = design_grids(merchants, 2, 0.2, cell_size_m=STEP_M)
    assert plan.within_tolerance
    assert 26 <= plan.moves <= 32
    moved = sum(1 for m in merchants
                if plan.grids[plan.assignment[m.id]].replaces != m.current)
    assert moved == plan.moves == sum(g.moves_in for g in plan.grids)


def test_workload_counts_visits_by_tier():
    merchants = [Merchant(1, 120.0, 30.0, "special"), Merchant(2, 120.001, 30.0, "micro"),
                 Merchant(3, 120.002, 30.0, None)]
    plan = design_grids(merchants, 1)
    assert plan.grids[0].workload == 8.0 + 0.5 + 1.0
    assert max_min_ratio([2.0, 1.0]) == 2.0 and max_min_ratio([0.0, 1.0]) == math.inf


def test_clumps_apart_still_give_contiguous_grids():
    west = lattice(3, 3)
    east = [Merchant(m.id + 100, m.lon + 0.05, m.lat, m.tier, m.potential) for m in lattice(3, 3)]
    plan = design_grids(west + east, 2, 0.1, cell_size_m=STEP_M)
    assert plan.contiguous and plan.workload_ratio == 1.0
    # the natural split: each clump one grid
    assert len({plan.assignment[m.id] for m in west}) == 1


def test_k_larger_than_merchants_is_refused():
    with pytest.raises(ValueError):
        design_grids(lattice(1, 2), 3)
