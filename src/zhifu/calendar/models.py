"""Calendar tables: the years the calendar covers and their listed days (global reference data)."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Column, Date, Index, Integer, String, Table

from zhifu.db.meta import metadata, utcnow_column

# A year is covered when it has a row here, even with no listed day: weekdays work, weekends rest.
calendar_years = Table(
    "calendar_years",
    metadata,
    Column("year", Integer, primary_key=True, autoincrement=False),
    Column("source", String(200), nullable=False),  # "chinesecalendar 1.x" or the imported file's name
    Column("day_count", Integer, nullable=False),
    utcnow_column("imported_at"),
)

# Days that differ from the Monday–Friday rule: `holiday` (a day off, weekends of a holiday period included)
# and `workday` (a make-up working day, 调休, on a Saturday or Sunday).
calendar_days = Table(
    "calendar_days",
    metadata,
    Column("day", Date, primary_key=True),
    Column("year", Integer, nullable=False),
    Column("kind", String(8), nullable=False),
    Column("name", String(60), nullable=False, server_default=""),
    CheckConstraint("kind in ('holiday','workday')", name="kind"),
    Index("ix_calendar_days_year", "year"),
)
