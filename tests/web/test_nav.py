"""The header navigation: every link opens, and the page's own group and item are marked."""

from __future__ import annotations

import re

import pytest

from jiqun.web.nav import NAV, current_item
from tests.web.conftest import signed_in


@pytest.mark.parametrize("path, expected", [
    ("/", "/"), ("/markets", "/markets"), ("/markets/12", "/markets"),
    ("/markets/top", "/markets/top"), ("/grids/design", "/grids/design"), ("/grids", "/grids"),
    ("/visit-plan", "/visit-plan"), ("/visits/new", "/visits"), ("/login", None),
])
def test_a_page_belongs_to_the_longest_matching_item(path, expected):
    item = current_item(path)
    assert (item.path if item else None) == expected


def test_every_navigation_link_opens_for_a_city_manager(app):
    client = signed_in(app, "hz-city")
    for group in NAV:
        for item in group.items:
            response = client.get(item.path)
            assert response.status_code == 200, item.path


def test_the_current_page_is_marked_once_and_its_group_flagged(app):
    html = signed_in(app, "hz-city").get("/markets/top").text
    assert re.findall(r'<a href="([^"]+)" aria-current="page"', html) == ["/markets/top"]
    assert html.count("data-current") == 1
