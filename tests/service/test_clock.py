"""The deadline clock on hand cases: working hours, nights, weekends, holidays, make-up days,
pauses. Default rules: Mon–Fri 08:30–18:00, Sat 09:00–17:00, Sunday closed, the 2026 holidays."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from jiqun.service.clock import WorkingHours, add_working, shift_for_pause, working_between
from jiqun.service.rules import ServiceRules

D = dt.datetime
CAL = ServiceRules().working_hours()
LUNCH = ServiceRules(hours={"mon": ["08:30-12:00", "13:30-18:00"]}).working_hours()


def test_within_one_day():
    assert add_working(D(2026, 11, 24, 9, 0), 2, calendar=CAL) == D(2026, 11, 24, 11, 0)
    assert working_between(D(2026, 11, 24, 9, 0), D(2026, 11, 24, 11, 30), calendar=CAL) == 2.5


def test_a_deadline_crosses_the_night():
    # Tuesday 17:00 + 2 h: one hour on Tuesday (to 18:00), one from 08:30 on Wednesday.
    due = add_working(D(2026, 11, 24, 17, 0), 2, calendar=CAL)
    assert due == D(2026, 11, 25, 9, 30)
    assert working_between(D(2026, 11, 24, 17, 0), due, calendar=CAL) == 2
    # opened at night: the clock starts at the next opening
    assert add_working(D(2026, 11, 24, 22, 0), 1, calendar=CAL) == D(2026, 11, 25, 9, 30)
    # a deadline that uses the day's last hour falls at the close, not the next morning
    assert add_working(D(2026, 11, 24, 17, 0), 1, calendar=CAL) == D(2026, 11, 24, 18, 0)


def test_a_deadline_crosses_the_weekend():
    # Friday 17:00 + 9 h: 1 h Friday, 8 h Saturday (09:00–17:00), Sunday closed → Monday? No:
    # Saturday's 8 hours end at 17:00, so 9 h fall exactly at Saturday's close.
    assert add_working(D(2026, 11, 27, 17, 0), 9, calendar=CAL) == D(2026, 11, 28, 17, 0)
    # one more hour skips the closed Sunday: Monday 09:30
    assert add_working(D(2026, 11, 27, 17, 0), 10, calendar=CAL) == D(2026, 11, 30, 9, 30)
    assert working_between(D(2026, 11, 28, 17, 0), D(2026, 11, 30, 8, 30), calendar=CAL) == 0


def test_a_deadline_crosses_a_holiday_and_its_make_up_day():
    # National Day: 1–7 October 2026 closed; Saturday 10 October is worked with weekday hours.
    assert add_working(D(2026, 9, 30, 17, 0), 2, calendar=CAL) == D(2026, 10, 8, 9, 30)
    assert working_between(D(2026, 10, 1, 0, 0), D(2026, 10, 8, 0, 0), calendar=CAL) == 0
    assert working_between(D(2026, 10, 10, 0, 0), D(2026, 10, 11, 0, 0), calendar=CAL) == 9.5
    assert working_between(D(2026, 10, 3, 0, 0), D(2026, 10, 4, 0, 0), calendar=CAL) == 0


def test_a_lunch_break_does_not_count():
    assert add_working(D(2026, 11, 23, 11, 0), 2, calendar=LUNCH) == D(2026, 11, 23, 14, 30)


def test_a_pause_does_not_count():
    # Waiting on the merchant from 10:00 to 15:00: 3 working hours from 09:00 end at 17:00.
    pause = [(D(2026, 11, 24, 10, 0), D(2026, 11, 24, 15, 0))]
    assert add_working(D(2026, 11, 24, 9, 0), 3, pause, calendar=CAL) == D(2026, 11, 24, 17, 0)
    assert working_between(D(2026, 11, 24, 9, 0), D(2026, 11, 24, 17, 0), pause,
                           calendar=CAL) == 3
    # still waiting (no end): nothing after the pause's start counts
    open_pause = [(D(2026, 11, 24, 10, 0), None)]
    assert working_between(D(2026, 11, 24, 9, 0), D(2026, 11, 26, 9, 0), open_pause,
                           calendar=CAL) == 1


def test_a_pause_moves_the_deadline_by_the_time_that_was_left():
    # Due Wednesday 10:00; paused Tuesday 17:00 with 2.5 working hours left; resumed Thursday
    # 09:00: due Thursday 11:30.
    due = shift_for_pause(D(2026, 11, 25, 10, 0), D(2026, 11, 24, 17, 0), D(2026, 11, 26, 9, 0),
                          calendar=CAL)
    assert due == D(2026, 11, 26, 11, 30)
    # a deadline already missed when the pause began stays missed
    assert shift_for_pause(D(2026, 11, 24, 12, 0), D(2026, 11, 24, 17, 0),
                           D(2026, 11, 26, 9, 0), calendar=CAL) == D(2026, 11, 24, 12, 0)


def test_zero_hours_and_reversed_intervals():
    start = D(2026, 11, 24, 20, 0)
    assert add_working(start, 0, calendar=CAL) == start
    assert working_between(D(2026, 11, 25), D(2026, 11, 24), calendar=CAL) == 0


def test_the_default_calendar_is_the_rules_default():
    assert WorkingHours.default() == CAL
    assert add_working(D(2026, 11, 24, 17, 0), 2) == D(2026, 11, 25, 9, 30)


@pytest.mark.parametrize("hours", [{"mon": ["18:00-08:00"]}, {"mon": ["8-18"]},
                                   {"funday": ["08:00-18:00"]},
                                   {d: [] for d in ("mon", "tue", "wed", "thu", "fri", "sat",
                                                     "sun")}])
def test_bad_working_hours_are_refused(hours):
    with pytest.raises(ValidationError):
        ServiceRules(hours=hours)


def test_rules_read_from_the_service_table(tmp_path):
    path = tmp_path / "rules.toml"
    path.write_text('[service]\nwarn_share = 0.8\nholidays = ["2026-11-24"]\n'
                    '[service.hours]\nsun = ["10:00-12:00"]\n'
                    '[service.first_response_hours]\nlost = 0.5\n', encoding="utf-8")
    rules = ServiceRules.from_file(path)
    assert rules.warn_share == 0.8
    assert rules.first_response_hours["lost"] == 0.5
    assert rules.first_response_hours["late"] == 2.0  # untouched kinds keep the default
    cal = rules.working_hours()
    assert add_working(D(2026, 11, 24, 9, 0), 1, calendar=cal) == D(2026, 11, 25, 9, 30)
    assert working_between(D(2026, 11, 29), D(2026, 11, 30), calendar=cal) == 2
    assert rules.hours["mon"] == ["08:30-18:00"]  # days the file leaves out keep the default
