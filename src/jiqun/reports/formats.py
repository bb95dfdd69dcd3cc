"""How report figures are written: thousands separators, yuan, percentages, dates."""

from __future__ import annotations

import datetime as dt


def number(value: float | int | None, digits: int = 0) -> str:
    """``1234567`` → ``1,234,567``; missing → an em dash."""
    return "—" if value is None else f"{value:,.{digits}f}"


def money(value: float | None) -> str:
    """Yuan; cents only below ¥10,000, where they still mean something."""
    if value is None:
        return "—"
    return f"¥{value:,.0f}" if abs(value) >= 10_000 else f"¥{value:,.2f}"


def percent(value: float | None, digits: int = 1, signed: bool = False) -> str:
    if value is None:
        return "—"
    return f"{value * 100:{'+' if signed else ''}.{digits}f}%"


def points(value: float | None) -> str:
    """A change of a share in percentage points (百分点)."""
    return "—" if value is None else f"{value * 100:+.1f} pp"


def short_date(day: dt.date | None) -> str:
    return "—" if day is None else day.strftime("%m-%d")


def trend_class(value: float | None) -> str:
    """CSS class of a growth figure: up, down or flat."""
    if value is None or abs(value) < 1e-9:
        return "flat"
    return "up" if value > 0 else "down"
