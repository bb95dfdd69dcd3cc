"""``jiqun report daily|weekly``: the morning figures and the weekly bulletin, of the acting
user's subtree (``--user``, narrowed by ``--scope``; ``jiqun.cli_actor``)."""

from __future__ import annotations

import datetime as dt
import enum
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from jiqun import formats
from jiqun.cli_actor import ScopeOpt, UserOpt
from jiqun.i18n import translator
from jiqun.kpi.cli import open_picture
from jiqun.output import Format, render

if TYPE_CHECKING:  # the figures' engines load when a command runs, not for its --help
    from jiqun.reports.daily import DailyFigures, DailyRow
    from jiqun.reports.weekly import IsoWeek

app = typer.Typer(no_args_is_help=True, help="Daily figures and the weekly bulletin.")


class DailyFormat(str, enum.Enum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"
    HTML = "html"


class BulletinFormat(str, enum.Enum):
    HTML = "html"
    XLSX = "xlsx"
    PDF = "pdf"


LocaleOpt = Annotated[str, typer.Option("--locale", help="zh-CN (default) or en.")]
EngineOpt = Annotated[str | None, typer.Option("--engine", help="duckdb|pyspark")]
RulesOpt = Annotated[Path | None, typer.Option("--rules", help="TOML file of KPI rules.")]


def _table_rows(rows: list[DailyRow], locale: str) -> list[dict]:
    """Rows for the terminal: translated headers, figures written as people read them."""
    t = translator(locale)
    return [{
        t("Name"): r.name, t("Parcels"): formats.number(r.parcels, locale=locale),
        t("Day on day"): formats.percent(r.change, signed=True, locale=locale),
        t("Revenue"): formats.money(r.revenue, locale),
        t("Month to date"): formats.number(r.month_parcels, locale=locale),
        t("Monthly target"): formats.number(r.target_parcels, locale=locale),
        t("Progress"): formats.percent(r.progress, locale=locale),
        t("New customers"): r.activated_customers, t("Lost customers"): r.churned_customers,
    } for r in rows]


def _daily_text(f: DailyFigures, fmt: DailyFormat, locale: str) -> str:
    from jiqun.reports.html import daily_html

    if fmt is DailyFormat.HTML:
        return daily_html(f, locale)
    if fmt is not DailyFormat.TABLE:
        return render(f.records(), Format(fmt.value))
    t = translator(locale)
    scope = f.scope or t("All")
    return "".join(
        render(_table_rows(rows + [f.total], locale), Format.TABLE, f"{scope} {title} {f.day}")
        for title, rows in ((t("By team"), f.teams), (t("By grid"), f.grids))
    )


@app.command("daily")
def daily_cmd(
    day: Annotated[dt.datetime | None, typer.Option("--date", formats=["%Y-%m-%d"],
                                                    help="Default: the data date.")] = None,
    user: UserOpt = None, scope: ScopeOpt = None,
    fmt: Annotated[DailyFormat, typer.Option("--format")] = DailyFormat.TABLE,
    out: Annotated[Path | None, typer.Option("--out", help="Write to a file.")] = None,
    locale: LocaleOpt = "zh-CN", engine: EngineOpt = None, rules: RulesOpt = None,
) -> None:
    """Yesterday per team and grid: parcels, revenue, plan progress, new and lost customers."""
    from jiqun.reports.daily import daily_figures

    with open_picture(user, scope, engine, rules) as picture:
        figures = daily_figures(picture, day.date() if day else None, locale)
    text = _daily_text(figures, fmt, locale)
    if out:
        out.write_text(text, encoding="utf-8")
        typer.echo(str(out))
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


def _week(value: str | None) -> IsoWeek | None:
    from jiqun.reports.weekly import IsoWeek

    if value is None:
        return None
    try:
        return IsoWeek.parse(value)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--week") from e


@app.command("weekly")
def weekly_cmd(
    fmt: Annotated[BulletinFormat, typer.Option("--format")],
    out: Annotated[Path, typer.Option("--out", help="The file to write.")],
    week: Annotated[str | None, typer.Option(
        "--week", help="YYYY-Www; default: the last complete week before the data date.")] = None,
    user: UserOpt = None, scope: ScopeOpt = None, locale: LocaleOpt = "zh-CN",
    engine: EngineOpt = None, rules: RulesOpt = None,
) -> None:
    """The weekly bulletin (一周通报) as HTML, XLSX or PDF."""
    from jiqun.reports.html import bulletin_html
    from jiqun.reports.weekly import weekly_bulletin

    iso_week = _week(week)
    with open_picture(user, scope, engine, rules) as picture:
        bulletin = weekly_bulletin(picture, iso_week, locale)
    if fmt is BulletinFormat.XLSX:
        from jiqun.reports.xlsx import bulletin_xlsx

        bulletin_xlsx(bulletin, out, locale)
    elif fmt is BulletinFormat.HTML:
        out.write_text(bulletin_html(bulletin, locale), encoding="utf-8")
    else:
        from jiqun.reports.pdf import PdfError, html_to_pdf

        with tempfile.TemporaryDirectory(prefix="jiqun-bulletin-") as tmp:
            html = Path(tmp) / "bulletin.html"
            html.write_text(bulletin_html(bulletin, locale), encoding="utf-8")
            try:
                html_to_pdf(html, out)
            except PdfError as e:
                raise typer.BadParameter(str(e), param_hint="--format") from e
    typer.echo(str(out))
