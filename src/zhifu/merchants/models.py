"""Merchant tables: merchants, their stores and terminals, and API keys."""

from __future__ import annotations

import enum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from zhifu.db.meta import metadata, utcnow_column


class MerchantStatus(enum.StrEnum):
    PENDING_REVIEW = "pending_review"
    CHANGES_REQUESTED = "changes_requested"
    REJECTED = "rejected"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    TERMINATED = "terminated"


merchants = Table(
    "merchants",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("status", String(20), nullable=False),
    Column("type", String(20), nullable=False),
    Column("legal_name", String(100), nullable=False),
    Column("short_name", String(25), nullable=False),
    Column("credit_code", String(18), nullable=True),
    Column("legal_person_name_enc", Text, nullable=False),  # personal data: encrypted and masked like the ID
    Column("legal_person_name_masked", String(50), nullable=False),
    Column("legal_person_id_enc", Text, nullable=False),
    Column("legal_person_id_masked", String(18), nullable=False),
    Column("phone_enc", Text, nullable=False),
    Column("phone_masked", String(20), nullable=False),
    Column("mcc", String(4), nullable=False),
    Column("town_code", String(12), nullable=False),
    Column("village_code", String(15), nullable=True),
    Column("address", String(200), nullable=False),
    Column("settle_bank", String(60), nullable=False),
    Column("settle_account_enc", Text, nullable=False),
    Column("settle_account_masked", String(40), nullable=False),
    Column("settle_account_name", String(100), nullable=False),
    Column("acquirer_id", String(40), nullable=False),
    Column("settlement_cycle", String(6), nullable=False, server_default="T+1"),
    Column("daily_cap_fen", BigInteger, nullable=True),
    Column("monthly_cap_fen", BigInteger, nullable=True),
    Column("review_note", Text, nullable=True),
    Column("frozen", String(1), nullable=False, server_default="N"),
    utcnow_column("created_at", index=True),
    utcnow_column("updated_at"),
    utcnow_column("activated_at", nullable=True),
    CheckConstraint(
        "status in ('pending_review','changes_requested','rejected','active','suspended','terminated')",
        name="status",
    ),
    CheckConstraint("type in ('enterprise','individual_business','micro')", name="type"),
    Index("ix_merchants_town_status", "town_code", "status"),
)

stores = Table(
    "merchant_stores",
    metadata,
    Column("merchant_id", String(32), ForeignKey("merchants.id"), primary_key=True),
    Column("id", String(32), primary_key=True),
    Column("name", String(60), nullable=False),
    Column("address", String(200), nullable=False, server_default=""),
    utcnow_column("created_at"),
)

terminals = Table(
    "merchant_terminals",
    metadata,
    Column("merchant_id", String(32), ForeignKey("merchants.id"), primary_key=True),
    Column("id", String(32), primary_key=True),
    Column("store_id", String(32), nullable=True),
    Column("terminal_no", String(8), nullable=False),
    Column("kind", String(12), nullable=False, server_default="pos"),
    utcnow_column("created_at"),
    UniqueConstraint("merchant_id", "terminal_no"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("merchant_id", String(32), ForeignKey("merchants.id"), nullable=True),
    Column("role", String(12), nullable=False),
    Column("lookup", String(16), nullable=False, unique=True),
    Column("secret_hash", String(64), nullable=False),
    Column("label", String(60), nullable=False, server_default=""),
    Column("status", String(8), nullable=False, server_default="active"),
    utcnow_column("created_at"),
    utcnow_column("revoked_at", nullable=True),
    CheckConstraint("role in ('merchant','operator')", name="role"),
    CheckConstraint("status in ('active','revoked')", name="status"),
)
