"""Common result and parameter types of the location optimisers 选址优化结果."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np


class SolveStatus(StrEnum):
    """How far the solver got: optimal (proven), feasible (gap left), time_limit, infeasible."""

    OPTIMAL = "optimal"
    FEASIBLE = "feasible"
    TIME_LIMIT = "time_limit"
    INFEASIBLE = "infeasible"


class Sense(StrEnum):
    MINIMISE = "min"
    MAXIMISE = "max"


@dataclass(frozen=True)
class SolveOptions:
    """Options shared by every model.

    `fixed_open` are existing centres kept open (现有中心保留); `fixed_closed` sites that may
    not be used. An existing centre that may close is just a candidate (give it its own fixed
    cost, e.g. zero when its cost is sunk). `gap` is the relative gap at which to stop.
    """

    time_limit: float = 60.0
    gap: float = 0.0
    threads: int = 1
    fixed_open: tuple[int, ...] = ()
    fixed_closed: tuple[int, ...] = ()
    verbose: bool = False
    # A work limit: branch-and-bound nodes per MIP run (None: none but the time limit). Unlike
    # seconds it gives the same answer for the same input on a busy machine.
    node_limit: int | None = None


@dataclass
class LocationResult:
    """Outcome of one solve: objective, proven bound, gap and the chosen sites."""

    objective: float
    bound: float
    seconds: float
    status: SolveStatus
    open_facilities: np.ndarray
    assignment: np.ndarray  # per client: serving facility (main share), -1 when unserved
    sense: Sense = Sense.MINIMISE
    shares: np.ndarray | None = None  # facilities × clients fractions (multi-source)
    details: dict = field(default_factory=dict)

    @property
    def gap(self) -> float:
        """Relative gap |objective − bound| / |objective| (0 when proven optimal)."""
        if not (math.isfinite(self.objective) and math.isfinite(self.bound)):
            return math.inf
        diff = (self.objective - self.bound) if self.sense == Sense.MINIMISE else (
            self.bound - self.objective)
        return max(0.0, diff) / max(abs(self.objective), 1e-9)

    def as_row(self) -> dict:
        return {
            "objective": self.objective,
            "bound": self.bound,
            "gap": self.gap,
            "seconds": round(self.seconds, 3),
            "status": str(self.status),
            "open": [int(i) for i in self.open_facilities],
        }
