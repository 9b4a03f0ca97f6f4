"""Webhook endpoints, events, and the outbox of deliveries."""

from sqlalchemy import JSON, Column, Index, Integer, String, Table, Text

from zhifu.db.meta import metadata, utcnow_column

endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("merchant_id", String(32), primary_key=True),
    Column("id", String(32), primary_key=True),
    Column("url", String(512), nullable=False),
    Column("events", JSON, nullable=False),
    Column("secret", String(64), nullable=False),
    Column("status", String(10), nullable=False, server_default="enabled"),
    utcnow_column("created_at"),
    Index("ix_webhook_endpoints_id", "id", unique=True),
)

events = Table(
    "events",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("merchant_id", String(32), nullable=False),
    Column("type", String(40), nullable=False),
    Column("data", JSON, nullable=False),
    utcnow_column("created_at"),
    Index("ix_events_merchant_id", "merchant_id", "id"),
)

deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(32), nullable=False),
    Column("endpoint_id", String(32), nullable=False),
    Column("merchant_id", String(32), nullable=False),
    Column("status", String(10), nullable=False),  # pending | delivered | failed
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", Text, nullable=True),
    utcnow_column("next_attempt_at"),
    utcnow_column("delivered_at", nullable=True),
    Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
)
