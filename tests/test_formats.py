"""The one way figures are written (jiqun.formats): the money rule, locales, missing values, and
the pages and the reports agreeing on it."""

from __future__ import annotations

import math

import pytest
from jinja2 import Environment

from jiqun import formats
from jiqun.formats import JINJA_FILTERS, money, number, percent, points


@pytest.mark.parametrize(("value", "zh", "en"), [
    (1234.5, "¥1,234.50", "CN¥1,234.50"),  # under ¥10,000: to the fen
    (2.3, "¥2.30", "CN¥2.30"),  # a unit price keeps its fen
    (9999.994, "¥9,999.99", "CN¥9,999.99"),
    (9999.996, "¥10,000", "CN¥10,000"),  # rounds to ¥10,000.00: a large amount, to the yuan
    (12345.678, "¥12,346", "CN¥12,346"),
    (1_234_567.4, "¥1,234,567", "CN¥1,234,567"),
    (-1234.5, "-¥1,234.50", "-CN¥1,234.50"),
    (-0.001, "¥0.00", "CN¥0.00"),  # never "-¥0.00"
    (0, "¥0.00", "CN¥0.00"),
])
def test_money_rule_in_both_locales(value, zh, en):
    assert money(value, "zh-CN") == zh
    assert money(value, "en") == en


@pytest.mark.parametrize("missing", [None, math.nan, math.inf])
def test_missing_figures_are_a_dash(missing):
    assert {money(missing), number(missing), percent(missing), points(missing)} == {"—"}
    assert formats.trend_class(missing) == "flat"


def test_numbers_percentages_and_points():
    assert number(1234567) == "1,234,567"
    assert number(2.25, 1, "en") == "2.2"  # half to even, like Python's own rounding of 2.25
    assert number(1234.5, 2) == "1,234.50"
    assert percent(0.1234) == "12.3%"
    assert percent(0.37, 0) == "37%"
    assert percent(0.05, 1, signed=True) == "+5.0%"
    assert percent(-0.05, 1, signed=True) == "-5.0%"
    assert points(0.012) == "+1.2 pp" and points(-0.003) == "-0.3 pp"


def test_template_filters_write_in_the_templates_locale():
    env = Environment()
    env.filters.update(JINJA_FILTERS)
    template = env.from_string("{{ x | money }} {{ r | percent(1, True) }} {{ n | number(1) }}")
    assert template.render(x=1234.5, r=0.1, n=3.25, locale="zh-CN") == "¥1,234.50 +10.0% 3.2"
    assert template.render(x=1234.5, r=0.1, n=3.25, locale="en") == "CN¥1,234.50 +10.0% 3.2"


def test_pages_and_reports_share_the_filters():
    from jiqun.reports.html import _environment
    from jiqun.web.templating import make_templates

    web = make_templates().env.filters
    reports = _environment().filters
    for name in ("number", "money", "percent"):
        assert web[name] is reports[name] is JINJA_FILTERS[name]
