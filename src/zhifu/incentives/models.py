"""Incentive tables: campaigns, their rule versions, awards per payment, cap counters, abuse flags and rollups."""

from __future__ import annotations

import enum

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
)

from zhifu.db.meta import metadata, utcnow_column


class CampaignStatus(enum.StrEnum):
    """活动状态 / A campaign prices payments while active; paused ones may resume; ended is final."""

    ACTIVE = "active"
    PAUSED = "paused"
    ENDED = "ended"


# A campaign: who funds it and how it stands. Its rules live in versions; its money in the ledger account
# campaign_budget:<id> (a no_overdraft liability), so the budget can never go below zero.
campaigns = Table(
    "campaigns",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("funder", String(40), nullable=False),
    Column("status", String(8), nullable=False),
    Column("seed", String(64), nullable=False),
    Column("version", Integer, nullable=False),  # the current rules version
    Column("funded_fen", BigInteger, nullable=False, server_default="0"),
    utcnow_column("created_at"),
    utcnow_column("updated_at"),
    CheckConstraint("status in ('active','paused','ended')", name="status"),
    CheckConstraint("funded_fen >= 0", name="funded"),
)

# Rules are never edited: a change writes the next version; a payment keeps the version it was priced with.
campaign_versions = Table(
    "campaign_versions",
    metadata,
    Column("campaign_id", String(32), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("rules", JSON, nullable=False),
    utcnow_column("created_at"),
)

# One row per benefit given on a payment: the instant discount (held at creation, posted on success),
# the cost refund and the subsidy (accrued on success), the fee waiver (recorded, no money moves).
campaign_awards = Table(
    "campaign_awards",
    metadata,
    Column("merchant_id", String(32), primary_key=True),
    Column("payment_id", String(32), primary_key=True),
    Column("campaign_id", String(32), primary_key=True),
    Column("kind", String(12), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("clawed_back_fen", BigInteger, nullable=False, server_default="0"),
    Column("status", String(8), nullable=False),
    Column("hold_id", String(32), nullable=True),
    Column("payer_key", String(64), nullable=True),
    Column("town_code", String(12), nullable=False),
    Column("acquirer_id", String(40), nullable=False),
    Column("day", String(10), nullable=False),  # Asia/Shanghai date of the award
    utcnow_column("created_at"),
    utcnow_column("updated_at"),
    CheckConstraint("kind in ('discount','cost_refund','subsidy','fee_waiver')", name="kind"),
    CheckConstraint("status in ('held','posted','released')", name="status"),
    CheckConstraint(
        "amount_fen >= 0 and clawed_back_fen >= 0 and clawed_back_fen <= amount_fen", name="amounts"
    ),
    Index("ix_campaign_awards_campaign_day", "campaign_id", "day"),
    Index("ix_campaign_awards_payment", "payment_id"),
    Index("ix_campaign_awards_payer", "payer_key", "merchant_id", "created_at"),
)

# What a refund gave back to the budget (the discount share) and what the payer's rail returns.
campaign_clawbacks = Table(
    "campaign_clawbacks",
    metadata,
    Column("merchant_id", String(32), primary_key=True),
    Column("refund_id", String(32), primary_key=True),
    Column("payment_id", String(32), nullable=False),
    Column("campaign_id", String(32), nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("status", String(8), nullable=False),
    utcnow_column("created_at"),
    CheckConstraint("amount_fen >= 0", name="amount"),
    CheckConstraint("status in ('pending','posted','voided')", name="status"),
)

# Cap counters: one row per campaign × scope × subject × day ('*' for the whole campaign), updated with a
# conditional UPDATE (… WHERE used_fen + x <= cap) in the transaction that grants the benefit.
campaign_counters = Table(
    "campaign_counters",
    metadata,
    Column("campaign_id", String(32), primary_key=True),
    Column("scope", String(16), primary_key=True),
    Column("subject", String(64), primary_key=True),
    Column("day", String(10), primary_key=True),
    Column("used_fen", BigInteger, nullable=False, server_default="0"),
    Column("hits", Integer, nullable=False, server_default="0"),
    CheckConstraint("scope in ('payer_day','payer_campaign','merchant_day')", name="scope"),
    CheckConstraint("used_fen >= 0 and hits >= 0", name="non_negative"),
)

# Flags for the risk monitor: a payer splitting one purchase into many discounted payments, or hitting a cap.
campaign_flags = Table(
    "campaign_flags",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("campaign_id", String(32), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("payer_key", String(64), nullable=False),
    Column("merchant_id", String(32), nullable=False),
    Column("day", String(10), nullable=False),
    Column("payments", Integer, nullable=False),
    Column("detail", String(200), nullable=False, server_default=""),
    utcnow_column("created_at"),
    utcnow_column("updated_at"),
    CheckConstraint("kind in ('split_purchase','cap_reached')", name="kind"),
    UniqueConstraint("campaign_id", "kind", "payer_key", "merchant_id", "day"),
)

# Merchants the operator designates to a commerce circle (the county profile names the circles).
circle_merchants = Table(
    "campaign_circle_merchants",
    metadata,
    Column("circle_id", String(40), primary_key=True),
    Column("merchant_id", String(32), primary_key=True),
    utcnow_column("created_at"),
)

# Payers seen paying (for "new payers only") and a daily rollup of successful payments per merchant (for the
# effect view), both maintained as payments succeed. A merchant's day is kept in up to MERCHANT_DAY_SLOTS rows
# (a payment adds to its connection's slot, `zhifu.db.slots`; readers sum them), so a busy merchant's concurrent payments do not
# queue on one counter row.
MERCHANT_DAY_SLOTS = 64
incentive_payers = Table(
    "incentive_payers",
    metadata,
    Column("payer_key", String(64), primary_key=True),
    Column("first_payment_id", String(32), nullable=False),
    utcnow_column("first_paid_at"),
)

merchant_days = Table(
    "incentive_merchant_days",
    metadata,
    Column("merchant_id", String(32), primary_key=True),
    Column("day", String(10), primary_key=True),
    Column("slot", Integer, primary_key=True, autoincrement=False, server_default="0"),
    Column("payments", Integer, nullable=False, server_default="0"),
    Column("amount_fen", BigInteger, nullable=False, server_default="0"),
    CheckConstraint(f"slot >= 0 and slot < {MERCHANT_DAY_SLOTS}", name="slot"),
)
