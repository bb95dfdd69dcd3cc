"""The frame every KPI starts from: daily aggregates joined with the store's dimensions.

``kpi_frame`` adds to each daily row the team of its grid (``team_id``) and the owner of its
customer (``owner_id``), so that volumes can be grouped by market, grid, team, person, customer,
product or destination province. The grid comes from the waybill itself, so history stays with
the grid that served it even after a redraw.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

import ibis
import pyarrow as pa
from ibis.expr.types import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from jiqun.store.models import Customer, Grid

Dimension = Literal["market", "grid", "team", "person", "customer", "product", "province"]
Period = Literal["day", "week", "month"]

_TRUNCATE = {"day": "D", "week": "W", "month": "M"}

GRIDS = pa.schema([("grid_id", pa.int32()), ("team_id", pa.int32())])
OWNERS = pa.schema([("customer_id", pa.int64()), ("owner_id", pa.int32())])


@dataclass(frozen=True)
class Dimensions:
    """Store dimensions the KPIs group by, as Arrow tables (they travel to any engine)."""

    grids: pa.Table
    owners: pa.Table

    @classmethod
    def load(cls, session: Session) -> Dimensions:
        """Read from a (scoped) store session."""
        grids = session.execute(select(Grid.id, Grid.team_id)).all()
        owners = session.execute(select(Customer.id, Customer.owner_id)).all()
        return cls(
            grids=pa.Table.from_pylist([{"grid_id": g, "team_id": t} for g, t in grids], GRIDS),
            owners=pa.Table.from_pylist(
                [{"customer_id": c, "owner_id": o} for c, o in owners], OWNERS
            ),
        )

    @classmethod
    def empty(cls) -> Dimensions:
        return cls(GRIDS.empty_table(), OWNERS.empty_table())


def kpi_frame(daily: Table, dims: Dimensions) -> Table:
    """Daily aggregates with ``team_id`` and ``owner_id`` attached."""
    grids = ibis.memtable(dims.grids)
    owners = ibis.memtable(dims.owners)
    frame = daily.left_join(grids, daily.grid_id == grids.grid_id).drop("grid_id_right")
    frame = frame.left_join(owners, frame.customer_id == owners.customer_id)
    return frame.drop("customer_id_right")


def period_of(day, period: Period):
    """The first day of the day's period (weeks start on Monday)."""
    return day.truncate(_TRUNCATE[period])


def between(frame: Table, start: dt.date, end: dt.date) -> Table:
    """Rows from ``start`` to ``end``, both included."""
    return frame.filter((frame.day >= start) & (frame.day <= end))


def revenue_sum(revenue):
    """The sum of a revenue column, to the fen: a sum the engine adds in parallel differs in its
    last bits from run to run, and two users asking the same question must read the same
    figure."""
    return revenue.sum().cast("float64").round(2)
