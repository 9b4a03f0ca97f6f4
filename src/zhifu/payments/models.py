"""Payment and refund tables, and the idempotency records of the API."""

from __future__ import annotations

import enum

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    Index,
    String,
    Table,
    UniqueConstraint,
)

from zhifu.db.meta import metadata, utcnow_column


class PaymentStatus(enum.StrEnum):
    """支付状态 / A payment's life: created, processing at its rail, then one final state."""

    CREATED = "created"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CLOSED = "closed"
    EXPIRED = "expired"


class RefundStatus(enum.StrEnum):
    """退款状态 / A refund: pending until its rail answers, then succeeded or failed."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


OPEN_STATUSES = (PaymentStatus.CREATED, PaymentStatus.PROCESSING)
FINAL_STATUSES = (PaymentStatus.SUCCEEDED, PaymentStatus.FAILED, PaymentStatus.CLOSED, PaymentStatus.EXPIRED)

payments = Table(
    "payments",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("merchant_id", String(32), nullable=False),
    Column("merchant_order_no", String(64), nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("discount_fen", BigInteger, nullable=False, server_default="0"),
    Column("currency", String(3), nullable=False),
    Column("channel", String(20), nullable=False),
    Column("flow", String(12), nullable=False),  # dynamic_code | pay_code | static_code | terminal
    Column("status", String(12), nullable=False),
    Column("description", String(128), nullable=False, server_default=""),
    Column("notify_url", String(512), nullable=True),
    Column("metadata", JSON, nullable=True),
    Column("code_url", String(512), nullable=True),
    Column("channel_ref", String(40), nullable=True),
    Column("payer_ref", String(64), nullable=True),
    Column("card_issuer", String(40), nullable=True),
    Column("card_type", String(10), nullable=True),
    Column("fee_fen", BigInteger, nullable=False, server_default="0"),
    Column("cost_fen", BigInteger, nullable=False, server_default="0"),
    Column("refunded_fen", BigInteger, nullable=False, server_default="0"),
    Column("fee_refunded_fen", BigInteger, nullable=False, server_default="0"),
    Column("failure_code", String(40), nullable=True),
    Column("failure_message", String(200), nullable=True),
    Column("business_date", Date, nullable=True),
    Column("store_id", String(32), nullable=True),
    Column("campaign_ref", String(64), nullable=True),
    utcnow_column("created_at"),
    utcnow_column("updated_at"),
    utcnow_column("expires_at"),
    utcnow_column("succeeded_at", nullable=True),
    CheckConstraint("amount_fen > 0 and discount_fen >= 0 and discount_fen < amount_fen", name="amounts"),
    CheckConstraint("refunded_fen >= 0 and refunded_fen <= amount_fen", name="refunded_within_amount"),
    CheckConstraint("fee_refunded_fen >= 0 and fee_refunded_fen <= fee_fen", name="fee_refunded"),
    CheckConstraint(
        "status in ('created','processing','succeeded','failed','closed','expired')", name="status"
    ),
    UniqueConstraint("merchant_id", "merchant_order_no"),
    Index("ix_payments_merchant_id", "merchant_id", "id"),
    Index("ix_payments_status_expires", "status", "expires_at"),
    Index("ix_payments_channel_ref", "channel", "channel_ref"),
    Index("ix_payments_business_date", "business_date", "merchant_id"),
    # the history of successes in (succeeded_at, id) order, which the risk monitor reads past its cursor
    Index("ix_payments_status_succeeded", "status", "succeeded_at", "id"),
)

refunds = Table(
    "refunds",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("merchant_id", String(32), nullable=False),
    Column("payment_id", String(32), nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("fee_refunded_fen", BigInteger, nullable=False, server_default="0"),
    Column("status", String(10), nullable=False),
    Column(
        "merchant_refund_no", String(64), nullable=False
    ),  # 商户退款单号: one refund per number per payment
    Column("reason", String(200), nullable=False, server_default=""),
    Column("channel_ref", String(40), nullable=True),
    Column("failure_code", String(40), nullable=True),
    Column("business_date", Date, nullable=True),
    utcnow_column("created_at"),
    utcnow_column("updated_at"),
    CheckConstraint("amount_fen > 0", name="amount_positive"),
    CheckConstraint("status in ('pending','succeeded','failed')", name="status"),
    UniqueConstraint("merchant_id", "payment_id", "merchant_refund_no"),
    Index("ix_refunds_payment", "payment_id"),
    Index("ix_refunds_merchant_id", "merchant_id", "id"),
)

channel_notifications = Table(
    "channel_notifications",
    metadata,
    Column("channel", String(20), primary_key=True),
    Column("notify_id", String(64), primary_key=True),
    Column("payment_id", String(32), nullable=True),
    Column("outcome", String(20), nullable=False),
    utcnow_column("received_at"),
)
