"""The one MetaData every capability's tables hang on, with a naming convention Alembic can diff."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import Column, DateTime, MetaData, TypeDecorator

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Stores aware datetimes as UTC; always returns aware UTC (SQLite drops the zone otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: object) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: object) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def utcnow_column(name: str, *, nullable: bool = False, index: bool = False) -> Column[dt.datetime]:
    return Column(name, UTCDateTime(), nullable=nullable, index=index)


def utc_bind(dialect: Any) -> Callable[[dt.datetime | None], Any]:
    """What a UTCDateTime column hands this dialect's driver for a time, as one plain function: bulk writers
    that run executemany straight on the driver store exactly what a Core insert stores. On SQLite that is
    SQLAlchemy's text form of the UTC time, built here by `isoformat` (checked against the type's own
    processor); elsewhere the type's own processor."""
    column = UTCDateTime()
    slow = column.dialect_impl(dialect).bind_processor(dialect)
    if slow is None or dialect.name != "sqlite":
        return slow or (lambda value: value)
    utc = dt.UTC

    def fast(value: dt.datetime | None) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(utc).isoformat(" ", "microseconds")[:26]

    sample = dt.datetime(2021, 2, 3, 4, 5, 6, 7, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    if fast(sample) != slow(sample) or fast(sample.replace(microsecond=0)) != slow(
        sample.replace(microsecond=0)
    ):
        return slow  # a SQLAlchemy that writes another text form: keep its own
    return fast
