"""Reconciliation tables: imported files and their lines, batches with every line's and item's class, the pending
pool, and exception cases with their maker/checker trail."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from zhifu.db.meta import metadata, utcnow_column

# A file as received, one per kind, channel and business date; its sha256 recognises the same bytes again.
statement_files = Table(
    "recon_statement_files",
    metadata,
    Column("id", String(64), primary_key=True),  # sha256 of kind, channel, date and the file's own sha256
    Column("sha256", String(64), nullable=False),
    Column("kind", String(10), nullable=False),  # statement | payout
    Column("channel", String(20), nullable=False),  # a channel, or "bank" for payout results
    Column("business_date", Date, nullable=False),
    Column("format", String(10), nullable=False),  # zm | wechat | alipay | payout
    Column("filename", String(255), nullable=False, server_default=""),
    Column("size_bytes", BigInteger, nullable=False),
    Column("line_count", Integer, nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("imported_by", String(64), nullable=False, server_default=""),
    utcnow_column("imported_at"),
    CheckConstraint("kind in ('statement','payout')", name="kind"),
    UniqueConstraint("kind", "channel", "business_date"),
    Index("ix_recon_statement_files_sha256", "sha256"),
)

statement_lines = Table(
    "recon_statement_lines",
    metadata,
    Column("file_id", String(64), ForeignKey("recon_statement_files.id"), primary_key=True),
    Column("line_no", Integer, primary_key=True),
    Column("channel", String(20), nullable=False),
    Column("business_date", Date, nullable=False),
    Column("channel_ref", String(64), nullable=False),
    Column("merchant_order_no", String(64), nullable=False),
    Column("merchant_code", String(64), nullable=False),
    utcnow_column("txn_time"),
    Column("txn_type", String(8), nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("fee_fen", BigInteger, nullable=False),
    Column("status", String(12), nullable=False),
    Column("original_ref", String(64), nullable=True),
    Column("card_type", String(16), nullable=True),
    CheckConstraint("amount_fen > 0", name="amount_positive"),
    Index("ix_recon_statement_lines_ref", "channel", "channel_ref"),
)

payout_lines = Table(
    "recon_payout_lines",
    metadata,
    Column("file_id", String(64), ForeignKey("recon_statement_files.id"), primary_key=True),
    Column("line_no", Integer, primary_key=True),
    Column("business_date", Date, nullable=False),
    Column("batch_no", String(64), nullable=False),
    Column("payout_id", String(64), nullable=False),
    Column("merchant_id", String(32), nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("status", String(8), nullable=False),  # paid | failed
    Column("reason", String(200), nullable=False, server_default=""),
    Column("recon_class", String(40), nullable=True),  # set when matched against our payouts
    CheckConstraint("amount_fen > 0", name="amount_positive"),
    Index("ix_recon_payout_lines_payout", "payout_id"),
)

batches = Table(
    "recon_batches",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("channel", String(20), nullable=False),
    Column("business_date", Date, nullable=False),
    Column("file_id", String(64), ForeignKey("recon_statement_files.id"), nullable=False),
    Column("pending_days", Integer, nullable=False),
    Column("run_by", String(64), nullable=False, server_default=""),
    Column("summary", JSON, nullable=False),  # counts and amounts by side and class, frozen at the run
    utcnow_column("created_at"),
    CheckConstraint("pending_days >= 0", name="pending_days"),
    UniqueConstraint("channel", "business_date"),
    Index("ix_recon_batches_date", "business_date", "channel"),
)

line_results = Table(
    "recon_line_results",
    metadata,
    Column("batch_id", String(32), ForeignKey("recon_batches.id"), primary_key=True),
    Column("line_no", Integer, primary_key=True),
    Column("item_id", String(32), nullable=True),  # our payment or refund it was matched to
    Column("txn_type", String(8), nullable=False),
    Column("channel_ref", String(64), nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("recon_class", String(40), nullable=False),
)

# One row per payment or refund of ours that a batch looked at.
item_results = Table(
    "recon_item_results",
    metadata,
    Column("batch_id", String(32), ForeignKey("recon_batches.id"), primary_key=True),
    Column("item_id", String(32), primary_key=True),
    Column("txn_type", String(8), nullable=False),  # payment | refund
    Column("merchant_id", String(32), nullable=False),
    Column("line_no", Integer, nullable=True),
    Column("status", String(12), nullable=False),  # ours, when the batch ran
    Column("amount_fen", BigInteger, nullable=False),
    Column("recon_class", String(40), nullable=False),
    Column("resolution", String(20), nullable=True),  # auto_resolved | pending | case
    Column("ledger_check", String(20), nullable=True),  # ok | missing | amount_mismatch
    Index("ix_recon_item_results_item", "item_id"),
)

# Ours moved money, the channel has no line yet: waits here for pending_days before it is a discrepancy.
pending = Table(
    "recon_pending",
    metadata,
    Column("channel", String(20), primary_key=True),
    Column("item_id", String(32), primary_key=True),
    Column("txn_type", String(8), nullable=False),
    Column("merchant_id", String(32), nullable=False),
    Column("business_date", Date, nullable=False),  # ours
    Column("amount_fen", BigInteger, nullable=False),
    Column("status", String(10), nullable=False),  # waiting | matched | expired
    Column("first_batch_id", String(32), nullable=False),
    Column("closed_batch_id", String(32), nullable=True),
    utcnow_column("created_at"),
    utcnow_column("updated_at"),
    CheckConstraint("status in ('waiting','matched','expired')", name="status"),
    Index("ix_recon_pending_status", "channel", "status"),
)

cases = Table(
    "recon_cases",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("batch_id", String(32), ForeignKey("recon_batches.id"), nullable=False),
    Column("channel", String(20), nullable=False),
    Column("business_date", Date, nullable=False),
    Column("kind", String(40), nullable=False),
    Column("item_id", String(32), nullable=True),
    Column("line_no", Integer, nullable=True),
    Column("merchant_id", String(32), nullable=True),
    Column("ours_fen", BigInteger, nullable=False),  # what our book says the channel owes for the item
    Column("channel_fen", BigInteger, nullable=False),  # what the channel's file says
    Column("diff_fen", BigInteger, nullable=False),  # channel − ours, in receivable terms
    Column("fee_fen", BigInteger, nullable=False),  # the fee at stake when the whole item is one-sided
    Column("fee_diff_fen", BigInteger, nullable=False),  # channel fee − our fee
    Column("cost_fen", BigInteger, nullable=False),  # our channel cost, when the whole item is one-sided
    Column("suggested_action", String(30), nullable=False),
    Column("status", String(10), nullable=False),  # open | proposed | resolved
    Column("action", String(30), nullable=True),
    Column("proposed_by", String(64), nullable=True),
    Column("approved_by", String(64), nullable=True),
    Column("entry_key", String(160), nullable=True),  # the ledger entry the resolution posted
    utcnow_column("created_at"),
    utcnow_column("resolved_at", nullable=True),
    CheckConstraint("status in ('open','proposed','resolved')", name="status"),
    CheckConstraint("approved_by is null or approved_by <> proposed_by", name="maker_checker"),
    UniqueConstraint("batch_id", "kind", "item_id", "line_no"),
    Index("ix_recon_cases_status", "status", "business_date"),
)

case_events = Table(
    "recon_case_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", String(32), ForeignKey("recon_cases.id"), nullable=False),
    Column("event", String(12), nullable=False),  # opened | proposed | rejected | approved
    Column("actor", String(64), nullable=False),
    Column("action", String(30), nullable=True),
    Column("note", Text, nullable=False, server_default=""),
    utcnow_column("at"),
    Index("ix_recon_case_events_case", "case_id", "id"),
)
