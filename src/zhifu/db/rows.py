"""一行，按需加锁 / One row, locked when the caller asks: `SELECT … FOR UPDATE` on PostgreSQL, where concurrent
writers need the row lock; a plain read on SQLite, where the writer already holds the whole file (BEGIN IMMEDIATE)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, Select


def first_row(conn: Connection, query: Select[Any], *, lock: bool = False) -> Row[Any] | None:
    """The first row of `query` (None when there is none), locked for this transaction when `lock` is set."""
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return conn.execute(query).first()
