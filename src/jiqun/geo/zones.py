"""Destination zones of an origin province: same province / neighbouring / far / remote."""

from __future__ import annotations

from enum import Enum

from jiqun.geo.divisions import province_code


class ZoneKind(str, Enum):
    SAME = "same"  # 省内
    NEIGHBOUR = "neighbour"  # 邻省
    FAR = "far"  # 跨省远程
    REMOTE = "remote"  # 偏远: 新疆、西藏、青海、内蒙古、宁夏、甘肃


# Remote destinations as carriers' rate cards commonly list them (偏远地区).
REMOTE_PROVINCES = frozenset({"650000", "540000", "630000", "150000", "640000", "620000"})

# Provinces sharing a land border (Hainan–Guangdong across the strait counts, as on rate cards).
_BORDERS = {
    "11": "12 13", "12": "11 13", "13": "11 12 14 15 21 37 41", "14": "13 15 41 61",
    "15": "13 14 21 22 23 61 62 64", "21": "13 15 22", "22": "15 21 23", "23": "15 22",
    "31": "32 33", "32": "31 33 34 37", "33": "31 32 34 35 36", "34": "32 33 36 37 41 42",
    "35": "33 36 44", "36": "33 34 35 42 43 44", "37": "13 32 34 41",
    "41": "13 14 34 37 42 61", "42": "34 36 41 43 50 61", "43": "36 42 44 45 50 52",
    "44": "35 36 43 45 46", "45": "43 44 52 53", "46": "44", "50": "42 43 51 52 61",
    "51": "50 52 53 54 61 62 63", "52": "43 45 50 51 53", "53": "45 51 52 54",
    "54": "51 53 63 65", "61": "14 15 41 42 50 51 62 64", "62": "15 51 61 63 64 65",
    "63": "51 54 62 65", "64": "15 61 62", "65": "54 62 63",
}
NEIGHBOURS = {
    f"{p}0000": frozenset(f"{n}0000" for n in ns.split()) for p, ns in _BORDERS.items()
}


def zone_of(origin: str, destination: str) -> ZoneKind:
    """Zone of a destination (any adcode) seen from an origin (any adcode)."""
    o, d = province_code(origin), province_code(destination)
    if o == d:
        return ZoneKind.SAME
    if d in REMOTE_PROVINCES:
        return ZoneKind.REMOTE
    if d in NEIGHBOURS.get(o, ()):
        return ZoneKind.NEIGHBOUR
    return ZoneKind.FAR
