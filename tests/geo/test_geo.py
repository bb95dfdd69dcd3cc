"""Divisions, name lookup, distances and destination zones."""

from __future__ import annotations

import math

import numpy as np
import pytest

from jiqun.geo import (
    NEIGHBOURS,
    REMOTE_PROVINCES,
    ZoneKind,
    all_divisions,
    cities,
    city_code,
    division,
    find,
    haversine_km,
    provinces,
    road_km,
    zone_of,
)


def test_the_table_has_every_province_level_division_and_consistent_parents():
    assert len(provinces()) == 34  # 31 mainland + Hong Kong, Macau, Taiwan
    for d in all_divisions().values():
        assert d.province == d.adcode[:2] + "0000"
        assert d.level != "county" or d.city == d.adcode[:4] + "00"
        assert 73 < d.lon < 136 and 3 < d.lat < 54, d


@pytest.mark.parametrize("name, level, within, adcode", [
    ("浙江", "province", None, "330000"),
    ("浙江省", "province", None, "330000"),
    ("广西", "province", None, "450000"),
    ("湖州市", "city", None, "330500"),
    ("商丘", "city", None, "411400"),
    ("虞城县", "county", None, "411425"),
    ("吴兴区", "county", "330500", "330502"),
    ("411425", "county", None, "411425"),
])
def test_find_by_full_short_name_or_code(name, level, within, adcode):
    assert find(name, level, within).adcode == adcode


def test_ambiguous_county_names_need_their_city():
    assert find("鼓楼区", "county") is None  # Nanjing, Fuzhou, Xuzhou, Kaifeng all have one
    assert find("鼓楼区", "county", within="320100").adcode == "320106"
    assert find("鼓楼区", "county", within="350000").city == "350100"


def test_municipalities_have_a_city_of_the_same_name():
    assert division("110100").name == "北京市"
    assert city_code("110105") == "110100"
    assert {c.adcode for c in cities("310000")} == {"310100"}


def test_haversine_matches_known_distances_and_is_vectorised():
    beijing, shanghai = division("110000"), division("310000")
    km = haversine_km(beijing.lon, beijing.lat, shanghai.lon, shanghai.lat)
    assert km == pytest.approx(1067, rel=0.02)  # published great-circle distance ≈ 1,067 km
    assert haversine_km(0.0, 0.0, 0.0, 1.0) == pytest.approx(2 * math.pi * 6371.0088 / 360)
    arr = haversine_km(np.array([0.0, 0.0]), np.array([0.0, 0.0]), np.array([0.0, 1.0]),
                       np.array([0.0, 0.0]))
    assert arr[0] == 0 and arr[1] == pytest.approx(111.195, rel=1e-4)
    assert road_km(0.0, 0.0, 0.0, 1.0, detour_factor=1.5) == pytest.approx(1.5 * arr[1])


def test_yucheng_to_guangzhou_is_a_long_haul():
    yc, gz = division("411425"), division("440100")
    assert 1100 < haversine_km(yc.lon, yc.lat, gz.lon, gz.lat) < 1400


def test_neighbours_are_symmetric_and_cover_the_mainland():
    for province, ns in NEIGHBOURS.items():
        assert province not in ns
        for n in ns:
            assert province in NEIGHBOURS[n]
    mainland = {p.adcode for p in provinces()} - {"710000", "810000", "820000"}
    assert set(NEIGHBOURS) == mainland


@pytest.mark.parametrize("origin, dest, zone", [
    ("330502", "330106", ZoneKind.SAME),
    ("330502", "320100", ZoneKind.NEIGHBOUR),
    ("411425", "440100", ZoneKind.FAR),
    ("411425", "650100", ZoneKind.REMOTE),
    ("620100", "650100", ZoneKind.REMOTE),  # remote wins over neighbouring
    ("650100", "650200", ZoneKind.SAME),  # … but not inside the remote province itself
])
def test_zone_of(origin, dest, zone):
    assert zone_of(origin, dest) == zone
    assert "650000" in REMOTE_PROVINCES
