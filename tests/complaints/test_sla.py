"""The clocks on the official calendar: Spring Festival 2024 (holiday Feb 10–17, make-up Sundays Feb 4 and 18),
National Day, the roll-forward of a calendar deadline, and properties against a brute-force count."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zhifu.calendar.service import WorkingCalendar, seed_rows
from zhifu.complaints import sla
from zhifu.core.errors import InvalidRequest

D = dt.date
_, _ROWS = seed_rows()
CAL = WorkingCalendar.of({d.year for d, _, _ in _ROWS}, _ROWS)
W = sla.calendar_workday(CAL)


def test_acknowledgement_waits_out_the_spring_festival_and_counts_the_make_up_sunday() -> None:
    assert sla.add_working_days(D(2024, 2, 9), 1, W) == D(2024, 2, 18)  # Sunday, a make-up working day
    assert sla.add_working_days(D(2024, 2, 3), 1, W) == D(2024, 2, 4)  # Saturday → the make-up Sunday before
    assert sla.add_working_days(D(2024, 2, 9), 1, sla.weekdays) == D(
        2024, 2, 12
    )  # a naive clock would breach


def test_working_day_decision_clock_pauses_over_the_holiday() -> None:
    # Feb 18 (1), 19–23 (2–6), 26–Mar 1 (7–11), Mar 4–7 (12–15)
    assert sla.due_date(D(2024, 2, 9), 15, "working", W) == D(2024, 3, 7)


def test_calendar_deadline_on_a_rest_day_moves_to_the_next_working_day() -> None:
    assert sla.due_date(D(2024, 2, 1), 15, "calendar", W) == D(2024, 2, 18)  # Feb 16 is a holiday
    assert sla.due_date(D(2024, 2, 9), 15, "calendar", W) == D(2024, 2, 26)  # Feb 24 is a Saturday
    assert sla.due_date(D(2023, 9, 20), 15, "calendar", W) == D(2023, 10, 7)  # Oct 5 holiday; Sat Oct 7 works
    assert sla.due_date(D(2024, 3, 1), 15, "calendar", W) == D(2024, 3, 18)  # Mar 16 Saturday → Monday


def test_deadlines_are_the_end_of_the_day_in_beijing() -> None:
    d = sla.deadlines(
        dt.datetime(2024, 2, 9, 23, 30, tzinfo=sla.SHANGHAI),
        ack_working_days=1,
        decide_days=15,
        decide_basis="working",
        remind_working_days=2,
        is_workday=W,
    )
    assert d.ack_due_at == dt.datetime(2024, 2, 18, 16, 0, tzinfo=dt.UTC)  # 2024-02-19 00:00 Beijing
    assert d.decide_due_at == dt.datetime(2024, 3, 7, 16, 0, tzinfo=dt.UTC)
    assert d.remind_at == dt.datetime(
        2024, 3, 4, 16, 0, tzinfo=dt.UTC
    )  # start of Mar 5, two working days before


def test_extension_counts_from_the_current_deadline() -> None:
    due = sla.end_of_day(D(2024, 2, 26))
    assert sla.extended_due(due, 15, "calendar", W) == sla.end_of_day(D(2024, 3, 12))
    assert sla.extended_due(due, 5, "working", W) == sla.end_of_day(D(2024, 3, 4))
    with pytest.raises(InvalidRequest):
        sla.extended_due(due, 0, "calendar", W)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(InvalidRequest):
        sla.due_date(D(2024, 1, 1), 15, "lunar", W)  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest):
        sla.add_working_days(D(2024, 1, 1), -1, W)
    with pytest.raises(InvalidRequest):
        sla.next_workday(D(2024, 1, 1), lambda d: False)


def test_a_year_the_calendar_lacks_falls_back_to_weekdays() -> None:
    far = max(CAL.years) + 1
    assert W(D(far, 1, 4)) == (D(far, 1, 4).weekday() < 5)


days = st.dates(min_value=D(2010, 1, 1), max_value=D(2025, 10, 1))


@settings(max_examples=300, deadline=None)
@given(days, st.integers(min_value=1, max_value=40))
def test_working_days_match_a_brute_force_count(start: dt.date, n: int) -> None:
    due = sla.add_working_days(start, n, W)
    assert CAL.is_working_day(due)
    assert sla.working_days_between(start, due, W) == n  # exactly n working days in (start, due]
    assert due > start


@settings(max_examples=300, deadline=None)
@given(days, st.integers(min_value=1, max_value=60))
def test_calendar_deadline_is_the_first_working_day_on_or_after_n_days(start: dt.date, n: int) -> None:
    due = sla.due_date(start, n, "calendar", W)
    assert CAL.is_working_day(due) and due >= start + dt.timedelta(days=n)
    assert all(not CAL.is_working_day(start + dt.timedelta(days=k)) for k in range(n, (due - start).days))


@settings(max_examples=200, deadline=None)
@given(days, st.integers(min_value=1, max_value=30), st.integers(min_value=1, max_value=30))
def test_working_clocks_are_monotone_and_additive(start: dt.date, a: int, b: int) -> None:
    assert sla.add_working_days(sla.add_working_days(start, a, W), b, W) == sla.add_working_days(
        start, a + b, W
    )
    assert sla.add_working_days(start, a, W) <= sla.add_working_days(start, a + b, W)
