"""KPI rules: every threshold, window and rule of the operating picture, in one registry.

Each rule has a name, a default and a description; ``docs/kpi-rules.md`` documents them and a
test fails when one is missing there. Provinces may override tier thresholds
(:attr:`KpiRules.province_tier_thresholds`), since a 特级 merchant in Zhili is not one in Xiayi.
Rules load from a TOML file so a run can be repeated exactly (:meth:`KpiRules.from_file`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from jiqun.config import FileRules
from jiqun.store.models import CustomerTier, Role

TIER_ORDER = (
    CustomerTier.SPECIAL, CustomerTier.FIRST, CustomerTier.SECOND, CustomerTier.THIRD,
    CustomerTier.MICRO,
)


class TierThresholds(BaseModel):
    """Minimum average daily parcels (trailing window) for each tier; below ``third`` is 小微."""

    special: float = Field(2000, description="特级: at least this many parcels a day.")
    first: float = Field(500, description="一级")
    second: float = Field(100, description="二级")
    third: float = Field(20, description="三级; below it a merchant is 小微 (micro).")

    def tier_of(self, daily_parcels: float) -> CustomerTier:
        for tier in TIER_ORDER[:-1]:
            if daily_parcels >= getattr(self, tier.value):
                return tier
        return CustomerTier.MICRO


class KeyCitySlot(BaseModel):
    """One line of the key-city plan: ``markets`` markets with a yearly revenue target of at
    least ``yearly_revenue`` yuan."""

    yearly_revenue: float = Field(gt=0, description="Yearly revenue target, yuan.")
    markets: int = Field(ge=1, description="Markets of at least that target a key city needs.")


class KpiRules(FileRules):
    active_days: int = Field(
        30, description="A customer is active when it shipped within this many days (活跃客户)."
    )
    silent_days: int = Field(
        30, description="A first shipment after this many silent days counts as activated (激活)."
    )
    new_effective_daily_parcels: float = Field(
        10, description="An activated customer is new effective (新增有效客户) when its average "
        "daily parcels since activation reach this."
    )
    development_rate_target: float = Field(
        0.60, description="Bar of the development rate (开发率 = cooperating / archived) per grid."
    )
    proration: Literal["calendar", "working"] = Field(
        "calendar", description="Prorate a monthly target over calendar days or working days "
        "(Monday–Saturday, the rhythm of cluster markets)."
    )
    tier_window_days: int = Field(
        90, description="Trailing window of the average daily parcels that sets a customer's tier."
    )
    tier_thresholds: TierThresholds = Field(
        default_factory=TierThresholds, description="Default tier thresholds."
    )
    province_tier_thresholds: dict[str, TierThresholds] = Field(
        default_factory=dict, description="Tier thresholds per province adcode, e.g. '330000'."
    )
    tier_owner_roles: dict[CustomerTier, Role] = Field(
        default_factory=lambda: {
            CustomerTier.SPECIAL: Role.COUNTY_MANAGER,  # 县分公司总经理
            CustomerTier.FIRST: Role.DEPARTMENT_HEAD,  # 专业负责人
            CustomerTier.SECOND: Role.DEPARTMENT_HEAD,
            CustomerTier.THIRD: Role.ACCOUNT_MANAGER,  # 客户经理
            CustomerTier.MICRO: Role.ACCOUNT_MANAGER,
        },
        description="The role that owns customers of each tier (户户有人管).",
    )

    key_city_plan: list[KeyCitySlot] = Field(
        default_factory=lambda: [KeyCitySlot(yearly_revenue=10_000_000, markets=1),
                                 KeyCitySlot(yearly_revenue=5_000_000, markets=2)],
        description="Key-city plan (重点产粮区): per city, markets with at least these yearly "
        "revenue targets (广东: one of 10M and two of 5M yuan).",
    )

    def key_city_slots(self) -> tuple[tuple[float, int], ...]:
        """The plan as (threshold, markets wanted), highest first."""
        return tuple(sorted(((s.yearly_revenue, s.markets) for s in self.key_city_plan),
                            key=lambda s: -s[0]))

    def thresholds_for(self, province_adcode: str | None) -> TierThresholds:
        return self.province_tier_thresholds.get(province_adcode or "", self.tier_thresholds)
