"""Transit and scenic tables: operators (a bus company, a school-bus operator, a scenic area, each backed by
a merchant of its own), lines and stops with their fare rules, validators, riders and their deny list, taps,
fares per rider and day, fare charges, school-bus passes, and scenic ticket types, time slots, orders and
tickets.

Every table but the operator registry and the riders (both global, like the payer of a payment) carries
`merchant_id` (the operator's merchant) first in its primary and unique keys, so they shard with the payments
they lead to."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
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

KINDS = ("bus", "school_bus", "scenic")
CATEGORIES = ("adult", "student", "elderly", "free")

transit_operators = Table(
    "transit_operators",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("merchant_id", String(32), nullable=False, unique=True),
    Column("name", String(100), nullable=False),
    Column("kind", String(12), nullable=False),
    Column("town_code", String(12), nullable=False),
    Column("daily_cap_fen", BigInteger, nullable=True),  # per rider and local day; none: no cap
    Column("monthly_cap_fen", BigInteger, nullable=True),  # per rider and calendar month
    Column("concessions", JSON, nullable=False),  # {category: discount_ppm}, e.g. {"student": 500000}
    Column("status", String(10), nullable=False, server_default="active"),
    utcnow_column("created_at"),
    CheckConstraint("kind in ('bus','school_bus','scenic')", name="kind"),
    CheckConstraint("daily_cap_fen is null or daily_cap_fen > 0", name="daily_cap"),
    CheckConstraint("monthly_cap_fen is null or monthly_cap_fen > 0", name="monthly_cap"),
    CheckConstraint("status in ('active','suspended')", name="status"),
)

transit_lines = Table(
    "transit_lines",
    metadata,
    Column("merchant_id", String(32), primary_key=True),
    Column("id", String(40), primary_key=True),
    Column("operator_id", String(40), nullable=False),
    Column("name", String(60), nullable=False),
    Column("fare_mode", String(10), nullable=False),  # flat: one tap; distance: tap on and off, by bands
    Column("flat_fare_fen", BigInteger, nullable=False, server_default="0"),
    Column("bands", JSON, nullable=False),  # [[up_to_m, fare_fen], …] ascending; the last is the maximum fare
    Column("status", String(10), nullable=False, server_default="active"),
    utcnow_column("created_at"),
    CheckConstraint("fare_mode in ('flat','distance')", name="fare_mode"),
    CheckConstraint("flat_fare_fen >= 0", name="flat_fare"),
    CheckConstraint("status in ('active','retired')", name="status"),
)

transit_stops = Table(
    "transit_stops",
    metadata,
    Column("merchant_id", String(32), primary_key=True),
    Column("line_id", String(40), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("name", String(60), nullable=False),
    Column("at_m", Integer, nullable=False),  # distance from the line's first stop, metres
    CheckConstraint("seq >= 1 and at_m >= 0", name="position"),
)

transit_validators = Table(
    "transit_validators",
    metadata,
    Column("merchant_id", String(32), primary_key=True),
    Column("id", String(40), primary_key=True),
    Column("line_id", String(40), nullable=True),  # none: a scenic gate or a depot reader
    Column("label", String(60), nullable=False, server_default=""),
    Column("deny_version", String(16), nullable=True),  # the deny list it last synced
    utcnow_column("last_sync_at", nullable=True),
    utcnow_column("last_upload_at", nullable=True),
    Column("pending_taps", Integer, nullable=False, server_default="0"),  # as the validator last reported
    Column("taps_uploaded", BigInteger, nullable=False, server_default="0"),
    Column("status", String(10), nullable=False, server_default="active"),
    utcnow_column("created_at"),
    CheckConstraint("pending_taps >= 0 and taps_uploaded >= 0", name="counts"),
    CheckConstraint("status in ('active','retired')", name="status"),
)

# A rider is a transit QR issued by the platform and bound to a payment method, or a pay code shown at the
# validator (its rider id is derived from the code, so the same code is the same rider on every validator).
transit_riders = Table(
    "transit_riders",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("medium", String(8), nullable=False),  # qr | paycode
    Column("channel", String(20), nullable=False),  # the rail its fares are charged on
    Column("method_token", String(32), nullable=False),  # the payment agreement charged (pay-code shaped)
    Column("method_masked", String(32), nullable=False),
    Column("category", String(10), nullable=False, server_default="adult"),
    Column("holder_masked", String(40), nullable=False, server_default=""),
    Column("status", String(10), nullable=False, server_default="active"),
    utcnow_column("created_at"),
    CheckConstraint("medium in ('qr','paycode')", name="medium"),
    CheckConstraint("category in ('adult','student','elderly','free')", name="category"),
    CheckConstraint("status in ('active','closed')", name="status"),
)

transit_deny = Table(
    "transit_deny",
    metadata,
    Column("merchant_id", String(32), primary_key=True),
    Column("rider_id", String(40), primary_key=True),
    Column("reason", String(20), nullable=False),  # debt | lost | fraud
    Column("debt_fen", BigInteger, nullable=False, server_default="0"),
    Column("status", String(10), nullable=False),  # active | lifted
    utcnow_column("since"),
    utcnow_column("lifted_at", nullable=True),
    CheckConstraint("reason in ('debt','lost','fraud')", name="reason"),
    CheckConstraint("status in ('active','lifted')", name="status"),
    CheckConstraint("debt_fen >= 0", name="debt"),
)

transit_taps = Table(
    "transit_taps",
    metadata,
    Column("merchant_id", String(32), primary_key=True),
    Column("tap_id", String(64), primary_key=True),  # the validator's own id: an upload twice is one tap
    Column("validator_id", String(40), nullable=False),
    Column("line_id", String(40), nullable=True),
    Column("stop_seq", Integer, nullable=True),
    Column("direction", String(4), nullable=False),  # on | off
    Column("rider_id", String(40), nullable=False),
    Column("decision", String(8), nullable=False),  # what the validator decided: accept | refuse
    utcnow_column("tapped_at"),
    utcnow_column("uploaded_at"),
    Column("day", Date, nullable=False),  # the Shanghai date of the tap
    Column("status", String(10), nullable=False),  # counted | duplicate | capped | free | refused | parked
    Column("reason", String(40), nullable=False, server_default=""),
    Column("fare_fen", BigInteger, nullable=False, server_default="0"),  # this tap's share after caps
    CheckConstraint("direction in ('on','off')", name="direction"),
    CheckConstraint("decision in ('accept','refuse')", name="decision"),
    CheckConstraint("status in ('counted','duplicate','capped','free','refused','parked')", name="status"),
    CheckConstraint("fare_fen >= 0", name="fare"),
    Index("ix_transit_taps_rider_day", "merchant_id", "rider_id", "day"),
    Index("ix_transit_taps_day_status", "merchant_id", "day", "status"),
)

transit_fare_days = Table(
    "transit_fare_days",
    metadata,
    Column("merchant_id", String(32), primary_key=True),
    Column("rider_id", String(40), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("month", String(7), nullable=False),
    Column("journeys", Integer, nullable=False),
    Column("fare_fen", BigInteger, nullable=False),  # the day's fares before caps (after concessions)
    Column("capped_fen", BigInteger, nullable=False),  # after the daily cap
    utcnow_column("updated_at"),
    CheckConstraint("fare_fen >= 0 and capped_fen >= 0 and capped_fen <= fare_fen", name="amounts"),
    Index("ix_transit_fare_days_month", "merchant_id", "rider_id", "month"),
)

transit_charges = Table(
    "transit_charges",
    metadata,
    Column("merchant_id", String(32), primary_key=True),
    Column("id", String(40), primary_key=True),  # also the payment's merchant_order_no
    Column("rider_id", String(40), nullable=False),
    Column("month", String(7), nullable=False),
    Column("through_day", Date, nullable=False),  # the last day whose fares it covers
    Column("amount_fen", BigInteger, nullable=False),
    Column("payment_id", String(32), nullable=True),
    Column("channel", String(20), nullable=False),
    Column("status", String(10), nullable=False),  # pending | succeeded | failed
    Column("failure_code", String(40), nullable=True),
    utcnow_column("created_at"),
    utcnow_column("updated_at"),
    CheckConstraint("amount_fen > 0", name="amount"),
    CheckConstraint("status in ('pending','succeeded','failed')", name="status"),
    Index("ix_transit_charges_rider_month", "merchant_id", "rider_id", "month"),
    Index("ix_transit_charges_status", "merchant_id", "status"),
)

transit_pass_products = Table(
    "transit_pass_products",
    metadata,
    Column("merchant_id", String(32), primary_key=True),
    Column("id", String(40), primary_key=True),
    Column("name", String(60), nullable=False),
    Column("kind", String(6), nullable=False),  # month | term
    Column("price_fen", BigInteger, nullable=False),
    Column("valid_from", Date, nullable=False),
    Column("valid_to", Date, nullable=False),
    Column("refund_fee_ppm", Integer, nullable=False, server_default="0"),  # kept from the unused share
    Column("status", String(10), nullable=False, server_default="active"),
    utcnow_column("created_at"),
    CheckConstraint("kind in ('month','term')", name="kind"),
    CheckConstraint("price_fen > 0 and valid_from <= valid_to", name="price_dates"),
    CheckConstraint("refund_fee_ppm >= 0 and refund_fee_ppm <= 1000000", name="refund_fee"),
    CheckConstraint("status in ('active','retired')", name="status"),
)

transit_passes = Table(
    "transit_passes",
    metadata,
    Column("merchant_id", String(32), primary_key=True),
    Column("id", String(40), primary_key=True),  # also the payment's merchant_order_no
    Column("product_id", String(40), nullable=False),
    Column("rider_id", String(40), nullable=False),  # the student's transit QR
    Column("student_masked", String(40), nullable=False),
    Column("valid_from", Date, nullable=False),
    Column("valid_to", Date, nullable=False),
    Column("price_fen", BigInteger, nullable=False),
    Column("payment_id", String(32), nullable=True),
    Column("channel", String(20), nullable=False, server_default=""),
    Column("status", String(10), nullable=False),  # pending | active | void | refunded
    Column("refunded_fen", BigInteger, nullable=False, server_default="0"),
    utcnow_column("created_at"),
    utcnow_column("updated_at"),
    CheckConstraint("status in ('pending','active','void','refunded')", name="status"),
    CheckConstraint("refunded_fen >= 0 and refunded_fen <= price_fen", name="refund"),
    Index("ix_transit_passes_rider", "merchant_id", "rider_id", "status"),
)

scenic_ticket_types = Table(
    "scenic_ticket_types",
    metadata,
    Column("merchant_id", String(32), primary_key=True),
    Column("id", String(40), primary_key=True),
    Column("name", String(60), nullable=False),
    Column("price_fen", BigInteger, nullable=False),  # per person
    Column("group_min", Integer, nullable=False, server_default="0"),  # 0: not a group ticket
    Column("refund_until_h", Integer, nullable=False, server_default="2"),  # before the slot starts
    Column("refund_fee_ppm", Integer, nullable=False, server_default="0"),
    Column("status", String(10), nullable=False, server_default="active"),
    utcnow_column("created_at"),
    CheckConstraint("price_fen >= 0 and group_min >= 0 and refund_until_h >= 0", name="amounts"),
    CheckConstraint("refund_fee_ppm >= 0 and refund_fee_ppm <= 1000000", name="refund_fee"),
    CheckConstraint("status in ('active','retired')", name="status"),
)

scenic_slots = Table(
    "scenic_slots",
    metadata,
    Column("merchant_id", String(32), primary_key=True),
    Column("id", String(40), primary_key=True),
    Column("day", Date, nullable=False),
    Column("starts", String(5), nullable=False),  # HH:MM Shanghai
    Column("ends", String(5), nullable=False),
    Column("max_capacity", Integer, nullable=False),
    Column("capacity_ppm", Integer, nullable=False),  # e.g. 750000: 75 % of the maximum
    Column("capacity", Integer, nullable=False),
    Column("held", Integer, nullable=False, server_default="0"),  # reservations being paid
    Column("sold", Integer, nullable=False, server_default="0"),
    utcnow_column("created_at"),
    CheckConstraint("capacity >= 0 and capacity <= max_capacity", name="capacity"),
    CheckConstraint("capacity_ppm > 0 and capacity_ppm <= 1000000", name="capacity_ppm"),
    CheckConstraint("held >= 0 and sold >= 0 and held + sold <= capacity", name="no_oversell"),
    CheckConstraint("starts < ends", name="window"),
    UniqueConstraint("merchant_id", "day", "starts"),
)

scenic_orders = Table(
    "scenic_orders",
    metadata,
    Column("merchant_id", String(32), primary_key=True),
    Column("id", String(40), primary_key=True),  # also the payment's merchant_order_no
    Column("slot_id", String(40), nullable=False),
    Column("type_id", String(40), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("payment_id", String(32), nullable=True),
    Column("channel", String(20), nullable=False, server_default=""),
    Column("status", String(10), nullable=False),  # held | paid | released | refunded
    utcnow_column("held_until"),
    Column("refunded_fen", BigInteger, nullable=False, server_default="0"),
    utcnow_column("created_at"),
    utcnow_column("updated_at"),
    CheckConstraint("quantity > 0 and amount_fen >= 0", name="amounts"),
    CheckConstraint("status in ('held','paid','released','refunded')", name="status"),
    Index("ix_scenic_orders_status", "merchant_id", "status", "held_until"),
    Index("ix_scenic_orders_slot", "merchant_id", "slot_id"),
)

scenic_tickets = Table(
    "scenic_tickets",
    metadata,
    Column("merchant_id", String(32), primary_key=True),
    Column("id", String(40), primary_key=True),
    Column("order_id", String(40), nullable=False),
    Column("slot_id", String(40), nullable=False),
    Column("day", Date, nullable=False),
    Column("people", Integer, nullable=False),  # 1, or a group ticket's party
    Column("status", String(10), nullable=False),  # valid | used | refunded
    utcnow_column("used_at", nullable=True),
    Column("gate", String(40), nullable=True),
    utcnow_column("created_at"),
    CheckConstraint("people > 0", name="people"),
    CheckConstraint("status in ('valid','used','refunded')", name="status"),
    Index("ix_scenic_tickets_order", "merchant_id", "order_id"),
)
