"""The weekly bulletin (一周通报): consistent figures, in scope, checked against plain SQL."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from jiqun.reports import IsoWeek, weekly_bulletin
from jiqun.store.models import Problem, ProblemStatus
from jiqun.store.org import unit_by_code
from tests.reports.conftest import UNTIL


def _last_sunday_on_or_before(day: dt.date) -> dt.date:
    while day.weekday() != 6:
        day -= dt.timedelta(days=1)
    return day


@pytest.fixture(scope="module")
def province(demo):
    picture = demo.picture("HA")
    yield picture, weekly_bulletin(picture)
    picture.close()


def test_iso_weeks():
    assert IsoWeek.parse("2026-W47") == IsoWeek(2026, 47) == IsoWeek.parse("2026w47")
    assert IsoWeek(2026, 47).monday == dt.date(2026, 11, 16)
    assert str(IsoWeek(2026, 1)) == "2026-W01" and IsoWeek(2026, 1).monday == dt.date(2025, 12, 29)
    with pytest.raises(ValueError):
        IsoWeek.parse("2026-47")
    with pytest.raises(ValueError):
        IsoWeek.parse("2025-W53")  # 2025 has 52 ISO weeks (2026 has 53)
    sunday = dt.date(2026, 11, 22)
    assert IsoWeek.last_complete_before(sunday + dt.timedelta(days=1)) == IsoWeek.of(sunday)


def test_default_week_is_the_last_complete_one(province):
    _, b = province
    assert b.end == _last_sunday_on_or_before(UNTIL) and b.start == b.end - dt.timedelta(days=6)
    assert b.as_of == b.end and str(b.week) == f"{b.end.isocalendar()[0]}-W{b.end.isocalendar()[1]:02d}"
    assert b.scope == "河南省分公司"


def test_week_totals_are_the_sum_of_days_and_match_sql(demo, province):
    picture, b = province
    h = b.headline
    assert len(b.days) == 7 and h.days == 7
    assert h.parcels == sum(d.parcels for d in b.days) > 0
    assert h.revenue == pytest.approx(sum(d.revenue for d in b.days))
    assert h.parcels_prev == sum(d.parcels_prev_week for d in b.days)
    units = sorted(picture.scope.org_ids)
    marks = ",".join("?" * len(units))

    def week_sum(start):
        return demo.sql(f"SELECT sum(parcels) FROM daily WHERE org_unit_id IN ({marks}) "
                        "AND day BETWEEN ? AND ?", *units, start, start + dt.timedelta(days=6))[0][0]

    assert h.parcels == week_sum(b.start)
    assert h.parcels_prev == week_sum(b.start - dt.timedelta(days=7))
    assert h.parcels_ly == week_sum(b.start - dt.timedelta(weeks=52))
    assert h.wow == pytest.approx(h.parcels / h.parcels_prev - 1)


def test_rankings_are_sorted_and_complete(province):
    picture, b = province
    assert {(r.level, r.metric) for r in b.rankings} == {
        (level, metric) for level in ("market", "grid", "team") for metric in ("progress", "growth")}
    for r in b.rankings:
        assert r.lines, (r.level, r.metric)
        ranks = [x.rank for x in r.lines]
        assert ranks == sorted(ranks) and ranks[0] == 1
        values = [x.value for x in r.lines if x.value is not None]
        assert values == sorted(values, reverse=True)
        assert all(x.value is None for x in r.lines[len(values):])  # missing values last
    progress = {x.id: x.value for x in b.ranking("market", "progress").lines}
    assert progress == {p.id: p.progress for p in b.plans}
    growth = b.ranking("grid", "growth").lines[0]
    week = {r["grid_id"]: r for r in picture.volume("grid", "week", b.start, b.end)}
    assert growth.value == week[growth.id]["mom"] and growth.parcels == week[growth.id]["parcels"]


def test_plan_total_is_the_sum_of_markets(province):
    _, b = province
    assert b.plan_total.parcels == sum(p.parcels for p in b.plans)
    assert b.plan_total.target_parcels == pytest.approx(sum(p.target_parcels for p in b.plans))
    assert b.plan_total.progress == pytest.approx(
        b.plan_total.parcels / sum(p.expected_parcels for p in b.plans))


def test_movers_rise_and_fall_as_sql_says(demo, province):
    _, b = province
    assert b.movers_up and b.movers_down
    assert all(m.change > 0 for m in b.movers_up) and all(m.change < 0 for m in b.movers_down)
    assert [m.change for m in b.movers_up] == sorted((m.change for m in b.movers_up), reverse=True)
    assert [m.change for m in b.movers_down] == sorted(m.change for m in b.movers_down)
    top = b.movers_down[0]
    [(now, before)] = demo.sql(
        "SELECT coalesce(sum(parcels) FILTER (WHERE day >= ?), 0), "
        "coalesce(sum(parcels) FILTER (WHERE day < ?), 0) FROM daily "
        "WHERE customer_id = ? AND day BETWEEN ? AND ?",
        b.start, b.start, top.customer_id, b.start - dt.timedelta(days=7), b.end)
    assert (top.parcels, top.parcels_prev) == (now, before)


def test_share_trend_covers_twelve_weeks(province):
    _, b = province
    weeks = [p.week for p in b.share_total.points]
    assert len(weeks) == 12 and weeks[-1] == b.start
    assert all(b - a == dt.timedelta(days=7) for a, b in zip(weeks, weeks[1:], strict=False))
    last = b.share_total.points[-1]
    estimated = [s.points[-1] for s in b.share_markets if s.points[-1].market_total]
    assert last.parcels == sum(p.parcels for p in estimated)
    assert last.share == pytest.approx(last.parcels / sum(p.market_total for p in estimated))


def _problems_in(demo, code):
    with demo.store.session() as s:
        unit = unit_by_code(s, code)
        inside = [p for p in s.scalars(select(Problem))
                  if s.get(type(unit), p.org_unit_id).path.startswith(unit.path)]
        for p in inside:
            s.expunge(p)
        return inside


def _open_problems(demo, code, end):
    """Unsolved problems of the subtree raised by ``end``; a common problem the subtree holds
    stands for its members (listed once, as /problems lists it)."""
    inside = _problems_in(demo, code)
    common = {p.id for p in inside if p.is_common}
    return {p.title for p in inside if p.status != ProblemStatus.SOLVED
            and p.merged_into_id not in common and p.raised_on <= end}


def test_problems_are_open_and_in_scope(demo, province):
    _, b = province
    assert {p.title for p in b.problems} == _open_problems(demo, "HA", b.end)
    assert all(p.status in ("open", "escalated") for p in b.problems)
    ranks = [("hq", "province", "city").index(p.level) for p in b.problems]
    assert ranks == sorted(ranks)  # by level, HQ first …
    for rank in set(ranks):  # … and by age within a level, oldest first
        ages = [p.days_open for p, r in zip(b.problems, ranks, strict=True) if r == rank]
        assert ages == sorted(ages, reverse=True)
    with demo.picture("HA-SQ") as city, demo.picture() as everything:
        assert {p.title for p in weekly_bulletin(city).problems} == _open_problems(
            demo, "HA-SQ", b.end)
        whole = weekly_bulletin(everything)
        assert {p.title for p in whole.problems} == _open_problems(demo, "HQ", b.end)
        # HQ holds the common problem of three provinces; Henan sees its own city's member
        assert any(p.is_common and p.members == 3 and p.level == "hq" for p in whole.problems)


def test_problems_solved_in_the_week_name_who_solved_them(demo, province):
    _, b = province
    solved = {(p.title, p.solved_on) for p in _problems_in(demo, "HA")
              if p.solved_on and b.start <= p.solved_on <= b.end and p.merged_into_id is None}
    assert {(p.title, p.solved_on) for p in b.problems_solved} == solved
    assert all(p.solved_by for p in b.problems_solved)


def test_next_week_plan_is_what_is_left_of_the_month(province):
    _, b = province
    assert b.plan_month == b.as_of.replace(day=1)  # W47's next Monday is still in November
    assert b.next_week_total.days_left == 30 - b.as_of.day
    done = {p.id: p.parcels for p in b.plans}
    for n in b.next_week:
        assert n.parcels == done[n.id]
        assert n.remaining == pytest.approx(max(n.target_parcels - n.parcels, 0))
    remaining = [n.remaining for n in b.next_week]
    assert remaining == sorted(remaining, reverse=True)


def test_a_week_that_closes_the_month_plans_the_next(demo):
    sunday = _last_sunday_on_or_before(UNTIL)
    while (sunday + dt.timedelta(days=1)).day != 1:  # a Sunday that is a month's last day
        sunday -= dt.timedelta(days=7)
    with demo.picture("HA") as picture:
        b = weekly_bulletin(picture, IsoWeek.of(sunday))
        targets = {r["market_id"]: r["target_parcels"]
                   for r in picture.plan("market", sunday + dt.timedelta(days=1))}
    assert b.plan_month == sunday + dt.timedelta(days=1)
    assert all(n.parcels == 0 and n.target_parcels == targets[n.id] for n in b.next_week)
    assert b.next_week and b.next_week_total.days_left >= 28
