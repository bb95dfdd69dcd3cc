"""The words of field sales that forms and commands offer before any service loads: visit
methods and outcomes, and what the funnel's conversion can be broken down by."""

from __future__ import annotations

# Methods of the seed (揽投员熟练运用名片发放法、客户开发名录走访法、地毯式走访法、客户转介法、
# 关注退休法); codes as in the archive, msgids of their own for the chips.
METHODS: dict[str, str] = {
    "card": "Business cards handed out",
    "directory": "Directory visit",
    "sweep": "Carpet sweep",
    "referral": "Customer referral",
    "revisit": "Return visit",
    "retiree": "Retiree network",
    "event": "Campaign event",
    "phone": "Phone call",
}
OUTCOMES: dict[str, str] = {
    "interested": "Interested",
    "follow_up": "Follow-up",
    "trial": "Trial agreed",
    "signed": "Signed",
    "no_interest": "No interest",
    "lost": "Lost to a competitor",
}
FUNNEL_BY = ("method", "campaign", "platform", "person")  # conversion by (jiqun.sales.funnel)
