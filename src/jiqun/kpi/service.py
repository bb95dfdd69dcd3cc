"""The operating picture of one scope: every KPI behind one object, shared by the CLI
(``jiqun kpi``), the reports and the web pages, so each figure has exactly one source.

>>> kpis = OperatingPicture(store, lake_path, scope)          # doctest: +SKIP
>>> kpis.volume("market", "month", date(2026, 1, 1), date(2026, 3, 31))  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Hashable
from functools import cached_property
from pathlib import Path
from typing import TypeVar

import ibis
import pyarrow as pa
from ibis.expr.types import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from jiqun.geo import province_code
from jiqun.kpi import customers as customer_kpis
from jiqun.kpi import levels, network, progress, rankings, share, volume
from jiqun.kpi.cache import FigureCache
from jiqun.kpi.frame import Dimensions, kpi_frame
from jiqun.kpi.rules import KpiRules
from jiqun.lake import connect, daily, lanes
from jiqun.sales import tiers
from jiqun.store import Store
from jiqun.store.models import Customer, Grid, Market, MarketVolumeEstimate, OrgUnit, Target
from jiqun.store.scope import Scope

R = TypeVar("R")


def period_start(day: dt.date, period: str) -> dt.date:
    """First day of the day's week (Monday) or month."""
    if period == "week":
        return day - dt.timedelta(days=day.weekday())
    return day if period == "day" else day.replace(day=1)


ARCHIVE_WITH_PROVINCE = pa.schema(
    [*customer_kpis.ARCHIVE, pa.field("province", pa.string())]
)


def records(table: Table, con: ibis.BaseBackend | None = None) -> list[dict]:
    """An Ibis result as flat records with plain Python values (dates as ``date``).

    Pass the connection: an expression built only from in-memory tables (market estimates,
    targets) is bound to no backend, and Ibis would run it on its one process-wide default
    DuckDB connection, which refuses a second thread while it is busy (``ResourceInUse``).
    """
    return (con.to_pyarrow(table) if con is not None else table.to_pyarrow()).to_pylist()


def _figure(method: Callable[..., R]) -> Callable[..., R]:
    """A KPI whose result is shared through the picture's :class:`FigureCache`, when it has one:
    computed once per figure, arguments, scope, rules and data version."""

    @functools.wraps(method)
    def shared(self: OperatingPicture, *args, **kwargs) -> R:
        if self.figures is None:
            return method(self, *args, **kwargs)
        key = (method.__name__, args, tuple(sorted(kwargs.items())), self._identity)
        found = self.figures.get(key, lambda: method(self, *args, **kwargs))
        if isinstance(found, list):  # callers may change their rows, never the shared ones
            return [dict(row) for row in found]
        return found

    return shared


class OperatingPicture:
    """KPIs of ``scope`` (:data:`Scope.WHOLE`: the whole organisation) on the configured engine.

    ``session``: a store session opened with the same scope to read through (a web request's);
    the picture opens its own otherwise. ``figures`` and ``version``: a cache shared by many
    pictures and the data version of this one's inputs (:mod:`jiqun.kpi.cache`).
    """

    def __init__(
        self,
        store: Store,
        lake: Path,
        scope: Scope,
        *,
        engine: str | None = None,
        rules: KpiRules | None = None,
        con: ibis.BaseBackend | None = None,
        session: Session | None = None,
        figures: FigureCache | None = None,
        version: Hashable | None = None,
        settings=None,
    ):
        if not isinstance(scope, Scope):  # None no longer means the whole organisation
            raise TypeError("a picture needs a scope; Scope.WHOLE is the whole organisation")
        self.store, self.lake, self.scope = store, Path(lake), scope
        self.rules = rules or KpiRules.configured(settings)
        self.settings = settings  # the app's or command's (rules files of other capabilities)
        self.con = con or connect(engine=engine)
        self._own_session = session is None
        self.session = session if session is not None else store.session(scope=scope,
                                                                          source="kpi")
        self.figures = figures if version is not None else None
        self._identity = (scope.root_path,
                          self.rules.model_dump_json(), version)

    def close(self) -> None:
        if self._own_session:
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

    @_figure
    def data_date(self) -> dt.date | None:
        """The last day with parcels in scope (数据日期)."""
        return self.con.to_pyarrow(self.frame.day.max()).as_py()

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
            progress.TARGETS, convert=lambda r: (r[0].value, *r[1:]))

    @cached_property
    def _archive(self) -> pa.Table:
        """Archived customers: id, grid, market and province (from the adcode)."""
        c = Customer
        return self._arrow(
            select(c.id, c.grid_id, c.market_id, c.adcode), ARCHIVE_WITH_PROVINCE,
            convert=lambda r: (*r[:3], province_code(r[3]) if r[3] else None))

    def _records(self, table: Table) -> list[dict]:
        return records(table, self.con)

    # -- KPIs ---------------------------------------------------------------------------------
    @_figure
    def volume(self, by: str, period: str, start: dt.date, end: dt.date) -> list[dict]:
        frame = self.lanes if by == "province" else self.frame
        return self._records(volume.volume(frame, by, period, start, end))

    @_figure
    def share(self, period: str, start: dt.date, end: dt.date) -> list[dict]:
        return self._records(share.market_share(self.frame, self._estimates, period, start, end))

    @_figure
    def competitors(self, period: str, start: dt.date, end: dt.date) -> list[dict]:
        return self._records(share.competitor_share(self._estimates, period, start, end))

    @_figure
    def customers(self, by: str, start: dt.date, end: dt.date) -> list[dict]:
        return self._records(customer_kpis.customer_counts(self.frame, by, start, end, self.rules))

    @_figure
    def development_rate(self, as_of: dt.date) -> list[dict]:
        archive = self._archive.select(customer_kpis.ARCHIVE.names)
        return self._records(customer_kpis.development_rate(self.frame, archive, as_of, self.rules))

    @_figure
    def network(self, by: str, start: dt.date, end: dt.date) -> list[dict]:
        return self._records(network.in_province_and_lines(self.frame, by, start, end))

    @_figure
    def plan(self, scope_type: str, as_of: dt.date) -> list[dict]:
        return self._records(progress.plan_progress(self.frame, self._targets, scope_type, as_of,
                                          self.rules))

    @_figure
    def tiers(self, as_of: dt.date) -> list[dict]:
        archive = self._archive.select(tiers.PROVINCES.names)
        return self._records(tiers.customer_tiers(self.frame, archive, as_of, self.rules))

    @_figure
    def grids(self, as_of: dt.date) -> list[dict]:
        """The grid KPI table (网格考核): plan, month-to-date volume and progress, in-province
        and dedicated-line figures, active and activated customers, development rate."""
        month = as_of.replace(day=1)
        archive = self._archive.select(customer_kpis.ARCHIVE.names)
        planned = progress.plan_progress(self.frame, self._targets, "grid", as_of, self.rules)
        net = network.in_province_and_lines(self.frame, "grid", month, as_of)
        people = customer_kpis.customer_counts(self.frame, "grid", month, as_of, self.rules)
        dev = customer_kpis.development_rate(self.frame, archive, as_of, self.rules)
        out = planned.select(
            "grid_id", "target_parcels", "parcels", "revenue", "progress", "forecast_parcels"
        )
        profit = self._grid_profit(month)
        for other in (
            net.select("grid_id", "in_province_share", "line_daily_average"),
            people.select("grid_id", "active_customers", "activated_customers"),
            dev.select("grid_id", "archived", "cooperating", "development_rate", "meets_target"),
            profit.select("grid_id", "grid_profit"),
        ):
            out = out.left_join(other, out.grid_id == other.grid_id).drop("grid_id_right")
        out = out.filter(out.grid_id.notnull())
        return self._records(rankings.ranked(out, "progress"))

    def _grid_profit(self, month: dt.date) -> Table:
        """Grid profit (网格效益) of the month: revenue − activity cost (jiqun.money.ledger)."""
        from jiqun.money.ledger import grid_profit
        from jiqun.money.rules import FinanceRules

        return ibis.memtable(grid_profit(self.con, self.lake, self.session, self.scope, month,
                                         FinanceRules.configured(self.settings)))

    @_figure
    def rankings(
        self, by: str, as_of: dt.date, metric: str = "progress", period: str = "month"
    ) -> list[dict]:
        """Markets, grids, teams or people ranked by plan ``progress`` (or ``growth``: parcels
        of the ``period`` up to ``as_of`` against the previous one; the weekly bulletin ranks
        by week-on-week growth)."""
        if metric == "growth":
            start = period_start(as_of, period)
            table = volume.volume(self.frame, by, period, start, as_of)
            return self._records(rankings.ranked(table, "mom"))
        table = progress.plan_progress(self.frame, self._targets, by, as_of, self.rules)
        return self._records(rankings.ranked(table, "progress"))

    # -- per level (分级看板) ------------------------------------------------------------------
    def _units(self) -> tuple[levels.Unit, list[levels.Unit]]:
        """The scope's root unit (HQ without a scope) and every unit of its subtree."""
        root_filter = (OrgUnit.id == self.scope.root_id if self.scope.root_id is not None
                       else OrgUnit.parent_id.is_(None))
        root = self.session.scalars(select(OrgUnit).where(root_filter)).first()
        found = self.session.scalars(select(OrgUnit).where(OrgUnit.path.startswith(root.path)))

        def unit(u: OrgUnit) -> levels.Unit:
            return levels.Unit(u.id, u.code, u.name, u.level, u.path)

        return unit(root), [unit(u) for u in found]

    @_figure
    def by_level(self, as_of: dt.date) -> list[dict]:
        """The level table of the dashboard (分级看板): provinces for HQ, cities for a province,
        markets and grids (``level`` = ``market`` / ``grid``) for a city and below. Each row:
        month-to-date ``parcels`` and ``revenue``, ``target_parcels`` and plan ``progress``,
        ``share`` of the market total, ``active_customers``. See :mod:`jiqun.kpi.levels`."""
        root, units = self._units()
        level = levels.row_level(root.level)
        month = as_of.replace(day=1)
        markets = [{"id": m.id, "code": m.code, "name": m.name, "org_unit_id": m.org_unit_id}
                   for m in self.session.scalars(select(Market).order_by(Market.code))]
        market_plan = self.plan("market", as_of)
        market_share = self._records(
            share.market_share(self.frame, self._estimates, "month", month, as_of))
        if level != "market":
            rows = levels.rows_of_units(root, units)
            figures = self._records(levels.unit_activity(self.frame, rows, as_of, self.rules))
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
            figures=self._records(levels.activity(self.frame, "market_id", as_of, self.rules)),
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
            figures=self._records(levels.activity(self.frame, "grid_id", as_of, self.rules)),
            plan=grid_plan,
        )
        return market_rows + grid_rows
