"""Ledger tables and domain types: accounts with stored balances, balance slots, entries, postings and holds."""

from __future__ import annotations

import dataclasses
import enum

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from zhifu.db.meta import metadata, utcnow_column


class AccountType(enum.StrEnum):
    ASSET = "asset"
    LIABILITY = "liability"
    EQUITY = "equity"
    INCOME = "income"
    EXPENSE = "expense"

    @property
    def debit_normal(self) -> bool:
        return self in (AccountType.ASSET, AccountType.EXPENSE)


accounts = Table(
    "ledger_accounts",
    metadata,
    Column("code", String(96), primary_key=True),
    Column("type", String(12), nullable=False),
    Column("currency", String(3), nullable=False, server_default="CNY"),
    Column("no_overdraft", Boolean, nullable=False, server_default="0"),
    Column("status", String(8), nullable=False, server_default="open"),
    Column("posted_dr_fen", BigInteger, nullable=False, server_default="0"),
    Column("posted_cr_fen", BigInteger, nullable=False, server_default="0"),
    Column("pending_dr_fen", BigInteger, nullable=False, server_default="0"),
    Column("pending_cr_fen", BigInteger, nullable=False, server_default="0"),
    utcnow_column("created_at"),
    CheckConstraint("type in ('asset','liability','equity','income','expense')", name="type"),
    CheckConstraint("status in ('open','closed')", name="status"),
    CheckConstraint(
        "posted_dr_fen >= 0 and posted_cr_fen >= 0 and pending_dr_fen >= 0 and pending_cr_fen >= 0",
        name="sums_non_negative",
    ),
)

# Balance slots: the posted sums of an account that has no overdraft guard are kept in up to BALANCE_SLOTS rows
# beside its own row (account row + Σ slots = the stored balance). Concurrent postings to a busy account (the
# platform's fee income, a rail's receivable, a busy merchant's payable) each add to the slot of their own
# connection, so they do not queue on one row lock; an account with a guard keeps its whole balance on its row,
# locked, because the guard needs the exact figure before it lets money leave.
BALANCE_SLOTS = 64  # rows per account at most: a balance read sums this many; more than concurrent writers

balance_slots = Table(
    "ledger_balance_slots",
    metadata,
    Column("account_code", String(96), ForeignKey("ledger_accounts.code"), primary_key=True),
    Column("slot", Integer, primary_key=True, autoincrement=False),
    Column("posted_dr_fen", BigInteger, nullable=False, server_default="0"),
    Column("posted_cr_fen", BigInteger, nullable=False, server_default="0"),
    CheckConstraint(f"slot >= 0 and slot < {BALANCE_SLOTS}", name="slot"),
    CheckConstraint("posted_dr_fen >= 0 and posted_cr_fen >= 0", name="sums_non_negative"),
)

entries = Table(
    "ledger_entries",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("idempotency_key", String(160), nullable=False, unique=True),
    Column("content_hash", String(64), nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("hold_id", String(32), nullable=True),  # set when the entry posts a hold
    utcnow_column("created_at", index=True),
)

postings = Table(
    "ledger_postings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("entry_id", String(32), ForeignKey("ledger_entries.id"), nullable=False),
    Column("account_code", String(96), ForeignKey("ledger_accounts.code"), nullable=False),
    Column("side", String(1), nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    utcnow_column("created_at"),
    CheckConstraint("side in ('D','C')", name="side"),
    CheckConstraint("amount_fen > 0", name="amount_positive"),
    Index("ix_ledger_postings_account_id", "account_code", "id"),
    Index("ix_ledger_postings_entry", "entry_id"),
)

holds = Table(
    "ledger_holds",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("idempotency_key", String(160), nullable=False, unique=True),
    Column("content_hash", String(64), nullable=False),
    Column("debit_code", String(96), ForeignKey("ledger_accounts.code"), nullable=False),
    Column("credit_code", String(96), ForeignKey("ledger_accounts.code"), nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("status", String(8), nullable=False),
    Column("posted_fen", BigInteger, nullable=False, server_default="0"),
    Column("posted_entry_id", String(32), nullable=True),
    Column("description", Text, nullable=False, server_default=""),
    utcnow_column("created_at"),
    utcnow_column("expires_at", index=True),
    utcnow_column("resolved_at", nullable=True),
    CheckConstraint("status in ('pending','posted','voided','expired')", name="status"),
    CheckConstraint("amount_fen > 0 and posted_fen >= 0 and posted_fen <= amount_fen", name="amounts"),
    Index("ix_ledger_holds_status_expires", "status", "expires_at"),
)


@dataclasses.dataclass(frozen=True, slots=True)
class Leg:
    """One side of an entry: debit (`D`) or credit (`C`) an account by a positive amount."""

    account: str
    side: str
    amount_fen: int
    currency: str = "CNY"


def dr(account: str, amount_fen: int, currency: str = "CNY") -> Leg:
    return Leg(account, "D", amount_fen, currency)


def cr(account: str, amount_fen: int, currency: str = "CNY") -> Leg:
    return Leg(account, "C", amount_fen, currency)


@dataclasses.dataclass(frozen=True, slots=True)
class EntryRequest:
    idempotency_key: str
    legs: tuple[Leg, ...]
    description: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class Balance:
    account: str
    type: AccountType
    posted_fen: int  # on the account's normal side
    pending_debits_fen: int
    pending_credits_fen: int

    @property
    def available_fen(self) -> int:
        """What can still leave the account once pending holds are taken out."""
        outgoing = self.pending_credits_fen if self.type.debit_normal else self.pending_debits_fen
        return self.posted_fen - outgoing


def normal_balance(account_type: str, dr_fen: int, cr_fen: int) -> int:
    return dr_fen - cr_fen if AccountType(account_type).debit_normal else cr_fen - dr_fen
