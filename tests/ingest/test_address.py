"""Addresses and place names → admin divisions."""

from __future__ import annotations

from jiqun.geo.address import parse_addresses, resolve_names, resolve_place


def test_parse_addresses_batch_keeps_order_and_precision():
    found = parse_addresses(["浙江省湖州市吴兴区织里镇珍贝路1号", None, "河南商丘虞城县稍岗镇",
                             "湖州织里", "不是地址", "浙江省湖州市吴兴区织里镇珍贝路1号"])
    assert [d.adcode if d else None for d in found] == [
        "330502", None, "411425", "330500", None, "330502"]
    assert found[3].level == "city"  # only the city was recognised


def test_resolve_names_within_city_avoids_ambiguous_counties():
    assert resolve_names("江苏", "南京", "鼓楼区") == ("320000", "320100", "320106")
    assert resolve_names("江苏省", "徐州市", "鼓楼区") == ("320000", "320300", "320302")
    assert resolve_names("江苏", None, "鼓楼区") is None  # Nanjing's or Xuzhou's: not guessed
    assert resolve_names(None, "湖州", None) == ("330000", "330500", None)
    assert resolve_names("330000", "330500", "330502") == ("330000", "330500", "330502")
    assert resolve_names("浙江", "广州", None) is None  # contradiction
    assert resolve_names(None, None, None) is None


def test_resolve_place_prefers_the_most_precise_level():
    assert resolve_place("440106").name == "天河区"
    assert resolve_place("湖州市").adcode == "330500"
    assert resolve_place("浙江").adcode == "330000"
    assert resolve_place("火星") is None
