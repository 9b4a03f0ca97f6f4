"""Console tables: people who log in, their server-side sessions, and failed logins for throttling."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Column, Index, Integer, String, Table

from zhifu.db.meta import metadata, utcnow_column

console_users = Table(
    "console_users",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("password_hash", String(200), nullable=False),  # argon2id, with its parameters and salt
    Column("role", String(12), nullable=False),
    Column("merchant_id", String(32), nullable=True),
    Column("institution_id", String(40), nullable=True),
    Column("biller_id", String(40), nullable=True),
    Column("display_name", String(60), nullable=False, server_default=""),
    Column("status", String(10), nullable=False, server_default="active"),
    utcnow_column("created_at"),
    utcnow_column("last_login_at", nullable=True),
    CheckConstraint("role in ('regulator','operator','merchant','biller','complaints')", name="role"),
    CheckConstraint("status in ('active','disabled')", name="status"),
    CheckConstraint("role <> 'merchant' or merchant_id is not null", name="merchant_scope"),
    CheckConstraint("role <> 'operator' or institution_id is not null", name="operator_scope"),
    CheckConstraint("role <> 'biller' or biller_id is not null", name="biller_scope"),
)

# Only a digest of the session token is stored: a copy of the table opens no one's session.
console_sessions = Table(
    "console_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", String(32), nullable=False, index=True),
    Column("csrf_token", String(64), nullable=False),
    Column("ip", String(64), nullable=False, server_default=""),
    utcnow_column("created_at"),
    utcnow_column("expires_at", index=True),
)

login_failures = Table(
    "console_login_failures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False),
    Column("ip", String(64), nullable=False),
    utcnow_column("at"),
    Index("ix_console_login_failures_who", "username", "ip", "at"),
)

# One row per console form submitted: a form carries a one-time token, and the action and this row commit
# together, so a double click or a resent POST acts once and shows the first submission's result.
console_form_tokens = Table(
    "console_form_tokens",
    metadata,
    Column("token", String(64), primary_key=True),
    Column("user_id", String(32), nullable=False),
    Column("result_url", String(300), nullable=False, server_default=""),
    utcnow_column("created_at", index=True),
)
