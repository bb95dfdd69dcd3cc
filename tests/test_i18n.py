"""Translations: catalogs merge without clashes; locale names normalise."""

from __future__ import annotations

import pytest

from jiqun.i18n import gettext, normalise_locale


def test_translation_catalogs_never_translate_one_message_two_ways():
    """Every .po under locale/zh_CN is merged into one catalog: a message id translated
    differently in two files would silently depend on file order."""
    from importlib.resources import files

    from babel.messages.pofile import read_po

    seen: dict[str, tuple[str, str]] = {}
    clashes = []
    for po in sorted(p for p in files("jiqun").joinpath("locale", "zh_CN").iterdir()
                     if p.name.endswith(".po")):
        with po.open("rb") as fh:
            for message in read_po(fh):
                if not (message.id and message.string):
                    continue
                first = seen.setdefault(message.id, (po.name, message.string))
                if first[1] != message.string:
                    clashes.append((message.id, first, (po.name, message.string)))
    assert clashes == []


@pytest.mark.parametrize("given, expected", [("zh", "zh-CN"), ("zh_CN", "zh-CN"), ("en-US", "en"),
                                             ("EN", "en"), (None, "zh-CN"), ("fr", "zh-CN")])
def test_locale_names_normalise(given, expected):
    assert normalise_locale(given) == expected


def test_english_is_the_message_itself_and_chinese_is_translated():
    assert gettext("Market", "en") == "Market"
    assert gettext("Market", "zh-CN") == "市场"
