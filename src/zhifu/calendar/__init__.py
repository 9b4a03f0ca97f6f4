"""The working-day calendar as operator data: holidays and make-up working days (调休) per year, seeded from
chinesecalendar and extended by importing the State Council's notice of each new year."""

from zhifu.calendar.service import (
    WARN_DAYS,
    CalendarStatus,
    WorkingCalendar,
    import_csv,
    load,
    status,
)

__all__ = ["WARN_DAYS", "CalendarStatus", "WorkingCalendar", "import_csv", "load", "status"]
