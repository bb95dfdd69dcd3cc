"""Rules of customer development: when a merchant is at risk, churned, back in the pool.

They live in the ``[sales]`` table of the KPI rules file (``JIQUN_RULES_FILE``), so one file
holds every threshold of a deployment; missing values take the defaults below.
"""

from __future__ import annotations

from typing import ClassVar

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



    def to_table(self) -> dict:
        """The ``[sales]`` table of a rules file with these values."""
        return {"sales": self.model_dump(mode="json")}
