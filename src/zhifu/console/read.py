"""控制台用户的读取 / Reads of console users for other capabilities (the programme office's commands)."""

from __future__ import annotations

from sqlalchemy import Connection, Row, select

from zhifu.console.models import console_users


def user_by_username(conn: Connection, username: str) -> Row | None:
    """The console user with this name (id, username, role, status), or None."""
    u = console_users.c
    return conn.execute(select(u.id, u.username, u.role, u.status).where(u.username == username)).first()
