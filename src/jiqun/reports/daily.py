"""Morning figures (晨会数据): one day per team (团队) and grid (网格) — parcels, revenue, plan
progress of the month so far, new (activated, 新增激活) and lost (churned, 流失) customers.

Every number comes from :class:`~jiqun.kpi.service.OperatingPicture`, the same functions
as ``jiqun kpi volume|customers`` and the plan behind ``jiqun kpi rankings``:

- day's parcels and revenue, and the day before: ``volume(level, "day", day, day)``;
- month to date against the prorated target: ``plan(level, day)``;
- customers: ``customers(level, day, day)`` (activated and churned *on* that day, active as of it).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field

from jiqun.kpi.service import OperatingPicture
from jiqun.reports import names

LEVELS = ("team", "grid")


@dataclass
class DailyRow:
    """One team's or grid's figures of the day (``id`` is None for parcels of no team/grid)."""

    level: str
    id: int | None
    name: str
    parcels: int = 0
    revenue: float = 0.0
    parcels_prev_day: int = 0
    change: float | None = None  # day on day (日环比) of parcels
    month_parcels: int = 0
    month_revenue: float = 0.0
    target_parcels: float = 0.0  # the month's target
    expected_parcels: float = 0.0  # target prorated to the day
    progress: float | None = None  # month_parcels / expected_parcels (计划进度, 1 = on plan)
    completion: float | None = None  # month_parcels / target_parcels (完成率)
    forecast_parcels: float = 0.0  # run-rate month end (月末预计)
    forecast_completion: float | None = None  # forecast_parcels / target_parcels
    active_customers: int = 0
    activated_customers: int = 0  # new (新增激活)
    churned_customers: int = 0  # lost (流失)


@dataclass
class DailyFigures:
    """The morning meeting's figures of ``day`` for one scope."""

    day: dt.date
    scope: str | None
    teams: list[DailyRow] = field(default_factory=list)
    grids: list[DailyRow] = field(default_factory=list)
    total: DailyRow | None = None

    def records(self) -> list[dict]:
        """Flat records (``--format json|csv``): the total, then teams, then grids."""
        rows = ([self.total] if self.total else []) + self.teams + self.grids
        return [{"date": self.day, **asdict(r)} for r in rows]


def growth(now: float, before: float) -> float | None:
    """(now − before) / before; None where there is no base (same rule as the KPIs)."""
    return (now - before) / before if before else None


def _level_rows(
    picture: OperatingPicture, level: str, day: dt.date, labels: dict[int, str], unassigned: str
) -> list[DailyRow]:
    key = f"{level}_id"
    rows: dict[int | None, DailyRow] = {}

    def row(i):
        if i not in rows:
            rows[i] = DailyRow(level, i, labels.get(i, f"#{i}") if i is not None else unassigned)
        return rows[i]

    for r in picture.volume(level, "day", day, day):
        x = row(r[key])
        x.parcels, x.revenue = r["parcels"], r["revenue"]
        x.parcels_prev_day, x.change = r["parcels_prev"], r["mom"]
    for r in picture.plan(level, day):
        x = row(r[key])
        x.month_parcels, x.month_revenue = r["parcels"], r["revenue"]
        x.target_parcels, x.expected_parcels = r["target_parcels"], r["expected_parcels"]
        x.progress, x.completion = r["progress"], r["completion"]
        x.forecast_parcels = r["forecast_parcels"]
        x.forecast_completion = r["forecast_completion"]
    for r in picture.customers(level, day, day):
        x = row(r[key])
        x.active_customers = r["active_customers"]
        x.activated_customers = r["activated_customers"]
        x.churned_customers = r["churned_customers"]
    # Known teams/grids first in id order; parcels of no team/grid last.
    return sorted(rows.values(), key=lambda r: (r.id is None, r.id or 0))


def total_of(rows: list[DailyRow], name: str) -> DailyRow:
    """The scope's total: sums of the rows; progress against the sum of their targets."""
    t = DailyRow("total", None, name)
    for r in rows:
        t.parcels += r.parcels
        t.revenue += r.revenue
        t.parcels_prev_day += r.parcels_prev_day
        t.month_parcels += r.month_parcels
        t.month_revenue += r.month_revenue
        t.target_parcels += r.target_parcels
        t.expected_parcels += r.expected_parcels
        t.forecast_parcels += r.forecast_parcels
        t.active_customers += r.active_customers
        t.activated_customers += r.activated_customers
        t.churned_customers += r.churned_customers
    t.change = growth(t.parcels, t.parcels_prev_day)
    t.progress = t.month_parcels / t.expected_parcels if t.expected_parcels else None
    t.completion = t.month_parcels / t.target_parcels if t.target_parcels else None
    t.forecast_completion = t.forecast_parcels / t.target_parcels if t.target_parcels else None
    return t


def daily_figures(
    picture: OperatingPicture, day: dt.date | None = None, locale: str = "zh-CN"
) -> DailyFigures:
    """Figures of ``day`` (default: the data date, i.e. yesterday in daily operation)."""
    from jiqun.i18n import translator

    t = translator(locale)
    day = day or picture.data_date() or dt.date.today() - dt.timedelta(days=1)
    session = picture.session
    scope = names.scope_name(session, picture.scope.root_id if picture.scope else None, locale)
    figures = DailyFigures(day=day, scope=scope)
    figures.teams = _level_rows(picture, "team", day, names.team_names(session), t("No team"))
    figures.grids = _level_rows(picture, "grid", day, names.grid_names(session), t("No grid"))
    figures.total = total_of(figures.teams, scope or t("All"))
    return figures
