"""Fixtures for the location optimisers: tiny instances described here (like PyVRP's
`ok_small`), solved by brute force in the tests, and the OR-Library folder beside the repo."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

ORLIB = Path(__file__).resolve().parents[2].parent / "shared/data/orlib"


@pytest.fixture
def orlib() -> Path:
    if not ORLIB.is_dir():
        pytest.skip(f"OR-Library instances not found at {ORLIB} (shared data folder absent)")
    return ORLIB


@pytest.fixture
def optima(orlib) -> dict[str, float]:
    with (orlib / "optima.csv").open() as fh:
        return {row["instance"]: float(row["optimal_value"]) for row in csv.DictReader(fh)}


@pytest.fixture
def ok_small() -> dict:
    """10 clients, 7 candidate sites on a 100 × 100 square, integer demands (seed 7)."""
    rng = np.random.default_rng(7)
    clients = rng.uniform(0, 100, size=(10, 2))
    sites = rng.uniform(0, 100, size=(7, 2))
    distance = np.round(np.linalg.norm(clients[:, None] - sites[None], axis=2), 1)
    return {"distance": distance, "demand": rng.integers(1, 10, size=10).astype(float)}


@pytest.fixture
def ok_small_capacitated() -> dict:
    """5 sites (capacity, fixed cost) and 7 clients; cost is for a client's whole demand."""
    rng = np.random.default_rng(11)
    demand = rng.integers(5, 20, size=7).astype(float)
    capacity = np.array([30.0, 25.0, 40.0, 20.0, 35.0])
    fixed = np.array([60.0, 45.0, 80.0, 30.0, 70.0])
    unit = rng.uniform(1, 6, size=(5, 7))
    return {"capacity": capacity, "fixed_cost": fixed, "demand": demand,
            "cost": np.round(unit * demand[None, :], 2)}
