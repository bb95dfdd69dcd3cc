"""How figures are written for people — on pages, in reports and in terminal tables: numbers,
yuan, percentages, percentage points, dates. One formatter per kind, on ``babel.numbers``, in
the reader's locale (``zh-CN`` or ``en``, as :mod:`jiqun.i18n` names them).

The money rule (:func:`money`), the same everywhere: an amount under ¥10,000 is shown to the
fen (``¥1,234.50``, a unit price ``¥2.30``); from ¥10,000 up it is rounded to the yuan
(``¥1,234,568``), where cents are noise beside the figure's own error. Spreadsheets keep the
full number in the cell (a cell is a number, not this text).

Missing figures (``None``, NaN) are an em dash, so a table never shows ``nan`` or ``None``.
"""

from __future__ import annotations

import datetime as dt
import math

from babel.numbers import format_currency, format_decimal, format_percent
from jinja2 import pass_context

from jiqun.i18n import DEFAULT_LOCALE, normalise_locale

MISSING = "—"
CURRENCY = "CNY"
CENTS_BELOW = 10_000  # yuan: amounts under this are shown to the fen, larger ones to the yuan


def babel_locale(locale: str | None) -> str:
    """Babel's name of one of our locales: ``zh-CN`` → ``zh_CN``, ``en`` → ``en``."""
    return normalise_locale(locale).replace("-", "_")


def _missing(value: float | int | None) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def _decimals(digits: int) -> str:
    return "." + "0" * digits if digits > 0 else ""


def _signed(pattern: str) -> str:
    """A pattern that writes ``+`` before positive values as well (``+3.2%``, ``-1.0%``)."""
    return f"+{pattern};-{pattern}"


def number(value: float | int | None, digits: int = 0, locale: str = DEFAULT_LOCALE) -> str:
    """``1234567`` → ``1,234,567``; ``digits`` decimals."""
    if _missing(value):
        return MISSING
    return format_decimal(value, format="#,##0" + _decimals(digits),
                          locale=babel_locale(locale))


def money(value: float | int | None, locale: str = DEFAULT_LOCALE) -> str:
    """Yuan in the locale's currency form: ``¥1,234.50`` (zh-CN), ``CN¥1,234.50`` (en, the
    CLDR symbol that tells yuan from yen). Under ¥10,000 to the fen, else to the yuan (the
    module's money rule)."""
    if _missing(value):
        return MISSING
    fen = round(float(value), 2) + 0.0  # + 0.0: no "-¥0.00" for a tiny negative
    digits = 2 if abs(fen) < CENTS_BELOW else 0
    return format_currency(fen, CURRENCY, format="¤#,##0" + _decimals(digits),
                           locale=babel_locale(locale), currency_digits=False)


def percent(value: float | None, digits: int = 1, signed: bool = False,
            locale: str = DEFAULT_LOCALE) -> str:
    """A ratio as a percentage: ``0.1234`` → ``12.3%`` (``+12.3%`` when ``signed``)."""
    if _missing(value):
        return MISSING
    pattern = "#,##0" + _decimals(digits) + "%"
    return format_percent(value, format=_signed(pattern) if signed else pattern,
                          locale=babel_locale(locale))


def points(value: float | None, locale: str = DEFAULT_LOCALE) -> str:
    """A change of a share in percentage points (百分点): ``0.012`` → ``+1.2 pp``."""
    if _missing(value):
        return MISSING
    return format_decimal(value * 100, format=_signed("#,##0.0"),
                          locale=babel_locale(locale)) + " pp"


def short_date(day: dt.date | None) -> str:
    return MISSING if day is None else day.strftime("%m-%d")


def trend_class(value: float | None) -> str:
    """CSS class of a growth figure: up, down or flat."""
    if _missing(value) or abs(value) < 1e-9:
        return "flat"
    return "up" if value > 0 else "down"


def _locale_of(context) -> str:
    """The template's locale (pages and reports both render with ``locale``)."""
    return context.get("locale") or DEFAULT_LOCALE


@pass_context
def _number_filter(context, value, digits: int = 0) -> str:
    return number(value, digits, _locale_of(context))


@pass_context
def _money_filter(context, value) -> str:
    return money(value, _locale_of(context))


@pass_context
def _percent_filter(context, value, digits: int = 1, signed: bool = False) -> str:
    return percent(value, digits, signed, _locale_of(context))


@pass_context
def _points_filter(context, value) -> str:
    return points(value, _locale_of(context))


# The Jinja filters of the web's and the reports' templates: the formatters above, in the
# locale of the template being rendered (a macro imported ``with context`` sees it too).
JINJA_FILTERS = {
    "number": _number_filter, "money": _money_filter, "percent": _percent_filter,
    "points": _points_filter, "trend": trend_class,
}
