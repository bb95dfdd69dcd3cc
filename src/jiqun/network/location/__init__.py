"""Facility location and network design optimisers 选址与网络设计优化.

Pure functions over numpy arrays, each returning a `LocationResult` with the objective, a proven
bound, the gap, seconds and status. Exact MIPs run on HiGHS; heuristics (interchange, Lagrangian
relaxation) provide incumbents and bounds where the MIP alone would be too slow.
"""

from jiqun.network.location.capacitated import (
    CapacitatedProblem,
    capacitated_pmedian,
    solve_capacitated,
)
from jiqun.network.location.covering import (
    CoveringProblem,
    solve_max_covering,
    solve_set_covering,
)
from jiqun.network.location.network import FixedChargeFlowProblem, solve_fixed_charge_flow
from jiqun.network.location.pcenter import PCenterProblem, solve_pcenter
from jiqun.network.location.pmedian import PMedianProblem, solve_pmedian
from jiqun.network.location.result import LocationResult, Sense, SolveOptions, SolveStatus

__all__ = [
    "CapacitatedProblem", "CoveringProblem", "FixedChargeFlowProblem", "LocationResult",
    "PCenterProblem", "PMedianProblem", "Sense", "SolveOptions", "SolveStatus",
    "capacitated_pmedian", "solve_capacitated", "solve_fixed_charge_flow", "solve_max_covering",
    "solve_pcenter", "solve_pmedian", "solve_set_covering",
]
