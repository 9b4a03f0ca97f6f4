"""公共事业缴费的退款复核与缴费人手机验证 / Refunds of bill payments under maker-checker, and the one-time codes
that prove a payer's phone before their history is shown.

`bill_refund_requests` is merchant-scoped (the biller's own merchant first in its key, as every bill table).
`bill_phone_codes` and `bill_code_limits` hold no personal data in the clear: the phone is a blind index, the
code a keyed hash, the caller's address a keyed hash."""

from __future__ import annotations

from sqlalchemy import (
    CheckConstraint,
    Column,
    Index,
    Integer,
    String,
    Table,
)

from zhifu.db.meta import metadata, utcnow_column

bill_refund_requests = Table(
    "bill_refund_requests",
    metadata,
    Column("merchant_id", String(32), primary_key=True),
    Column("id", String(32), primary_key=True),
    Column("biller_id", String(40), nullable=False),
    Column("payment_id", String(32), nullable=False),
    Column("reason", String(200), nullable=False),
    Column("status", String(10), nullable=False),  # pending | approved | rejected
    Column("proposed_by", String(64), nullable=False),
    Column("proposed_role", String(16), nullable=False),
    Column("decided_by", String(64), nullable=True),
    Column("decision_note", String(200), nullable=False, server_default=""),
    Column("refund_id", String(32), nullable=True),
    Column("receipt_no", String(32), nullable=True),
    utcnow_column("created_at"),
    utcnow_column("decided_at", nullable=True),
    CheckConstraint("status in ('pending','approved','rejected')", name="status"),
    Index("ix_bill_refund_requests_status", "merchant_id", "status"),
    Index("ix_bill_refund_requests_payment", "merchant_id", "payment_id"),
)

bill_phone_codes = Table(
    "bill_phone_codes",
    metadata,
    Column("phone_index", String(32), primary_key=True),  # blind index of the phone
    Column("code_hash", String(64), nullable=False),  # HMAC of the code under the platform secret
    Column("attempts", Integer, nullable=False, server_default="0"),
    utcnow_column("expires_at"),
    utcnow_column("created_at"),
    CheckConstraint("attempts >= 0", name="attempts"),
)

bill_code_limits = Table(
    "bill_code_limits",
    metadata,
    Column("key", String(80), primary_key=True),  # phone:<blind index> | ip:<keyed hash of the address>
    utcnow_column("window_start"),
    Column("sent", Integer, nullable=False),
    CheckConstraint("sent >= 0", name="sent"),
)
