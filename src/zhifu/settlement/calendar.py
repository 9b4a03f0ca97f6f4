"""Settlement dates on the operator's working-day calendar (`zhifu.calendar`, loaded from its tables).
Business dates (the 23:00 Beijing cut-off) live in `zhifu.core.business_day`, re-exported here."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from zhifu.calendar.service import WorkingCalendar
from zhifu.core.business_day import business_date
from zhifu.core.errors import InvalidRequest

CYCLE_DAYS_MAX = 30  # no real settlement cycle is longer; a bigger number is a typo
_CYCLE_RE = re.compile(r"([TD])\+([0-9]{1,2})")

__all__ = [
    "CYCLE_DAYS_MAX",
    "SettleDate",
    "business_date",
    "is_working_day",
    "next_working_day",
    "settle_date",
]


@dataclass(frozen=True, slots=True)
class SettleDate:
    """When the merchant is paid; `advanced` means before the network's T+1 funds reach the acquirer."""

    date: dt.date
    advanced: bool


def is_working_day(d: dt.date, cal: WorkingCalendar) -> bool:
    """True on official working days, including make-up working days (调休) that fall on weekends."""
    return cal.is_working_day(d)


def next_working_day(d: dt.date, cal: WorkingCalendar) -> dt.date:
    """The first working day strictly after `d`."""
    return cal.next_working_day(d)


def settle_date(business_date: dt.date, cycle: str, cal: WorkingCalendar) -> SettleDate:
    """Pay date for a cycle on the operator's calendar: "T+n" counts working days, "D+n" calendar days (D+0 is
    the same day). A date the calendar cannot count raises `calendar_out_of_range`.

    Any date before the business date's T+1 is flagged `advanced`: the acquirer pays from its own funds.
    """
    m = _CYCLE_RE.fullmatch(cycle) if isinstance(cycle, str) else None
    if m is None or int(m.group(2)) > CYCLE_DAYS_MAX or cycle == "T+0":
        raise InvalidRequest(
            f"结算周期 {cycle!r} 无效 / settlement cycle {cycle!r} is not one of T+n (n ≥ 1) or D+n",
            param="cycle",
        )
    kind, n = m.group(1), int(m.group(2))
    funded_on = cal.next_working_day(business_date)
    if kind == "D":
        paid = business_date + dt.timedelta(days=n)
        return SettleDate(date=paid, advanced=paid < funded_on)
    paid = business_date
    for _ in range(n):
        paid = cal.next_working_day(paid)
    return SettleDate(date=paid, advanced=False)
