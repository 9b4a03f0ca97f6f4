"""Business dates (23:00 Beijing cut-off) and settlement dates on the official working-day calendar."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import chinese_calendar

from zhifu.core.clock import SHANGHAI
from zhifu.core.errors import InvalidRequest

UNIONPAY_CUTOFF = dt.time(23, 0)  # UnionPay's day ends at 23:00 Beijing time
CYCLE_DAYS_MAX = 30  # no real settlement cycle is longer; a bigger number is a typo
_CYCLE_RE = re.compile(r"([TD])\+([0-9]{1,2})")
_FIRST_YEAR = min(chinese_calendar.holidays).year
_LAST_YEAR = max(chinese_calendar.holidays).year


@dataclass(frozen=True, slots=True)
class SettleDate:
    """When the merchant is paid; `advanced` means before the network's T+1 funds reach the acquirer."""

    date: dt.date
    advanced: bool


def business_date(at: dt.datetime, cutoff: dt.time = UNIONPAY_CUTOFF) -> dt.date:
    """The business date of a moment: its Shanghai date, or the next date at or after `cutoff`.

    cutoff=time(0, 0) means no cut-off: the Shanghai calendar date.
    """
    if not isinstance(at, dt.datetime) or at.tzinfo is None:
        raise InvalidRequest("at must be a timezone-aware datetime", param="at")
    local = at.astimezone(SHANGHAI)
    if cutoff != dt.time(0, 0) and local.time() >= cutoff:
        return local.date() + dt.timedelta(days=1)
    return local.date()


def is_working_day(d: dt.date) -> bool:
    """True on official working days, including make-up working days (调休) that fall on weekends."""
    if isinstance(d, dt.datetime) or not isinstance(d, dt.date):
        raise InvalidRequest("d must be a date, not a datetime", param="date")
    if not _FIRST_YEAR <= d.year <= _LAST_YEAR:
        raise InvalidRequest(
            f"工作日历只覆盖 {_FIRST_YEAR}–{_LAST_YEAR} 年，{d} 超出范围，请升级 chinesecalendar / "
            f"the working-day calendar covers {_FIRST_YEAR}–{_LAST_YEAR} only; {d} is outside it "
            "(upgrade the chinesecalendar package)",
            param="date",
            code="calendar_out_of_range",
        )
    return bool(chinese_calendar.is_workday(d))


def next_working_day(d: dt.date) -> dt.date:
    """The first working day strictly after `d`."""
    nxt = d + dt.timedelta(days=1)
    while not is_working_day(nxt):
        nxt += dt.timedelta(days=1)
    return nxt


def settle_date(business_date: dt.date, cycle: str) -> SettleDate:
    """Pay date for a cycle: "T+n" counts working days, "D+n" calendar days (D+0 is the same day).

    Any date before the business date's T+1 is flagged `advanced`: the acquirer pays from its own funds.
    """
    m = _CYCLE_RE.fullmatch(cycle) if isinstance(cycle, str) else None
    if m is None or int(m.group(2)) > CYCLE_DAYS_MAX or cycle == "T+0":
        raise InvalidRequest(
            f"结算周期 {cycle!r} 无效 / settlement cycle {cycle!r} is not one of T+n (n ≥ 1) or D+n",
            param="cycle",
        )
    kind, n = m.group(1), int(m.group(2))
    funded_on = next_working_day(business_date)
    if kind == "D":
        paid = business_date + dt.timedelta(days=n)
        return SettleDate(date=paid, advanced=paid < funded_on)
    paid = business_date
    for _ in range(n):
        paid = next_working_day(paid)
    return SettleDate(date=paid, advanced=False)
