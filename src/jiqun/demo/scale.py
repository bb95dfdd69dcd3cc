"""Demo scales: the demo is a 1 : N model of the real province (N = 1 / volume factor).

Every figure that counts parcels or sums yuan over a period (waybills, market estimates, monthly
and yearly targets, ``est_daily_volume``, capacities, line proposals, trial parcels) is the real
figure × ``volume_factor``; every *rate* (yuan per parcel, cost per parcel, shares, growth, plan
progress) is real. The thresholds and vehicles the app compares those counts with are scaled the
same way, in the settings files the demo writes (``JIQUN_RULES_FILE``, ``JIQUN_PLANNING_FILE``):
tier thresholds, truck payloads and costs per trip, centre capacities. Vehicles carry the scale
in their name (``9.6m 1:204``), so a page that says how many parcels a truck carries says of
which truck. Production rule classes know nothing of this: they read the files.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import tomli_w

from jiqun.kpi.rules import KpiRules, TierThresholds
from jiqun.network.params import PlanningParams
from jiqun.sales.rules import SalesRules


@dataclass(frozen=True)
class Scale:
    name: str
    volume_factor: float
    approx_waybills: str

    @property
    def ratio(self) -> int:
        return model_ratio(self.volume_factor)


# About 205M real parcels over two years in the demo's markets; factors picked so that
# tiny ≈ 30k, small ≈ 1M, medium ≈ 5M, large ≈ 22M waybills.
SCALES: dict[str, Scale] = {
    s.name: s
    for s in (
        Scale("tiny", 0.000145, "≈30k"),
        Scale("small", 0.0049, "≈1M"),
        Scale("medium", 0.0245, "≈5M"),
        Scale("large", 0.11, "≈22M"),
        Scale("huge", 0.5, "≈100M"),  # benchmarks only (benchmarks/kpi.py --rows 100M)
    )
}

# The scale (small) at which the real 30-day churn window reads the demo's data right: below
# it a merchant ships a few parcels a month and would look silent (see demo_sales_rules).
CHURN_REFERENCE_FACTOR = 0.0049
CHURN_MAX_DAYS = 180


def get_scale(name: str) -> Scale:
    try:
        return SCALES[name]
    except KeyError:
        raise ValueError(f"unknown scale {name!r}; choose one of {', '.join(SCALES)}") from None


def model_ratio(factor: float) -> int:
    """N of the 1 : N model."""
    if not (factor > 0 and math.isfinite(factor)):
        raise ValueError("factor must be a positive number")
    return max(1, round(1.0 / factor))


def truck_label(name: str, factor: float) -> str:
    """A model truck's name: the real truck's name and the scale (``17.5m 1:204``)."""
    ratio = model_ratio(factor)
    return name if ratio == 1 else f"{name} 1:{ratio}"


def scaled_thresholds(thresholds: TierThresholds, factor: float) -> TierThresholds:
    return TierThresholds(**{k: v * factor for k, v in thresholds.model_dump().items()})


def demo_kpi_rules(factor: float, base: KpiRules | None = None) -> KpiRules:
    """KPI rules of the model: every bar in parcels × factor — tier thresholds (a 特级 customer
    of the model ships what a real one ships, × factor) and the daily parcels of a new
    effective customer — and the key-city plan's yearly revenue bars × factor, like the
    markets' targets; windows and ratios as in ``base``."""
    base = base or KpiRules()
    model_ratio(factor)  # validates the factor
    return base.model_copy(update={
        "new_effective_daily_parcels": base.new_effective_daily_parcels * factor,
        "key_city_plan": [s.model_copy(update={"yearly_revenue": s.yearly_revenue * factor})
                          for s in base.key_city_plan],
        "tier_thresholds": scaled_thresholds(base.tier_thresholds, factor),
        "province_tier_thresholds": {
            p: scaled_thresholds(t, factor) for p, t in base.province_tier_thresholds.items()},
    })


def demo_sales_rules(factor: float) -> SalesRules:
    """Sales rules of the model: below the reference scale a merchant shipping a few parcels a
    month is not silent after 30 days, so the churn window grows with 1/√factor (at most 180
    days, never below the default); every other rule is the default."""
    base = SalesRules()
    stretch = math.sqrt(max(CHURN_REFERENCE_FACTOR / factor, 1.0))
    return SalesRules(churn_silent_days=min(CHURN_MAX_DAYS,
                                            math.ceil(base.churn_silent_days * stretch)))


def demo_planning_params(factor: float, base: PlanningParams | None = None) -> PlanningParams:
    """Planning parameters of the model: each truck is a 1 : N model of the real one (payload,
    cargo space, cost per km and per trip × factor, the scale in its name), and the costs per
    day and the capacities of centres scale too; costs per parcel stay real."""
    base = base or PlanningParams()
    model_ratio(factor)
    trucks = [t.model_copy(update={
        "name": truck_label(t.name, factor),
        "payload_kg": t.payload_kg * factor, "volume_m3": t.volume_m3 * factor,
        "cost_per_km": t.cost_per_km * factor,
        "fixed_cost_per_trip": t.fixed_cost_per_trip * factor}) for t in base.trucks]
    return base.model_copy(update={
        "trucks": trucks,
        "second_driver_cost_per_trip": base.second_driver_cost_per_trip * factor,
        "feeder_fixed_per_day": base.feeder_fixed_per_day * factor,
        "centre_capacity_per_day": base.centre_capacity_per_day * factor,
        "centre_fixed_cost_per_day": base.centre_fixed_cost_per_day * factor,
        "min_lane_daily_parcels": base.min_lane_daily_parcels * factor,
    })


# Cost drivers counted in real numbers at every scale (visits: counts of staff work; stops: a
# merchant-day, and merchants are real; trips: the model's trucks run about as often as the real
# ones): their rate per unit × factor, like a model truck's cost per trip. Pieces, contacts and
# kg·km grow with the parcels: their rates are real.
UNSCALED_DRIVERS = frozenset({"visits", "stops", "trips"})


def demo_cost(driver: str, rate: float, fixed_per_month: float,
              factor: float) -> tuple[float, float]:
    """A cost parameter of the model: the fixed part a month (a total) × factor, and the rate
    of a driver counted in real numbers × factor; every other rate real."""
    model_ratio(factor)
    scaled_rate = rate * factor if driver in UNSCALED_DRIVERS else rate
    return scaled_rate, fixed_per_month * factor


def demo_rules_toml(factor: float) -> str:
    """The KPI rules file of the model, with its ``[sales]`` table."""
    sales = tomli_w.dumps(demo_sales_rules(factor).to_table())
    return demo_kpi_rules(factor).to_toml() + "\n" + sales


def demo_warehousing_params(factor: float):
    """Warehousing assumptions of the model (``[warehousing]`` of the planning file): the bar
    in parcels a day, a van's parcels a trip and its costs × factor; hours and shares real."""
    from jiqun.service.warehousing import WarehousingParams

    base = WarehousingParams()
    model_ratio(factor)
    return base.model_copy(update={
        "min_daily_parcels": base.min_daily_parcels * factor,
        "van_parcels_per_trip": base.van_parcels_per_trip * factor,
        "van_cost_per_km": base.van_cost_per_km * factor,
        "van_fixed_cost_per_trip": base.van_fixed_cost_per_trip * factor,
    })


def demo_planning_toml(factor: float) -> str:
    """The planning file of the model, with its ``[warehousing]`` table."""
    warehousing = tomli_w.dumps(demo_warehousing_params(factor).to_table())
    return demo_planning_params(factor).to_toml() + "\n" + warehousing


def write_demo_settings(rules_file: Path, planning_file: Path, factor: float) -> None:
    """Write the model's KPI rules and planning parameters where the app reads them, each
    headed by a comment that says of which model (a reader of the file sees why 特级 is 9.8)."""
    head = (f"# jiqun demo: a 1:{model_ratio(factor)} model of the real province; every bar in "
            f"parcels, capacity and cost per trip is x {factor:g} (docs/demo.md, Scales)\n")
    for path, text in ((Path(rules_file), demo_rules_toml(factor)),
                       (Path(planning_file), demo_planning_toml(factor))):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(head + text, encoding="utf-8")
