"""The weekly bulletin as an Excel workbook (XlsxWriter): one sheet per section, native Excel
charts (lines for daily volume and share trend, bars for plan progress and rankings), number
formats, frozen header rows, Chinese headers by default."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import xlsxwriter
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from jiqun.i18n import translator
from jiqun.reports.charts import FONT, WEEKDAYS
from jiqun.reports.html import bulletin_title
from jiqun.reports.weekly import SHARE_SERIES, Bulletin

FORMATS = {
    "int": {"num_format": "#,##0"},
    "dec": {"num_format": "#,##0.0"},
    "money": {"num_format": "¥#,##0.00"},
    "pct": {"num_format": "0.0%"},
    "date": {"num_format": "yyyy-mm-dd"},
    "text": {},
}


@dataclass
class Column:
    header: str
    kind: str = "text"  # a key of FORMATS
    width: int = 12


class _Book:
    """A workbook with the report's cell formats and a table writer."""

    def __init__(self, path: Path):
        self.report_title = ""
        self.wb: Workbook = xlsxwriter.Workbook(
            # Names typed by users ("=cmd|…") stay text, never formulas or links (OWASP).
            str(path), {"remove_timezone": True, "strings_to_formulas": False,
                        "strings_to_urls": False})
        font = {"font_name": FONT.split(",")[0].strip('"'), "font_size": 10}
        self.fmt = {k: self.wb.add_format({**font, **v}) for k, v in FORMATS.items()}
        self.header = self.wb.add_format({**font, "bold": True, "bg_color": "#E6EEF5",
                                          "border": 1, "text_wrap": True, "valign": "top"})
        self.title = self.wb.add_format({**font, "bold": True, "font_size": 14,
                                         "font_color": "#0B6B3A"})

    def sheet(self, name: str, title: str) -> Worksheet:
        ws = self.wb.add_worksheet(name[:31])
        ws.write(0, 0, title, self.title)
        return ws

    def table(self, ws: Worksheet, row: int, columns: Sequence[Column], rows: Sequence[Sequence],
              col: int = 0, freeze: bool = True) -> int:
        """Write headers at ``row`` and the rows below; return the index of the last row."""
        for j, c in enumerate(columns):
            ws.write(row, col + j, c.header, self.header)
            ws.set_column(col + j, col + j, c.width)
        for i, values in enumerate(rows, start=row + 1):
            for j, (c, v) in enumerate(zip(columns, values, strict=True)):
                if v is None:
                    ws.write_blank(i, col + j, None, self.fmt[c.kind])
                else:
                    ws.write(i, col + j, v, self.fmt[c.kind])
        if freeze:
            ws.freeze_panes(row + 1, 0)
        return row + len(rows)

    def close(self) -> None:
        self.wb.close()


def _chart(book: _Book, kind: str, title: str, **options):
    chart = book.wb.add_chart({"type": kind, **options})
    chart.set_title({"name": title, "name_font": {"size": 11}})
    chart.set_legend({"position": "bottom"})
    return chart


def _overview(book: _Book, b: Bulletin, t: Callable[..., str]) -> None:
    ws = book.sheet(t("Overview"), book.report_title)
    h = b.headline
    figures = [
        (t("Parcels this week"), h.parcels, "int"), (t("Revenue this week"), h.revenue, "money"),
        (t("Parcels last week"), h.parcels_prev, "int"), (t("Week on week"), h.wow, "pct"),
        (t("Parcels a year ago"), h.parcels_ly, "int"), (t("Year on year"), h.yoy, "pct"),
        (t("Revenue week on week"), h.revenue_wow, "pct"),
        (t("Revenue year on year"), h.revenue_yoy, "pct"),
        (t("Daily average"), h.daily_average, "dec"),
        (t("Plan progress"), b.plan_total.progress, "pct"),
        (t("Month to date"), b.plan_total.parcels, "int"),
        (t("Open problems"), len(b.problems), "int"),
    ]
    ws.write(1, 0, f"{b.start:%Y-%m-%d} – {b.end:%Y-%m-%d}")
    top = 2
    ws.write(top, 0, t("Figure"), book.header)
    ws.write(top, 1, t("Value"), book.header)
    ws.set_column(0, 0, 22)
    ws.set_column(1, 1, 14)
    for i, (label, value, kind) in enumerate(figures, start=top + 1):
        ws.write(i, 0, label, book.fmt["text"])
        if value is not None:  # a growth without a base stays empty, not 0%
            ws.write(i, 1, value, book.fmt[kind])
    last = book.table(ws, top, [Column(t("Day"), "date"), Column(t("Weekday"), width=8),
                                Column(t("Parcels"), "int"), Column(t("Revenue"), "money"),
                                Column(t("Same day last week"), "int", 14)],
                      [(d.day, t(WEEKDAYS[d.day.weekday()]), d.parcels, d.revenue,
                        d.parcels_prev_week) for d in b.days], col=3)
    ws.freeze_panes(top + 1, 0)
    chart = _chart(book, "line", t("Parcels by day"))
    name = ws.get_name()
    for col, label in ((5, t("This week")), (7, t("Last week"))):
        chart.add_series({"name": label, "categories": [name, top + 1, 3, last, 3],
                          "values": [name, top + 1, col, last, col], "marker": {"type": "circle"}})
    chart.set_y_axis({"num_format": "#,##0"})
    chart.set_x_axis({"date_axis": False, "num_format": "mm-dd"})
    ws.insert_chart(last + 2, 3, chart, {"x_scale": 1.3})


def _plan(book: _Book, b: Bulletin, t: Callable[..., str]) -> None:
    ws = book.sheet(t("Plan progress"), t("Plan progress of {month}",
                                          month=b.as_of.strftime("%Y-%m")))
    rows = [(p.name, p.target_parcels, p.parcels, p.expected_parcels, p.progress, p.completion,
             p.forecast_completion) for p in [*b.plans, b.plan_total]]
    last = book.table(ws, 2, [Column(t("Market"), width=26), Column(t("Monthly target"), "int"),
                              Column(t("Month to date"), "int"), Column(t("Expected by now"), "int"),
                              Column(t("Progress"), "pct"), Column(t("Completion"), "pct"),
                              Column(t("Forecast completion"), "pct", 14)], rows)
    chart = _chart(book, "bar", t("Plan progress"))
    name = ws.get_name()
    chart.add_series({"name": t("Progress"), "categories": [name, 3, 0, last - 1, 0],
                      "values": [name, 3, 4, last - 1, 4], "data_labels": {"value": True}})
    chart.set_y_axis({"reverse": True})
    chart.set_x_axis({"num_format": "0%"})
    chart.set_legend({"none": True})
    ws.insert_chart(2, 8, chart, {"y_scale": max(1.0, len(b.plans) / 12)})


def _rankings(book: _Book, b: Bulletin, t: Callable[..., str]) -> None:
    ws = book.sheet(t("Rankings"), t("Rankings"))
    levels = {"market": t("Market"), "grid": t("Grid"), "team": t("Team")}
    metrics = {"progress": t("Plan progress"), "growth": t("Week on week")}
    rows, spans = [], {}
    for r in b.rankings:
        first = 3 + len(rows)
        rows += [(levels[r.level], metrics[r.metric], x.rank, x.name, x.value, x.parcels)
                 for x in r.lines]
        spans[(r.level, r.metric)] = (first, 3 + len(rows) - 1)
    last = book.table(ws, 2, [Column(t("Level"), width=8), Column(t("Ranked by"), width=12),
                              Column(t("Rank"), "int", 6), Column(t("Name"), width=30),
                              Column(t("Value"), "pct"), Column(t("Parcels"), "int")], rows)
    ws.autofilter(2, 0, last, 5)
    name = ws.get_name()
    for n, level in enumerate(("team", "grid")):
        first, end = spans[(level, "progress")]
        if end < first:
            continue
        chart = _chart(book, "bar", f"{levels[level]} · {t('Plan progress')}")
        chart.add_series({"name": t("Progress"), "categories": [name, first, 3, end, 3],
                          "values": [name, first, 4, end, 4]})
        chart.set_y_axis({"reverse": True})
        chart.set_x_axis({"num_format": "0%"})
        chart.set_legend({"none": True})
        ws.insert_chart(2 + n * 24, 7, chart, {"y_scale": 1.6})


def _movers(book: _Book, b: Bulletin, t: Callable[..., str]) -> None:
    ws = book.sheet(t("Biggest movers"), t("Biggest movers"))
    rows = [(label, m.code, m.name, m.parcels, m.parcels_prev, m.change, m.growth)
            for label, movers in ((t("Rise"), b.movers_up), (t("Fall"), b.movers_down))
            for m in movers]
    book.table(ws, 2, [Column(t("Direction"), width=8), Column(t("Code"), width=16),
                       Column(t("Customer"), width=30), Column(t("This week"), "int"),
                       Column(t("Last week"), "int"), Column(t("Change"), "int"),
                       Column(t("Week on week"), "pct")], rows)


def _share(book: _Book, b: Bulletin, t: Callable[..., str]) -> None:
    ws = book.sheet(t("Market share"), t("Market share trend"))
    series = [b.share_total, *b.share_markets]
    columns = [Column(t("Week"), "date")] + [Column(s.name, "pct", 14) for s in series]
    rows = [(p.week, *(s.points[i].share for s in series))
            for i, p in enumerate(b.share_total.points)]
    last = book.table(ws, 2, columns, rows)
    chart = _chart(book, "line", t("Market share trend"))
    name = ws.get_name()
    for j in range(1, min(len(series), SHARE_SERIES + 1) + 1):
        chart.add_series({"name": [name, 2, j], "categories": [name, 3, 0, last, 0],
                          "values": [name, 3, j, last, j], "marker": {"type": "circle"}})
    chart.set_y_axis({"num_format": "0%"})
    chart.set_x_axis({"num_format": "mm-dd"})
    ws.insert_chart(last + 2, 0, chart, {"x_scale": 1.6, "y_scale": 1.3})


def _level(level: str, t: Callable[..., str]) -> str:
    return t(level.upper() if level == "hq" else level.capitalize())


def _problems(book: _Book, b: Bulletin, t: Callable[..., str]) -> None:
    ws = book.sheet(t("Problems"), t("Open and escalated problems"))
    rows = [(p.title, p.market, p.unit, p.raised_on, p.days_open, t(p.status.capitalize()),
             p.escalated_to, _level(p.level, t), t("Yes") if p.overdue else None,
             p.members or None) for p in b.problems]
    last = book.table(ws, 2, [
        Column(t("Problem"), width=32), Column(t("Market"), width=24),
        Column(t("Raised by"), width=16), Column(t("Raised on"), "date"),
        Column(t("Days open"), "int", 8), Column(t("Status"), width=8),
        Column(t("Escalated to"), width=16), Column(t("Held by level"), width=10),
        Column(t("Overdue"), width=8), Column(t("Cities merged"), "int", 8)], rows)
    # Solved this week, below the open ones (who solved it gets the credit).
    top = max(last, 2) + 3
    ws.write(top - 1, 0, t("Solved this week"), book.title)
    solved = [(p.title, p.unit, p.raised_on, p.solved_on, p.days_open, _level(p.level, t),
               p.solved_by) for p in b.problems_solved]
    book.table(ws, top, [
        Column(t("Problem"), width=32), Column(t("Raised by"), width=24),
        Column(t("Raised on"), "date"), Column(t("Solved on"), "date"),
        Column(t("Days open"), "int", 8), Column(t("Held by level"), width=8),
        Column(t("Solved by"), width=16)], solved, freeze=False)


def _next_week(book: _Book, b: Bulletin, t: Callable[..., str]) -> None:
    ws = book.sheet(t("Next week's plan"), t("Next week's plan"))
    lines = [*b.next_week, *([b.next_week_total] if b.next_week_total else [])]
    rows = [(n.name, n.target_parcels, n.parcels, n.remaining, n.days_left, n.required_daily)
            for n in lines]
    book.table(ws, 2, [Column(t("Market"), width=26), Column(t("Monthly target"), "int"),
                       Column(t("Done"), "int"), Column(t("Remaining"), "int"),
                       Column(t("Days left"), "int"), Column(t("Needed per day"), "dec")], rows)


def _service(book: _Book, b: Bulletin, t: Callable[..., str]) -> None:
    ws = book.sheet(t("Service queue"), t("8. Service queue by city"))
    rows = [(s.city, s.open, s.waiting, s.breached_open, *s.ageing, s.opened, s.breach_rate)
            for s in b.service_cities]
    book.table(ws, 2, [Column(t("City"), width=20), Column(t("Open cases"), "int"),
                       Column(t("Waiting on others"), "int"),
                       Column(t("Missed a deadline"), "int"),
                       *(Column(label, "int", 10) for label in b.service_ageing),
                       Column(t("Opened this week"), "int"), Column(t("Breach rate"), "pct")],
               rows)


def _product_advice(book: _Book, b: Bulletin, t: Callable[..., str]) -> None:
    ws = book.sheet(t("Product advice"), t("10. Product advice"))
    book.table(ws, 2, [Column(t("Market"), width=26), Column(t("Merchants"), "int")],
               list(b.product_advice))


SECTIONS = (_overview, _plan, _rankings, _movers, _share, _problems, _next_week, _service,
            _product_advice)


def bulletin_xlsx(b: Bulletin, path: Path, locale: str = "zh-CN") -> Path:
    """Write the bulletin to ``path`` (.xlsx) and return it."""
    t = translator(locale)
    book = _Book(Path(path))
    book.report_title = bulletin_title(b, locale)
    try:
        for section in SECTIONS:
            section(book, b, t)
    finally:
        book.close()
    return Path(path)
