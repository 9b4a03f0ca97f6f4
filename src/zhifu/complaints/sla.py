"""投诉时限 / complaint clocks on the official working-day calendar (with 调休 make-up days).

Pure functions of dates; the calendar is a function `is_workday(date) -> bool` passed in: the service passes the
operator's working-day calendar (`zhifu.calendar`, the one settlement counts on) through `project_is_workday`.

Conventions (decisions where the rule is silent):
- A clock starts the day after receipt (民法典 第二百零一条: the day of the act is not counted).
- "N working days": the deadline is the end (24:00 Beijing time) of the N-th working day after receipt.
- "N days" (calendar): the end of the N-th day after receipt; when that day is a rest day the deadline moves
  to the end of the next working day (民法典 第二百零三条).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from sqlalchemy import Connection

from zhifu.core.clock import SHANGHAI
from zhifu.core.errors import InvalidRequest

if TYPE_CHECKING:
    from zhifu.calendar import WorkingCalendar

IsWorkday = Callable[[dt.date], bool]
Basis = Literal["working", "calendar"]
BASES: tuple[str, ...] = ("working", "calendar")
DAYS_MAX = 366  # no complaint clock is longer than a year; a bigger number is a typo
_SCAN_MAX = (
    60  # the longest official run of rest days is 9 (Spring Festival 2024); 60 means a broken calendar
)


def weekdays(d: dt.date) -> bool:
    """Monday to Friday: what stands in for the official calendar in a year it does not cover yet."""
    return d.weekday() < 5


def calendar_workday(cal: WorkingCalendar) -> IsWorkday:
    """The operator's working-day calendar as an `is_workday`; in a year it does not cover, Monday–Friday (a
    deadline beats a refused complaint; the complaint records that its clock was estimated)."""

    def is_workday(d: dt.date) -> bool:
        return cal.is_working_day(d) if d.year in cal.years else weekdays(d)

    return is_workday


def project_is_workday(conn: Connection) -> tuple[IsWorkday, Callable[[dt.date], bool]]:
    """(is_workday, covers) from the calendar the platform's settlement also counts on."""
    from zhifu.calendar import load

    cal = load(conn)
    return calendar_workday(cal), lambda d: d.year in cal.years


def _check_days(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= DAYS_MAX:
        raise InvalidRequest(
            f"天数须为 0–{DAYS_MAX} 的整数 / days must be an integer 0–{DAYS_MAX}", param="days"
        )


def next_workday(d: dt.date, is_workday: IsWorkday = weekdays) -> dt.date:
    """The first working day strictly after `d`."""
    nxt = d + dt.timedelta(days=1)
    for _ in range(_SCAN_MAX):
        if is_workday(nxt):
            return nxt
        nxt += dt.timedelta(days=1)
    raise InvalidRequest(
        f"no working day within {_SCAN_MAX} days after {d}: the calendar is broken",
        param="calendar",
        code="calendar_broken",
    )


def roll_to_workday(d: dt.date, is_workday: IsWorkday = weekdays) -> dt.date:
    """`d` itself when it is a working day, else the next working day."""
    return d if is_workday(d) else next_workday(d, is_workday)


def add_working_days(d: dt.date, n: int, is_workday: IsWorkday = weekdays) -> dt.date:
    """The n-th working day after `d` (n ≥ 1); n = 0 gives `d` rolled to a working day."""
    _check_days(n)
    out = roll_to_workday(d, is_workday) if n == 0 else d
    for _ in range(n):
        out = next_workday(out, is_workday)
    return out


def due_date(received: dt.date, n: int, basis: Basis, is_workday: IsWorkday = weekdays) -> dt.date:
    """The last day of a clock of `n` working or calendar days started by a receipt on `received`."""
    if basis == "working":
        return add_working_days(received, n, is_workday)
    if basis == "calendar":
        _check_days(n)
        return roll_to_workday(received + dt.timedelta(days=n), is_workday)
    raise InvalidRequest(f"basis must be one of {', '.join(BASES)}", param="basis")


def end_of_day(d: dt.date) -> dt.datetime:
    """24:00 Beijing time at the end of `d`, in UTC: the instant a deadline on `d` passes."""
    return dt.datetime.combine(d + dt.timedelta(days=1), dt.time(), SHANGHAI).astimezone(dt.UTC)


def local_date(at: dt.datetime) -> dt.date:
    if at.tzinfo is None:
        raise InvalidRequest("at must be a timezone-aware datetime", param="at")
    return at.astimezone(SHANGHAI).date()


def working_days_between(a: dt.date, b: dt.date, is_workday: IsWorkday = weekdays) -> int:
    """Working days in (a, b]: how far the clock has run from receipt on `a` to the end of `b`."""
    if b <= a:
        return 0
    return sum(1 for i in range(1, (b - a).days + 1) if is_workday(a + dt.timedelta(days=i)))


@dataclass(frozen=True, slots=True)
class Deadlines:
    """A complaint's clocks, as instants (UTC)."""

    ack_due_at: dt.datetime
    decide_due_at: dt.datetime
    remind_at: dt.datetime  # when the handler is reminded that the decision is near


def deadlines(
    received_at: dt.datetime,
    *,
    ack_working_days: int,
    decide_days: int,
    decide_basis: Basis,
    remind_working_days: int,
    is_workday: IsWorkday = weekdays,
) -> Deadlines:
    """Acknowledge within `ack_working_days` working days; decide within `decide_days` (working or calendar);
    remind `remind_working_days` working days before the decision is due (at the start of that day)."""
    day = local_date(received_at)
    ack = add_working_days(day, ack_working_days, is_workday)
    decide = due_date(day, decide_days, decide_basis, is_workday)
    return Deadlines(end_of_day(ack), end_of_day(decide), remind_at(decide, remind_working_days, is_workday))


def remind_at(due: dt.date, remind_working_days: int, is_workday: IsWorkday = weekdays) -> dt.datetime:
    """Start (00:00 Beijing) of the working day `remind_working_days` working days before `due`."""
    _check_days(remind_working_days)
    d = due
    for _ in range(remind_working_days):
        d -= dt.timedelta(days=1)
        for _ in range(_SCAN_MAX):
            if is_workday(d):
                break
            d -= dt.timedelta(days=1)
    return dt.datetime.combine(d, dt.time(), SHANGHAI).astimezone(dt.UTC)


def extended_due(
    current_due: dt.datetime, days: int, basis: Basis, is_workday: IsWorkday = weekdays
) -> dt.datetime:
    """A deadline moved on by `days` more working or calendar days, counted from its last day."""
    if days < 1:
        raise InvalidRequest("延期天数至少为 1 / an extension is at least one day", param="days")
    last = (current_due - dt.timedelta(microseconds=1)).astimezone(SHANGHAI).date()
    return end_of_day(due_date(last, days, basis, is_workday))
