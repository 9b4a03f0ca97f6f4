"""Payment-code tables: static codes (码牌) per merchant or store, dynamic codes per payment, and the cashier's
record of each payment it started (one per page-load token)."""

from __future__ import annotations

import enum

from sqlalchemy import BigInteger, CheckConstraint, Column, Date, Index, String, Table, text

from zhifu.db.meta import metadata, utcnow_column


class CodeKind(enum.StrEnum):
    STATIC = "static"
    DYNAMIC = "dynamic"


class CodeStatus(enum.StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"
    USED = "used"  # a dynamic code whose payment succeeded


# Merchant-scoped: merchant_id leads the primary key; the code id is globally unique by construction (ULID),
# and the cashier finds a scanned code through the plain index on id.
payment_codes = Table(
    "payment_codes",
    metadata,
    Column("merchant_id", String(32), primary_key=True),
    Column("id", String(32), primary_key=True),
    Column("kind", String(8), nullable=False),
    Column("scope", String(32), nullable=False, server_default=""),  # the store id, or "" for the merchant
    Column("store_id", String(32), nullable=True),
    Column("status", String(8), nullable=False),
    Column("amount_fen", BigInteger, nullable=True),
    Column("description", String(128), nullable=False, server_default=""),
    Column("payment_id", String(32), nullable=True),
    Column("revoke_reason", String(200), nullable=True),
    utcnow_column("created_at"),
    utcnow_column("expires_at", nullable=True),
    utcnow_column("revoked_at", nullable=True),
    CheckConstraint("kind in ('static','dynamic')", name="kind"),
    CheckConstraint("status in ('active','revoked','used')", name="status"),
    CheckConstraint(
        "(kind = 'static' and amount_fen is null and expires_at is null) or "
        "(kind = 'dynamic' and amount_fen > 0 and expires_at is not null)",
        name="kind_fields",
    ),
    Index("ix_payment_codes_id", "id"),
    # one active static code per merchant or store
    Index(
        "uq_payment_codes_active_static",
        "merchant_id",
        "scope",
        unique=True,
        sqlite_where=text("kind = 'static' and status = 'active'"),
        postgresql_where=text("kind = 'static' and status = 'active'"),
    ),
)

cashier_payments = Table(
    "cashier_payments",
    metadata,
    Column("merchant_id", String(32), primary_key=True),
    Column(
        "token", String(40), primary_key=True
    ),  # the page-load token, also the payment's merchant_order_no
    Column("code_id", String(32), nullable=False),
    Column("code_kind", String(8), nullable=False),
    Column("payment_id", String(32), nullable=False),
    Column("app", String(12), nullable=False),
    Column("channel", String(20), nullable=False),
    Column("payer_ref", String(64), nullable=False),
    Column("scene", String(8), nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("discount_fen", BigInteger, nullable=False, server_default="0"),
    Column("status", String(12), nullable=False),  # the payment's status as last seen by the cashier
    Column("local_date", Date, nullable=False),  # the payer's day in Asia/Shanghai, for daily limits
    utcnow_column("created_at"),
    CheckConstraint("amount_fen > 0 and discount_fen >= 0 and discount_fen < amount_fen", name="amounts"),
    Index("ix_cashier_payments_payer_day", "payer_ref", "local_date"),
    Index("ix_cashier_payments_code", "merchant_id", "code_id"),
)
