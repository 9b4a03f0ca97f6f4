"""事件的读取 / Reads of the outbox for other capabilities (complaints shows what a merchant was told)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import Connection, Row, select

from zhifu.webhooks.models import events


def events_since(conn: Connection, merchant_id: str, since: dt.datetime, *, limit: int) -> Sequence[Row]:
    """A merchant's events (id, type, data, created_at) created at or after `since`, oldest first, at most
    `limit`."""
    e = events.c
    return conn.execute(
        select(e.id, e.type, e.data, e.created_at)
        .where(e.merchant_id == merchant_id, e.created_at >= since)
        .order_by(e.id)
        .limit(limit)
    ).all()
