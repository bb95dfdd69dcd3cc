"""Synthetic demo province grounded in the seed article's figures.

``build_demo(store, lake_path, scale="small", seed=7, until=None)`` replaces the store and the
lake with two years of a believable province: Shangqiu's three clusters, Zhili, Guangdong's key
areas, their merchants, staff, grids, visits, targets and waybills. See ``docs/demo.md``.

The names below load on first use (PEP 562), so ``jiqun demo --help`` imports no engine.
"""

from importlib import import_module

__all__ = ["DEMO_LOGINS", "DEMO_PASSWORD", "SCALES", "DemoSummary", "build_demo"]
_HOMES = {"DemoSummary": "build", "build_demo": "build", "DEMO_LOGINS": "places",
          "DEMO_PASSWORD": "places", "SCALES": "scale"}


def __getattr__(name: str):
    if name in _HOMES:
        return getattr(import_module(f"jiqun.demo.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'jiqun.demo' has no attribute {name!r}")
