"""Reports (报表): morning figures for the 晨会 and the weekly bulletin (一周通报).

>>> figures = daily_figures(picture)                 # doctest: +SKIP
>>> bulletin = weekly_bulletin(picture, "2026-W47")  # doctest: +SKIP
"""

from jiqun.reports.daily import DailyFigures, DailyRow, daily_figures
from jiqun.reports.weekly import Bulletin, IsoWeek, weekly_bulletin

__all__ = ["Bulletin", "DailyFigures", "DailyRow", "IsoWeek", "daily_figures", "weekly_bulletin"]
