"""Consent records (PIPL arts. 14–16, 23, 29): who agreed to what use of their data, for whom, until when, how.

A payer is named by the blind index of their phone (keyed SM3), never the phone itself; a merchant by its id.
Consents are looked up by subject, not by merchant, so the key is the consent's id and the subject is indexed.
"""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Column, Index, String, Table, Text

from zhifu.db.meta import metadata, utcnow_column

PURPOSES = ("marketing", "credit_sharing", "analytics_export")
METHODS = ("app", "paper", "console", "api", "sms")

consents = Table(
    "consents",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("subject_type", String(8), nullable=False),  # payer | merchant
    Column("subject_key", String(32), nullable=False),  # payer: blind index of the phone; merchant: its id
    Column("purpose", String(20), nullable=False),
    Column("recipient", String(64), nullable=False, server_default=""),  # e.g. the lender; "" = Zhifu itself
    Column("scope", Text, nullable=False),  # what the person was told, in their words
    Column("data_categories", String(200), nullable=False),  # comma-separated: turnover, phone, …
    Column("method", String(8), nullable=False),
    Column("evidence_digest", String(64), nullable=True),  # SM3 of the signed form / app record
    utcnow_column("granted_at"),
    utcnow_column("expires_at", nullable=True),
    utcnow_column("withdrawn_at", nullable=True),
    CheckConstraint("subject_type in ('payer','merchant')", name="subject_type"),
    CheckConstraint(f"purpose in {PURPOSES}", name="purpose"),
    CheckConstraint(f"method in {METHODS}", name="method"),
    Index("ix_consents_subject", "subject_type", "subject_key", "purpose"),
)

REQUEST_KINDS = ("correction", "deletion")
REQUEST_STATUSES = ("pending", "applied", "rejected")

# Data-subject requests (PIPL arts. 46, 47): filed by one operator, applied or refused by another. A correction's
# new value is personal data: it is held encrypted only until the decision, then cleared (the owner's table
# holds it from then on). A payer is named by the blind index of their phone, as in `consents`.
subject_requests = Table(
    "subject_requests",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("subject_type", String(8), nullable=False),
    Column("subject_key", String(32), nullable=False),
    Column("subject_masked", String(40), nullable=False),  # 138****1234 or the merchant's id, for people
    Column("merchant_id", String(32), nullable=True),  # a merchant subject: scopes it to its acquirer
    Column("acquirer_id", String(40), nullable=True),  # whose operators may see and decide it
    Column("kind", String(12), nullable=False),
    Column("field", String(24), nullable=True),
    Column("value_enc", Text, nullable=True),
    Column("value_masked", String(60), nullable=True),
    Column("reason", Text, nullable=False),
    Column("status", String(10), nullable=False),
    Column("filed_by", String(64), nullable=False),
    utcnow_column("filed_at"),
    Column("decided_by", String(64), nullable=True),
    utcnow_column("decided_at", nullable=True),
    Column("note", Text, nullable=True),
    Column("result", Text, nullable=True),  # JSON: what was corrected, erased, withdrawn and kept, and why
    CheckConstraint("subject_type in ('payer','merchant')", name="subject_type"),
    CheckConstraint(f"kind in {REQUEST_KINDS}", name="kind"),
    CheckConstraint(f"status in {REQUEST_STATUSES}", name="status"),
    Index("ix_subject_requests_status", "status", "filed_at"),
    Index("ix_subject_requests_subject", "subject_type", "subject_key"),
)
