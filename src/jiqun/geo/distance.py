"""Distances: great-circle, and a road-distance estimate by a detour factor."""

from __future__ import annotations

import numpy as np

EARTH_RADIUS_KM = 6371.0088
# Road distance / great-circle distance; about 1.2–1.4 between Chinese cities on expressways.
DEFAULT_DETOUR_FACTOR = 1.3


def haversine_km(lon1, lat1, lon2, lat2):
    """Great-circle distance in km; works on scalars and numpy arrays alike."""
    lon1, lat1, lon2, lat2 = map(np.radians, (lon1, lat1, lon2, lat2))
    a = (np.sin((lat2 - lat1) / 2) ** 2
         + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2)
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(a))


def road_km(lon1, lat1, lon2, lat2, detour_factor: float = DEFAULT_DETOUR_FACTOR):
    """Estimated road distance in km (great-circle × detour factor)."""
    return haversine_km(lon1, lat1, lon2, lat2) * detour_factor
