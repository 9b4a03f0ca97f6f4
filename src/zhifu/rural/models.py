"""Rural finance tables: Class II/III e-accounts and their limit counters, farmers, agri buyers' purchases and
payout batches, harvest cards, village service points, and agri shop fronts with their orders.

Personal data (ID numbers, card numbers, phones) is stored encrypted with a blind index for look-ups and shown
masked; money is in the ledger, these tables only say what it was for."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    UniqueConstraint,
)

from zhifu.db.meta import UTCDateTime, metadata, utcnow_column

eaccounts = Table(
    "rural_eaccounts",
    metadata,
    Column("id", String(32), primary_key=True),
    Column(
        "bank_id", String(40), nullable=False
    ),  # the bank that opened it (an issuer of the county profile)
    Column("account_class", String(3), nullable=False),  # II | III
    Column(
        "person_index", String(64), nullable=False
    ),  # blind index of the ID number: one per class per bank
    Column("id_no_enc", String(200), nullable=False),
    Column("name_masked", String(40), nullable=False),
    Column("phone_enc", String(200), nullable=False),
    Column("phone_masked", String(20), nullable=False),
    Column("card_index", String(64), nullable=False),  # the bound Class I card
    Column("card_enc", String(200), nullable=False),
    Column("card_masked", String(32), nullable=False),
    Column("status", String(10), nullable=False, server_default="open"),
    utcnow_column("opened_at"),
    CheckConstraint("account_class in ('II','III')", name="account_class"),
    CheckConstraint("status in ('open','frozen','closed')", name="status"),
    UniqueConstraint("bank_id", "person_index", "account_class", name="uq_rural_eaccounts_person_class"),
    Index("ix_rural_eaccounts_card", "card_index"),
)

# What an account has spent or received in a Beijing day ('d2024-05-01') or year ('y2024'), per direction.
eaccount_usage = Table(
    "rural_eaccount_usage",
    metadata,
    Column("account_id", String(32), nullable=False),
    Column(
        "direction", String(3), nullable=False
    ),  # out (spending, transfers out) | in (from unbound accounts)
    Column("period", String(11), nullable=False),
    Column("used_fen", BigInteger, nullable=False),
    PrimaryKeyConstraint("account_id", "direction", "period"),
    CheckConstraint("used_fen >= 0", name="used_non_negative"),
)

eaccount_txns = Table(
    "rural_eaccount_txns",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("account_id", String(32), nullable=False),
    Column("kind", String(12), nullable=False),  # topup | spend | transfer_out | payout_in | refund_in
    Column("amount_fen", BigInteger, nullable=False),
    Column("merchant_id", String(32), nullable=True),
    Column("reference", String(64), nullable=False, server_default=""),
    Column("entry_id", String(32), nullable=False),
    utcnow_column("created_at"),
    CheckConstraint("amount_fen > 0", name="amount_positive"),
    Index("ix_rural_eaccount_txns_account", "account_id", "created_at"),
    Index("ix_rural_eaccount_txns_merchant", "merchant_id", "created_at"),
)

farmers = Table(
    "rural_farmers",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name_masked", String(40), nullable=False),
    Column("name_enc", String(200), nullable=False),
    Column("town_code", String(9), nullable=False),
    Column("village_code", String(12), nullable=True),
    Column("card_index", String(64), nullable=True),
    Column("card_enc", String(200), nullable=True),
    Column("card_masked", String(32), nullable=True),
    Column("eaccount_id", String(32), nullable=True),
    utcnow_column("created_at"),
    Index("ix_rural_farmers_card", "card_index"),
)

buyers = Table(
    "rural_buyers",
    metadata,
    Column("merchant_id", String(32), primary_key=True),
    Column("kind", String(20), nullable=False),  # cooperative | agri_company | purchase_station
    Column("name", String(80), nullable=False),
    utcnow_column("created_at"),
    CheckConstraint("kind in ('cooperative','agri_company','purchase_station')", name="kind"),
)

purchases = Table(
    "rural_purchases",
    metadata,
    Column("merchant_id", String(32), nullable=False),
    Column("id", String(32), nullable=False),
    Column("farmer_id", String(32), nullable=False),
    Column("product", String(40), nullable=False),
    Column("grade", String(20), nullable=False, server_default=""),
    Column("weight_g", BigInteger, nullable=False),
    Column("price_fen_per_kg", BigInteger, nullable=False),
    Column("gross_fen", BigInteger, nullable=False),
    Column("deductions_fen", BigInteger, nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("batch_id", String(32), nullable=True),
    utcnow_column("created_at"),
    PrimaryKeyConstraint("merchant_id", "id"),
    CheckConstraint("weight_g > 0 and price_fen_per_kg > 0 and deductions_fen >= 0", name="positive"),
    CheckConstraint("amount_fen = gross_fen - deductions_fen and amount_fen >= 0", name="amount"),
    Index("ix_rural_purchases_farmer", "merchant_id", "farmer_id"),
    Index("ix_rural_purchases_batch", "merchant_id", "batch_id"),
)

payout_batches = Table(
    "rural_payout_batches",
    metadata,
    Column("merchant_id", String(32), nullable=False),
    Column("id", String(32), nullable=False),
    Column("status", String(12), nullable=False),  # done | exceptions (some lines failed and wait)
    Column("lines", Integer, nullable=False),
    Column("total_fen", BigInteger, nullable=False),
    Column("source", String(20), nullable=False),  # purchases | file
    utcnow_column("created_at"),
    PrimaryKeyConstraint("merchant_id", "id"),
)

payouts = Table(
    "rural_payouts",
    metadata,
    Column("merchant_id", String(32), nullable=False),
    Column("batch_id", String(32), nullable=False),
    Column("line_no", Integer, nullable=False),
    Column("farmer_id", String(32), nullable=True),
    Column("target", String(8), nullable=False),  # card | eaccount
    Column("target_index", String(64), nullable=False),  # card blind index, or the e-account id
    Column("target_masked", String(32), nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("status", String(10), nullable=False),  # paid | failed | returned
    Column("failure", String(200), nullable=True),
    Column("attempts", Integer, nullable=False, server_default="1"),
    utcnow_column("updated_at"),
    PrimaryKeyConstraint("merchant_id", "batch_id", "line_no"),
    CheckConstraint("amount_fen > 0", name="amount_positive"),
    CheckConstraint("status in ('paid','failed','returned')", name="status"),
    Index("ix_rural_payouts_target", "target_index"),
)

harvest_cards = Table(
    "rural_harvest_cards",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("issuer_id", String(40), nullable=False),
    Column("card_index", String(64), nullable=False, unique=True),
    Column("card_enc", String(200), nullable=False),
    Column("card_masked", String(32), nullable=False),
    Column("holder_masked", String(40), nullable=False),
    Column("town_code", String(9), nullable=False),
    Column("village_code", String(12), nullable=True),
    Column("issued_on", Date, nullable=False),
    Column("activated_at", UTCDateTime(timezone=True), nullable=True),  # first money in
    Column("first_used_at", UTCDateTime(timezone=True), nullable=True),  # first money out
    utcnow_column("created_at"),
    Index("ix_rural_harvest_cards_issued", "issued_on"),
)

service_points = Table(
    "rural_service_points",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("merchant_id", String(32), nullable=False),  # the agent shop
    Column("name", String(80), nullable=False),
    Column("town_code", String(9), nullable=False),
    Column("village_code", String(12), nullable=False),
    Column("card_daily_limit_fen", BigInteger, nullable=False),
    Column("commission_fen", BigInteger, nullable=False),  # per withdrawal or bill paid for a farmer
    Column("cash_fen", BigInteger, nullable=True),  # the agent's last reported cash on hand
    Column("cash_reported_at", UTCDateTime(timezone=True), nullable=True),
    Column("status", String(10), nullable=False, server_default="active"),
    utcnow_column("created_at"),
    UniqueConstraint("merchant_id", "id", name="uq_rural_service_points_merchant"),
    CheckConstraint("card_daily_limit_fen > 0 and commission_fen >= 0", name="limits"),
    Index("ix_rural_service_points_village", "village_code"),
)

point_txns = Table(
    "rural_point_txns",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("point_id", String(32), nullable=False),
    Column("kind", String(10), nullable=False),  # withdraw | bill
    Column("card_index", String(64), nullable=False),
    Column("card_masked", String(32), nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("commission_fen", BigInteger, nullable=False),
    Column("local_day", Date, nullable=False),
    Column("note", String(80), nullable=False, server_default=""),
    utcnow_column("created_at"),
    CheckConstraint("amount_fen > 0", name="amount_positive"),
    Index("ix_rural_point_txns_card_day", "card_index", "local_day"),
    Index("ix_rural_point_txns_point", "point_id", "created_at"),
)

products = Table(
    "rural_products",
    metadata,
    Column("merchant_id", String(32), nullable=False),
    Column("id", String(32), nullable=False),
    Column("name", String(60), nullable=False),
    Column("unit", String(10), nullable=False, server_default="件"),
    Column("price_fen", BigInteger, nullable=False),
    Column("stock", Integer, nullable=False),
    utcnow_column("created_at"),
    PrimaryKeyConstraint("merchant_id", "id"),
    CheckConstraint("price_fen > 0 and stock >= 0", name="price_stock"),
)

orders = Table(
    "rural_orders",
    metadata,
    Column("merchant_id", String(32), nullable=False),
    Column("id", String(32), nullable=False),
    Column("product_id", String(32), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("channel", String(20), nullable=False),
    Column("payment_id", String(32), nullable=False),
    Column(
        "status", String(10), nullable=False
    ),  # pending | paid | shipped | received | refunded | cancelled
    Column("buyer_phone_masked", String(20), nullable=False, server_default=""),
    utcnow_column("created_at"),
    utcnow_column("updated_at"),
    Column("paid_at", UTCDateTime(timezone=True), nullable=True),
    PrimaryKeyConstraint("merchant_id", "id"),
    UniqueConstraint("merchant_id", "payment_id", name="uq_rural_orders_payment"),
    CheckConstraint("quantity > 0 and amount_fen > 0", name="positive"),
    CheckConstraint(
        "status in ('pending','paid','shipped','received','refunded','cancelled')", name="status"
    ),
    Index("ix_rural_orders_created", "created_at"),
)
