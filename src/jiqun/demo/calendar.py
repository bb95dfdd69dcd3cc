"""The rhythm of e-commerce parcels: week, day, 618, Double 11, Spring Festival.

All functions take numpy ``datetime64[D]`` arrays and return multiplicative factors, so a year of
days is one vectorised call.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

# Pickups peak on Monday (weekend orders) and fall towards Sunday.
WEEKDAY_FACTORS = np.array([1.14, 1.07, 1.02, 1.00, 0.98, 0.92, 0.87])  # Mon … Sun

# Pickup scans by hour: morning round 9–12, big afternoon round 15–19 when merchants hand over.
HOUR_WEIGHTS = np.array([
    0.2, 0.1, 0.1, 0.1, 0.1, 0.2, 0.5, 1.5, 3.5, 5.5, 7.0, 7.5,
    5.0, 4.5, 6.0, 8.5, 10.0, 10.5, 9.5, 7.0, 4.0, 2.0, 1.0, 0.5,
])

# Lunar New Year's day (春节), 2019–2031: the fortnight around it is the year's trough.
SPRING_FESTIVAL = {
    2019: "2019-02-05", 2020: "2020-01-25", 2021: "2021-02-12", 2022: "2022-02-01",
    2023: "2023-01-22", 2024: "2024-02-10", 2025: "2025-01-29", 2026: "2026-02-17",
    2027: "2027-02-06", 2028: "2028-01-26", 2029: "2029-02-13", 2030: "2030-02-03",
    2031: "2031-01-23",
}

# (month, first day, last day, factor): promotions and lulls, as seen in pickup volumes.
_PERIODS = (
    (6, 1, 15, 1.20),  # 618 pre-sales ship
    (6, 16, 20, 1.65),  # 618 peak
    (6, 21, 25, 1.15),
    (7, 1, 31, 0.93),  # summer lull
    (8, 1, 31, 0.93),
    (10, 1, 7, 0.75),  # National Day golden week
    (11, 1, 10, 1.30),  # Double 11 pre-sales ship
    (11, 11, 11, 2.40),  # Double 11 peak
    (11, 12, 12, 2.60),
    (11, 13, 13, 2.20),
    (11, 14, 15, 1.70),
    (11, 16, 20, 1.30),
    (12, 12, 14, 1.30),  # Double 12
)


def day_range(start: dt.date, end: dt.date) -> np.ndarray:
    """Every day from ``start`` to ``end`` inclusive, as ``datetime64[D]``."""
    return np.arange(np.datetime64(start, "D"), np.datetime64(end, "D") + 1)


def weekday_factor(days: np.ndarray) -> np.ndarray:
    weekday = (days.astype("int64") + 3) % 7  # 1970-01-01 was a Thursday
    return WEEKDAY_FACTORS[weekday] / WEEKDAY_FACTORS.mean()


def _spring_festival_factor(days: np.ndarray) -> np.ndarray:
    """Trough around the Lunar New Year: merchants and couriers go home."""
    factor = np.ones(len(days))
    years = days.astype("datetime64[Y]").astype(int) + 1970
    for year in np.unique(years):
        for y in (year, year + 1):
            if y not in SPRING_FESTIVAL:
                continue
            offset = (days - np.datetime64(SPRING_FESTIVAL[y], "D")).astype(int)
            # -15 … -4: falling, -3 … +6: trough, +7 … +18: recovering
            profile = np.interp(offset, [-16, -10, -3, 0, 6, 10, 18],
                                [1.0, 0.85, 0.30, 0.12, 0.20, 0.55, 1.0])
            factor = np.minimum(factor, profile)
    return factor


def season_factor(days: np.ndarray) -> np.ndarray:
    """Promotions (618, Double 11, Double 12), summer lull, golden week, Spring Festival."""
    months = days.astype("datetime64[M]").astype(int) % 12 + 1
    dom = (days - days.astype("datetime64[M]")).astype(int) + 1
    factor = np.ones(len(days))
    for month, first, last, value in _PERIODS:
        factor[(months == month) & (dom >= first) & (dom <= last)] = value
    return factor * _spring_festival_factor(days)


def rhythm(days: np.ndarray) -> np.ndarray:
    """Season × weekday, normalised to mean 1 over ``days`` (a whole number of years)."""
    factor = season_factor(days) * weekday_factor(days)
    return factor / factor.mean()


def growth_factor(days: np.ndarray, until: dt.date, yearly_growth: float) -> np.ndarray:
    """Trend: 1 on ``until``, ``1 / (1 + g)`` a year earlier."""
    years_before = (np.datetime64(until, "D") - days).astype(int) / 365.0
    return (1.0 + yearly_growth) ** (-years_before)
