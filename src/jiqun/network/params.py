"""Planning parameters 网络规划参数: the economics of dedicated lines and consolidation centres.

One typed object that loads from TOML (``JIQUN_PLANNING_FILE``), so a plan can be repeated
exactly; every field is documented in ``docs/planning.md`` (a test fails when one is missing).
Money is in yuan, distances in km, capacities in parcels, kilograms and cubic metres.

A model province (the demo) writes its own file of these parameters (``jiqun.demo.scale``).
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, Field

from jiqun.config import FileRules

# The centre-location models of ``jiqun.network.hubs`` (here: listed by the CLI's help without
# loading the solvers).
HUB_MODELS = ("cover", "mclp", "pmedian", "cflp")

ZONES = ("same", "neighbour", "far", "remote")  # 省内 / 邻省 / 跨省 / 偏远


class ZoneCost(BaseModel):
    """Cost per parcel of the hub route (经转运中心) for one destination zone."""

    sorting: float = Field(description="Sorting and handling at the origin and destination "
                           "processing centres, yuan per parcel (分拣).")
    line_haul: float = Field(description="The parcel's share of the trunk trucks between the "
                             "centres, yuan per parcel (干线分摊).")

    @property
    def per_parcel(self) -> float:
        return self.sorting + self.line_haul


def _default_hub_route() -> dict[str, ZoneCost]:
    return {
        "same": ZoneCost(sorting=0.70, line_haul=0.25),
        "neighbour": ZoneCost(sorting=0.70, line_haul=0.55),
        "far": ZoneCost(sorting=0.70, line_haul=1.10),
        "remote": ZoneCost(sorting=0.70, line_haul=2.40),
    }


class TruckType(BaseModel):
    """A truck a dedicated line may run (车型)."""

    name: str = Field(description="Name shown on proposals, e.g. '17.5m'.")
    payload_kg: float = Field(description="Payload in kg (载重).")
    volume_m3: float = Field(description="Cargo space in cubic metres (容积).")
    cost_per_km: float = Field(description="Fuel, tolls, driver and wear per loaded km, yuan.")
    fixed_cost_per_trip: float = Field(description="Loading, dispatch and the truck's day, "
                                       "yuan per trip.")

    def capacity_parcels(self, mean_kg: float, density_kg_m3: float, fill_rate: float,
                         min_parcel_m3: float) -> float:
        """Parcels per trip: the smaller of the weight bound and the volume bound for goods
        whose parcels weigh ``mean_kg`` on average (按重量、按体积取小)."""
        parcel_m3 = max(min_parcel_m3, mean_kg / density_kg_m3)
        by_weight = self.payload_kg / max(mean_kg, 1e-9)
        by_volume = self.volume_m3 * fill_rate / parcel_m3
        return min(by_weight, by_volume)


def _default_trucks() -> list[TruckType]:
    return [
        TruckType(name="9.6m", payload_kg=15_000, volume_m3=60, cost_per_km=3.2,
                  fixed_cost_per_trip=500),
        TruckType(name="17.5m", payload_kg=32_000, volume_m3=130, cost_per_km=4.5,
                  fixed_cost_per_trip=800),
    ]


class PlanningParams(FileRules):
    """Every parameter of the line and centre planners, with its default."""
    file_setting: ClassVar[str] = "planning_file"


    hub_route: dict[str, ZoneCost] = Field(
        default_factory=_default_hub_route,
        description="Hub route cost per parcel by destination zone (same / neighbour / far / "
        "remote): what a parcel costs when it goes through the processing centres.")
    direct_handling_per_parcel: float = Field(
        0.30, description="Cost per parcel that a dedicated line still pays: bagging at the "
        "origin and sorting at the destination centre, yuan.")
    trucks: list[TruckType] = Field(default_factory=_default_trucks,
                                    description="Truck types a line may run.")
    goods_density_kg_m3: dict[str, float] = Field(
        default_factory=lambda: {"五金工量具": 400.0, "童装": 120.0, "服装": 120.0,
                                 "发制品": 150.0, "家具": 200.0},
        description="Density of a market's goods by industry, kg per cubic metre (货物密度).")
    default_density_kg_m3: float = Field(
        180.0, description="Density for industries not listed, kg per cubic metre.")
    fill_rate: float = Field(0.85, description="Usable share of a truck's cargo space.")
    min_parcel_m3: float = Field(0.004, description="Smallest volume of a parcel, m³.")
    detour_factor: float = Field(
        1.3, description="Road km per great-circle km (jiqun.geo.road_km).")
    backhaul_share: float = Field(
        0.4, description="Share of the empty return leg paid by return loads (回程货).")
    second_driver_above_km: float = Field(
        600.0, description="One-way road km above which a second driver rides (双驾).")
    second_driver_cost_per_trip: float = Field(
        500.0, description="Cost of the second driver per trip, yuan.")
    truck_speed_kmh: float = Field(65.0, description="Average truck speed on the road, km/h.")
    hub_dwell_hours: float = Field(
        14.0, description="Hours a parcel waits at the origin and destination centres on the "
        "hub route (sorting waves, consolidation).")
    direct_dwell_hours: float = Field(
        4.0, description="Hours of loading and unloading on a dedicated line.")
    hub_detour_factor: float = Field(
        1.15, description="Road km via the hubs per direct road km.")
    days_per_year: int = Field(365, description="Days of the trailing year the planner reads.")
    peak_ratio: float = Field(
        1.30, description="A day is a peak day when the scope's parcels reach this multiple of "
        "the trailing median (旺季判定).")
    peak_median_days: int = Field(28, description="Window of the trailing median, days.")
    peak_gap_days: int = Field(
        3, description="Peak days at most this far apart form one peak window.")
    peak_min_days: int = Field(2, description="Peak days a window needs at least.")
    min_lane_daily_parcels: float = Field(
        100.0, description="Lanes with fewer parcels a day on average are not evaluated.")
    min_line_km: float = Field(
        150.0, description="Lanes shorter than this many road km are left to local sorting "
        "and delivery: a trunk line is for trunk distances.")
    pooling_radius_km: float = Field(
        80.0, description="Origins at most this far from a consolidation point may pool a "
        "line through it (拼线).")
    feeder_cost_per_parcel_km: float = Field(
        0.002, description="Feeder van cost per parcel and km to the consolidation point.")
    feeder_fixed_per_day: float = Field(
        150.0, description="A feeder van's day from one origin to a consolidation point, yuan.")
    pickup_speed_kmh: float = Field(
        40.0, description="Speed of pickup vans between merchants and centres, km/h (N3).")
    pickup_detour_factor: float = Field(
        1.4, description="Road km per great-circle km on local roads (N3).")
    cover_radius_minutes: float = Field(
        30.0, description="Pickup radius of a consolidation centre in minutes (半小时揽收圈).")
    centre_capacity_per_day: float = Field(
        850_000.0, description="Capacity of a new consolidation centre, parcels a day.")
    centre_fixed_cost_per_day: float = Field(
        20_000.0, description="Fixed cost of a new consolidation centre, yuan a day.")
    pickup_cost_per_parcel_km: float = Field(
        0.01, description="Pickup cost per parcel and km between merchant and centre, yuan.")
    solver_time_limit: float = Field(20.0, description="Seconds a model may run (HiGHS).")

    def density(self, industry: str | None) -> float:
        return self.goods_density_kg_m3.get(industry or "", self.default_density_kg_m3)

    def zone_cost(self, zone: str) -> float:
        return self.hub_route[zone].per_parcel

    def travel_minutes(self, great_circle_km):
        """Pickup travel time (揽收时长): local road km / van speed, in minutes."""
        return great_circle_km * self.pickup_detour_factor / self.pickup_speed_kmh * 60.0
