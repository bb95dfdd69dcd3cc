"""The demo's two years of days and the expected daily volumes on them (before sampling)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from jiqun.demo.calendar import day_range, growth_factor, rhythm
from jiqun.demo.merchants import Merchants
from jiqun.demo.places import MARKETS
from jiqun.demo.pricing import gap_shift, share_factor


def history_start(until: dt.date) -> dt.date:
    """The first day of the two full years that end on ``until``."""
    try:
        two_years_before = until.replace(year=until.year - 2)
    except ValueError:  # 29 February
        two_years_before = until.replace(year=until.year - 2, day=28)
    return two_years_before + dt.timedelta(days=1)


@dataclass(frozen=True)
class Timeline:
    start: dt.date
    until: dt.date
    days: np.ndarray  # datetime64[D], start … until
    rhythm: np.ndarray  # season × weekday, mean 1 over the two years

    @classmethod
    def ending(cls, until: dt.date) -> Timeline:
        start = history_start(until)
        days = day_range(start, until)
        return cls(start, until, days, rhythm(days))

    def months(self) -> list[np.datetime64]:
        """First days of every (partial) month of the history."""
        return list(np.unique(self.days.astype("datetime64[M]")))

    def month_slice(self, month: np.datetime64) -> slice:
        in_month = np.flatnonzero(self.days.astype("datetime64[M]") == month)
        return slice(in_month[0], in_month[-1] + 1)

    def market_total(self, market: int, factor: float) -> np.ndarray:
        """Expected daily parcels of all carriers in a market (scaled)."""
        spec = MARKETS[market]
        trend = growth_factor(self.days, self.until, spec.growth)
        return spec.market_volume * factor * trend * self.rhythm

    def our_rates(
        self, merchants: Merchants, market: int, factor: float, span: slice = slice(None)
    ) -> tuple[np.ndarray, np.ndarray]:
        """Rows of the market's merchants and their expected daily parcels with us (scaled),
        as a (merchants × days) matrix over ``span`` of the history; the share we get follows
        the market's price moves (``demo.pricing``)."""
        spec = MARKETS[market]
        rows = np.flatnonzero(merchants.market == market)
        days = self.days[span]
        trend = growth_factor(days, self.until, spec.growth) * self.rhythm[span]
        share = merchants.our_share[rows, None] * merchants.growing_ramp(days, rows, self.until)
        moved = share * share_factor(share, gap_shift(spec.code, days, self.until))
        rates = (
            merchants.volume[rows, None] * moved * factor
            * merchants.active(days, rows)
            * trend[None, :]
        )
        return rows, rates
