"""The weekly bulletin (一周通报): headline figures, plan progress of the month, rankings,
biggest movers, market share trend, open problems and next week's plan, for one ISO week.

:func:`weekly_bulletin` returns plain dataclasses; the HTML, XLSX and PDF writers all render the
same :class:`Bulletin`. Every figure comes from :class:`~jiqun.kpi.service.OperatingPicture`
(the functions behind ``jiqun kpi``); only the problems (R2) are read from the store, through
``jiqun.service.problems`` (the list of ``/problems``).
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass, field

from jiqun.kpi import share
from jiqun.kpi.service import OperatingPicture
from jiqun.kpi.weeks import IsoWeek
from jiqun.reports import names
from jiqun.reports.daily import growth
from jiqun.service.problems import problems as problem_rows

MOVERS = 10  # customers listed in each direction
SHARE_SERIES = 5  # markets drawn in the share chart beside the total
RANKED_LEVELS = ("market", "grid", "team")


@dataclass
class Headline:
    """The week's parcels and revenue against the week before (周环比) and last year (同比)."""

    parcels: int
    revenue: float
    parcels_prev: int
    revenue_prev: float
    parcels_ly: int
    revenue_ly: float
    days: int  # days of the week with data so far (7 for a complete week)

    @property
    def wow(self) -> float | None:
        return growth(self.parcels, self.parcels_prev)

    @property
    def yoy(self) -> float | None:
        return growth(self.parcels, self.parcels_ly)

    @property
    def revenue_wow(self) -> float | None:
        return growth(self.revenue, self.revenue_prev)

    @property
    def revenue_yoy(self) -> float | None:
        return growth(self.revenue, self.revenue_ly)

    @property
    def daily_average(self) -> float:
        return self.parcels / self.days if self.days else 0.0


@dataclass
class DayVolume:
    day: dt.date
    parcels: int
    revenue: float
    parcels_prev_week: int  # the same weekday a week before


@dataclass
class PlanLine:
    """Month-to-date plan progress (计划进度) of one market (or the total)."""

    id: int | None
    name: str
    target_parcels: float
    parcels: int
    expected_parcels: float
    progress: float | None
    completion: float | None
    forecast_completion: float | None


@dataclass
class RankLine:
    rank: int
    id: int | None
    name: str
    value: float | None  # the ranked metric: plan progress, or week-on-week growth
    parcels: int


@dataclass
class Ranking:
    level: str  # market | grid | team
    metric: str  # progress | growth
    lines: list[RankLine]


@dataclass
class Mover:
    """A customer whose weekly parcels rose or fell the most (客户异动)."""

    customer_id: int
    code: str
    name: str
    parcels: int
    parcels_prev: int

    @property
    def change(self) -> int:
        return self.parcels - self.parcels_prev

    @property
    def growth(self) -> float | None:
        return growth(self.parcels, self.parcels_prev)


@dataclass
class SharePoint:
    week: dt.date  # Monday
    parcels: int
    market_total: float | None
    share: float | None


@dataclass
class ShareSeries:
    market_id: int | None  # None: every market of the scope with an estimate
    name: str
    points: list[SharePoint]


@dataclass
class ProblemLine:
    """An open or escalated problem (R2, 问题有人盯), with the level holding it now."""

    id: int
    title: str
    market: str | None
    unit: str
    raised_on: dt.date
    status: str  # open | escalated
    escalated_to: str | None
    days_open: int
    level: str = "city"  # hq | province | city: who holds it now
    overdue: bool = False  # its level's clock ran out
    is_common: bool = False  # 共性问题 merged from several cities' problems
    members: int = 0


@dataclass
class SolvedProblemLine:
    """A problem solved during the week, with who solved it (the credit)."""

    id: int
    title: str
    unit: str
    level: str
    raised_on: dt.date
    solved_on: dt.date
    days_open: int
    solved_by: str | None
    is_common: bool


@dataclass
class NextWeekLine:
    """What is left of a market's month: target, done, remaining and the daily need (下周计划)."""

    id: int | None
    name: str
    target_parcels: float
    parcels: int  # done so far this month
    days_left: int  # days of the month after the week

    @property
    def remaining(self) -> float:
        return max(self.target_parcels - self.parcels, 0.0)

    @property
    def required_daily(self) -> float | None:
        return self.remaining / self.days_left if self.days_left else None


@dataclass
class Bulletin:
    week: IsoWeek
    start: dt.date
    end: dt.date
    as_of: dt.date  # the week's end, or the data date when the week is not over
    scope: str | None
    headline: Headline
    days: list[DayVolume]
    plan_total: PlanLine
    plans: list[PlanLine]
    rankings: list[Ranking]
    movers_up: list[Mover]
    movers_down: list[Mover]
    share_total: ShareSeries
    share_markets: list[ShareSeries]
    problems: list[ProblemLine]
    plan_month: dt.date  # the month that next week's plan is for
    next_week: list[NextWeekLine] = field(default_factory=list)
    next_week_total: NextWeekLine | None = None
    # the service queue per city (jiqun.service.cases.CitySummary): open, ageing, breach rate
    service_cities: list = field(default_factory=list)
    service_ageing: list[str] = field(default_factory=list)  # labels of the ageing buckets
    problems_solved: list[SolvedProblemLine] = field(default_factory=list)
    # the month's ledger (jiqun.money.ledger.LedgerRow) of HQ, provinces and cities, to as_of
    finance: list = field(default_factory=list)
    finance_transfers: list = field(default_factory=list)
    # merchants that should ship express, per market (jiqun.money.product_advice, P2)
    product_advice: list[tuple[str, int]] = field(default_factory=list)

    def ranking(self, level: str, metric: str) -> Ranking:
        return next(r for r in self.rankings if r.level == level and r.metric == metric)


# -- sections --------------------------------------------------------------------------------
def _headline(picture: OperatingPicture, start: dt.date, end: dt.date) -> Headline:
    # By product: every parcel has one, so the sum over products is the scope's total.
    rows = picture.volume("product", "week", start, end)
    days = {r["period"] for r in picture.volume("product", "day", start, end)}
    return Headline(
        parcels=sum(r["parcels"] for r in rows), revenue=sum(r["revenue"] for r in rows),
        parcels_prev=sum(r["parcels_prev"] for r in rows),
        revenue_prev=sum(r["revenue_prev"] for r in rows),
        parcels_ly=sum(r["parcels_ly"] for r in rows),
        revenue_ly=sum(r["revenue_ly"] for r in rows), days=len(days),
    )


def _days(picture: OperatingPicture, start: dt.date, end: dt.date) -> list[DayVolume]:
    rows = picture.volume("product", "day", start - dt.timedelta(days=7), end)
    parcels: dict[dt.date, int] = {}
    revenue: dict[dt.date, float] = {}
    for r in rows:
        parcels[r["period"]] = parcels.get(r["period"], 0) + r["parcels"]
        revenue[r["period"]] = revenue.get(r["period"], 0.0) + r["revenue"]
    out = []
    for i in range((end - start).days + 1):
        day = start + dt.timedelta(days=i)
        out.append(DayVolume(day, parcels.get(day, 0), revenue.get(day, 0.0),
                             parcels.get(day - dt.timedelta(days=7), 0)))
    return out


def _plans(picture: OperatingPicture, as_of: dt.date, labels: dict[int, str], total_name: str):
    lines = [
        PlanLine(r["market_id"], labels.get(r["market_id"], "—"), r["target_parcels"],
                 r["parcels"], r["expected_parcels"], r["progress"], r["completion"],
                 r["forecast_completion"])
        for r in picture.plan("market", as_of) if r["market_id"] is not None
    ]
    lines.sort(key=lambda x: (x.progress is None, -(x.progress or 0)))
    target = sum(x.target_parcels for x in lines)
    expected = sum(x.expected_parcels for x in lines)
    done = sum(x.parcels for x in lines)
    forecast = sum(r["forecast_parcels"] for r in picture.plan("market", as_of)
                   if r["market_id"] is not None)
    total = PlanLine(None, total_name, target, done, expected,
                     done / expected if expected else None, done / target if target else None,
                     forecast / target if target else None)
    return total, lines


def _rankings(picture: OperatingPicture, as_of: dt.date, labels: dict[str, dict[int, str]]):
    out = []
    for level in RANKED_LEVELS:
        key = f"{level}_id"
        for metric, column, period in (("progress", "progress", "month"),
                                       ("growth", "mom", "week")):
            rows = picture.rankings(level, as_of, metric, period=period)
            out.append(Ranking(level, metric, [
                RankLine(r["rank"], r[key], labels[level].get(r[key], "—"), r[column],
                         r["parcels"])
                for r in rows if r[key] is not None
            ]))
    return out


def _movers(picture: OperatingPicture, start: dt.date, end: dt.date):
    rows = picture.volume("customer", "week", start - dt.timedelta(days=7), end)
    now = {r["customer_id"]: r["parcels"] for r in rows if r["period"] == start}
    before = {r["customer_id"]: r["parcels"] for r in rows
              if r["period"] == start - dt.timedelta(days=7)}
    ids = [i for i in set(now) | set(before) if i is not None]
    changes = sorted(ids, key=lambda i: (now.get(i, 0) - before.get(i, 0), i))
    falls = [i for i in changes[:MOVERS] if now.get(i, 0) < before.get(i, 0)]
    rises = [i for i in reversed(changes[-MOVERS:]) if now.get(i, 0) > before.get(i, 0)]
    labels = names.customer_labels(picture.session, rises + falls)

    def mover(i):
        code, name = labels.get(i, (str(i), str(i)))
        return Mover(i, code, name, now.get(i, 0), before.get(i, 0))

    return [mover(i) for i in rises], [mover(i) for i in falls]


def _share(picture: OperatingPicture, as_of: dt.date, labels: dict[int, str], total_name: str):
    """The last :data:`~jiqun.kpi.share.BULLETIN_WEEKS` weeks of the share trend that
    ``/share`` draws over :data:`~jiqun.kpi.share.TREND_WEEKS`: the same function, so a
    week has the same figures in both."""
    weeks, by_market = share.weekly_trend(picture, as_of, share.BULLETIN_WEEKS)
    total = []
    for i, w in enumerate(weeks):
        estimated = [points[i] for points in by_market.values() if points[i]["market_total"]]
        ours = sum(p["parcels"] for p in estimated)
        market_total = sum(p["market_total"] for p in estimated)
        total.append(SharePoint(w, ours, market_total or None,
                                ours / market_total if market_total else None))
    series = [
        ShareSeries(market, labels.get(market, "—"), [
            SharePoint(p["period"], p["parcels"], p["market_total"], p["share"]) for p in points])
        for market, points in by_market.items()
    ]
    # Biggest markets first: the chart draws the first few.
    series.sort(key=lambda s: -sum(p.parcels for p in s.points))
    return ShareSeries(None, total_name, total), series


def _problems(picture: OperatingPicture, end: dt.date, locale: str) -> list[ProblemLine]:
    """Open and escalated problems raised by the week's end, in scope, by level (HQ first) and
    age (oldest first), as ``/problems`` lists them (a common problem once, for its members)."""
    rows = problem_rows(picture.session, status="open", as_of=end, locale=locale)
    return [ProblemLine(r.id, r.title, r.market, r.unit, r.raised_on, r.status,
                        r.holder if r.holder != r.unit else None, r.age_days, r.level,
                        r.overdue, r.is_common, r.members)
            for r in rows if r.raised_on <= end]


def _problems_solved(picture: OperatingPicture, start: dt.date, end: dt.date,
                     locale: str) -> list[SolvedProblemLine]:
    """Problems solved during the week, with their solver (the credit)."""
    rows = problem_rows(picture.session, status="solved", solved_since=start, as_of=end,
                        locale=locale)
    return [SolvedProblemLine(r.id, r.title, r.unit, r.level, r.raised_on, r.solved_on,
                              r.age_days, r.solved_by, r.is_common)
            for r in rows if r.solved_on and r.solved_on <= end]


def _service_cities(picture: OperatingPicture, end: dt.date) -> list:
    """The service queue of each city at the week's end; the breach rate of the week's cases."""
    from jiqun.service.cases import city_summary

    return city_summary(picture.session, dt.datetime.combine(end, dt.time.max), days=7)


def _product_advice(picture: OperatingPicture, as_of: dt.date,
                    market_names: dict[int, str]) -> list[tuple[str, int]]:
    """Merchants with product advice (ship express) per market, as of the week's data."""
    from jiqun.money.product_advice import counts_by_market, product_advice

    found = product_advice(picture.session, picture.con, picture.lake, picture.scope, as_of)
    return counts_by_market(found, lambda a: market_names.get(a.market_id, a.market or "—"))


def _finance(picture: OperatingPicture, as_of: dt.date) -> tuple[list, list]:
    """The ledger of the month to ``as_of`` (revenue, cost, profit, loss cover, bonus pool,
    outlet share) for the units above the outlets, and the month's loss covers."""
    from jiqun.money.ledger import statement
    from jiqun.money.rules import FinanceRules

    st = statement(picture.con, picture.lake, picture.session, picture.scope,
                   as_of.replace(day=1), FinanceRules.configured(picture.settings))
    return [r for r in st.rows if r.level != "outlet"], st.transfers


def _ageing_labels() -> list[str]:
    from jiqun.service.cases import ageing_labels

    return ageing_labels()


def _next_week(picture: OperatingPicture, as_of: dt.date, end: dt.date,
               labels: dict[int, str], total_name: str):
    """Targets of the rest of the month that next week falls in (by next week's Monday)."""
    next_monday = end + dt.timedelta(days=1)
    month = next_monday.replace(day=1)
    month_end = month.replace(day=calendar.monthrange(month.year, month.month)[1])
    if month == as_of.replace(day=1):
        rows = picture.plan("market", as_of)
        days_left = (month_end - as_of).days
        done = {r["market_id"]: r["parcels"] for r in rows}
    else:  # next week opens a new month: nothing done yet
        rows = picture.plan("market", month)
        days_left = (month_end - month).days + 1
        done = {}
    lines = [
        NextWeekLine(r["market_id"], labels.get(r["market_id"], "—"), r["target_parcels"],
                     done.get(r["market_id"], 0), days_left)
        for r in rows if r["market_id"] is not None and r["target_parcels"] > 0
    ]
    lines.sort(key=lambda x: -x.remaining)
    total = NextWeekLine(None, total_name, sum(x.target_parcels for x in lines),
                         sum(x.parcels for x in lines), days_left)
    return month, lines, total


def weekly_bulletin(
    picture: OperatingPicture, week: IsoWeek | str | None = None, locale: str = "zh-CN"
) -> Bulletin:
    """The bulletin of ``week`` (default: the last complete ISO week before the data date)."""
    from jiqun.i18n import translator

    t = translator(locale)
    data_date = picture.data_date() or dt.date.today() - dt.timedelta(days=1)
    if week is None:
        week = IsoWeek.last_complete_by(data_date)
    elif isinstance(week, str):
        week = IsoWeek.parse(week)
    start, end = week.monday, week.sunday
    as_of = min(end, max(data_date, start))
    session = picture.session
    scope = names.scope_name(session, picture.scope.root_id if picture.scope else None, locale)
    total_name = scope or t("All")
    labels = {"market": names.market_names(session, locale), "grid": names.grid_names(session),
              "team": names.team_names(session)}
    plan_total, plans = _plans(picture, as_of, labels["market"], total_name)
    up, down = _movers(picture, start, end)
    share_total, share_markets = _share(picture, as_of, labels["market"], total_name)
    month, next_lines, next_total = _next_week(picture, as_of, end, labels["market"], total_name)
    return Bulletin(
        week=week, start=start, end=end, as_of=as_of, scope=scope,
        headline=_headline(picture, start, end), days=_days(picture, start, end),
        plan_total=plan_total, plans=plans, rankings=_rankings(picture, as_of, labels),
        movers_up=up, movers_down=down, share_total=share_total, share_markets=share_markets,
        problems=_problems(picture, end, locale), plan_month=month, next_week=next_lines,
        next_week_total=next_total,
        service_cities=_service_cities(picture, end), service_ageing=_ageing_labels(),
        problems_solved=_problems_solved(picture, start, end, locale),
        **dict(zip(("finance", "finance_transfers"), _finance(picture, as_of), strict=True)),
        product_advice=_product_advice(picture, as_of, labels["market"]),
    )
