"""Morning figures (晨会数据): the same values as the operating picture, and as plain SQL over
the lake's daily aggregates."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from jiqun.cli import app
from jiqun.reports import daily_figures
from jiqun.store.models import Grid
from tests.reports.conftest import UNTIL

MONTH_START = UNTIL.replace(day=1)


@pytest.fixture(scope="module")
def city(demo):
    picture = demo.picture("HA-SQ")
    yield picture, daily_figures(picture)
    picture.close()


def test_default_day_is_the_data_date(city):
    picture, figures = city
    assert figures.day == picture.data_date() == UNTIL
    assert figures.scope == "商丘市分公司"


@pytest.mark.parametrize("level", ["team", "grid"])
def test_rows_equal_the_operating_picture(city, level):
    picture, figures = city
    rows = {r.id: r for r in (figures.teams if level == "team" else figures.grids)}
    key = f"{level}_id"
    volume = picture.volume(level, "day", UNTIL, UNTIL)
    plan = picture.plan(level, UNTIL)
    people = picture.customers(level, UNTIL, UNTIL)
    assert set(rows) == {r[key] for r in volume} | {r[key] for r in plan} | {r[key] for r in people}
    for v in volume:
        assert (rows[v[key]].parcels, rows[v[key]].revenue) == (v["parcels"], v["revenue"])
        assert rows[v[key]].parcels_prev_day == v["parcels_prev"]
    for p in plan:
        row = rows[p[key]]
        assert (row.month_parcels, row.target_parcels, row.progress, row.completion) == (
            p["parcels"], p["target_parcels"], p["progress"], p["completion"])
    for c in people:
        row = rows[c[key]]
        assert (row.activated_customers, row.churned_customers) == (
            c["activated_customers"], c["churned_customers"])


def test_one_grid_against_plain_sql(demo, city):
    _, figures = city
    grid = max(figures.grids, key=lambda r: r.month_parcels)
    assert grid.month_parcels > 0
    [(day_parcels, day_revenue)] = demo.sql(
        "SELECT coalesce(sum(parcels), 0), coalesce(sum(revenue), 0) FROM daily "
        "WHERE grid_id = ? AND day = ?", grid.id, UNTIL)
    [(month_parcels,)] = demo.sql(
        "SELECT sum(parcels) FROM daily WHERE grid_id = ? AND day BETWEEN ? AND ?",
        grid.id, MONTH_START, UNTIL)
    [(day_before,)] = demo.sql(
        "SELECT coalesce(sum(parcels), 0) FROM daily WHERE grid_id = ? AND day = ?",
        grid.id, UNTIL - dt.timedelta(days=1))
    assert (grid.parcels, grid.month_parcels, grid.parcels_prev_day) == (
        day_parcels, month_parcels, day_before)
    assert grid.revenue == pytest.approx(day_revenue)
    if grid.expected_parcels:
        assert grid.progress == pytest.approx(month_parcels / grid.expected_parcels)


def test_scope_total_against_plain_sql(demo, city):
    picture, figures = city
    units = sorted(picture.scope.org_ids)
    marks = ",".join("?" * len(units))
    [(parcels, month)] = demo.sql(
        f"SELECT sum(parcels) FILTER (WHERE day = ?), sum(parcels) FROM daily "
        f"WHERE org_unit_id IN ({marks}) AND day BETWEEN ? AND ?", UNTIL, *units, MONTH_START, UNTIL)
    assert figures.total.parcels == parcels == sum(r.parcels for r in figures.grids)
    assert figures.total.month_parcels == month == sum(r.month_parcels for r in figures.teams)
    with demo.store.session() as s:
        in_scope = set(s.scalars(select(Grid.id).where(Grid.org_unit_id.in_(units))))
    assert {r.id for r in figures.grids} - {None} <= in_scope
    assert {r.id for r in figures.grids} & in_scope


def test_an_earlier_day_and_a_month_start(demo):
    with demo.picture() as picture:
        figures = daily_figures(picture, MONTH_START)
        [(parcels,)] = demo.sql("SELECT sum(parcels) FROM daily WHERE day = ?", MONTH_START)
    assert figures.day == MONTH_START
    assert figures.total.parcels == figures.total.month_parcels == parcels


def test_cli_json_and_csv_are_the_records(cli_env, city):
    _, figures = city
    runner = CliRunner()
    result = runner.invoke(app, ["report", "daily", "--user", "system", "--scope", "HA-SQ", "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    expected = json.loads(json.dumps(figures.records(), default=str))
    assert rows == expected
    assert rows[0]["level"] == "total" and {r["level"] for r in rows} == {"total", "team", "grid"}
    result = runner.invoke(app, ["report", "daily", "--user", "system", "--scope", "HA-SQ", "--format", "csv",
                                 "--date", UNTIL.isoformat()])
    assert result.exit_code == 0, result.output
    table = list(csv.DictReader(io.StringIO(result.output)))
    assert len(table) == len(rows) and int(table[0]["parcels"]) == figures.total.parcels


def test_cli_table_is_chinese_by_default_and_english_on_request(cli_env, city):
    _, figures = city
    runner = CliRunner()
    zh = runner.invoke(app, ["report", "daily", "--user", "system", "--scope", "HA-SQ"])
    assert zh.exit_code == 0, zh.output
    assert "分团队" in zh.output and "新增客户" in zh.output and figures.teams[0].name in zh.output
    en = runner.invoke(app, ["report", "daily", "--user", "system", "--scope", "HA-SQ", "--locale", "en"])
    assert "By team" in en.output and "New customers" in en.output and "分团队" not in en.output


def test_cli_rejects_an_unknown_scope(cli_env):
    result = CliRunner().invoke(app, ["report", "daily", "--user", "system", "--scope", "NOPE"])
    assert result.exit_code != 0


def test_every_json_key_is_documented(city):
    from pathlib import Path

    doc = (Path(__file__).parents[2] / "docs" / "reports.md").read_text(encoding="utf-8")
    _, figures = city
    missing = [k for k in figures.records()[0] if f"`{k}`" not in doc]
    assert not missing
