"""幂等键 / The API's Idempotency-Key table. It lives beside the metadata, below the capabilities, because two
layers write it: the API claims a key and keeps the answer (`zhifu.api.idempotency`), and the payment path
records its recovery point (the object the request's work created) in the work's own transaction
(`zhifu.payments.recovery`)."""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, String, Table, Text

from zhifu.db.meta import metadata, utcnow_column

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("scope", String(40), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("status", String(10), nullable=False),
    Column("response_status", Integer, nullable=True),
    Column("response_body", Text, nullable=True),
    # the recovery point: the object the request's work created, written in the work's own transaction, so a
    # retry after a crash answers with that object instead of doing the work again
    Column("resource_kind", String(20), nullable=True),
    Column("resource_id", String(32), nullable=True),
    utcnow_column("created_at"),
    utcnow_column("locked_at"),
    Index("ix_idempotency_keys_created", "created_at"),
)
