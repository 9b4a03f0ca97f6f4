"""领导小组办公室 / The programme office's tables: work items and their units, progress updates, 会商 meetings and
the actions their decisions create, training and publicity, commerce circles and pilot streets, credit granted
on payment data, and issuers' SME-product reports.

Merchant-scoped tables (attendees, circle members, disclosures, credit) carry `merchant_id` in their keys.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
)

from zhifu.db.meta import metadata, utcnow_column

ITEM_STATUSES = ("not_started", "on_track", "at_risk", "done")
ACTION_STATUSES = ("open", "done")
CIRCLE_KINDS = ("circle", "street")
PUBLICITY_KINDS = ("media", "on_site", "campaign")
SME_PRODUCTS = ("sme_card", "yinqitong")

# A regulator-role console user's unit in the leadership group; a regulator without a row acts for the office.
office_members = Table(
    "office_members",
    metadata,
    Column("user_id", String(32), primary_key=True),
    Column("unit_id", String(40), nullable=False),
    utcnow_column("created_at"),
)

office_units = Table(
    "office_units",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(60), nullable=False),
    Column("hosts_office", Boolean, nullable=False),
)

office_items = Table(
    "office_items",
    metadata,
    Column("number", Integer, primary_key=True),
    Column("section", String(60), nullable=False),
    Column("title", String(100), nullable=False),
    Column("text", Text, nullable=False),
    Column("lead_unit", String(40), nullable=False),
    Column("co_units", String(300), nullable=False),  # comma-separated unit ids
    Column("due", Date, nullable=False),
    Column("status", String(12), nullable=False, server_default="not_started"),
    Column("progress_ppm", Integer, nullable=False, server_default="0"),
    utcnow_column("updated_at"),
    CheckConstraint(f"status in {ITEM_STATUSES}", name="status"),
    CheckConstraint("progress_ppm between 0 and 1000000", name="progress"),
)

office_milestones = Table(
    "office_milestones",
    metadata,
    Column("item_number", Integer, primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("title", String(200), nullable=False),
    Column("due", Date, nullable=False),
    Column("done_on", Date, nullable=True),
)

office_updates = Table(
    "office_updates",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("item_number", Integer, nullable=False),
    Column("unit_id", String(40), nullable=False),
    Column("author", String(64), nullable=False),
    Column("text", Text, nullable=False),
    Column("status", String(12), nullable=False),
    Column("progress_ppm", Integer, nullable=False),
    Column("figures", JSON, nullable=False),  # dashboard figures linked to the update, as they stood then
    utcnow_column("created_at"),
    Index("ix_office_updates_item", "item_number", "created_at"),
)

office_attachments = Table(
    "office_attachments",
    metadata,
    Column("update_id", String(32), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("filename", String(120), nullable=False),
    Column("content_type", String(60), nullable=False),
    Column("size_bytes", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("data", LargeBinary, nullable=False),
    CheckConstraint("size_bytes > 0", name="size"),
)

office_meetings = Table(
    "office_meetings",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("held_on", Date, nullable=False),
    Column("title", String(100), nullable=False),
    Column("units_present", String(300), nullable=False),
    Column("problems", Text, nullable=False),
    Column("created_by", String(64), nullable=False),
    utcnow_column("created_at"),
)

# A 会商 decision is a tracked action on a work item, owned by one unit, due on a date.
office_actions = Table(
    "office_actions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("meeting_id", String(32), nullable=False, index=True),
    Column("item_number", Integer, nullable=False, index=True),
    Column("decision", Text, nullable=False),
    Column("owner_unit", String(40), nullable=False),
    Column("due", Date, nullable=False),
    Column("status", String(8), nullable=False, server_default="open"),
    Column("done_note", String(500), nullable=False, server_default=""),
    utcnow_column("done_at", nullable=True),
    CheckConstraint(f"status in {ACTION_STATUSES}", name="status"),
)

# Overdue reminders, at most one per thing and day, so a sweep can run any number of times.
office_reminders = Table(
    "office_reminders",
    metadata,
    Column("ref", String(40), primary_key=True),  # item:3 · milestone:3.1 · action:act_…
    Column("day", Date, primary_key=True),
    Column("unit_id", String(40), nullable=False),
    Column("text", String(300), nullable=False),
    utcnow_column("created_at"),
)

office_trainings = Table(
    "office_trainings",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("held_on", Date, nullable=False),
    Column("town_code", String(12), nullable=False),
    Column("trainer", String(40), nullable=False),  # the institution that trained
    Column("topic", String(200), nullable=False),
    Column("created_by", String(64), nullable=False),
    utcnow_column("created_at"),
    Index("ix_office_trainings_town", "town_code", "held_on"),
)

# Cashiers trained, counted per merchant: no cashier's name is kept (minimal personal data).
office_attendees = Table(
    "office_attendees",
    metadata,
    Column("merchant_id", String(32), primary_key=True),
    Column("training_id", String(32), primary_key=True),
    Column("cashiers", Integer, nullable=False),
    Column("town_code", String(12), nullable=False),
    Column("acquirer_id", String(40), nullable=False),
    CheckConstraint("cashiers between 1 and 100", name="cashiers"),
    Index("ix_office_attendees_training", "training_id"),
)

office_publicity = Table(
    "office_publicity",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("held_on", Date, nullable=False),
    Column("town_code", String(12), nullable=True),  # None: county-wide
    Column("kind", String(10), nullable=False),
    Column("title", String(200), nullable=False),
    Column("reach", BigInteger, nullable=False),
    Column("created_by", String(64), nullable=False),
    utcnow_column("created_at"),
    CheckConstraint(f"kind in {PUBLICITY_KINDS}", name="kind"),
    CheckConstraint("reach >= 0", name="reach"),
)

office_circles = Table(
    "office_circles",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(60), nullable=False),
    Column("kind", String(8), nullable=False),
    Column("town_code", String(12), nullable=False),
    Column("lead_institution", String(40), nullable=False),
    Column(
        "area", String(200), nullable=False, server_default=""
    ),  # street or district, matched to addresses
    Column("launch_date", Date, nullable=True),  # None: planned
    Column("end_date", Date, nullable=True),
    utcnow_column("created_at"),
    CheckConstraint(f"kind in {CIRCLE_KINDS}", name="kind"),
    CheckConstraint("end_date is null or launch_date is not null and end_date >= launch_date", name="dates"),
)

office_circle_merchants = Table(
    "office_circle_merchants",
    metadata,
    Column("merchant_id", String(32), primary_key=True),
    Column("circle_id", String(40), primary_key=True),
    utcnow_column("added_at"),
    Index("ix_office_circle_merchants_circle", "circle_id"),
)

# Every turnover-evidence disclosure to a lender, with the digest and signature of what was disclosed.
office_disclosures = Table(
    "office_disclosures",
    metadata,
    Column("merchant_id", String(32), primary_key=True),
    Column("id", String(32), primary_key=True),
    Column("lender", String(40), nullable=False),
    Column("consent_id", String(32), nullable=False),
    Column("channel", String(8), nullable=False),  # api | pdf | console
    Column("body", JSON, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("signature", String(120), nullable=False),
    Column("actor", String(64), nullable=False),
    utcnow_column("created_at"),
)

office_credit = Table(
    "office_credit",
    metadata,
    Column("merchant_id", String(32), primary_key=True),
    Column("id", String(32), primary_key=True),
    Column("lender", String(40), nullable=False),
    Column("disclosure_id", String(32), nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("term_months", Integer, nullable=False),
    Column("granted_on", Date, nullable=False),
    Column("town_code", String(12), nullable=False),
    Column("actor", String(64), nullable=False),
    utcnow_column("created_at"),
    CheckConstraint("amount_fen > 0", name="amount"),
    CheckConstraint("term_months between 1 and 360", name="term"),
    Index("ix_office_credit_lender", "lender", "granted_on"),
)

# Issuers' SME products (小微企业卡, 银企通) by town and month; a correction is a new version.
office_sme_reports = Table(
    "office_sme_reports",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("institution", String(40), nullable=False),
    Column("town_code", String(12), nullable=False),
    Column("month", String(7), nullable=False),
    Column("product", String(10), nullable=False),
    Column("version", Integer, nullable=False),
    Column("accounts", BigInteger, nullable=False),
    Column("submitted_by", String(64), nullable=False),
    utcnow_column("created_at"),
    CheckConstraint(f"product in {SME_PRODUCTS}", name="product"),
    CheckConstraint("accounts >= 0", name="accounts"),
    Index(
        "ix_office_sme_reports_period", "institution", "town_code", "month", "product", "version", unique=True
    ),
)
