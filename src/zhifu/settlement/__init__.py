"""Settlement: business dates, settlement cycles and paying merchants."""

from zhifu.settlement.calendar import (
    SettleDate,
    business_date,
    is_working_day,
    next_working_day,
    settle_date,
)

__all__ = ["SettleDate", "business_date", "is_working_day", "next_working_day", "settle_date"]
