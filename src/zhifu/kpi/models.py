"""Rollup tables the dashboard reads instead of raw payments, and issuers' monthly submissions (versioned)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, CheckConstraint, Column, Date, Index, Integer, String, Table

from zhifu.db.meta import metadata, utcnow_column

# Successful payments and refunds per business date × town × channel × acquirer × MCC. A day's rows are a pure
# function of the payments and refunds with that business date, so refreshing a day replaces all its rows.
kpi_daily = Table(
    "kpi_daily",
    metadata,
    Column("day", Date, primary_key=True),
    Column("town_code", String(12), primary_key=True),
    Column("channel", String(20), primary_key=True),
    Column("acquirer_id", String(40), primary_key=True),
    Column("mcc", String(4), primary_key=True),
    Column("payments", BigInteger, nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("refunds", BigInteger, nullable=False),
    Column("refund_fen", BigInteger, nullable=False),
    CheckConstraint(
        "payments >= 0 and amount_fen >= 0 and refunds >= 0 and refund_fen >= 0", name="non_negative"
    ),
    Index("ix_kpi_daily_channel_day", "channel", "day"),
)

# kpi_daily without the MCC (kpi_daily_sum), and the same per month (kpi_monthly, keyed by the month's first day):
# what the dashboard reads. A year of a county is a few thousand monthly rows instead of hundreds of thousands
# of daily ones; a range's whole months come from kpi_monthly and its partial months from kpi_daily_sum. Both
# are derived from kpi_daily whenever its days are recomputed.
CUBE_DIMS = ("town_code", "channel", "acquirer_id")
CUBE_SUMS = ("payments", "amount_fen", "refunds", "refund_fen")


def _cube_table(name: str, period: str) -> Table:
    return Table(
        name,
        metadata,
        Column(period, Date, primary_key=True),
        Column("town_code", String(12), primary_key=True),
        Column("channel", String(20), primary_key=True),
        Column("acquirer_id", String(40), primary_key=True),
        *(Column(c, BigInteger, nullable=False) for c in CUBE_SUMS),
    )


kpi_daily_sum = _cube_table("kpi_daily_sum", "day")
kpi_monthly = _cube_table("kpi_monthly", "month")

# One row per payer, day (as a day number: days since 1970-01-01, so window arithmetic is plain integer
# arithmetic on both backends), town and card issuer, for payers with a successful mobile payment that day.
# Distinct users over 30 days cannot be summed from daily counts; this table is what they are counted from.
kpi_payer_days = Table(
    "kpi_payer_days",
    metadata,
    Column("day_no", Integer, primary_key=True),
    Column("payer_ref", String(64), primary_key=True),
    Column("town_code", String(12), primary_key=True),
    Column("issuer", String(40), primary_key=True),  # '' when the rail names no issuer (wallet balance)
    Column("unionpay", Boolean, nullable=False),  # at least one 云闪付 (unionpay_qr) payment among them
    Index("ix_kpi_payer_days_payer", "payer_ref", "day_no"),
)

# Active mobile-payment users on each day (30-day window ending that day), precomputed per dimension:
# dim 'county' (key ''), 'town' (town code), 'issuer' (institution id), 'unionpay' (key '': 云闪付 users).
kpi_active_users = Table(
    "kpi_active_users",
    metadata,
    Column("day", Date, primary_key=True),
    Column("dim", String(10), primary_key=True),
    Column("key", String(40), primary_key=True),
    Column("users", BigInteger, nullable=False),
)

# First day each payer paid by mobile (kind 'mobile') and by 云闪付 (kind 'unionpay'): new users in a period.
kpi_payer_first = Table(
    "kpi_payer_first",
    metadata,
    Column("payer_ref", String(64), primary_key=True),
    Column("kind", String(10), primary_key=True),
    Column("day_no", Integer, nullable=False),
    Index("ix_kpi_payer_first_kind_day", "kind", "day_no"),
)

# The refresh job's state: the newest payment and refund ids it has read ('' before the first run).
kpi_state = Table(
    "kpi_state",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("value", String(64), nullable=False),
    utcnow_column("updated_at"),
)

# Issuers' monthly figures: cards in issue and mobile-banking app users at month end, per institution and town.
# A correction is a new version of the same period; the highest version is the current one.
kpi_submissions = Table(
    "kpi_submissions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("institution", String(40), nullable=False),
    Column("town_code", String(12), nullable=False),
    Column("month", String(7), nullable=False),
    Column("version", Integer, nullable=False),
    Column("cards_issued", BigInteger, nullable=False),
    Column("app_users", BigInteger, nullable=False),
    Column("source", String(10), nullable=False),  # api | csv
    Column("submitted_by", String(64), nullable=False),
    Column("note", String(200), nullable=False, server_default=""),
    utcnow_column("created_at"),
    CheckConstraint("cards_issued >= 0 and app_users >= 0", name="non_negative"),
    CheckConstraint("version >= 1", name="version"),
    Index("ix_kpi_submissions_period", "institution", "town_code", "month", "version", unique=True),
)
