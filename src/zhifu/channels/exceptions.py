"""Record and list what the rails left for a person: refused notifications and unanswered payments or refunds."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from sqlalchemy import Connection, and_, select

from zhifu.channels.models import rail_exceptions
from zhifu.core import clock
from zhifu.core.paging import page_limit

EXCERPT_CHARS_MAX = 500
EXCEPTION_KINDS = {  # kind -> how the operator's list names it
    "bad_notification": "通知无效 / notification refused",
    "bad_signature": "签名无效 / bad signature",
    "merchant_mismatch": "他人订单 / another merchant's order",
    "amount_mismatch": "金额不符 / amount differs",
    "resource_missing": "订单不存在 / no such order",
    "unresolved_payment": "支付无最终结果 / payment without a final answer",
    "unresolved_refund": "退款无最终结果 / refund without a final answer",
    "unclosed_payment": "过期未能关单 / expired order the rail has not closed",
}


def record_exception(
    conn: Connection,
    channel: str,
    kind: str,
    reason: str,
    body: bytes | None = None,
    *,
    object_id: str | None = None,
    at: dt.datetime | None = None,
) -> None:
    """Add one line to the exception list; the same object and kind are listed once."""
    if (
        object_id is not None
        and conn.execute(
            select(rail_exceptions.c.id).where(
                and_(rail_exceptions.c.object_id == object_id, rail_exceptions.c.kind == kind)
            )
        ).first()
    ):
        return
    conn.execute(
        rail_exceptions.insert(),
        [
            {
                "channel": channel[:20],
                "kind": kind[:40],
                "reason": reason[:500],
                "object_id": object_id,
                "body_sha256": hashlib.sha256(body).hexdigest() if body is not None else None,
                "excerpt": body.decode("utf-8", "replace")[:EXCERPT_CHARS_MAX] if body is not None else None,
                "created_at": at or clock.now(),
            }
        ],
    )


def list_exceptions(conn: Connection, *, limit: int = 50) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(rail_exceptions).order_by(rail_exceptions.c.id.desc()).limit(page_limit(limit))
    ).all()
    return [dict(r._mapping) for r in rows]
