"""The operating picture of one scope: every KPI behind one object, shared by the CLI
(``jiqun kpi``), the reports and the web pages, so each figure has exactly one source.

>>> kpis = OperatingPicture(store, lake_path, scope)          # doctest: +SKIP
>>> kpis.volume("market", "month", date(2026, 1, 1), date(2026, 3, 31))  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
from functools import cached_property
from pathlib import Path

import ibis
import pyarrow as pa
from ibis.expr.types import Table
from sqlalchemy import select

from jiqun.analytics import customers as customer_kpis
from jiqun.analytics import network, plan, rankings, share, tiers, volume
from jiqun.analytics.frame import Dimensions, kpi_frame
from jiqun.analytics.rules import KpiRules
from jiqun.geo import province_code
from jiqun.lake import connect, daily
from jiqun.store import Store
from jiqun.store.models import Customer, MarketVolumeEstimate, Target
from jiqun.store.scope import Scope


def records(table: Table) -> list[dict]:
    """An Ibis result as flat records with plain Python values (dates as ``date``)."""
    return table.to_pyarrow().to_pylist()


class OperatingPicture:
    """KPIs of ``scope`` (``None``: the whole organisation) on the configured engine."""

    def __init__(
        self,
        store: Store,
        lake: Path,
        scope: Scope | None = None,
        *,
        engine: str | None = None,
        rules: KpiRules | None = None,
        con: ibis.BaseBackend | None = None,
    ):
        self.store, self.lake, self.scope = store, Path(lake), scope
        self.rules = rules or KpiRules()
        self.con = con or connect(engine=engine)
        self.session = store.session(scope=scope, source="kpi")

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> OperatingPicture:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- inputs -------------------------------------------------------------------------------
    @cached_property
    def frame(self) -> Table:
        return kpi_frame(daily(self.con, self.lake, self.scope), Dimensions.load(self.session))

    def data_date(self) -> dt.date | None:
        """The last day with parcels in scope (数据日期)."""
        value = self.frame.day.max().to_pyarrow().as_py()
        return value

    def _estimates(self) -> pa.Table:
        rows = self.session.execute(select(
            MarketVolumeEstimate.market_id, MarketVolumeEstimate.carrier,
            MarketVolumeEstimate.valid_from, MarketVolumeEstimate.daily_volume,
        )).all()
        names = ("market_id", "carrier", "valid_from", "daily_volume")
        return pa.Table.from_pylist([dict(zip(names, r, strict=True)) for r in rows],
                                    share.ESTIMATES)

    def _targets(self) -> pa.Table:
        rows = self.session.scalars(select(Target)).all()
        return pa.Table.from_pylist([
            {"scope_type": t.scope_type.value, "scope_id": t.scope_id, "month": t.month,
             "volume": t.volume, "revenue": t.revenue, "new_customers": t.new_customers}
            for t in rows], plan.TARGETS)

    def _archive(self) -> list[Customer]:
        return self.session.scalars(select(Customer)).all()

    # -- KPIs ---------------------------------------------------------------------------------
    def volume(self, by: str, period: str, start: dt.date, end: dt.date) -> list[dict]:
        return records(volume.volume(self.frame, by, period, start, end))

    def share(self, period: str, start: dt.date, end: dt.date) -> list[dict]:
        return records(share.market_share(self.frame, self._estimates(), period, start, end))

    def competitors(self, period: str, start: dt.date, end: dt.date) -> list[dict]:
        return records(share.competitor_share(self._estimates(), period, start, end))

    def customers(self, by: str, start: dt.date, end: dt.date) -> list[dict]:
        return records(customer_kpis.customer_counts(self.frame, by, start, end, self.rules))

    def plan(self, scope_type: str, as_of: dt.date) -> list[dict]:
        return records(plan.plan_progress(self.frame, self._targets(), scope_type, as_of,
                                          self.rules))

    def tiers(self, as_of: dt.date) -> list[dict]:
        archive = pa.Table.from_pylist(
            [{"customer_id": c.id, "province": province_code(c.adcode) if c.adcode else None}
             for c in self._archive()], tiers.PROVINCES)
        return records(tiers.customer_tiers(self.frame, archive, as_of, self.rules))

    def grids(self, as_of: dt.date) -> list[dict]:
        """The grid KPI table (网格考核): plan, month-to-date volume and progress, in-province
        and dedicated-line figures, active and activated customers, development rate."""
        month = as_of.replace(day=1)
        archive = pa.Table.from_pylist(
            [{"customer_id": c.id, "grid_id": c.grid_id, "market_id": c.market_id}
             for c in self._archive()], customer_kpis.ARCHIVE)
        progress = plan.plan_progress(self.frame, self._targets(), "grid", as_of, self.rules)
        net = network.in_province_and_lines(self.frame, "grid", month, as_of)
        people = customer_kpis.customer_counts(self.frame, "grid", month, as_of, self.rules)
        dev = customer_kpis.development_rate(self.frame, archive, as_of, self.rules)
        out = progress.select(
            "grid_id", "target_parcels", "parcels", "revenue", "progress", "forecast_parcels"
        )
        for other in (
            net.select("grid_id", "in_province_share", "line_daily_average"),
            people.select("grid_id", "active_customers", "activated_customers"),
            dev.select("grid_id", "archived", "cooperating", "development_rate", "meets_target"),
        ):
            out = out.left_join(other, out.grid_id == other.grid_id).drop("grid_id_right")
        out = out.filter(out.grid_id.notnull())
        return records(rankings.ranked(out, "progress"))

    def rankings(self, by: str, as_of: dt.date, metric: str = "progress") -> list[dict]:
        """Markets, grids, teams or people ranked by plan ``progress`` (or ``growth``)."""
        if metric == "growth":
            start = as_of.replace(day=1)
            table = volume.volume(self.frame, by, "month", start, as_of)
            return records(rankings.ranked(table, "mom"))
        table = plan.plan_progress(self.frame, self._targets(), by, as_of, self.rules)
        return records(rankings.ranked(table, "progress"))
