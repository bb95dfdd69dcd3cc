"""The delivery promise (时限承诺): hours from pickup by product × zone.

特快 (express), 标快 (standard) and 快包 (parcel) each promise delivery within so many hours of
pickup, by zone (省内 same province, 邻省 neighbour, 跨省 far, 偏远 remote). The defaults are the
published time limits a carrier would use; a province overrides them in the rules TOML under
``[service.promise]`` (``express = [36, 48, 60, 84]``), read like every other rule.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from jiqun.config import FileRules

ZONES = ("same", "neighbour", "far", "remote")  # 省内 / 邻省 / 跨省 / 偏远
PRODUCTS = ("express", "parcel", "standard")  # 特快 / 快包 / 标快


def _hours(*values: int):
    return Field(default_factory=lambda: list(values), min_length=4, max_length=4)


class PromiseRules(FileRules):
    """Promised hours from pickup to delivery, per product, one value per zone
    (same, neighbour, far, remote)."""

    toml_table: ClassVar[tuple[str, ...]] = ("service", "promise")

    express: list[float] = _hours(36, 48, 60, 84)  # 特快: 省内次日, 跨省隔日
    standard: list[float] = _hours(48, 60, 72, 96)  # 标快
    parcel: list[float] = _hours(48, 72, 84, 120)  # 快包 (economy)

    def hours(self, product: str, zone: str) -> float:
        return float(getattr(self, product)[ZONES.index(zone)])

    def table(self) -> list[dict]:
        """One row per product × zone: what SQL joins to set ``promised_at``."""
        return [
            {"product": p, "zone_index": z, "promise_hours": float(getattr(self, p)[z])}
            for p in PRODUCTS for z in range(len(ZONES))
        ]

    def matrix(self):
        """(products × zones) hours in :data:`PRODUCTS` order (for numpy callers: the demo)."""
        import numpy as np

        return np.array([getattr(self, p) for p in PRODUCTS], dtype=float)
