"""Fee plan tables: merchant fee rules, per-merchant waivers and classes, and the channels' cost rates."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
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

# A rule: rate in ppm by channel × card type × merchant class ("*" matches any), effective on business dates
# [effective_from, effective_to). Rules are never edited once in force, only ended and superseded.
fee_rules = Table(
    "fee_rules",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("channel", String(20), nullable=False),
    Column("card_type", String(10), nullable=False),
    Column("merchant_class", String(20), nullable=False),
    Column("rate_ppm", Integer, nullable=False),
    Column("min_fen", BigInteger, nullable=False, server_default="0"),
    Column("cap_fen", BigInteger, nullable=True),
    Column("effective_from", Date, nullable=False),
    Column("effective_to", Date, nullable=True),
    Column("note", String(200), nullable=False, server_default=""),
    utcnow_column("created_at"),
    CheckConstraint("rate_ppm >= 0 and rate_ppm <= 1000000", name="rate"),
    CheckConstraint("min_fen >= 0 and (cap_fen is null or cap_fen >= min_fen)", name="min_cap"),
    CheckConstraint("effective_to is null or effective_to > effective_from", name="period"),
    # two rules for the same fields starting the same day would tie: refused by the database too
    UniqueConstraint("channel", "card_type", "merchant_class", "effective_from"),
)

# A waiver sets a merchant's fee to 0 on business dates [effective_from, effective_to), e.g. for a campaign.
fee_waivers = Table(
    "fee_waivers",
    metadata,
    Column("merchant_id", String(32), primary_key=True),
    Column("id", String(32), primary_key=True),
    Column("channel", String(20), nullable=False, server_default="*"),
    Column("effective_from", Date, nullable=False),
    Column("effective_to", Date, nullable=True),
    Column("campaign_ref", String(64), nullable=True),
    Column("reason", String(200), nullable=False, server_default=""),
    utcnow_column("created_at"),
    CheckConstraint("effective_to is null or effective_to > effective_from", name="period"),
    Index("ix_fee_waivers_merchant_from", "merchant_id", "effective_from"),
)

# A merchant's fee class when it is not its merchant type (enterprise, individual_business, micro).
fee_merchant_classes = Table(
    "fee_merchant_classes",
    metadata,
    Column("merchant_id", String(32), primary_key=True),
    Column("merchant_class", String(20), nullable=False),
    utcnow_column("updated_at"),
)

# What the acquirer pays the issuer (or wallet) and the network, overriding the built-in 557 table.
fee_channel_costs = Table(
    "fee_channel_costs",
    metadata,
    Column("channel", String(20), primary_key=True),
    Column("card_type", String(10), primary_key=True),
    Column("issuer_rate_ppm", Integer, nullable=False),
    Column("issuer_cap_fen", BigInteger, nullable=True),
    Column("network_rate_ppm", Integer, nullable=False),
    Column("network_cap_fen", BigInteger, nullable=True),
    utcnow_column("updated_at"),
    CheckConstraint("issuer_rate_ppm >= 0 and network_rate_ppm >= 0", name="rates"),
)
