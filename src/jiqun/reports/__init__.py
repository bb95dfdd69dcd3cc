"""Reports (报表): morning figures for the 晨会 and the weekly bulletin (一周通报).

>>> figures = daily_figures(picture)                 # doctest: +SKIP
>>> bulletin = weekly_bulletin(picture, "2026-W47")  # doctest: +SKIP

The names load on first use (PEP 562), so a command's help can import ``jiqun.reports.…``
modules without the engines behind the figures.
"""

from __future__ import annotations

import importlib

_WHERE = {
    "DailyFigures": "daily", "DailyRow": "daily", "daily_figures": "daily",
    "Bulletin": "weekly", "IsoWeek": "weekly", "weekly_bulletin": "weekly",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
