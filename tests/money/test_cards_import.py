"""Rate cards in and out as spreadsheets: export → import changes nothing; a new date is a
draft version; a bad row rejects its whole version with row and reason; a dry run writes
nothing; a version in force is never changed by an import."""

from __future__ import annotations

import csv
import datetime as dt

import pytest
from python_calamine import CalamineWorkbook
from sqlalchemy import select

from jiqun.ingest.api import import_file
from jiqun.money import cards
from jiqun.store.models import PriceStatus, RateCard, RateCardVersion, RateOrigin
from tests.money.conftest import card

HEADER = ("价格表编码,价格表名称,适用范围,市场编码,机构编码,客户编码,产品,生效日期,区域,起始重量,"
          "截止重量,首重,首重价格,续重单价,抛重系数,偏远附加费,偏远地区,旺季附加比例,旺季开始,旺季结束\n")


def _import(tree, tmp_path, text, user="city", dry_run=False, name="cards.csv"):
    path = tmp_path / name
    path.write_text(HEADER + text, encoding="utf-8")
    return import_file("rate_cards", path, tree.store, tmp_path / "lake", dry_run=dry_run,
                       actor=tree.store.actor(user))


def _versions(tree, code):
    with tree.store.session() as s:
        found = s.scalar(select(RateCard).where(RateCard.code == code))
        return [(v.number, v.status, v.valid_from, sorted((x.zone, x.first_price)
                                                           for x in v.lines))
                for v in found.versions] if found else []


LINES = ("SG-P,稍岗快包,市场,HA-SG,,,快包,2026-06-01,省内,0,60,1,2.20,0.45,6000,,,,,\n"
         "SG-P,稍岗快包,市场,HA-SG,,,快包,2026-06-01,跨省,0,60,1,3.10,0.90,6000,,,,,\n")


def test_a_new_card_is_a_draft_and_rerunning_the_file_changes_nothing(tree, tmp_path):
    dry = _import(tree, tmp_path, LINES, dry_run=True)
    assert (dry.inserted, dry.rejected) == (1, 0)
    assert _versions(tree, "SG-P") == []  # a dry run writes nothing
    first = _import(tree, tmp_path, LINES)
    assert (first.inserted, first.updated, first.rejected) == (1, 0, 0)
    assert _versions(tree, "SG-P") == [(1, PriceStatus.DRAFT, dt.date(2026, 6, 1),
                                        [("far", 3.10), ("same", 2.20)])]
    again = _import(tree, tmp_path, LINES)
    assert (again.inserted, again.updated, again.duplicates) == (0, 0, 1)
    changed = _import(tree, tmp_path, LINES.replace("2.20", "2.25"))
    assert changed.updated == 1  # a draft of the same date is replaced
    assert _versions(tree, "SG-P")[0][3] == [("far", 3.10), ("same", 2.25)]


def test_a_bad_row_rejects_its_whole_version_with_row_and_reason(tree, tmp_path):
    bad = LINES + "SG-P,稍岗快包,市场,HA-SG,,,快包,2026-06-01,火星,0,60,1,2.20,0.45,6000,,,,,\n"
    bad += "SG-X,稍岗特快,市场,HA-SG,,,特快,2026-06-01,省内,5,3,1,8,2,6000,,,,,\n"
    report = _import(tree, tmp_path, bad)
    assert report.rejected == 4 and report.inserted == 0
    lines = {(row, reason) for row, _col, _val, reason in report.reject_lines}
    assert lines == {(4, "unknown_zone"), (2, "with_its_card"), (3, "with_its_card"),
                     (5, "bad_weight_band")}
    assert _versions(tree, "SG-P") == [] and _versions(tree, "SG-X") == []
    with open(report.rejects_path, encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))
    assert any("区域" in r and "4" in r for r in rows)


def test_a_version_in_force_is_never_changed_by_an_import(tree, tmp_path):
    with tree.store.transaction() as s:
        card(s, tree, "SG-P", RateOrigin.MARKET, [("same", 0, 60, 1, 2.20, 0.45),
                                                 ("far", 0, 60, 1, 3.10, 0.90)],
             valid_from=dt.date(2026, 6, 1))
    assert _import(tree, tmp_path, LINES).duplicates == 1  # equal: harmless
    refused = _import(tree, tmp_path, LINES.replace("2.20", "1.90"))
    assert refused.written == 0
    assert {r[3] for r in refused.reject_lines} == {"version_in_force"}
    later = _import(tree, tmp_path, LINES.replace("2026-06-01", "2026-09-01"))
    assert later.inserted == 1  # a new date: the next version, a draft
    assert [v[:2] for v in _versions(tree, "SG-P")] == [(1, PriceStatus.IN_FORCE),
                                                        (2, PriceStatus.DRAFT)]


def test_an_exported_card_imports_back_unchanged(tree, tmp_path):
    with tree.store.transaction() as s:
        card(s, tree, "SG-P", RateOrigin.MARKET, [("same", 0, 60, 1, 2.20, 0.45)],
             surcharges=[(1, "remote", 3.0, 0, ["650000"], None, None)])
    with tree.store.session(actor=tree.store.actor("city")) as s:
        data = cards.export_xlsx(s, "SG-P")
    path = tmp_path / "out.xlsx"
    path.write_bytes(data)
    sheet = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()
    assert sheet[0][0] == "价格表编码" and sheet[1][0] == "SG-P"
    report = import_file("rate_cards", path, tree.store, tmp_path / "lake",
                         actor=tree.store.actor("city"))
    assert (report.inserted, report.updated, report.duplicates, report.rejected) == (0, 0, 1, 0)


def test_who_may_import_cards(tree, tmp_path):
    from jiqun.errors import NotAllowed

    with pytest.raises(NotAllowed):
        _import(tree, tmp_path, LINES, user="am")  # an account manager sets contracts only
    with tree.store.session() as s:
        assert s.scalar(select(RateCardVersion)) is None
