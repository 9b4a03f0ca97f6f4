"""风险控制表 / Risk-control tables: limits with effective dates, their counters and per-payment usage, rule-set
versions, deny/allow lists, alerts, cases with their audit trail, the monitor's cursor, and simulation labels."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from zhifu.db.meta import metadata, utcnow_column

# A limit is configuration: each change is a new row effective from its time; the row in force at a payment's
# time is the newest one whose effective_at is not after it. Rows are never edited.
risk_limits = Table(
    "risk_limits",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(40), nullable=False),
    Column("value", BigInteger, nullable=False),  # fen for amount limits; 0/1 for a switch
    utcnow_column("effective_at"),
    Column("note", String(200), nullable=False, server_default=""),
    Column("created_by", String(64), nullable=False),
    utcnow_column("created_at"),
    CheckConstraint("value >= 0", name="value"),
    UniqueConstraint("key", "effective_at"),
)

# Usage of an amount limit for one subject (a payer, a merchant) in one period (a Shanghai day or month), moved by a
# conditional UPDATE (… WHERE used_fen + x <= limit) in the payment's own transaction. Payer counters span
# merchants by definition, so this is a global table keyed by subject.
risk_counters = Table(
    "risk_counters",
    metadata,
    Column("key", String(40), primary_key=True),
    Column("subject", String(64), primary_key=True),
    Column("period", String(10), primary_key=True),
    Column("used_fen", BigInteger, nullable=False, server_default="0"),
    Column("payments", Integer, nullable=False, server_default="0"),
    CheckConstraint("used_fen >= 0 and payments >= 0", name="non_negative"),
)

# What one payment took from each counter, so a failed, closed or expired payment gives it back exactly once.
risk_usages = Table(
    "risk_usages",
    metadata,
    Column("merchant_id", String(32), primary_key=True),
    Column("merchant_order_no", String(64), primary_key=True),
    Column("key", String(40), primary_key=True),
    Column("subject", String(64), nullable=False),
    Column("period", String(10), nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("released", String(1), nullable=False, server_default="N"),
    utcnow_column("created_at"),
    CheckConstraint("amount_fen > 0", name="amount"),
    CheckConstraint("released in ('Y','N')", name="released"),
)

# Every rule set ever loaded (YAML source kept verbatim); exactly the newest is active.
risk_rulesets = Table(
    "risk_rulesets",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("sha256", String(64), nullable=False),
    Column("source", Text, nullable=False),
    Column("loaded_by", String(64), nullable=False),
    utcnow_column("loaded_at"),
)

# Deny and allow lists with expiry; a value is a payer ref, a merchant id, a settle account mask, a code id, ….
risk_list_entries = Table(
    "risk_list_entries",
    metadata,
    Column("list_name", String(40), primary_key=True),
    Column("value", String(64), primary_key=True),
    Column("reason", String(200), nullable=False, server_default=""),
    Column("created_by", String(64), nullable=False),
    utcnow_column("created_at"),
    utcnow_column("expires_at", nullable=True),
)

# One alert per rule, subject and Shanghai day; later hits that day add to `hits` and keep the highest score.
risk_alerts = Table(
    "risk_alerts",
    metadata,
    Column("merchant_id", String(32), primary_key=True),
    Column("id", String(32), primary_key=True),
    Column("rule_id", String(60), nullable=False),
    Column("typology", String(20), nullable=False),
    Column("subject_kind", String(10), nullable=False),  # merchant | payer
    Column("subject", String(64), nullable=False),
    Column("day", String(10), nullable=False),
    Column("outcome", String(8), nullable=False),
    Column("score", Integer, nullable=False),
    Column("shadow", String(1), nullable=False),
    Column("hits", Integer, nullable=False, server_default="1"),
    Column("payment_id", String(32), nullable=False),  # the payment that first raised it
    Column("evidence", JSON, nullable=False),  # the features at the time, and the rule's thresholds
    Column("ruleset_version", Integer, nullable=False),
    Column("town_code", String(12), nullable=False, server_default=""),
    Column("case_id", String(32), nullable=True),
    utcnow_column("created_at"),
    utcnow_column("updated_at"),
    CheckConstraint("outcome in ('review','block')", name="outcome"),
    CheckConstraint("shadow in ('Y','N')", name="shadow"),
    UniqueConstraint("merchant_id", "rule_id", "subject_kind", "subject", "day"),
    Index("ix_risk_alerts_created", "created_at"),
    Index("ix_risk_alerts_town_typology", "town_code", "typology"),
)

# A case gathers a merchant's (or a payer's) alerts; decisions that move money or end a relationship need a
# second person (maker-checker): `pending_*` holds the proposal until another user approves or rejects it.
risk_cases = Table(
    "risk_cases",
    metadata,
    Column("merchant_id", String(32), primary_key=True),
    Column("id", String(32), primary_key=True),
    Column("subject_kind", String(10), nullable=False),
    Column("subject", String(64), nullable=False),
    Column("typology", String(20), nullable=False),
    Column("town_code", String(12), nullable=False, server_default=""),
    Column("status", String(10), nullable=False),
    Column("assignee", String(64), nullable=True),
    Column("outcome", String(12), nullable=True),
    Column("pending_action", String(12), nullable=True),
    Column("pending_by", String(64), nullable=True),
    Column("pending_note", String(500), nullable=True),
    Column("hold_id", String(32), nullable=True),
    Column("frozen_fen", BigInteger, nullable=False, server_default="0"),
    Column("alerts", Integer, nullable=False, server_default="0"),
    Column("max_score", Integer, nullable=False, server_default="0"),
    utcnow_column("created_at"),
    utcnow_column("updated_at"),
    CheckConstraint("status in ('open','monitoring','frozen','closed')", name="status"),
    CheckConstraint("frozen_fen >= 0", name="frozen"),
    Index("ix_risk_cases_status", "status", "id"),
    Index("ix_risk_cases_subject", "subject_kind", "subject", "status"),
)

# Who did what on a case, in order: opened, assigned, note, proposed, approved, rejected, decided.
risk_case_events = Table(
    "risk_case_events",
    metadata,
    Column("merchant_id", String(32), primary_key=True),
    Column("case_id", String(32), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("actor", String(64), nullable=False),
    Column("action", String(20), nullable=False),
    Column("note", String(500), nullable=False, server_default=""),
    Column("detail", JSON, nullable=True),
    utcnow_column("at"),
)

# Where the monitor has read payments up to: the (succeeded_at, id) of the last payment it evaluated.
risk_cursor = Table(
    "risk_cursor",
    metadata,
    Column("name", String(20), primary_key=True),
    utcnow_column("last_at"),
    Column("last_id", String(32), nullable=False),
)

# Ground truth from the simulator, read only by the backtest and the benchmark, never by the rules.
risk_labels = Table(
    "risk_labels",
    metadata,
    Column("subject_kind", String(10), primary_key=True),
    Column("subject", String(64), primary_key=True),
    Column("typology", String(20), primary_key=True),  # a typology, or honest_<kind> for camouflage actors
    Column("note", String(200), nullable=False, server_default=""),
)
