"""Geography: admin divisions and centroids, distances, destination zones. Offline."""

from jiqun.geo.distance import DEFAULT_DETOUR_FACTOR, haversine_km, road_km
from jiqun.geo.divisions import (
    Division,
    all_divisions,
    cities,
    city_code,
    division,
    find,
    province_code,
    provinces,
)
from jiqun.geo.zones import NEIGHBOURS, REMOTE_PROVINCES, ZoneKind, zone_of

__all__ = [
    "DEFAULT_DETOUR_FACTOR", "NEIGHBOURS", "REMOTE_PROVINCES", "Division", "ZoneKind",
    "all_divisions", "cities", "city_code", "division", "find", "haversine_km", "province_code",
    "provinces", "road_km", "zone_of",
]
