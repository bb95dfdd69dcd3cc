"""The small demo province, built once per test process for the planning tests (≈ 10 s)."""

from __future__ import annotations

import atexit
import datetime as dt
import shutil
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from jiqun.demo import build_demo
from jiqun.demo.scale import demo_planning_params, get_scale
from jiqun.network.params import PlanningParams
from jiqun.store import Store

UNTIL = dt.date(2025, 12, 31)


@dataclass(frozen=True)
class DemoProvince:
    root: Path
    store: Store
    lake: Path
    params: PlanningParams  # scaled to the demo's volume factor, as `jiqun demo build` writes


@cache
def demo_province() -> DemoProvince:
    root = Path(tempfile.mkdtemp(prefix="jiqun-plan-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    store = Store(f"sqlite:///{root}/store.db")
    build_demo(store, root / "lake", scale="small", seed=7, until=UNTIL, progress=False)
    params = demo_planning_params(get_scale("small").volume_factor)
    return DemoProvince(root, store, root / "lake", params)
