"""Synthetic demo province grounded in the seed article's figures.

``build_demo(store, lake_path, scale="small", seed=7, until=None)`` replaces the store and the
lake with two years of a believable province: Shangqiu's three clusters, Zhili, Guangdong's key
areas, their merchants, staff, grids, visits, targets and waybills. See ``docs/demo.md``.
"""

from jiqun.demo.build import DemoSummary, build_demo
from jiqun.demo.places import DEMO_LOGINS, DEMO_PASSWORD
from jiqun.demo.scale import SCALES

__all__ = ["DEMO_LOGINS", "DEMO_PASSWORD", "SCALES", "DemoSummary", "build_demo"]
