"""投诉表 / complaint tables: complaints with their clocks, the payments they are about, their timeline,
attachments, refund proposals (maker-checker), messages to complainants, one-time codes and the rules."""

from __future__ import annotations

import enum

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

from zhifu.db.meta import metadata, utcnow_column


class Status(enum.StrEnum):
    ASSIGNED = "assigned"  # logged and routed to an institution, waiting for its first response
    RESPONDED = "responded"  # acknowledged: the complainant was told it is being handled
    ESCALATED = "escalated"  # handed to the PBOC office (12363), by the complainant, a handler or a breach
    RESOLVED = "resolved"  # decided and the complainant told
    CLOSED = "closed"  # rated by the complainant, or closed without a rating


OPEN = (Status.ASSIGNED, Status.RESPONDED, Status.ESCALATED)
CATEGORIES = (
    "payment_failed_money_taken",
    "double_charge",
    "refund_not_received",
    "discount_not_given",
    "merchant_refuses_smart_pay",
    "fees",
    "data_misuse",
    "fraud",
    "other",
)
SOURCES = ("public_page", "merchant_portal", "phone", "api", "pboc_12363")
OUTCOMES = ("monetary_relief", "non_monetary_relief", "explanation")  # the CFPB's company responses
ASSIGNEE_KINDS = ("acquirer", "issuer", "platform", "pboc")


def _in(name: str, values: tuple[str, ...]) -> str:
    return f"{name} in ({', '.join(repr(v) for v in values)})"


# One row per complaint. A complaint about a merchant carries its merchant_id (merchant-scoped), one about
# the platform or a card has none; the table is county-sized (thousands a year), not payment-sized.
complaints = Table(
    "complaints",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("merchant_id", String(32), nullable=True),
    Column("source", String(16), nullable=False),
    Column("external_ref", String(40), nullable=True),  # the 12363 referral number
    Column("category", String(32), nullable=False),
    Column("kind", String(12), nullable=False),  # transaction | service
    Column("status", String(10), nullable=False),
    Column("assignee_kind", String(10), nullable=False),
    Column("assignee_org", String(40), nullable=False),  # an institution id, "platform" or "pboc"
    Column("handler", String(64), nullable=True),
    Column("phone_enc", Text, nullable=False),
    Column("phone_masked", String(20), nullable=False),
    Column("phone_index", String(64), nullable=False),
    Column("narrative", Text, nullable=False),
    Column("narrative_consent", Boolean, nullable=False, server_default=false()),
    Column("claimed_fen", BigInteger, nullable=True),
    Column("town_code", String(12), nullable=True),
    Column("channel", String(20), nullable=True),
    Column("clock_estimated", Boolean, nullable=False, server_default=false()),
    utcnow_column("received_at"),
    utcnow_column("ack_due_at"),
    utcnow_column("base_due_at"),  # the decision deadline before any extension
    utcnow_column("decide_due_at"),
    utcnow_column("remind_at"),
    utcnow_column("acknowledged_at", nullable=True),
    utcnow_column("reminded_at", nullable=True),
    utcnow_column("ack_overdue_at", nullable=True),
    utcnow_column("escalated_at", nullable=True),
    utcnow_column("decided_at", nullable=True),
    utcnow_column("closed_at", nullable=True),
    Column("extension_reason", Text, nullable=True),
    Column("extensions", Integer, nullable=False, server_default="0"),
    Column("escalation_reason", Text, nullable=True),
    Column("outcome", String(20), nullable=True),
    Column("decision", Text, nullable=True),
    Column("relief_fen", BigInteger, nullable=False, server_default="0"),
    Column("rating", Integer, nullable=True),
    Column("rating_comment", String(200), nullable=True),
    Column("rate_token_hash", String(64), nullable=True, unique=True),
    Column("repeat_filings", Integer, nullable=False, server_default="0"),
    utcnow_column("created_at"),
    utcnow_column("updated_at"),
    CheckConstraint(_in("status", tuple(s.value for s in Status)), name="status"),
    CheckConstraint(_in("category", CATEGORIES), name="category"),
    CheckConstraint(_in("source", SOURCES), name="source"),
    CheckConstraint(_in("assignee_kind", ASSIGNEE_KINDS), name="assignee_kind"),
    CheckConstraint("outcome is null or " + _in("outcome", OUTCOMES), name="outcome"),
    CheckConstraint("rating is null or rating between 1 and 5", name="rating"),
    CheckConstraint("relief_fen >= 0 and (claimed_fen is null or claimed_fen >= 0)", name="amounts"),
    CheckConstraint("decide_due_at >= base_due_at", name="extension_forward"),
    CheckConstraint("(status in ('resolved','closed')) = (decided_at is not null)", name="decided"),
    UniqueConstraint("source", "external_ref"),
    Index("ix_complaints_status_due", "status", "decide_due_at"),
    Index("ix_complaints_received", "received_at"),
    Index("ix_complaints_merchant", "merchant_id", "received_at"),
    Index("ix_complaints_phone", "phone_index"),
)

# The payments a complaint is about: a transaction-based complaint has one or more; a second complaint about
# the same payment is linked to the first, not duplicated.
complaint_payments = Table(
    "complaint_payments",
    metadata,
    Column("complaint_id", String(32), primary_key=True),
    Column("merchant_id", String(32), primary_key=True),
    Column("payment_id", String(32), primary_key=True),
    utcnow_column("linked_at"),
    Index("ix_complaint_payments_payment", "merchant_id", "payment_id"),
)

# The timeline: every action, who took it and what it said. Never edited.
complaint_events = Table(
    "complaint_events",
    metadata,
    Column("complaint_id", String(32), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("kind", String(24), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("data", JSON, nullable=True),
    utcnow_column("at"),
)

complaint_attachments = Table(
    "complaint_attachments",
    metadata,
    Column("complaint_id", String(32), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("filename", String(120), nullable=False),
    Column("content_type", String(40), nullable=False),
    Column("size_bytes", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("data", LargeBinary, nullable=False),
    utcnow_column("created_at"),
    CheckConstraint("size_bytes > 0", name="size"),
)

# A refund the handler proposes to settle a complaint; it reaches the payments service only when a second
# person approves it.
complaint_refunds = Table(
    "complaint_refunds",
    metadata,
    Column("complaint_id", String(32), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("merchant_id", String(32), nullable=False),
    Column("payment_id", String(32), nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("status", String(10), nullable=False),
    Column("note", String(200), nullable=False, server_default=""),
    Column("proposed_by", String(64), nullable=False),
    Column("decided_by", String(64), nullable=True),
    Column("refund_id", String(32), nullable=True),
    utcnow_column("created_at"),
    utcnow_column("decided_at", nullable=True),
    CheckConstraint("amount_fen > 0", name="amount"),
    CheckConstraint("status in ('proposed','approved','rejected')", name="status"),
    CheckConstraint("decided_by is null or decided_by <> proposed_by", name="maker_checker"),
    Index("ix_complaint_refunds_payment", "merchant_id", "payment_id", "status"),
)

# Messages to complainants (acknowledgement, extension notice, outcome): written in the action's transaction,
# handed to the SMS sender after the commit (no network call inside a transaction), retried until sent.
complaint_messages = Table(
    "complaint_messages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("complaint_id", String(32), nullable=False, index=True),
    Column("phone_enc", Text, nullable=False),
    Column("phone_masked", String(20), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("text", Text, nullable=False),
    Column("status", String(8), nullable=False),
    Column("sender", String(20), nullable=True),
    Column("attempts", Integer, nullable=False, server_default="0"),
    utcnow_column("created_at"),
    utcnow_column("sent_at", nullable=True),
    CheckConstraint("status in ('pending','sent','failed')", name="status"),
    Index("ix_complaint_messages_status", "status", "id"),
)

# One-time codes that prove a public-page complainant holds the phone: only a digest is kept.
complaint_otps = Table(
    "complaint_otps",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("phone_index", String(64), nullable=False),
    Column("code_hash", String(64), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    utcnow_column("created_at"),
    utcnow_column("expires_at"),
    utcnow_column("used_at", nullable=True),
    Index("ix_complaint_otps_phone", "phone_index", "created_at"),
)

# The operator's settings of the rules (one row; absent means the defaults of the 2020 PBOC rule).
complaint_rules = Table(
    "complaint_rules",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("ack_working_days", Integer, nullable=False),
    Column("decide_days", Integer, nullable=False),
    Column("decide_basis", String(10), nullable=False),
    Column("extend_days_max", Integer, nullable=False),
    Column("remind_working_days", Integer, nullable=False),
    Column("updated_by", String(64), nullable=False, server_default=""),
    utcnow_column("updated_at"),
    CheckConstraint("decide_basis in ('working','calendar')", name="basis"),
    CheckConstraint(
        "ack_working_days between 0 and 30 and decide_days between 1 and 366 "
        "and extend_days_max between 0 and 366 and remind_working_days between 0 and 30",
        name="ranges",
    ),
)
