"""Where parcels go and what they cost: gravity model, zones and the demo rate card.

Pure functions of the place data in :mod:`jiqun.demo.places`; arrays are indexed by market
(position in ``MARKETS``) and destination city (position in :func:`destination_cities`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from jiqun.demo.merchants import spec_adcode
from jiqun.demo.places import (
    CITY_POPULATION,
    GRAVITY_DECAY,
    GRAVITY_OFFSET_KM,
    MARKETS,
    SAME_PROVINCE_BONUS,
)
from jiqun.geo import all_divisions, division, province_code, road_km, zone_of

ZONE_KINDS = ("same", "neighbour", "far", "remote")  # 省内 / 邻省 / 跨省 / 偏远
PRODUCTS = ("express", "parcel", "standard")  # 特快 / 快包 / 标快

# Base rate card (yuan): first kg and each further kg, by product × zone (same … remote).
FIRST_KG = np.array([[6.0, 8.0, 10.0, 16.0], [2.0, 2.4, 2.8, 7.0], [3.0, 3.5, 4.0, 9.0]])
EXTRA_KG = np.array([[1.5, 2.5, 3.5, 8.0], [0.4, 0.7, 1.0, 4.0], [0.8, 1.0, 1.5, 5.0]])
RATE_CARD_MAX_KG = 60.0
VIP_CONTRACT_DISCOUNT = 0.9  # VIP contracts (协议价) override the market's card

# Mean door-to-door hours by zone; dedicated lines save about half a day.
TRANSIT_HOURS = np.array([30.0, 52.0, 68.0, 110.0])
LINE_SAVING_HOURS = 12.0


@dataclass(frozen=True)
class Cities:
    adcode: np.ndarray  # str, city adcodes
    province: np.ndarray  # str
    lon: np.ndarray
    lat: np.ndarray
    population: np.ndarray
    county_offsets: np.ndarray  # start of each city's counties in ``counties``
    county_counts: np.ndarray
    counties: np.ndarray  # str adcodes of all counties of all cities


@cache
def destination_cities() -> Cities:
    codes = list(CITY_POPULATION)
    divs = [division(c) for c in codes]
    by_city: dict[str, list[str]] = {c: [] for c in codes}
    for d in all_divisions().values():
        if d.level == "county" and d.city in by_city:
            by_city[d.city].append(d.adcode)
    counts = np.array([len(by_city[c]) for c in codes])
    return Cities(
        adcode=np.array(codes),
        province=np.array([d.province for d in divs]),
        lon=np.array([d.lon for d in divs]),
        lat=np.array([d.lat for d in divs]),
        population=np.array([CITY_POPULATION[c] for c in codes]),
        county_offsets=np.concatenate([[0], np.cumsum(counts)[:-1]]),
        county_counts=counts,
        counties=np.array(sum((sorted(by_city[c]) for c in codes), []) or [""]),
    )


def gravity_weights(origin: str, cities: Cities) -> np.ndarray:
    """Pull of each city on parcels from ``origin``: population × distance decay."""
    o = division(origin)
    km = road_km(o.lon, o.lat, cities.lon, cities.lat)
    weight = cities.population * (km + GRAVITY_OFFSET_KM) ** -GRAVITY_DECAY
    weight = np.where(cities.province == province_code(origin), weight * SAME_PROVINCE_BONUS, weight)
    return weight / weight.sum()


def destination_probabilities(market: int) -> np.ndarray:
    """Probability of each destination city for a market's parcels (gravity + strong directions)."""
    spec = MARKETS[market]
    cities = destination_cities()
    gravity = gravity_weights(spec_adcode(spec), cities)
    if not spec.directions:
        return gravity
    p = np.zeros(len(cities.adcode))
    rest = gravity.copy()
    for d in spec.directions:
        in_province = cities.province == d.province
        rest[in_province] = 0.0
        target = cities.adcode == d.city
        others = gravity * (in_province & ~target)
        p[target] += d.share * d.city_share
        p += d.share * (1 - d.city_share) * others / others.sum()
    p += (1 - sum(d.share for d in spec.directions)) * rest / rest.sum()
    return p / p.sum()


@cache
def zone_table() -> np.ndarray:
    """(markets × cities) zone index (0 same, 1 neighbour, 2 far, 3 remote)."""
    cities = destination_cities()
    return np.array([
        [ZONE_KINDS.index(zone_of(spec_adcode(spec), c).value) for c in cities.adcode]
        for spec in MARKETS
    ])


def market_price_factors(rng: np.random.Generator) -> np.ndarray:
    """One place, one price (一地一价): each market's card is the base × a local factor."""
    return np.round(rng.uniform(0.88, 1.08, len(MARKETS)), 2)


def market_rate_card(factor: float) -> tuple[np.ndarray, np.ndarray]:
    """(products × zones) first-kg and extra-kg prices of one market."""
    return np.round(FIRST_KG * factor, 2), np.round(EXTRA_KG * factor, 2)


def fee(first: np.ndarray, extra: np.ndarray, weight_kg: np.ndarray) -> np.ndarray:
    """Fee by the card: first kg, then each started kg."""
    extra_kg = np.maximum(np.ceil(np.round(weight_kg, 2) - 1e-9) - 1, 0)
    return np.round(first + extra * extra_kg, 2)
