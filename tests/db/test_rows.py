"""first_row: the first row or None, locked for the transaction on PostgreSQL when asked (another transaction's
NOWAIT lock of the same row is refused), a plain read on SQLite (no FOR UPDATE, which SQLite cannot parse)."""

from __future__ import annotations

import pytest
from sqlalchemy import column, event, select, table, text
from sqlalchemy.exc import OperationalError

from zhifu.db import Database
from zhifu.db.rows import first_row
from zhifu.incentives.models import campaigns


def _seen(db: Database, lock: bool) -> list[str]:
    statements: list[str] = []
    with db.engine.connect() as conn:
        conn.exec_driver_sql("SELECT 1")  # the connection is open before we listen

        def note(_conn, _cursor, statement, *_a):  # type: ignore[no-untyped-def]
            statements.append(statement)

        event.listen(db.engine, "before_cursor_execute", note)
        try:
            assert first_row(conn, select(campaigns).where(campaigns.c.id == "nope"), lock=lock) is None
        finally:
            event.remove(db.engine, "before_cursor_execute", note)
    return statements


def test_none_when_missing_and_for_update_only_on_postgresql(db: Database) -> None:
    pg = db.engine.dialect.name == "postgresql"
    assert not any("FOR UPDATE" in s for s in _seen(db, lock=False))
    assert any("FOR UPDATE" in s for s in _seen(db, lock=True)) is pg


@pytest.mark.pg
def test_a_locked_row_refuses_another_transactions_nowait(db: Database) -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite's writer holds the file")
    with db.engine.begin() as c:
        c.execute(text("CREATE TABLE rows_probe (id text PRIMARY KEY, n int)"))
        c.execute(text("INSERT INTO rows_probe VALUES ('a', 1)"))
    probe = text("SELECT * FROM rows_probe WHERE id = 'a' FOR UPDATE NOWAIT")
    try:
        t = table("rows_probe", column("id"), column("n"))
        with db.engine.begin() as holder:
            row = first_row(holder, select(t).where(t.c.id == "a"), lock=True)
            assert row is not None and row.n == 1
            with db.engine.connect() as other, pytest.raises(OperationalError):
                other.execute(probe)
        with db.engine.begin() as c:  # released at commit
            assert c.execute(probe).first() is not None
    finally:
        with db.engine.begin() as c:
            c.execute(text("DROP TABLE rows_probe"))
