"""Rules of customer development: when a merchant is at risk, churned, back in the pool.

They live in the ``[sales]`` table of the KPI rules file (``JIQUN_RULES_FILE``), so one file
holds every threshold of a deployment; missing values take the defaults below.
"""

from __future__ import annotations

import math
from typing import ClassVar, Self

from pydantic import Field

from jiqun.config import FileRules


class SalesRules(FileRules):
    toml_table: ClassVar[tuple[str, ...]] = ("sales",)

    recent_days: int = Field(
        14, description="At risk (流失预警): the parcels of the last this many days …")
    baseline_days: int = Field(28, description="… against the this many days before them …")
    at_risk_ratio: float = Field(
        0.5, description="… fall below this share of the baseline's daily average.")
    churn_silent_days: int = Field(
        30, description="A cooperating customer silent for this many days is churned (流失).")
    growth_ratio: float = Field(
        1.3, description="Cooperating → growing (提升) when the recent daily average reaches "
        "this multiple of the baseline's.")
    pool_days: int = Field(
        30, description="A prospect with no follow-up for this many days returns to the pool "
        "(公海) and loses its owner.")
    owner_reminder_days: int = Field(
        3, description="The owner is reminded this many days before a prospect returns.")
    manager_reminder_days: int = Field(
        5, description="The owner's manager is reminded this many days before the return.")



    # The demo scale (small, ≈1M waybills) at which the 30-day churn rule reads the data right.
    REFERENCE_VOLUME_FACTOR: ClassVar[float] = 0.0049

    @classmethod
    def scaled(cls, volume_factor: float) -> Self:
        """Rules for a miniature of the network whose volumes are ``volume_factor`` × real:
        a merchant shipping a few parcels a month at that scale is not silent after 30 days,
        so the churn window grows with 1/√factor below the reference scale (at most 180 days,
        never below the default)."""
        base = cls()
        stretch = math.sqrt(max(cls.REFERENCE_VOLUME_FACTOR / volume_factor, 1.0))
        return cls(churn_silent_days=min(180, math.ceil(base.churn_silent_days * stretch)))

    def to_table(self) -> dict:
        """The ``[sales]`` table of a rules file with these values."""
        return {"sales": self.model_dump(mode="json")}
