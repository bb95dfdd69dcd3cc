"""Exports are safe: a text a user typed never becomes a live formula in a spreadsheet."""

from __future__ import annotations

import csv
import dataclasses

import openpyxl
import pytest

from jiqun.cells import spreadsheet_safe
from jiqun.ingest.report import write_rejects
from jiqun.output import Format, render
from jiqun.reports.xlsx import bulletin_xlsx

ATTACK = "=cmd|' /C calc'!A0"


@pytest.mark.parametrize("text", [ATTACK, "+1+2", "-2+3", "-1+cmd|' /C calc'!A0", "@SUM(A1)",
                                  "\t=1", "\r=1", "-"])
def test_formula_starts_are_marked_as_text(text):
    assert spreadsheet_safe(text) == "'" + text


@pytest.mark.parametrize("value", ["童趣服饰", "a=b", "", 3, -2.5, None, "-1", "+3.5", "-2e3"])
def test_other_values_are_unchanged(value):
    assert spreadsheet_safe(value) == value


def test_cli_csv_marks_formulas_and_keeps_numbers(tmp_path):
    text = render([{"name": ATTACK, "change": -12}], Format.CSV)
    rows = list(csv.DictReader(text.splitlines()))
    assert rows == [{"name": "'" + ATTACK, "change": "-12"}]


def test_reject_report_marks_formulas(tmp_path):
    path = tmp_path / "rejects.csv"
    write_rejects(path, [(7, "name", ATTACK, "required")], "zh-CN")
    with open(path, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[1][:3] == ["7", "name", "'" + ATTACK]


def test_bulletin_xlsx_keeps_a_formula_like_customer_name_as_text(demo, tmp_path):
    from jiqun.reports import weekly_bulletin

    with demo.picture("HA") as picture:
        bulletin = weekly_bulletin(picture)
    assert bulletin.movers_up, "the demo bulletin has risers"
    hostile = dataclasses.replace(bulletin.movers_up[0], name=ATTACK)
    bulletin = dataclasses.replace(bulletin, movers_up=[hostile, *bulletin.movers_up[1:]])
    path = bulletin_xlsx(bulletin, tmp_path / "bulletin.xlsx")
    ws = openpyxl.load_workbook(path)["客户异动"]
    cell = next(c for row in ws.iter_rows() for c in row if c.value == ATTACK)
    assert cell.data_type == "s"  # a text cell, not a formula ("f")
