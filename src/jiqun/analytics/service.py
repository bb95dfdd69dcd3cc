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
from jiqun.analytics import levels, network, plan, rankings, share, tiers, volume
from jiqun.analytics.frame import Dimensions, kpi_frame
from jiqun.analytics.rules import KpiRules
from jiqun.geo import province_code
from jiqun.lake import connect, daily, lanes
from jiqun.store import Store
from jiqun.store.models import Customer, Grid, Market, MarketVolumeEstimate, OrgUnit, Target
from jiqun.store.scope import Scope


def period_start(day: dt.date, period: str) -> dt.date:
    """First day of the day's week (Monday) or month."""
    if period == "week":
        return day - dt.timedelta(days=day.weekday())
    return day if period == "day" else day.replace(day=1)


ARCHIVE_WITH_PROVINCE = pa.schema(
    [*customer_kpis.ARCHIVE, pa.field("province", pa.string())]
)


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
        self.rules = rules or KpiRules.configured()
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

    @cached_property
    def lanes(self) -> Table:
        """Daily flows by destination: the frame of volumes by destination province."""
        return lanes(self.con, self.lake, self.scope)

    def data_date(self) -> dt.date | None:
        """The last day with parcels in scope (数据日期)."""
        return self.frame.day.max().to_pyarrow().as_py()

    def _arrow(self, statement, schema: pa.Schema, convert=tuple) -> pa.Table:
        """A Core query's rows (each through ``convert``) as an Arrow table: no ORM objects,
        thousands of rows, fast."""
        rows = self.session.execute(statement).all()
        return pa.Table.from_pylist(
            [dict(zip(schema.names, convert(r), strict=True)) for r in rows], schema)

    @cached_property
    def _estimates(self) -> pa.Table:
        e = MarketVolumeEstimate
        return self._arrow(select(e.market_id, e.carrier, e.valid_from, e.daily_volume),
                           share.ESTIMATES)

    @cached_property
    def _targets(self) -> pa.Table:
        t = Target
        return self._arrow(
            select(t.scope_type, t.scope_id, t.month, t.volume, t.revenue, t.new_customers),
            plan.TARGETS, convert=lambda r: (r[0].value, *r[1:]))

    @cached_property
    def _archive(self) -> pa.Table:
        """Archived customers: id, grid, market and province (from the adcode)."""
        c = Customer
        return self._arrow(
            select(c.id, c.grid_id, c.market_id, c.adcode), ARCHIVE_WITH_PROVINCE,
            convert=lambda r: (*r[:3], province_code(r[3]) if r[3] else None))

    # -- KPIs ---------------------------------------------------------------------------------
    def volume(self, by: str, period: str, start: dt.date, end: dt.date) -> list[dict]:
        frame = self.lanes if by == "province" else self.frame
        return records(volume.volume(frame, by, period, start, end))

    def share(self, period: str, start: dt.date, end: dt.date) -> list[dict]:
        return records(share.market_share(self.frame, self._estimates, period, start, end))

    def competitors(self, period: str, start: dt.date, end: dt.date) -> list[dict]:
        return records(share.competitor_share(self._estimates, period, start, end))

    def customers(self, by: str, start: dt.date, end: dt.date) -> list[dict]:
        return records(customer_kpis.customer_counts(self.frame, by, start, end, self.rules))

    def development_rate(self, as_of: dt.date) -> list[dict]:
        archive = self._archive.select(customer_kpis.ARCHIVE.names)
        return records(customer_kpis.development_rate(self.frame, archive, as_of, self.rules))

    def network(self, by: str, start: dt.date, end: dt.date) -> list[dict]:
        return records(network.in_province_and_lines(self.frame, by, start, end))

    def plan(self, scope_type: str, as_of: dt.date) -> list[dict]:
        return records(plan.plan_progress(self.frame, self._targets, scope_type, as_of,
                                          self.rules))

    def tiers(self, as_of: dt.date) -> list[dict]:
        archive = self._archive.select(tiers.PROVINCES.names)
        return records(tiers.customer_tiers(self.frame, archive, as_of, self.rules))

    def grids(self, as_of: dt.date) -> list[dict]:
        """The grid KPI table (网格考核): plan, month-to-date volume and progress, in-province
        and dedicated-line figures, active and activated customers, development rate."""
        month = as_of.replace(day=1)
        archive = self._archive.select(customer_kpis.ARCHIVE.names)
        progress = plan.plan_progress(self.frame, self._targets, "grid", as_of, self.rules)
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

    def rankings(
        self, by: str, as_of: dt.date, metric: str = "progress", period: str = "month"
    ) -> list[dict]:
        """Markets, grids, teams or people ranked by plan ``progress`` (or ``growth``: parcels
        of the ``period`` up to ``as_of`` against the previous one; the weekly bulletin ranks
        by week-on-week growth)."""
        if metric == "growth":
            start = period_start(as_of, period)
            table = volume.volume(self.frame, by, period, start, as_of)
            return records(rankings.ranked(table, "mom"))
        table = plan.plan_progress(self.frame, self._targets, by, as_of, self.rules)
        return records(rankings.ranked(table, "progress"))

    # -- per level (分级看板) ------------------------------------------------------------------
    def _units(self) -> tuple[levels.Unit, list[levels.Unit]]:
        """The scope's root unit (HQ without a scope) and every unit of its subtree."""
        root_filter = (OrgUnit.id == self.scope.root_id if self.scope is not None
                       else OrgUnit.parent_id.is_(None))
        root = self.session.scalars(select(OrgUnit).where(root_filter)).first()
        found = self.session.scalars(select(OrgUnit).where(OrgUnit.path.startswith(root.path)))

        def unit(u: OrgUnit) -> levels.Unit:
            return levels.Unit(u.id, u.code, u.name, u.level, u.path)

        return unit(root), [unit(u) for u in found]

    def by_level(self, as_of: dt.date) -> list[dict]:
        """The level table of the dashboard (分级看板): provinces for HQ, cities for a province,
        markets and grids (``level`` = ``market`` / ``grid``) for a city and below. Each row:
        month-to-date ``parcels`` and ``revenue``, ``target_parcels`` and plan ``progress``,
        ``share`` of the market total, ``active_customers``. See :mod:`jiqun.analytics.levels`."""
        root, units = self._units()
        level = levels.row_level(root.level)
        month = as_of.replace(day=1)
        markets = [{"id": m.id, "code": m.code, "name": m.name, "org_unit_id": m.org_unit_id}
                   for m in self.session.scalars(select(Market).order_by(Market.code))]
        market_plan = self.plan("market", as_of)
        market_share = records(
            share.market_share(self.frame, self._estimates, "month", month, as_of))
        if level != "market":
            rows = levels.rows_of_units(root, units)
            figures = records(levels.unit_activity(self.frame, rows, as_of, self.rules))
            names = [{"id": u.id, "code": u.code, "name": u.name} for u in units
                     if len(u.lineage) == len(root.lineage) + 1]
            if any(f["row_id"] == root.id and f["parcels"] for f in figures):
                names.append({"id": root.id, "code": root.code, "name": root.name})
            market_row = {m["id"]: rows[m["org_unit_id"]] for m in markets
                          if m["org_unit_id"] in rows}
            rolled = levels.roll_up(markets, market_plan, market_share, market_row)
            return levels.level_records(level=level, names=names, figures=figures, plan=rolled)
        market_rows = levels.level_records(
            level="market", names=markets,
            figures=records(levels.activity(self.frame, "market_id", as_of, self.rules)),
            plan=levels.roll_up(markets, market_plan, market_share,
                                {m["id"]: m["id"] for m in markets}),
        )
        grids = [{"id": g.id, "code": g.code, "name": g.name, "parent_id": g.market_id}
                 for g in self.session.scalars(select(Grid).order_by(Grid.code))]
        grid_plan = {r["grid_id"]: {"target_parcels": r["target_parcels"] or None,
                                    "progress": r["progress"], "share": None}
                     for r in self.plan("grid", as_of)}
        grid_rows = levels.level_records(
            level="grid", names=grids,
            figures=records(levels.activity(self.frame, "grid_id", as_of, self.rules)),
            plan=grid_plan,
        )
        return market_rows + grid_rows
