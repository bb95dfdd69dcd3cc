"""Cells that a spreadsheet shows but never runs (OWASP "CSV injection").

A text that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read by Excel,
WPS and LibreOffice as a formula when a CSV is opened (``=cmd|' /C calc'!A0`` in a customer's
name). Every CSV jiqun writes passes user-typed text through :func:`spreadsheet_safe`, which puts
an apostrophe in front, as OWASP recommends: the spreadsheet shows the text and hides the mark.
XLSX files are written with ``strings_to_formulas`` off (``reports/xlsx.py``), so a text stays a
text cell there and needs no mark.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# A signed number ("-1", "+3.5", "-2e3") is read as a number, not run: it keeps its sign as typed.
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def spreadsheet_safe(value: Any) -> Any:
    """``value`` unchanged, unless it is a text a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) \
            and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def safe_row(values: Iterable[Any]) -> list[Any]:
    return [spreadsheet_safe(v) for v in values]
