"""Finance rules (P4): the ledger's incentives and the cost model's few constants.

They live in the ``[finance]`` table of the KPI rules file (``JIQUN_RULES_FILE``), loaded like
:mod:`jiqun.kpi.rules`; missing values take the defaults below, which are real-world values
(every one a share or a rate, so the demo's 1:N model uses them as they are). Each rule is
documented in ``docs/money.md``.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from jiqun.config import FileRules


class FinanceRules(FileRules):
    toml_table: ClassVar[tuple[str, ...]] = ("finance",)

    bonus_share_of_excess: float = Field(
        0.10, ge=0, le=1, description="超收专项奖励: the bonus pool of a market is this share of "
        "its revenue above the month's revenue target.")
    bonus_needs_profit: bool = Field(
        True, description="A market's bonus is paid only when its profit of the month is "
        "positive.")
    bonus_cap_share_of_profit: float = Field(
        0.5, ge=0, le=1, description="A market's bonus is at most this share of its profit.")
    bonus_team_share: float = Field(
        0.7, ge=0, le=1, description="Share of a market's bonus for its marketing teams (split "
        "equally among its approved teams); the rest goes to the named key people (关键人: the "
        "teams' leaders), split equally.")
    outlet_profit_share: float = Field(
        0.20, ge=0, le=1, description="众创众享: an outlet (揽投部) receives this share of the "
        "positive profit of the parcels it picks up.")
    mixed_collection: bool = Field(
        True, description="特快 and 快包 are picked up together (混合收寄: one stop a merchant "
        "a day); false counts a stop per stream.")
    separate_express_processing_per_piece: float = Field(
        0.08, ge=0, description="Extra processing cost, yuan, of an express piece sorted on a "
        "run of its own instead of with 快包 (同场同机作业 saves it).")
    detour_factor: float = Field(
        1.3, gt=0, description="Road km ÷ great-circle km of the line-haul distance.")
    min_haul_km: float = Field(
        30.0, ge=0, description="Shortest line-haul distance counted (a parcel to its own "
        "city still goes to the sorting centre and back).")

    def to_table(self) -> dict:
        """The ``[finance]`` table of a rules file with these values."""
        return {"finance": self.model_dump(mode="json")}
