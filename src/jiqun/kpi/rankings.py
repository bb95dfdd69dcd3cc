"""Rankings (排名) of markets, grids, teams and people by any KPI column."""

from __future__ import annotations

import ibis
from ibis.expr.types import Table


def ranked(table: Table, metric: str, name: str | None = None) -> Table:
    """``table`` with a 1-based ``rank`` column (or ``name``), best (largest) first; rows with a
    null metric come last and share the last rank; ties share a rank (competition ranking)."""
    column = table[metric]
    order = ibis.desc(column.isnull().ifelse(float("-inf"), column.cast("float64")))
    rank = (ibis.rank().over(order_by=order) + 1).cast("int64")
    return table.mutate(**{name or "rank": rank}).order_by([name or "rank"])
