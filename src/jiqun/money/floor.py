"""The cost floor of a price (底价): what a parcel of a market and product costs us, from the
activity-based cost model (:mod:`jiqun.money.cost`) over the lake.

:func:`cost_floor` gives the function :func:`jiqun.money.rates.price_floor` asks: the cost
per parcel of the market × product in the month of the day asked (the month before when that
month has no parcels yet: a price proposed for next month is held against the last month
costed). A market or product without parcels in either month has no cost floor, and the
configured regulatory minimum applies.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy.orm import Session

from jiqun.store.models import Product

CostFloor = Callable[[int | None, Product, dt.date], float | None]


def _previous(month: dt.date) -> dt.date:
    return (month - dt.timedelta(days=1)).replace(day=1)


def cost_floor(session: Session, con, lake, scope) -> CostFloor:
    """Cost per parcel by market and product, computed once per month asked."""
    from jiqun.money.cost import CostInputs, cost_totals

    months: dict[dt.date, dict[tuple[int, str], float]] = {}

    def month_costs(month: dt.date) -> dict[tuple[int, str], float]:
        if month not in months:
            rows = cost_totals(con, lake, CostInputs.load(session, scope, month),
                               ("market_id", "product"))
            months[month] = {(int(r["market_id"]), r["product"]): r["cost"] / r["parcels"]
                             for r in rows if r["market_id"] is not None and r["parcels"]}
        return months[month]

    def per_parcel(market_id: int | None, product: Product, on: dt.date) -> float | None:
        if market_id is None:
            return None
        month = on.replace(day=1)
        for m in (month, _previous(month)):
            found = month_costs(m).get((market_id, Product(product).value))
            if found is not None:
                return found
        return None

    return per_parcel
