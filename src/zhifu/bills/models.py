"""Public-service payment tables: billers, their bills and imports, the bill line of each payment, carried
credit, signed e-receipts, biller settlements, and the differences found against billers' return files.

Every table but the biller registry carries `merchant_id` (the biller's own merchant, one to one) first in its
primary and unique keys, so the tables shard with the payments they describe."""

from __future__ import annotations

import enum
from typing import Literal, get_args

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
    Text,
    UniqueConstraint,
)

from zhifu.db.meta import metadata, utcnow_column

Category = Literal[
    "water",
    "power",
    "gas",
    "heating",
    "tuition",
    "social_insurance",
    "housing_fund",
    "tax",
    "medical",
    "other",
]
CATEGORIES: tuple[Category, ...] = get_args(Category)
CATEGORY_LABELS = {
    "water": "水费 Water",
    "power": "电费 Power",
    "gas": "燃气 Gas",
    "heating": "供暖 Heating",
    "tuition": "学费 Tuition",
    "social_insurance": "社保 Social insurance",
    "housing_fund": "公积金 Housing fund",
    "tax": "税费及非税收入 Tax and non-tax revenue",
    "medical": "医疗 Medical",
    "other": "其他 Other",
}


class BillStatus(enum.StrEnum):
    UNPAID = "unpaid"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class LineStatus(enum.StrEnum):
    PENDING = "pending"  # the payment is open: its amount is reserved on the bill
    SUCCEEDED = "succeeded"
    RELEASED = "released"  # the payment failed, closed or expired: the reservation is given back


billers = Table(
    "billers",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("merchant_id", String(32), nullable=False, unique=True),
    Column("name", String(100), nullable=False),
    Column("category", String(20), nullable=False),
    Column("town_code", String(12), nullable=False),
    Column("acquirer_id", String(40), nullable=False),
    Column("fee_payer", String(8), nullable=False),  # biller | payer | waived
    Column("fee_ppm", Integer, nullable=False, server_default="0"),
    Column("partial_allowed", Boolean, nullable=False),
    Column("overpay_allowed", Boolean, nullable=False),
    Column("adhoc", Boolean, nullable=False),  # direct pay: any amount, no uploaded bill (prepaid power)
    Column("multiple_payments", Boolean, nullable=False),
    Column("min_payment_fen", BigInteger, nullable=False, server_default="100"),
    Column("account_len_min", Integer, nullable=False),
    Column("account_len_max", Integer, nullable=False),
    Column("check_digit", String(8), nullable=False, server_default="none"),  # none | luhn
    # days after a bill's due date that it can still be paid; then it expires (its late fee fixed)
    Column("grace_days", Integer, nullable=False, server_default="30"),
    Column("status", String(10), nullable=False, server_default="active"),
    utcnow_column("created_at"),
    CheckConstraint(
        "category in ('water','power','gas','heating','tuition','social_insurance','housing_fund',"
        "'tax','medical','other')",
        name="category",
    ),
    CheckConstraint("fee_payer in ('biller','payer','waived')", name="fee_payer"),
    CheckConstraint("fee_ppm >= 0 and fee_ppm <= 50000", name="fee_ppm"),
    CheckConstraint(
        "account_len_min >= 4 and account_len_min <= account_len_max and account_len_max <= 30",
        name="account_len",
    ),
    CheckConstraint("check_digit in ('none','luhn')", name="check_digit"),
    CheckConstraint("grace_days >= 0 and grace_days <= 366", name="grace_days"),
    CheckConstraint("status in ('active','suspended')", name="status"),
)

bill_imports = Table(
    "bill_imports",
    metadata,
    Column("merchant_id", String(32), primary_key=True),
    Column("id", String(32), primary_key=True),
    Column("biller_id", String(40), nullable=False),
    Column("filename", String(200), nullable=False, server_default=""),
    Column("sha256", String(64), nullable=False),
    Column("encoding", String(10), nullable=False),
    Column("lines", Integer, nullable=False),
    Column("total_fen", BigInteger, nullable=False),
    utcnow_column("created_at"),
    UniqueConstraint("merchant_id", "sha256"),  # the same file twice is refused, not imported twice
)

bills = Table(
    "bills",
    metadata,
    Column("merchant_id", String(32), primary_key=True),
    Column("id", String(32), primary_key=True),
    Column("biller_id", String(40), nullable=False),
    Column("bill_no", String(40), nullable=False),
    Column("account_no", String(30), nullable=False),
    Column("payer_name_enc", Text, nullable=False),
    Column("payer_name_masked", String(40), nullable=False),
    Column("period", String(20), nullable=False),
    Column("amount_due_fen", BigInteger, nullable=False),
    Column("min_due_fen", BigInteger, nullable=False),
    Column("due_date", Date, nullable=False),
    Column("late_fee_ppm_per_day", Integer, nullable=False, server_default="0"),
    Column("credit_applied_fen", BigInteger, nullable=False, server_default="0"),  # earlier overpayment used
    Column("late_fee_fen", BigInteger, nullable=False, server_default="0"),  # late fees charged by payments
    Column("paid_fen", BigInteger, nullable=False, server_default="0"),
    Column("reserved_fen", BigInteger, nullable=False, server_default="0"),  # open payments
    Column("open_payments", Integer, nullable=False, server_default="0"),
    Column("status", String(16), nullable=False),
    Column("import_id", String(32), nullable=True),
    utcnow_column("created_at"),
    utcnow_column("updated_at"),
    CheckConstraint(
        "amount_due_fen > 0 and min_due_fen > 0 and min_due_fen <= amount_due_fen", name="amounts"
    ),
    CheckConstraint("credit_applied_fen >= 0 and credit_applied_fen <= amount_due_fen", name="credit"),
    CheckConstraint(
        "paid_fen >= 0 and reserved_fen >= 0 and open_payments >= 0 and late_fee_fen >= 0",
        name="paid_reserved",
    ),
    CheckConstraint("status in ('unpaid','partially_paid','paid','cancelled','expired')", name="status"),
    UniqueConstraint("merchant_id", "biller_id", "bill_no"),
    Index("ix_bills_account", "merchant_id", "account_no", "status"),
)

bill_lines = Table(
    "bill_lines",
    metadata,
    Column("merchant_id", String(32), primary_key=True),
    Column("order_no", String(64), primary_key=True),  # the payment's merchant_order_no: known before its id
    Column("payment_id", String(32), nullable=True),  # filled as the payment is created, same transaction
    Column("biller_id", String(40), nullable=False),
    Column("bill_id", String(32), nullable=True),  # none for a direct (ad hoc) payment
    Column("account_no", String(30), nullable=False),
    Column("bill_fen", BigInteger, nullable=False),  # what the bill is credited with
    Column(
        "surcharge_fen", BigInteger, nullable=False, server_default="0"
    ),  # the fee, when the payer pays it
    Column("late_fee_fen", BigInteger, nullable=False, server_default="0"),
    Column(
        "credit_fen", BigInteger, nullable=False, server_default="0"
    ),  # overpayment carried to the next bill
    Column("amount_fen", BigInteger, nullable=False),  # the payment's amount: bill_fen + surcharge_fen
    Column("biller_fen", BigInteger, nullable=False, server_default="0"),  # what biller_payable was credited
    Column("channel", String(20), nullable=False),
    Column("town_code", String(12), nullable=False),
    Column("category", String(20), nullable=False),
    Column("payer_phone_index", String(32), nullable=True),
    Column("status", String(10), nullable=False),
    Column("refunded_fen", BigInteger, nullable=False, server_default="0"),
    Column("receipt_no", String(32), nullable=True),
    Column("business_date", Date, nullable=True),
    utcnow_column("created_at"),
    utcnow_column("updated_at"),
    utcnow_column("paid_at", nullable=True),
    CheckConstraint(
        "bill_fen > 0 and surcharge_fen >= 0 and late_fee_fen >= 0 and credit_fen >= 0", name="amounts"
    ),
    CheckConstraint("status in ('pending','succeeded','released')", name="status"),
    Index("ix_bill_lines_payment", "merchant_id", "payment_id"),
    Index("ix_bill_lines_bill", "merchant_id", "bill_id", "status"),
    Index("ix_bill_lines_date", "merchant_id", "business_date"),
    Index("ix_bill_lines_phone", "payer_phone_index"),
)

bill_credits = Table(
    "bill_credits",
    metadata,
    Column("merchant_id", String(32), primary_key=True),
    Column("account_no", String(30), primary_key=True),
    Column("balance_fen", BigInteger, nullable=False),
    utcnow_column("updated_at"),
    CheckConstraint("balance_fen >= 0", name="balance"),
)

bill_households = Table(
    "bill_households",
    metadata,
    Column("phone_index", String(32), primary_key=True),  # blind index of the payer's phone
    Column("merchant_id", String(32), primary_key=True),
    Column("account_no", String(30), primary_key=True),
    Column("biller_id", String(40), nullable=False),
    Column("label", String(40), nullable=False, server_default=""),
    utcnow_column("created_at"),
)

bill_receipts = Table(
    "bill_receipts",
    metadata,
    Column("merchant_id", String(32), primary_key=True),
    Column("receipt_no", String(32), primary_key=True),
    Column("payment_id", String(32), nullable=False),
    Column("kind", String(10), nullable=False),  # payment | reissue (after a refund)
    Column("replaces", String(32), nullable=True),
    Column("body", Text, nullable=False),  # the canonical JSON that was signed
    Column("signature", String(128), nullable=False),
    utcnow_column("created_at"),
    CheckConstraint("kind in ('payment','reissue')", name="kind"),
    Index("ix_bill_receipts_no", "receipt_no"),
    Index("ix_bill_receipts_payment", "merchant_id", "payment_id"),
)

biller_settlements = Table(
    "biller_settlements",
    metadata,
    Column("merchant_id", String(32), primary_key=True),
    Column("id", String(32), primary_key=True),
    Column("biller_id", String(40), nullable=False),
    Column("business_date", Date, nullable=False),
    Column("payments", Integer, nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("file_name", String(200), nullable=False),
    utcnow_column("created_at"),
    UniqueConstraint("merchant_id", "business_date"),
    CheckConstraint("amount_fen >= 0", name="amount"),
)

bill_recon_cases = Table(
    "bill_recon_cases",
    metadata,
    Column("merchant_id", String(32), primary_key=True),
    Column("id", String(32), primary_key=True),
    Column("biller_id", String(40), nullable=False),
    Column("business_date", Date, nullable=False),
    Column("kind", String(24), nullable=False),
    Column("payment_id", String(32), nullable=True),
    Column("bill_no", String(40), nullable=True),
    Column("ours_fen", BigInteger, nullable=True),
    Column("theirs_fen", BigInteger, nullable=True),
    Column("detail", String(200), nullable=False, server_default=""),
    Column("status", String(10), nullable=False, server_default="open"),
    utcnow_column("created_at"),
    CheckConstraint(
        "kind in ('rejected','missing_in_return','unknown_in_return','amount_mismatch')", name="kind"
    ),
    CheckConstraint("status in ('open','resolved')", name="status"),
    UniqueConstraint("merchant_id", "business_date", "kind", "payment_id", "bill_no"),
)

from zhifu.bills import gov_models as _gov_models  # noqa: E402,F401  social insurance, non-tax codes
from zhifu.bills import payer_models as _payer_models  # noqa: E402,F401  refund requests, phone codes
