"""Translations: English message ids, Chinese (zh-CN, the default) and English output.

Catalogs are gettext ``.po`` files under ``jiqun/locale/zh_CN/`` (one per area: ``web.po``,
``ingest.po``, …), read with Babel at first use; every file in the folder is merged.
Use ``t = translator(locale)`` then ``t("Rejected {n} rows", n=3)``. How to add a string and its
translation: ``docs/translations.md``; ``tests/test_catalogs.py`` finds what is left untranslated.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from importlib.resources import files

from babel.messages.pofile import read_po

LOCALES = ("zh-CN", "en")
DEFAULT_LOCALE = "zh-CN"


@cache
def _catalog(locale: str) -> dict[str, str]:
    if locale == "en":
        return {}
    folder = files("jiqun").joinpath("locale", locale.replace("-", "_"))
    messages: dict[str, str] = {}
    for po in sorted(p for p in folder.iterdir() if p.name.endswith(".po")):
        with po.open("rb") as fh:
            for message in read_po(fh):
                if message.id and message.string and not message.fuzzy:  # gettext's rule
                    messages[message.id] = message.string
    return messages


def normalise_locale(value: str | None) -> str:
    """``zh``, ``zh_CN``, ``zh-cn`` → ``zh-CN``; ``en-US`` → ``en``; unknown → default."""
    if not value:
        return DEFAULT_LOCALE
    value = value.replace("_", "-").lower()
    if value.startswith("en"):
        return "en"
    return DEFAULT_LOCALE


def gettext(message: str, locale: str = DEFAULT_LOCALE, **values) -> str:
    text = _catalog(normalise_locale(locale)).get(message, message)
    return text.format(**values) if values else text


def translator(locale: str = DEFAULT_LOCALE) -> Callable[..., str]:
    locale = normalise_locale(locale)
    return lambda message, **values: gettext(message, locale, **values)
