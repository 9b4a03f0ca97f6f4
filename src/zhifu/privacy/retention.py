"""保存期限与清理 / Retention classes and the purge: every table has a class saying how long its rows are kept;
`zhifu privacy purge` deletes what is past its class's period, in small transactions, audited, and holds back
transactions that settlement or reconciliation still needs.

Classes (docs/audit.md gives the reasons):
- transaction: payments, refunds, cashier orders, bus taps, scenic tickets and orders, social-insurance
  contributions, 5 years after their date (PBOC's anti-money-laundering rule); a dated one never past the last
  settled date, nor a date with an open reconciliation case.
- marketing: payer-level campaign data (counters, flags), kept while the campaign runs — the purpose the payer
  was told — and 90 days after it ends for disputes over awards, then purged.
- session: console sessions, refused-login counters and form tokens, 30 days after they end.
- operational: idempotency answers and delivered webhooks, 1 year.
- books: the ledger, settlement, reconciliation, fee and subsidy records: 30 years (accounting archives);
  never purged by this command.
- audit: the tamper-evident log; never purged (a deletion is what `zhifu audit verify` reports).
- master: merchants, payers' accounts, complaints, consents and the like: kept while the relationship lasts;
  ended through a data-subject request (deletion or anonymisation), not by age.
- reference: the county, calendars, fee plans, catalogues: kept while in use.

Rows are found by table name in the metadata, as the key rotation and the plaintext scan find theirs: the
purge is a platform duty over every capability's tables, and each rule names the column its age is read from.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Any, Final

from sqlalchemy import Connection, Table, and_, delete, func, select

from zhifu import audit
from zhifu.core import clock
from zhifu.db import Database

DAY: Final = dt.timedelta(days=1)
TRANSACTION_DAYS: Final = 5 * 365 + 2  # five calendar years, leap days included
MARKETING_AFTER_END_DAYS: Final = 90
SESSION_DAYS: Final = 30
OPERATIONAL_DAYS: Final = 365
BATCH_ROWS: Final = 1_000  # rows per delete transaction: short enough that payments never wait on a purge

CLASSES: Final = (
    "transaction",
    "marketing",
    "session",
    "operational",
    "books",
    "audit",
    "master",
    "reference",
)


@dataclasses.dataclass(frozen=True)
class Rule:
    """How a purgeable table's rows age: the column read, the class and its period in days."""

    table: str
    klass: str
    column: str
    days: int
    guarded: bool = False  # a transaction table: held back where settlement or reconciliation needs it


RULES: Final = (
    Rule("payments", "transaction", "business_date", TRANSACTION_DAYS, guarded=True),
    Rule("refunds", "transaction", "business_date", TRANSACTION_DAYS, guarded=True),
    Rule("cashier_payments", "transaction", "local_date", TRANSACTION_DAYS, guarded=True),
    Rule("transit_taps", "transaction", "day", TRANSACTION_DAYS, guarded=True),
    Rule("scenic_tickets", "transaction", "day", TRANSACTION_DAYS, guarded=True),
    Rule("scenic_orders", "transaction", "created_at", TRANSACTION_DAYS),
    Rule("si_contributions", "transaction", "created_at", TRANSACTION_DAYS),
    Rule("campaign_counters", "marketing", "day", MARKETING_AFTER_END_DAYS),
    Rule("campaign_flags", "marketing", "day", MARKETING_AFTER_END_DAYS),
    Rule("console_sessions", "session", "expires_at", SESSION_DAYS),
    Rule("console_login_failures", "session", "at", SESSION_DAYS),
    Rule("console_form_tokens", "session", "created_at", SESSION_DAYS),
    Rule("idempotency_keys", "operational", "created_at", OPERATIONAL_DAYS),
)
PURGED: Final = {r.table: r for r in RULES}

# Every other table's class, by name prefix then by exact name (exact names win).
_PREFIXES: Final = (
    ("audit_", "audit"),
    ("ledger_", "books"),
    ("settlement", "books"),
    ("recon_", "books"),
    ("fee_", "books"),
    ("campaign_", "books"),
    ("incentive_", "books"),
    ("kpi_", "books"),
    ("county_", "reference"),
    ("calendar_", "reference"),
    ("office_", "master"),
    ("complaint", "master"),
    ("rural_", "master"),
    ("transit_", "master"),
    ("risk_", "books"),
    ("bill", "master"),
    ("console_", "master"),
    ("webhook_", "operational"),
    ("privacy_", "reference"),
    ("job_", "operational"),
)
_EXACT: Final = {
    "campaigns": "books",
    "consents": "master",
    "merchants": "master",
    "merchant_stores": "master",
    "api_keys": "master",
    "payment_codes": "master",
    "cashier_payments": "transaction",
    "fiscal_receipts": "books",
    "fiscal_receipt_counters": "books",
    "nontax_codes": "master",
    "si_contributions": "transaction",
    "scenic_ticket_types": "reference",
    "rail_exceptions": "books",
    "channel_notifications": "operational",
    "events": "operational",
    "merchant_terminals": "master",
    "scenic_orders": "transaction",
    "scenic_tickets": "transaction",
    "scenic_slots": "reference",
    "subject_requests": "master",
}


def class_of(table: str) -> str | None:
    """The retention class of a table, or None when no rule names it (a test fails on such a table)."""
    if table in PURGED:
        return PURGED[table].klass
    if table in _EXACT:
        return _EXACT[table]
    for prefix, klass in _PREFIXES:
        if table.startswith(prefix):
            return klass
    return None


@dataclasses.dataclass
class Line:
    table: str
    klass: str
    cutoff: str  # rows older than this go
    due: int  # rows past the period
    held: int = 0  # of those, rows settlement or reconciliation still needs
    purged: int = 0


def _tables() -> dict[str, Table]:
    from zhifu.db.schema import metadata

    return dict(metadata.tables)


def _cutoff(rule: Rule, as_of: dt.datetime) -> Any:
    edge = as_of - rule.days * DAY
    col_type = str(_tables()[rule.table].c[rule.column].type).upper()
    if col_type.startswith("DATE") and not col_type.startswith("DATETIME") and "TIME" not in col_type:
        return edge.date()
    if rule.column == "day":  # YYYY-MM-DD text (Asia/Shanghai)
        return edge.date().isoformat()
    return edge


def _due(rule: Rule, as_of: dt.datetime, conn: Connection) -> Any:
    t = _tables()[rule.table]
    cond = t.c[rule.column] < _cutoff(rule, as_of)
    if (
        rule.klass == "marketing"
    ):  # only campaigns that have ended: a running campaign still needs its counters
        campaigns = _tables()["campaigns"]
        ended = select(campaigns.c.id).where(campaigns.c.status == "ended")
        cond = and_(cond, t.c.campaign_id.in_(ended))
    return cond


def _kept(rule: Rule, needed_from: dt.date | None) -> Any:
    """Rows a guarded table must keep: on or after the first date settlement or reconciliation still needs."""
    t = _tables()[rule.table]
    if not rule.guarded or needed_from is None:
        return None
    return t.c[rule.column] >= needed_from


def plan(
    conn: Connection, *, as_of: dt.datetime | None = None, needed_from: dt.date | None = None
) -> list[Line]:
    """What a purge would delete now: per purgeable table, its cutoff, the rows due and those held back.
    `needed_from`: the first business date settlement or reconciliation still needs (None: nothing is held)."""
    as_of = as_of or clock.now()
    out = []
    for rule in RULES:
        t = _tables()[rule.table]
        due_q = _due(rule, as_of, conn)
        due = conn.execute(select(func.count()).select_from(t).where(due_q)).scalar_one()
        kept = _kept(rule, needed_from)
        held = (
            conn.execute(select(func.count()).select_from(t).where(and_(due_q, kept))).scalar_one()
            if kept is not None
            else 0
        )
        out.append(Line(rule.table, rule.klass, str(_cutoff(rule, as_of)), int(due), int(held)))
    return out


def _purge_batch(conn: Connection, rule: Rule, as_of: dt.datetime, needed_from: dt.date | None) -> int:
    t = _tables()[rule.table]
    cond = _due(rule, as_of, conn)
    kept = _kept(rule, needed_from)
    if kept is not None:
        cond = and_(cond, ~kept)
    pk = list(t.primary_key.columns)
    rows = conn.execute(select(*pk).where(cond).order_by(*pk).limit(BATCH_ROWS)).all()
    for r in rows:
        conn.execute(delete(t).where(and_(*[c == r._mapping[c.name] for c in pk])))
    return len(rows)


def purge(
    db: Database,
    *,
    as_of: dt.datetime | None = None,
    needed_from: dt.date | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> list[Line]:
    """Delete every row past its class's period, table by table in batches of BATCH_ROWS; each table's purge
    is one audit entry (its class, cutoff, count) committed with its last batch. Returns the plan, with counts."""
    as_of = as_of or clock.now()
    lines = db.run(lambda c: plan(c, as_of=as_of, needed_from=needed_from))
    total = sum(line.due - line.held for line in lines)
    done = 0
    for line in lines:
        rule = PURGED[line.table]
        while True:

            def batch(c: Connection, rule: Rule = rule, line: Line = line) -> int:
                n = _purge_batch(c, rule, as_of, needed_from)
                if n < BATCH_ROWS and (line.purged + n or line.held):
                    audit.record(
                        c,
                        None,
                        "privacy.purged",
                        "table",
                        line.table,
                        {
                            "class": line.klass,
                            "cutoff": line.cutoff,
                            "rows": line.purged + n,
                            "held": line.held,
                            "needed_from": needed_from.isoformat() if needed_from else None,
                        },
                    )
                return n

            n = db.run(batch)
            line.purged += n
            done += n
            if progress:
                progress(line.table, done, max(total, done))
            if n < BATCH_ROWS:
                break
    return lines


__all__ = ["CLASSES", "PURGED", "RULES", "Line", "Rule", "class_of", "plan", "purge"]
