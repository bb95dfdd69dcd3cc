"""The bulletin as HTML, XLSX and PDF: each opens cleanly and shows the same figures."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from importlib.resources import files
from pathlib import Path

import openpyxl
import pytest
from typer.testing import CliRunner

from jiqun import formats
from jiqun.cli import app
from jiqun.i18n import _catalog
from jiqun.reports import charts, daily_figures, weekly_bulletin
from jiqun.reports.html import bulletin_html, daily_html
from jiqun.reports.xlsx import bulletin_xlsx

CHROMIUM = Path("/usr/bin/chromium")
EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)


@pytest.fixture(scope="module")
def bulletin(demo):
    with demo.picture("HA") as picture:
        return weekly_bulletin(picture)


@pytest.fixture(scope="module")
def html(bulletin) -> str:
    return bulletin_html(bulletin)


def test_html_shows_the_figures_offline(bulletin, html):
    assert not EXTERNAL.search(html)
    assert "echarts" in html and "<script src" not in html
    assert "河南省分公司 一周通报" in html and "一、本周概况" in html
    assert formats.number(bulletin.headline.parcels) in html
    assert formats.percent(bulletin.plan_total.progress) in html
    for problem in bulletin.problems:
        assert problem.title in html
    for mover in bulletin.movers_up + bulletin.movers_down:
        assert mover.name in html
    options = json.loads(re.search(
        r'<script type="application/json" id="chart-options">(.*?)</script>', html, re.S)[1])
    assert set(options) == set(re.findall(r'data-chart="([^"]+)"', html))
    daily = options["daily"]["series"][0]["data"]
    assert daily == [d.parcels for d in bulletin.days]
    assert all(opt["animation"] is False for opt in options.values())


def test_html_in_english(demo):
    with demo.picture("HA") as picture:
        text = bulletin_html(weekly_bulletin(picture, locale="en"), "en")
    assert "Weekly bulletin" in text and "1. The week at a glance" in text
    assert "本周概况" not in text and 'lang="en"' in text


def test_daily_html(demo):
    with demo.picture("HA-SQ") as picture:
        figures = daily_figures(picture)
    text = daily_html(figures)
    assert "晨会数据" in text and not EXTERNAL.search(text)
    assert all(r.name in text for r in figures.teams)


def test_xlsx_has_a_sheet_per_section_with_charts(bulletin, tmp_path):
    path = bulletin_xlsx(bulletin, tmp_path / "bulletin.xlsx")
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["概况", "计划进度", "排名", "客户异动", "市场占有率", "问题", "下周计划",
                             "客服工单", "产品建议"]
    for name in ("概况", "计划进度", "排名", "市场占有率"):
        assert len(wb[name]._charts) >= 1, name
    for ws in wb:
        assert ws.freeze_panes is not None, ws.title
    plan = wb["计划进度"]
    assert [c.value for c in plan[3]][:5] == ["市场", "月度目标", "本月累计", "序时目标", "进度"]
    first = bulletin.plans[0]
    assert plan["A4"].value == first.name and plan["E4"].value == pytest.approx(first.progress)
    assert plan["E4"].number_format == "0.0%"
    overview = wb["概况"]
    assert overview["B4"].value == bulletin.headline.parcels
    days = [r[0].value for r in wb["概况"].iter_rows(min_row=4, max_row=10, min_col=6, max_col=6)]
    assert days == [d.parcels for d in bulletin.days]
    sheet = wb["问题"]
    last = 3 + len(bulletin.problems)
    problems = [r[0].value for r in sheet.iter_rows(min_row=4, max_row=last, min_col=1,
                                                    max_col=1)]
    assert problems == [p.title for p in bulletin.problems]
    # solved this week, below: a title row, headers, then one row per problem with its solver
    assert sheet.cell(last + 2, 1).value == "本周已解决"
    assert sheet.cell(last + 3, 7).value == "解决人"
    solved = [(r[0].value, r[6].value) for r in sheet.iter_rows(
        min_row=last + 4, max_row=last + 3 + len(bulletin.problems_solved), max_col=7)]
    assert solved == [(p.title, p.solved_by) for p in bulletin.problems_solved]


def test_every_message_of_the_reports_is_translated():
    root = files("jiqun").joinpath("reports")
    sources = [p.read_text(encoding="utf-8") for p in Path(str(root)).rglob("*")
               if p.suffix in (".py", ".html")]
    used = {m for text in sources for m in re.findall(r'\b[t_]\("((?:[^"\\]|\\.)*)"', text)}
    used |= set(charts.WEEKDAYS) | {"Open", "Escalated"}
    missing = sorted(m for m in used if m not in _catalog("zh-CN"))
    assert len(used) > 50 and not missing


def test_cli_weekly_writes_html_and_xlsx(cli_env, tmp_path):
    runner = CliRunner()
    for fmt in ("html", "xlsx"):
        out = tmp_path / f"b.{fmt}"
        result = runner.invoke(app, ["report", "weekly", "--week", "2026-W46", "--user", "system", "--scope", "HA-SQ",
                                     "--format", fmt, "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert out.stat().st_size > 1000
    assert "2026-W46" in (tmp_path / "b.html").read_text(encoding="utf-8")
    bad = runner.invoke(app, ["report", "weekly", "--week", "46", "--user", "system", "--format", "html",
                              "--out", str(tmp_path / "x.html")])
    assert bad.exit_code != 0 and "ISO week" in bad.output


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium (/usr/bin/chromium) absent")
def test_cli_weekly_pdf(cli_env, tmp_path):
    out = tmp_path / "bulletin.pdf"
    result = CliRunner().invoke(app, ["report", "weekly", "--user", "system", "--scope", "HA", "--format", "pdf",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    data = out.read_bytes()
    assert data.startswith(b"%PDF")
    if shutil.which("pdfinfo"):
        info = subprocess.run(["pdfinfo", str(out)], capture_output=True, text=True).stdout
        pages = int(re.search(r"Pages:\s+(\d+)", info)[1])
    else:
        pages = len(re.findall(rb"/Type\s*/Page[^s]", data))
    assert pages >= 2
    if shutil.which("pdftotext"):  # the text layer holds the Chinese headings and figures
        text = subprocess.run(["pdftotext", str(out), "-"], capture_output=True, text=True).stdout
        assert "一周通报" in text and "市场占有率走势" in text
