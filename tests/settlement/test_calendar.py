"""Business dates cut at 23:00 Beijing time; T counts official working days (with 调休), D calendar days."""

from __future__ import annotations

import datetime as dt

import pytest

from zhifu.calendar.service import WorkingCalendar, seed_rows
from zhifu.core.errors import InvalidRequest
from zhifu.settlement import calendar as sc
from zhifu.settlement.calendar import business_date

_ROWS = seed_rows()[1]
CAL = WorkingCalendar.of(
    {d.year for d, _, _ in _ROWS}, _ROWS
)  # the chinesecalendar seed, as a fresh table holds it


def is_working_day(d: dt.date) -> bool:
    return sc.is_working_day(d, CAL)


def next_working_day(d: dt.date) -> dt.date:
    return sc.next_working_day(d, CAL)


def settle_date(d: dt.date, cycle: str) -> sc.SettleDate:
    return sc.settle_date(d, cycle, CAL)


D = dt.date
UTC = dt.UTC


def test_cutoff_second_given_in_utc() -> None:
    before = dt.datetime(2021, 10, 8, 14, 59, 59, tzinfo=UTC)  # 22:59:59 in Shanghai
    at_cutoff = dt.datetime(2021, 10, 8, 15, 0, 0, tzinfo=UTC)  # 23:00:00 in Shanghai
    assert business_date(before) == D(2021, 10, 8)
    assert business_date(at_cutoff) == D(2021, 10, 9)


def test_utc_evening_is_already_the_next_shanghai_day() -> None:
    assert business_date(dt.datetime(2021, 10, 8, 16, 30, tzinfo=UTC)) == D(2021, 10, 9)
    assert business_date(dt.datetime(2021, 10, 8, 23, 30, tzinfo=UTC)) == D(2021, 10, 9)


def test_custom_and_midnight_cutoffs() -> None:
    at = dt.datetime(2021, 10, 8, 14, 30, tzinfo=UTC)  # 22:30 in Shanghai
    assert business_date(at, cutoff=dt.time(22, 0)) == D(2021, 10, 9)
    assert business_date(at, cutoff=dt.time(0, 0)) == D(2021, 10, 8)


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(InvalidRequest) as exc:
        business_date(dt.datetime(2021, 10, 8, 12, 0))
    assert exc.value.param == "at"


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (D(2021, 9, 25), False),  # Saturday
        (D(2021, 9, 26), True),  # Sunday, make-up working day for National Day
        (D(2021, 9, 30), True),
        *[(D(2021, 10, n), False) for n in range(1, 8)],  # National Day holidays
        (D(2021, 10, 8), True),
        (D(2021, 10, 9), True),  # Saturday, make-up working day
        (D(2021, 10, 10), False),
    ],
)
def test_national_day_2021_working_days(day: dt.date, working: bool) -> None:
    assert is_working_day(day) is working


@pytest.mark.parametrize(
    ("bday", "t1"),
    [
        (D(2021, 9, 24), D(2021, 9, 26)),  # Friday → the make-up Sunday
        (D(2021, 9, 25), D(2021, 9, 26)),
        (D(2021, 9, 26), D(2021, 9, 27)),
        (D(2021, 9, 30), D(2021, 10, 8)),  # over the whole holiday
        (D(2021, 10, 1), D(2021, 10, 8)),
        (D(2021, 10, 4), D(2021, 10, 8)),
        (D(2021, 10, 7), D(2021, 10, 8)),
        (D(2021, 10, 8), D(2021, 10, 9)),  # Friday → the make-up Saturday
        (D(2021, 10, 9), D(2021, 10, 11)),
        (D(2021, 10, 10), D(2021, 10, 11)),
    ],
)
def test_t_plus_1_across_national_day_2021(bday: dt.date, t1: dt.date) -> None:
    s = settle_date(bday, "T+1")
    assert s.date == t1
    assert s.advanced is False


def test_t_plus_2_counts_working_days() -> None:
    assert settle_date(D(2021, 9, 30), "T+2").date == D(2021, 10, 9)


@pytest.mark.parametrize(
    ("bday", "d1", "advanced"),
    [
        (D(2021, 9, 30), D(2021, 10, 1), True),  # paid on a holiday, before the network's T+1 funds
        (D(2021, 12, 31), D(2022, 1, 1), True),  # year end, New Year's Day
        (D(2021, 2, 28), D(2021, 3, 1), False),  # Sunday → Monday is also T+1
        (D(2024, 2, 29), D(2024, 3, 1), False),  # leap day, Thursday → Friday
        (D(2021, 4, 30), D(2021, 5, 1), True),
    ],
)
def test_d_plus_1_across_month_end(bday: dt.date, d1: dt.date, advanced: bool) -> None:
    s = settle_date(bday, "D+1")
    assert (s.date, s.advanced) == (d1, advanced)


def test_d_plus_0_is_same_day_and_advanced() -> None:
    s = settle_date(D(2021, 10, 8), "D+0")
    assert (s.date, s.advanced) == (D(2021, 10, 8), True)


@pytest.mark.parametrize("cycle", ["T+0", "t+1", "X+1", "T+99", "T1", "", "D+-1"])
def test_bad_cycles_are_refused(cycle: str) -> None:
    with pytest.raises(InvalidRequest) as exc:
        settle_date(D(2021, 10, 8), cycle)
    assert exc.value.param == "cycle"


def test_dates_outside_the_calendar_data_raise_a_clear_error() -> None:
    with pytest.raises(InvalidRequest) as exc:
        is_working_day(D(2031, 1, 6))
    assert exc.value.code == "calendar_out_of_range"
    assert "2004–2026" in exc.value.message and "zhifu calendar import" in exc.value.message
    with pytest.raises(InvalidRequest):
        settle_date(D(2003, 6, 2), "T+1")


def test_datetime_is_not_a_date_here() -> None:
    with pytest.raises(InvalidRequest):
        is_working_day(dt.datetime(2021, 10, 8, 12, tzinfo=UTC))


def test_next_working_day_skips_spring_festival_2022() -> None:
    # 2022: Jan 31–Feb 6 holidays; Jan 29 and 30 (Sat, Sun) were make-up working days.
    assert next_working_day(D(2022, 1, 28)) == D(2022, 1, 29)
    assert next_working_day(D(2022, 1, 30)) == D(2022, 2, 7)
