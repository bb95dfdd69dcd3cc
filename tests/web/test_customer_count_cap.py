"""The customer list and /api/customers of a text search that finds more than the count's cap:
``total`` is the cap, ``total_capped`` says there are more, the page says so in Chinese and its
pager offers the pages up to the cap (sales/customer_search.py)."""

from __future__ import annotations

import pytest

from jiqun.sales import customer_search
from tests.web.conftest import signed_in
from tests.web.test_paged_pages import CUSTOMER_CELL


@pytest.fixture
def city(app):
    return signed_in(app, "hz-city")


def test_the_api_returns_the_capped_total_with_its_flag(city, monkeypatch):
    exact = city.get("/api/customers?q=1380000").json()  # Huzhou's three phones
    assert (exact["total"], exact["total_capped"]) == (3, False)
    monkeypatch.setattr(customer_search, "TEXT_COUNT_CAP", 2)
    capped = city.get("/api/customers?q=1380000&page=9&page_size=1").json()
    assert (capped["total"], capped["total_capped"], capped["pages"]) == (2, True, 2)
    assert capped["page"] == 2  # the last page the cap offers
    assert capped["items"][0]["code"] == exact["items"][1]["code"]
    # The list without text counts exactly, past the cap
    listed = city.get("/api/customers?page_size=200").json()
    assert (listed["total"], listed["total_capped"]) == (len(listed["items"]), False) \
        and listed["total"] > 2


def test_the_page_says_more_than_the_cap_were_found(city, world, monkeypatch):
    exact = city.get("/customers?q=1380000").text
    assert "共 3 个客户" in exact and "超过" not in exact
    monkeypatch.setattr(customer_search, "TEXT_COUNT_CAP", 2)
    page = city.get("/customers?q=1380000&per_page=1")
    assert page.status_code == 200
    assert "超过 2 个客户" in page.text and "共超过 2 行" in page.text
    assert CUSTOMER_CELL.findall(page.text) == [str(world.ids["zl_big"])]
