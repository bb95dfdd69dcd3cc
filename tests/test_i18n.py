"""Translations: locale names normalise, messages translate and fill their placeholders.

The catalogs themselves (no clash, no gap, no fuzzy entry) are checked by tests/test_catalogs.py.
"""

from __future__ import annotations

import pytest

from jiqun.i18n import gettext, normalise_locale


@pytest.mark.parametrize("given, expected", [("zh", "zh-CN"), ("zh_CN", "zh-CN"), ("en-US", "en"),
                                             ("EN", "en"), (None, "zh-CN"), ("fr", "zh-CN")])
def test_locale_names_normalise(given, expected):
    assert normalise_locale(given) == expected


def test_english_is_the_message_itself_and_chinese_is_translated():
    assert gettext("Market", "en") == "Market"
    assert gettext("Market", "zh-CN") == "市场"


def test_placeholders_are_filled_in_either_language():
    assert gettext("Your role may not do this: {action}", "en", action="X") == \
        "Your role may not do this: X"
    assert gettext("Your role may not do this: {action}", "zh-CN", action="X") == \
        "您的角色无权执行此操作：X"


def test_an_unknown_message_is_shown_as_it_is():
    assert gettext("No such message, surely", "zh-CN") == "No such message, surely"
