"""Incentives (P4): the bonus pool for beating targets and the outlets' profit share.

* 超收专项奖励 — a market whose revenue of the month beats its revenue target earns a bonus pool
  of ``bonus_share_of_excess`` × the excess, only when its profit is positive (and at most
  ``bonus_cap_share_of_profit`` of it); the pool goes to the teams that develop the market
  (``bonus_team_share``, equally per approved team) and the named key people, the teams'
  leaders (the rest, equally).
* 众创众享 — an outlet (揽投部) receives ``outlet_profit_share`` × the positive profit of the
  parcels it picks up.

Pure functions of figures and rules; :mod:`jiqun.money.ledger` feeds them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from jiqun.money.rules import FinanceRules


def market_bonus(revenue: float, profit: float, target_revenue: float | None,
                 rules: FinanceRules) -> float:
    """The bonus pool (超收专项奖励) of one market-month."""
    if not target_revenue or target_revenue <= 0 or revenue <= target_revenue:
        return 0.0
    if rules.bonus_needs_profit and profit <= 0:
        return 0.0
    bonus = rules.bonus_share_of_excess * (revenue - target_revenue)
    if profit > 0:
        bonus = min(bonus, rules.bonus_cap_share_of_profit * profit)
    return round(bonus, 2)


def outlet_share(profit: float, rules: FinanceRules) -> float:
    """An outlet's share (众创众享) of the profit of the parcels it picks up."""
    return round(rules.outlet_profit_share * profit, 2) if profit > 0 else 0.0


@dataclass(frozen=True)
class Recipient:
    kind: str  # team / person
    id: int
    name: str


@dataclass(frozen=True)
class BonusShare:
    market_id: int
    recipient: Recipient
    amount: float


def allocate_bonus(market_id: int, bonus: float, teams: Sequence[Recipient],
                   key_people: Sequence[Recipient], rules: FinanceRules) -> list[BonusShare]:
    """The pool split between the teams and the key people; a side with nobody passes its part
    to the other, and the cents left by rounding go to the first recipient, so the shares
    always add up to the pool."""
    if bonus <= 0 or not (teams or key_people):
        return []
    team_part = bonus * rules.bonus_team_share if key_people else bonus
    if not teams:
        team_part = 0.0
    parts = ([(r, team_part / len(teams)) for r in teams]
             + [(r, (bonus - team_part) / len(key_people)) for r in key_people])
    shares = [BonusShare(market_id, r, round(a, 2)) for r, a in parts]
    gap = round(bonus - sum(s.amount for s in shares), 2)
    if gap:
        first = shares[0]
        shares[0] = BonusShare(market_id, first.recipient, round(first.amount + gap, 2))
    return shares
