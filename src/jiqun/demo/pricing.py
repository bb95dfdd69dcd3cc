"""The demo's price moves and the merchants' true answer to them: the signal the price-response
fit (``jiqun.money.response``) must recover.

**The truth.** A merchant gives us a share ``s`` of its parcels; a change of the price gap it
sees (our first-weight parcel price minus the competitors', yuan) moves the log-odds of that
share by ``TRUE_BETA`` per yuan::

    logit s(day) = logit s₀(day) + TRUE_BETA · (gap(day) − gap(end))

where ``s₀`` is the share the merchant would give us without any move (its end share, ramped
up for a growing merchant): the shares calibrated at the end of the history
(``demo.merchants``) hold on its last day, and a market where we cut our price had a smaller
share before the cut. Every parcel of the
merchant follows the parcel product's gap (快包 is what cluster merchants ship).

**The moves** (from the first day of the month ``months_before_end`` months before the last
month of the history): we cut Yanji's parcel price by ¥0.30 (15 months before); a competitor
cuts Xiayi's by ¥0.40 (18); we raise Xuchang's by ¥0.20 (12); we cut Zhili's by ¥0.20 two
months before the end (inside the three months the fit's validation holds out); Shaogang and
Yiwu move nothing (the controls).
Our moves are new rate-card versions (``archive.zones_and_prices``) and the waybills' fees;
the competitors' are in their observed prices (``archive.competitor_prices``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

TRUE_BETA = -1.5  # per yuan of gap: a ¥0.10 cut multiplies the odds of a parcel by 1.16
SHARE_CLIP = (0.01, 0.99)  # shares the response is computed on (logit of 0 or 1 is infinite)


@dataclass(frozen=True)
class PriceMove:
    market: str  # market code
    months_before_end: int
    ours: float  # change of our first-weight parcel price, yuan (a cut is negative)
    theirs: float  # change of the competitors' first-weight parcel prices, yuan

    def starts(self, until: dt.date) -> dt.date:
        """The first day the move holds."""
        index = until.year * 12 + until.month - 1 - self.months_before_end
        return dt.date(index // 12, index % 12 + 1, 1)


# Henan's moves are a year or more old: the last twelve months — the flows the line and
# centre planners read — stay as they were without them.
PRICE_MOVES: tuple[PriceMove, ...] = (
    PriceMove("HA-YJ", 15, ours=-0.30, theirs=0.0),
    PriceMove("HA-XY", 18, ours=0.0, theirs=-0.40),
    PriceMove("HA-XC", 12, ours=0.20, theirs=0.0),
    PriceMove("ZJ-ZL", 2, ours=-0.20, theirs=0.0),
)


def moves_of(market: str) -> list[PriceMove]:
    return [m for m in PRICE_MOVES if m.market == market]


def change_on(market: str, days: np.ndarray, until: dt.date, side: str) -> np.ndarray:
    """Per day: the cumulative change of ``side`` ('ours' or 'theirs') in force that day."""
    out = np.zeros(len(days))
    for move in moves_of(market):
        out += np.where(days >= np.datetime64(move.starts(until), "D"), getattr(move, side), 0.0)
    return out


def gap_shift(market: str, days: np.ndarray, until: dt.date) -> np.ndarray:
    """Per day: gap(day) − gap(end), yuan (0 on the last day and after the last move)."""
    gap = change_on(market, days, until, "ours") - change_on(market, days, until, "theirs")
    end = (sum(m.ours for m in moves_of(market)) - sum(m.theirs for m in moves_of(market)))
    return gap - end


def share_factor(share: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """``s(day) / s`` for merchants whose share without any move would be ``share`` (a
    merchants × days matrix: the end share, ramped for growing merchants) under a gap
    ``shift`` per day (the truth above)."""
    s = np.clip(share, *SHARE_CLIP)
    logit = np.log(s / (1 - s)) + TRUE_BETA * shift[None, :]
    return (1.0 / (1.0 + np.exp(-logit))) / s
