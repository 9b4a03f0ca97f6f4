"""营业日 / The business day: UnionPay's day closes at 23:00 Beijing time, so 23:00:00 belongs to the next date.

One cut-off for every capability that dates money (payments, fees, settlement, reconciliation, statements).
"""

from __future__ import annotations

import datetime as dt

from zhifu.core.clock import SHANGHAI, UTC
from zhifu.core.errors import InvalidRequest

CUTOFF = dt.time(23, 0)  # UnionPay's day ends at 23:00 Beijing time
CUTOFF_HOUR = CUTOFF.hour
NO_CUTOFF = dt.time(0, 0)  # the plain Shanghai calendar date


def business_date(at: dt.datetime, cutoff: dt.time = CUTOFF) -> dt.date:
    """The business date of a moment: its Shanghai date, or the next date at or after `cutoff`.

    cutoff=NO_CUTOFF (00:00) means no cut-off: the Shanghai calendar date.
    """
    if not isinstance(at, dt.datetime) or at.tzinfo is None:
        raise InvalidRequest("at must be a timezone-aware datetime", param="at")
    local = at.astimezone(SHANGHAI)
    if cutoff != NO_CUTOFF and local.time() >= cutoff:
        return local.date() + dt.timedelta(days=1)
    return local.date()


def day_end(d: dt.date) -> dt.datetime:
    """The instant business date `d` is cut off: 23:00 Beijing time on `d` (aware, in Shanghai time)."""
    return dt.datetime.combine(d, CUTOFF, SHANGHAI)


def window(d: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The UTC instants [start, end) of business date `d`: 23:00 Beijing the evening before to 23:00 on `d`."""
    end = day_end(d)
    return (end - dt.timedelta(days=1)).astimezone(UTC), end.astimezone(UTC)
