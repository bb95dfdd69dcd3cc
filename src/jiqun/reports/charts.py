"""ECharts options of the bulletin's charts, built from the :class:`Bulletin` (plain JSON, no
JavaScript functions, so the HTML only has to hand them to ``echarts.setOption``)."""

from __future__ import annotations

from collections.abc import Callable

from jiqun.reports.weekly import SHARE_SERIES, Bulletin, Ranking

FONT = '"Noto Sans CJK SC", "Noto Sans SC", "PingFang SC", "Microsoft YaHei", sans-serif'
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
BAR_HEIGHT = 22  # pixels per bar of a horizontal ranking chart


def _base(legend: list[str] | None = None) -> dict:
    # animation off: the PDF is printed as soon as the charts report that they are drawn.
    option = {
        "animation": False,
        "textStyle": {"fontFamily": FONT},
        "grid": {"left": 8, "right": 24, "top": 36, "bottom": 8, "containLabel": True},
        "tooltip": {"trigger": "axis"},
    }
    if legend:
        option["legend"] = {"data": legend, "top": 0}
    return option


def _pct(value: float | None) -> float | None:
    return None if value is None else round(value * 100, 1)


def daily_volume(b: Bulletin, t: Callable[..., str]) -> dict:
    """This week's parcels per day against the same weekdays of the week before."""
    this_week, last_week = t("This week"), t("Last week")
    option = _base([this_week, last_week])
    option["xAxis"] = {"type": "category",
                       "data": [f"{t(WEEKDAYS[d.day.weekday()])} {d.day:%m-%d}" for d in b.days]}
    option["yAxis"] = {"type": "value", "name": t("Parcels")}
    option["series"] = [
        {"name": this_week, "type": "line", "data": [d.parcels for d in b.days],
         "label": {"show": True}},
        {"name": last_week, "type": "line", "data": [d.parcels_prev_week for d in b.days],
         "lineStyle": {"type": "dashed"}},
    ]
    return option


def _bars(names: list[str], values: list[float | None], target: float | None):
    option = _base()
    option["tooltip"] = {"trigger": "axis", "axisPointer": {"type": "shadow"}}
    option["yAxis"] = {"type": "category", "data": names, "inverse": True,
                       "axisLabel": {"width": 150, "overflow": "truncate"}}
    # The axis is named by the section heading; a name here would collide with the 100% mark.
    option["xAxis"] = {"type": "value", "axisLabel": {"formatter": "{value}%"}}
    series = {"type": "bar", "data": values, "label": {"show": True, "position": "right",
                                                       "formatter": "{c}%"}}
    if target is not None:
        # A dashed line at the target; unlabelled, since the axis below already says 100%.
        series["markLine"] = {"symbol": "none", "data": [{"xAxis": target}],
                              "label": {"show": False}, "silent": True}
    option["series"] = [series]
    option["height_px"] = BAR_HEIGHT * max(len(names), 3) + 70
    return option


def plan_progress(b: Bulletin, t: Callable[..., str]) -> dict:
    """Month-to-date plan progress (计划进度) per market, 100% = on plan."""
    return _bars([p.name for p in b.plans], [_pct(p.progress) for p in b.plans], 100)


def ranking(r: Ranking) -> dict:
    """A ranking by plan progress as bars, best first, with the 100% (on plan) mark."""
    return _bars([x.name for x in r.lines], [_pct(x.value) for x in r.lines], 100)


def share_trend(b: Bulletin, t: Callable[..., str]) -> dict:
    """Weekly market share (市场占有率): the scope's total and its biggest markets."""
    shown = [b.share_total, *b.share_markets[:SHARE_SERIES]]
    option = _base([s.name for s in shown])
    option["legend"]["type"] = "scroll"
    option["grid"]["top"] = 48
    option["xAxis"] = {"type": "category",
                       "data": [f"{p.week:%m-%d}" for p in b.share_total.points]}
    option["yAxis"] = {"type": "value", "axisLabel": {"formatter": "{value}%"}}
    option["series"] = [
        {"name": s.name, "type": "line", "connectNulls": True,
         "data": [_pct(p.share) for p in s.points],
         **({"lineStyle": {"width": 4}} if i == 0 else {})}
        for i, s in enumerate(shown)
    ]
    return option


def bulletin_charts(b: Bulletin, t: Callable[..., str]) -> dict[str, dict]:
    """Every chart of the bulletin by the id of the element that shows it."""
    charts = {"daily": daily_volume(b, t), "plan": plan_progress(b, t), "share": share_trend(b, t)}
    # Grids and teams by progress as bars (markets' progress is the plan chart); growth
    # rankings stay tables, where a sign reads better than a bar around zero.
    for r in b.rankings:
        if r.level != "market" and r.metric == "progress":
            charts[f"rank-{r.level}-{r.metric}"] = ranking(r)
    return charts
