"""Overview figures (概览) behind the dashboard, market and customer pages.

Each function takes an Ibis connection, the lake path, the user's :class:`~jiqun.store.scope.Scope`
(and, where store dimensions are needed, a session opened with that same scope) and dates, and
returns plain records. The lake is read through its daily aggregates (:func:`jiqun.lake.daily`: one
row per day × customer × product × destination …), never the raw waybills, so a page costs the
same whatever the waybill count; the scope limits every figure exactly as it limits the store.
Counts come back as Python ``int``, money as ``float`` yuan.

Periods are inclusive on both ends: ``start`` and ``end`` are calendar days.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import ibis
import pyarrow as pa
from ibis.expr.types import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from jiqun.kpi.frame import revenue_sum
from jiqun.lake import DAILY, DAILY_DATASET, memtable, scope_filter
from jiqun.lake.writer import dataset_files
from jiqun.store.estimates import market_volumes
from jiqun.store.models import ALL_CARRIERS, Customer, Grid, Market  # noqa: F401 — ALL_CARRIERS: pages read it here
from jiqun.store.scope import Scope

TREND_DAYS = 90  # the dashboard's trend window
SUMMARY_DAYS = 30  # the window of per-market and per-grid figures


@dataclass(frozen=True)
class DailyPoint:
    day: dt.date
    parcels: int
    revenue: float


@dataclass(frozen=True)
class MonthPoint:
    month: dt.date  # first day of the month
    parcels: int
    revenue: float


@dataclass(frozen=True)
class Kpis:
    """Headline figures of the morning meeting (早会数据) as of one day."""

    as_of: dt.date
    parcels_day: int
    revenue_day: float
    parcels_month: int  # month to date
    revenue_month: float
    parcels_prev_month: int  # the same days of the previous month
    revenue_prev_month: float

    @property
    def parcels_mom(self) -> float | None:
        """Month-on-month growth (环比) of parcels, month to date against the same days before."""
        return _growth(self.parcels_month, self.parcels_prev_month)

    @property
    def revenue_mom(self) -> float | None:
        return _growth(self.revenue_month, self.revenue_prev_month)


@dataclass(frozen=True)
class MarketSummary:
    """One market's figures over a period, with our share (市场占有率) of the market total."""

    market_id: int
    code: str
    name: str
    parcels: int
    revenue: float
    active_customers: int  # customers with at least one parcel in the period
    daily_parcels: float  # average per day of the period
    market_daily_total: float | None  # estimated daily volume of all carriers
    share: float | None  # daily_parcels / market_daily_total


@dataclass(frozen=True)
class GridSummary:
    grid_id: int
    code: str
    name: str
    parcels: int
    revenue: float
    active_customers: int


@dataclass(frozen=True)
class CustomerVolume:
    customer_id: int
    parcels: int
    revenue: float


def _growth(now: float, before: float) -> float | None:
    return None if not before else (now - before) / before


def _days(start: dt.date, end: dt.date) -> int:
    return (end - start).days + 1


def _month_of(file: Path) -> str:
    """``YYYY-MM`` of a lake file stored under ``month=YYYY-MM/``."""
    return file.parent.name.split("=", 1)[1]


def _daily_files(lake: Path, start: dt.date | None, end: dt.date | None) -> list[Path]:
    """The month files of the daily aggregates that can hold days ``start``–``end``."""
    lo = f"{start:%Y-%m}" if start else ""
    hi = f"{end:%Y-%m}" if end else "9999-99"
    return [f for f in dataset_files(Path(lake), DAILY_DATASET) if lo <= _month_of(f) <= hi]


def _daily(
    con: ibis.BaseBackend, lake: Path, scope: Scope, files: list[Path]
) -> Table:
    """The daily aggregates of ``files`` limited to ``scope`` (as :func:`jiqun.lake.daily`, but
    reading only the months a figure needs: a page's cost follows its period, not the history)."""
    if files:
        table = con.read_parquet([str(f) for f in files], table_name="overview_daily")
    else:
        table = ibis.memtable(DAILY.empty_table())
    return scope_filter(table.select(*DAILY.names), scope)


def _between(
    con: ibis.BaseBackend, lake: Path, scope: Scope, start: dt.date, end: dt.date
) -> Table:
    """Daily aggregate rows in scope from ``start`` to ``end`` inclusive."""
    table = _daily(con, lake, scope, _daily_files(lake, start, end))
    return table.filter((table.day >= start) & (table.day <= end))


def _sums(table: Table) -> dict:
    """Parcels and revenue of aggregate rows (a waybill count becomes a sum of ``parcels``)."""
    return {"parcels": table.parcels.sum().cast("int64"), "revenue": revenue_sum(table.revenue)}


def data_date(con: ibis.BaseBackend, lake: Path, scope: Scope,
              before: dt.date | None = None) -> dt.date | None:
    """The last day with waybills in the scope (数据日期), or ``None`` for an empty lake;
    with ``before``, the last such day before that one."""
    files = _daily_files(lake, None, before and before - dt.timedelta(days=1))
    # The newest month nearly always holds the answer; the whole history only when it does not.
    for candidates in (files[-1:], files):
        rows = _daily(con, lake, scope, candidates) if candidates else None
        if rows is not None and before is not None:
            rows = rows.filter(rows.day < before)
        last = con.execute(rows.day.max()) if rows is not None else None
        if last is not None and last == last:  # neither None nor NaT
            return last.date() if isinstance(last, dt.datetime) else last
    return None


def daily_trend(
    con: ibis.BaseBackend,
    lake: Path,
    scope: Scope,
    start: dt.date,
    end: dt.date,
    *,
    market_id: int | None = None,
    customer_id: int | None = None,
) -> list[DailyPoint]:
    """Parcels and revenue per day from ``start`` to ``end``; days without parcels count zero."""
    rows = _between(con, lake, scope, start, end)
    if market_id is not None:
        rows = rows.filter(rows.market_id == market_id)
    if customer_id is not None:
        rows = rows.filter(rows.customer_id == customer_id)
    per_day = rows.group_by("day").aggregate(**_sums(rows))
    found = {row["day"]: row for row in con.to_pyarrow(per_day).to_pylist()}
    points = []
    for i in range(_days(start, end)):
        day = start + dt.timedelta(days=i)
        row = found.get(day)
        points.append(
            DailyPoint(day, int(row["parcels"]), float(row["revenue"] or 0)) if row
            else DailyPoint(day, 0, 0.0)
        )
    return points


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def previous_month_same_days(as_of: dt.date) -> tuple[dt.date, dt.date]:
    """The first ``as_of.day`` days of the previous month (clipped to its length)."""
    prev_end_of_month = month_start(as_of) - dt.timedelta(days=1)
    prev_start = month_start(prev_end_of_month)
    return prev_start, prev_start.replace(day=min(as_of.day, prev_end_of_month.day))


def kpis_from_trend(points: list[DailyPoint], as_of: dt.date) -> Kpis:
    """KPIs from a daily series that covers the previous month's start through ``as_of``."""
    by_day = {p.day: p for p in points}
    covered = min(by_day, default=as_of)
    prev_start, prev_end = previous_month_same_days(as_of)
    if covered > prev_start:
        raise ValueError(f"daily series starts {covered}, after {prev_start}")

    def total(lo: dt.date, hi: dt.date) -> tuple[int, float]:
        days = [p for d, p in by_day.items() if lo <= d <= hi]
        return sum(p.parcels for p in days), sum(p.revenue for p in days)

    day = by_day.get(as_of, DailyPoint(as_of, 0, 0.0))
    parcels_m, revenue_m = total(month_start(as_of), as_of)
    parcels_p, revenue_p = total(prev_start, prev_end)
    return Kpis(as_of, day.parcels, day.revenue, parcels_m, revenue_m, parcels_p, revenue_p)


def dashboard_series(
    con: ibis.BaseBackend, lake: Path, scope: Scope, as_of: dt.date,
    days: int = TREND_DAYS,
) -> tuple[list[DailyPoint], Kpis]:
    """The trend of the last ``days`` days and the KPIs, from one query over the lake."""
    trend_start = as_of - dt.timedelta(days=days - 1)
    start = min(trend_start, previous_month_same_days(as_of)[0])
    points = daily_trend(con, lake, scope, start, as_of)
    return [p for p in points if p.day >= trend_start], kpis_from_trend(points, as_of)


def market_totals(session: Session, market_ids: list[int], on: dt.date) -> dict[int, float]:
    """The latest estimate of each market's total daily volume (all carriers) valid on ``on``."""
    if not market_ids:
        return {}
    return market_volumes(session, on, market_ids=market_ids)


_MARKET_DIM = pa.schema(
    [("market_id", pa.int64()), ("code", pa.string()), ("name", pa.string()),
     ("market_daily_total", pa.float64())]
)


def market_summaries(
    con: ibis.BaseBackend,
    lake: Path,
    scope: Scope,
    session: Session,
    start: dt.date,
    end: dt.date,
    markets: list[Market] | None = None,
) -> list[MarketSummary]:
    """Per market: parcels, revenue, active customers and share of the market total.

    ``markets`` defaults to every market the session can see; markets without parcels in the
    period are listed with zeros.
    """
    if markets is None:
        markets = list(session.scalars(select(Market).order_by(Market.code)))
    if not markets:
        return []
    totals = market_totals(session, [m.id for m in markets], end)
    dim = memtable(
        [{"market_id": m.id, "code": m.code, "name": m.name,
          "market_daily_total": totals.get(m.id)} for m in markets],
        schema=_MARKET_DIM,
    )
    rows = _between(con, lake, scope, start, end)
    rows = rows.filter(rows.market_id.isin([m.id for m in markets]))
    per_market = rows.group_by("market_id").aggregate(
        **_sums(rows),
        active_customers=rows.customer_id.nunique().cast("int64"),
    )
    per_market = per_market.mutate(market_id=per_market.market_id.cast("int64"))
    joined = dim.left_join(per_market, dim.market_id == per_market.market_id)
    days = _days(start, end)
    expr = joined.select(
        dim.market_id, dim.code, dim.name, dim.market_daily_total,
        parcels=per_market.parcels.fill_null(0),
        revenue=per_market.revenue.fill_null(0.0),
        active_customers=per_market.active_customers.fill_null(0),
    )
    summaries = []
    for row in con.to_pyarrow(expr).to_pylist():
        per_day = row["parcels"] / days
        total = row["market_daily_total"]
        summaries.append(MarketSummary(
            market_id=int(row["market_id"]), code=row["code"], name=row["name"],
            parcels=int(row["parcels"]), revenue=float(row["revenue"]),
            active_customers=int(row["active_customers"]), daily_parcels=per_day,
            market_daily_total=total, share=(per_day / total) if total else None,
        ))
    order = {m.id: i for i, m in enumerate(markets)}
    return sorted(summaries, key=lambda s: order[s.market_id])


def grid_summaries(
    con: ibis.BaseBackend,
    lake: Path,
    scope: Scope,
    session: Session,
    market_id: int,
    start: dt.date,
    end: dt.date,
) -> list[GridSummary]:
    """Per grid (网格) of one market: parcels, revenue and active customers in the period."""
    grids = list(session.scalars(
        select(Grid).where(Grid.market_id == market_id).order_by(Grid.code)
    ))
    if not grids:
        return []
    rows = _between(con, lake, scope, start, end)
    rows = rows.filter(rows.market_id == market_id)
    per_grid = rows.group_by("grid_id").aggregate(
        **_sums(rows),
        active_customers=rows.customer_id.nunique().cast("int64"),
    )
    found = {row["grid_id"]: row for row in con.to_pyarrow(per_grid).to_pylist()}
    return [
        GridSummary(
            g.id, g.code, g.name,
            int(found.get(g.id, {}).get("parcels") or 0),
            float(found.get(g.id, {}).get("revenue") or 0.0),
            int(found.get(g.id, {}).get("active_customers") or 0),
        )
        for g in grids
    ]


def customer_volumes(
    con: ibis.BaseBackend,
    lake: Path,
    scope: Scope,
    start: dt.date,
    end: dt.date,
    *,
    market_id: int | None = None,
    customer_ids: list[int] | None = None,
    limit: int | None = None,
) -> list[CustomerVolume]:
    """Parcels and revenue per customer, largest first (the top customers with ``limit``)."""
    rows = _between(con, lake, scope, start, end)
    rows = rows.filter(rows.customer_id.notnull())
    if market_id is not None:
        rows = rows.filter(rows.market_id == market_id)
    if customer_ids is not None:
        if not customer_ids:
            return []
        rows = rows.filter(rows.customer_id.isin(customer_ids))
    per_customer = rows.group_by("customer_id").aggregate(**_sums(rows)).order_by(
        [ibis.desc("parcels"), "customer_id"]
    )
    if limit is not None:
        per_customer = per_customer.limit(limit)
    return [
        CustomerVolume(int(r["customer_id"]), int(r["parcels"]), float(r["revenue"] or 0))
        for r in con.to_pyarrow(per_customer).to_pylist()
    ]


def top_customers(
    con: ibis.BaseBackend,
    lake: Path,
    scope: Scope,
    session: Session,
    market_id: int,
    start: dt.date,
    end: dt.date,
    limit: int = 10,
) -> list[tuple[Customer, CustomerVolume]]:
    """The market's biggest shippers (头部客户) in the period, with their archive rows."""
    volumes = customer_volumes(con, lake, scope, start, end, market_id=market_id, limit=limit)
    ids = [v.customer_id for v in volumes]
    customers = {c.id: c for c in session.scalars(select(Customer).where(Customer.id.in_(ids)))}
    return [(customers[v.customer_id], v) for v in volumes if v.customer_id in customers]


def customer_monthly_volume(
    con: ibis.BaseBackend,
    lake: Path,
    scope: Scope,
    customer_id: int,
    start: dt.date,
    end: dt.date,
) -> list[MonthPoint]:
    """Parcels and revenue per calendar month of one customer; months without parcels are zero."""
    first, last = month_start(start), month_start(end)
    rows = _between(con, lake, scope, first, end)
    rows = rows.filter(rows.customer_id == customer_id)
    monthly = rows.group_by(month=rows.day.truncate("M")).aggregate(**_sums(rows))
    found = {row["month"]: row for row in con.to_pyarrow(monthly).to_pylist()}
    points, month = [], first
    while month <= last:
        row = found.get(month)
        points.append(MonthPoint(month, int(row["parcels"]), float(row["revenue"] or 0)) if row
                      else MonthPoint(month, 0, 0.0))
        month = (month + dt.timedelta(days=32)).replace(day=1)
    return points
