"""Standalone HTML of the reports: CSS, ECharts and the chart options inlined, so the file
opens offline (on a phone, from a mail) and prints to PDF as it is."""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from jiqun.formats import JINJA_FILTERS
from jiqun.i18n import normalise_locale, translator
from jiqun.reports import charts
from jiqun.reports.daily import DailyFigures
from jiqun.reports.weekly import RANKED_LEVELS, Bulletin

ECHARTS = ("web", "static", "vendor", "echarts.min.js")


@cache
def _environment() -> Environment:
    env = Environment(loader=PackageLoader("jiqun.reports", "templates"),
                      autoescape=select_autoescape(["html"]), trim_blocks=True,
                      lstrip_blocks=True)
    env.filters.update(JINJA_FILTERS)  # the same formats as the pages, in the report's locale
    return env


def _asset(*parts: str) -> str:
    return files("jiqun").joinpath(*parts).read_text(encoding="utf-8")


def _script_json(value) -> str:
    """JSON safe inside a <script> element (no ``</script>`` can close it early)."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _render(template: str, locale: str, **context) -> str:
    locale = normalise_locale(locale)
    return _environment().get_template(template).render(
        _=translator(locale), locale=locale, css=_asset("reports", "templates", "report.css"),
        weekdays=charts.WEEKDAYS, **context,
    )


def daily_html(figures: DailyFigures, locale: str = "zh-CN") -> str:
    t = translator(locale)
    title = t("Morning figures {day}", day=figures.day.isoformat())
    if figures.scope:
        title = f"{figures.scope} {title}"
    return _render("daily.html", locale, f=figures, title=title)


def bulletin_title(b: Bulletin, locale: str = "zh-CN") -> str:
    t = translator(locale)
    title = t("Weekly bulletin {week}", week=str(b.week))
    return f"{b.scope} {title}" if b.scope else title


def bulletin_html(b: Bulletin, locale: str = "zh-CN") -> str:
    t = translator(locale)
    options = charts.bulletin_charts(b, t)
    heights = {key: opt.pop("height_px", 300) for key, opt in options.items()}
    return _render(
        "bulletin.html", locale, b=b, title=bulletin_title(b, locale), heights=heights,
        options_json=_script_json(options), echarts=_asset(*ECHARTS),
        script=_asset("reports", "templates", "report.js"), levels=RANKED_LEVELS,
        level_titles={"market": t("Market ranking"), "grid": t("Grid ranking"),
                      "team": t("Team ranking")},
        level_names={"market": t("Market"), "grid": t("Grid"), "team": t("Team")},
    )


def write_html(text: str, path: Path) -> Path:
    path = Path(path)
    path.write_text(text, encoding="utf-8")
    return path
