"""Tables of the government payments that ride on bills: resident social-insurance contributions (城乡居民养老
/医疗保险) paid by one payer for several insured persons, non-tax payment codes (非税缴款码) issued by the finance
bureau, and the fiscal e-receipt (财政电子票据) record of each paid code.

Each contribution order and each payment code is backed by one bill of its biller (`bills.id`), so reserving,
paying, receipts, the biller's payment file, settlement and the regulator's figures are the bills' own. Keys
start with `merchant_id` (the biller's merchant) like every bills table."""

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
    Text,
    UniqueConstraint,
)

from zhifu.db.meta import metadata, utcnow_column

si_contributions = Table(
    "si_contributions",
    metadata,
    Column("merchant_id", String(32), primary_key=True),
    Column("id", String(32), primary_key=True),
    Column("biller_id", String(40), nullable=False),
    Column("bill_id", String(32), nullable=False),  # the family's order: one bill, one payment
    Column("scheme", String(10), nullable=False),  # pension | medical
    Column("year", Integer, nullable=False),
    Column("tier_fen", BigInteger, nullable=False),
    Column("insured_name_enc", Text, nullable=False),
    Column("insured_name_masked", String(40), nullable=False),
    Column("insured_id_enc", Text, nullable=False),
    Column("insured_id_index", String(64), nullable=False),  # blind index: one contribution a person a year
    Column("insured_id_masked", String(24), nullable=False),
    Column("relation", String(10), nullable=False),
    Column("payer_phone_index", String(64), nullable=True),
    # scheme:year:insured_id_index while the order may still be paid or is paid; null once it was dropped
    Column("live_key", String(96), nullable=True),
    utcnow_column("created_at"),
    CheckConstraint("scheme in ('pension','medical')", name="scheme"),
    CheckConstraint("tier_fen > 0", name="tier"),
    CheckConstraint("relation in ('self','spouse','child','parent','other')", name="relation"),
    UniqueConstraint("merchant_id", "live_key"),
    Index("ix_si_contributions_bill", "merchant_id", "bill_id"),
    Index("ix_si_contributions_year", "merchant_id", "year", "scheme"),
)

nontax_codes = Table(
    "nontax_codes",
    metadata,
    Column("merchant_id", String(32), primary_key=True),
    Column("code", String(16), primary_key=True),
    Column("biller_id", String(40), nullable=False),
    Column("bill_id", String(32), nullable=False),
    Column("payer_name_enc", Text, nullable=False),
    Column("payer_name_masked", String(40), nullable=False),
    Column("collector", String(100), nullable=False),  # 执收单位: the unit the fee is collected for
    Column("items", Text, nullable=False),  # JSON: [{code, name, unit, quantity, standard_fen, amount_fen}]
    Column("amount_fen", BigInteger, nullable=False),
    Column("valid_from", Date, nullable=False),
    Column("valid_until", Date, nullable=False),
    utcnow_column("created_at"),
    CheckConstraint("amount_fen > 0", name="amount"),
    CheckConstraint("valid_from <= valid_until", name="validity"),
    Index("ix_nontax_codes_code", "code"),
    Index("ix_nontax_codes_bill", "merchant_id", "bill_id"),
)

fiscal_receipts = Table(
    "fiscal_receipts",
    metadata,
    Column("merchant_id", String(32), primary_key=True),
    Column("receipt_code", String(8), primary_key=True),  # 票据代码
    Column("receipt_no", String(10), primary_key=True),  # 票据号码
    Column("check_code", String(6), nullable=False),  # 校验码
    Column("code", String(16), nullable=False),  # the 缴款码 it was paid by
    Column("biller_id", String(40), nullable=False),
    Column("payment_id", String(32), nullable=False),
    Column("issue_date", Date, nullable=False),  # 开票日期 (Asia/Shanghai)
    Column("payer_name_enc", Text, nullable=False),
    Column("payer_name_masked", String(40), nullable=False),
    Column("items", Text, nullable=False),
    Column("total_fen", BigInteger, nullable=False),
    Column("payee", String(100), nullable=False),  # 收款单位
    Column("collector", String(100), nullable=False),  # 执收单位
    utcnow_column("created_at"),
    CheckConstraint("total_fen > 0", name="total"),
    UniqueConstraint("merchant_id", "code"),  # a code is paid once, so it has one receipt
    Index("ix_fiscal_receipts_date", "merchant_id", "issue_date"),
)

fiscal_receipt_counters = Table(
    "fiscal_receipt_counters",
    metadata,
    Column("merchant_id", String(32), primary_key=True),
    Column("receipt_code", String(8), primary_key=True),
    Column("last_no", BigInteger, nullable=False),
    CheckConstraint("last_no >= 0", name="last_no"),
)
