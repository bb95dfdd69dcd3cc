"""A thin, vectorised bridge to HiGHS 混合整数规划求解器: build a MIP from numpy blocks and solve.

Models are written as column blocks (cost, bounds, integrality) and row blocks given in
coordinate form, then handed to HiGHS in one `passModel` call — no per-variable Python objects,
so models with hundreds of thousands of columns build in well under a second.
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass

import highspy
import numpy as np
from scipy.sparse import coo_matrix

from jiqun.network.location.result import Sense, SolveStatus

INF = math.inf


@dataclass
class MipOutcome:
    values: np.ndarray | None
    objective: float
    bound: float
    status: SolveStatus
    seconds: float
    mip_gap: float
    nodes: int = 0  # branch-and-bound nodes HiGHS explored (0 for an LP)


class MipModel:
    """Columns and rows accumulated as numpy blocks; `solve()` runs HiGHS."""

    def __init__(self, sense: Sense = Sense.MINIMISE) -> None:
        self.sense = sense
        self._cost: list[np.ndarray] = []
        self._lb: list[np.ndarray] = []
        self._ub: list[np.ndarray] = []
        self._int: list[np.ndarray] = []
        self.n_cols = 0
        self._rows: list[np.ndarray] = []
        self._cols: list[np.ndarray] = []
        self._vals: list[np.ndarray] = []
        self._rlo: list[np.ndarray] = []
        self._rhi: list[np.ndarray] = []
        self.n_rows = 0
        self.offset = 0.0

    def add_columns(self, cost, lb=0.0, ub=INF, integer=False) -> np.ndarray:
        """Add len(cost) columns; return their indices."""
        cost = np.asarray(cost, dtype=np.float64).ravel()
        k = cost.size
        self._cost.append(cost)
        self._lb.append(np.broadcast_to(np.asarray(lb, dtype=np.float64), (k,)).copy())
        self._ub.append(np.broadcast_to(np.asarray(ub, dtype=np.float64), (k,)).copy())
        self._int.append(np.full(k, bool(integer)))
        idx = np.arange(self.n_cols, self.n_cols + k)
        self.n_cols += k
        return idx

    def add_rows(self, row, col, val, lower, upper, n_rows: int) -> np.ndarray:
        """Add `n_rows` rows; `row` holds local row numbers 0..n_rows-1 of each coefficient."""
        row = np.asarray(row, dtype=np.int64).ravel()
        self._rows.append(row + self.n_rows)
        self._cols.append(np.asarray(col, dtype=np.int64).ravel())
        self._vals.append(np.broadcast_to(np.asarray(val, dtype=np.float64), row.shape).copy())
        self._rlo.append(np.broadcast_to(np.asarray(lower, dtype=np.float64), (n_rows,)).copy())
        self._rhi.append(np.broadcast_to(np.asarray(upper, dtype=np.float64), (n_rows,)).copy())
        idx = np.arange(self.n_rows, self.n_rows + n_rows)
        self.n_rows += n_rows
        return idx

    def set_bounds(self, cols, lb=None, ub=None) -> None:
        lbs, ubs = np.concatenate(self._lb), np.concatenate(self._ub)
        if lb is not None:
            lbs[np.asarray(cols)] = lb
        if ub is not None:
            ubs[np.asarray(cols)] = ub
        self._lb, self._ub = [lbs], [ubs]

    def objective_of(self, values: np.ndarray) -> float:
        return float(np.concatenate(self._cost) @ values) + self.offset

    def _lp(self) -> highspy.HighsLp:
        lp = highspy.HighsLp()
        lp.num_col_ = self.n_cols
        lp.num_row_ = self.n_rows
        lp.col_cost_ = np.concatenate(self._cost)
        lp.col_lower_ = np.concatenate(self._lb)
        lp.col_upper_ = np.concatenate(self._ub)
        lp.row_lower_ = np.concatenate(self._rlo) if self._rlo else np.empty(0)
        lp.row_upper_ = np.concatenate(self._rhi) if self._rhi else np.empty(0)
        lp.offset_ = self.offset
        if self.sense == Sense.MAXIMISE:
            lp.sense_ = highspy.ObjSense.kMaximize
        rows = np.concatenate(self._rows) if self._rows else np.empty(0, np.int64)
        cols = np.concatenate(self._cols) if self._cols else np.empty(0, np.int64)
        vals = np.concatenate(self._vals) if self._vals else np.empty(0)
        mat = coo_matrix((vals, (rows, cols)), shape=(self.n_rows, self.n_cols)).tocsc()
        mat.sum_duplicates()
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = mat.indptr.astype(np.int32)
        lp.a_matrix_.index_ = mat.indices.astype(np.int32)
        lp.a_matrix_.value_ = mat.data
        integ = np.concatenate(self._int)
        if integ.any():
            lp.integrality_ = [highspy.HighsVarType.kInteger if b else highspy.HighsVarType.kContinuous
                               for b in integ]
        return lp

    def solve(self, time_limit: float = 60.0, gap: float = 0.0, threads: int = 1,
              start: np.ndarray | None = None, relax: bool = False, verbose: bool = False,
              options: dict | None = None) -> MipOutcome:
        """Solve; `start` is a feasible point handed to HiGHS as its first incumbent."""
        t0 = time.perf_counter()
        h = new_highs()
        h.setOptionValue("output_flag", bool(verbose))
        h.setOptionValue("time_limit", max(0.01, float(time_limit)))
        h.setOptionValue("mip_rel_gap", float(gap))
        h.setOptionValue("mip_abs_gap", 1e-6)
        h.setOptionValue("threads", int(threads))
        for key, value in (options or {}).items():
            h.setOptionValue(key, value)
        lp = self._lp()
        if relax:
            lp.integrality_ = []
        h.passModel(lp)
        if start is not None and not relax:
            sol = highspy.HighsSolution()
            sol.col_value = np.asarray(start, dtype=np.float64)
            sol.value_valid = True
            h.setSolution(sol)
        h.run()
        return _outcome(h, self.sense, relax or not bool(np.concatenate(self._int).any()),
                        time.perf_counter() - t0)


_BANNER_SHOWN = False


def new_highs() -> highspy.Highs:
    """A silent Highs instance; the first one prints a banner to fd 1, which would corrupt a
    CSV written to stdout, so that one is created with fd 1 pointed at /dev/null."""
    global _BANNER_SHOWN
    if _BANNER_SHOWN:
        return highspy.Highs()
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)
    _BANNER_SHOWN = True
    return h


def _outcome(h: highspy.Highs, sense: Sense, is_lp: bool, seconds: float) -> MipOutcome:
    status = h.getModelStatus()
    info = h.getInfo()
    ms = highspy.HighsModelStatus
    if status in (ms.kInfeasible,):
        return MipOutcome(None, math.nan, math.nan, SolveStatus.INFEASIBLE, seconds, math.inf,
                          int(max(0, info.mip_node_count)))
    values = None
    if info.primal_solution_status == 2 or status == ms.kOptimal:
        values = np.asarray(h.getSolution().col_value)
    obj = info.objective_function_value if values is not None else (
        math.inf if sense == Sense.MINIMISE else -math.inf)
    if is_lp:
        bound = obj if status == ms.kOptimal else (-math.inf if sense == Sense.MINIMISE else math.inf)
    else:
        bound = info.mip_dual_bound
    if status == ms.kOptimal:
        st = SolveStatus.OPTIMAL
    elif status in (ms.kTimeLimit, ms.kInterrupt, ms.kIterationLimit, ms.kSolutionLimit):
        st = SolveStatus.TIME_LIMIT if values is None else SolveStatus.FEASIBLE
    else:
        st = SolveStatus.FEASIBLE if values is not None else SolveStatus.TIME_LIMIT
    return MipOutcome(values, float(obj), float(bound), st, seconds, float(info.mip_gap),
                      int(max(0, info.mip_node_count)))
