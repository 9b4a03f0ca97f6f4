"""Settlement tables: one batch per business date, one line per merchant and date, its payout, and the bank's
result files already applied."""

from __future__ import annotations

import enum

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
)

from zhifu.db.meta import metadata, utcnow_column


class BatchStatus(enum.StrEnum):
    """结算批次状态 / A settlement run: posted (ledger done), then filed (payout files written)."""

    POSTED = "posted"
    FILED = "filed"


class PayoutStatus(enum.StrEnum):
    """划款状态 / A payout: in transit until the bank's result file says paid or failed."""

    IN_TRANSIT = "in_transit"
    PAID = "paid"
    FAILED = "failed"


class LineStatus(enum.StrEnum):
    """结算明细状态 / A merchant's line of a run: its payout's status, or held (frozen, unknown merchant) or
    carried to a later date (nothing due, below the minimum, on hold)."""

    IN_TRANSIT = "in_transit"
    PAID = "paid"
    FAILED = "failed"
    HELD = "held"
    CARRIED = "carried"


# One run per business date; its batch_no names the payout files and comes back in the bank's result file.
settlement_batches = Table(
    "settlement_batches",
    metadata,
    Column("batch_no", String(20), primary_key=True),
    Column("business_date", Date, nullable=False, unique=True),
    Column("status", String(8), nullable=False),  # posted (ledger done) → filed (payout files written)
    Column("merchant_count", Integer, nullable=False),
    Column("payout_count", Integer, nullable=False),
    Column("payout_fen", BigInteger, nullable=False),
    Column("held_count", Integer, nullable=False),
    Column("held_fen", BigInteger, nullable=False),
    Column("carried_count", Integer, nullable=False),
    Column("carried_fen", BigInteger, nullable=False),
    Column("file_dir", String(400), nullable=True),
    utcnow_column("created_at"),
    utcnow_column("filed_at", nullable=True),
    CheckConstraint("status in ('posted','filed')", name="status"),
    CheckConstraint("payout_fen >= 0 and held_fen >= 0", name="amounts"),
)

# What a merchant is owed for a business date and what happened to it:
#   net = brought_forward + sales − refunds − (fee − fee_returned) + adjustments = payout + carried
settlements = Table(
    "settlements",
    metadata,
    Column("merchant_id", String(32), primary_key=True),
    Column("id", String(32), primary_key=True),
    Column("business_date", Date, nullable=False),
    Column("batch_no", String(20), nullable=False),
    Column("cycle", String(6), nullable=False),
    Column("settle_date", Date, nullable=False),
    Column("advanced", Boolean, nullable=False),
    Column("sales_count", Integer, nullable=False),
    Column("sales_fen", BigInteger, nullable=False),
    Column("refund_count", Integer, nullable=False),
    Column("refund_fen", BigInteger, nullable=False),
    Column("fee_fen", BigInteger, nullable=False),
    Column("fee_returned_fen", BigInteger, nullable=False),
    Column("adjustments_fen", BigInteger, nullable=False),  # subsidies ± adjustments: other ledger movement
    Column("brought_forward_fen", BigInteger, nullable=False),  # held, carried or returned from earlier dates
    Column("net_fen", BigInteger, nullable=False),
    Column("payout_fen", BigInteger, nullable=False),
    Column("carried_fen", BigInteger, nullable=False),
    Column("status", String(10), nullable=False),
    Column("reason", String(20), nullable=True),
    Column("payout_id", String(32), nullable=True),
    utcnow_column("created_at"),
    CheckConstraint("status in ('in_transit','paid','failed','held','carried')", name="status"),
    CheckConstraint("payout_fen >= 0 and payout_fen + carried_fen = net_fen", name="net_split"),
    CheckConstraint(
        "net_fen = brought_forward_fen + sales_fen - refund_fen - fee_fen + fee_returned_fen"
        " + adjustments_fen",
        name="net_formula",
    ),
    UniqueConstraint("merchant_id", "business_date"),
    Index("ix_settlements_batch", "batch_no"),
)

# A payout: one transfer to the merchant's own account. The bank's result file marks it paid or failed.
settlement_payouts = Table(
    "settlement_payouts",
    metadata,
    Column("merchant_id", String(32), primary_key=True),
    Column("id", String(32), primary_key=True),
    Column("settlement_id", String(32), nullable=False),
    Column("batch_no", String(20), nullable=False),
    Column("business_date", Date, nullable=False),
    Column("settle_date", Date, nullable=False),
    Column("advanced", Boolean, nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("bank", String(60), nullable=False),
    Column("account_masked", String(40), nullable=False),
    Column("account_name", String(100), nullable=False),
    Column("status", String(10), nullable=False),
    Column("reason", String(200), nullable=True),
    utcnow_column("created_at"),
    utcnow_column("resolved_at", nullable=True),
    CheckConstraint("amount_fen > 0", name="amount_positive"),
    CheckConstraint("status in ('in_transit','paid','failed')", name="status"),
    Index("ix_settlement_payouts_batch", "batch_no", "status"),
)

# Each bank result file applied, by its SHA-256: the same file twice is recognised and changes nothing.
settlement_result_files = Table(
    "settlement_result_files",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("batch_no", String(20), nullable=False),
    Column("filename", String(200), nullable=False, server_default=""),
    Column("line_count", Integer, nullable=False),
    Column("paid_count", Integer, nullable=False),
    Column("failed_count", Integer, nullable=False),
    utcnow_column("imported_at"),
)
