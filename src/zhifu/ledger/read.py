"""账本的只读视图 / Read-only views of the ledger for other capabilities.

Settlement (what a merchant is owed), statements and reconciliation (what an entry moved) and complaints (a
refund's money) read entries, postings and accounts as sets through these views — selects of the ledger's
columns, joined and grouped like tables, never written through — and never import the ledger's tables. Only
`zhifu.ledger.service` writes the book."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Subquery, func, select

from zhifu.ledger.models import accounts, balance_slots, entries, postings


def _with_slots(column: str) -> Any:
    """An account's posted sum: its row's and its balance slots' together."""
    in_slots = (
        select(func.coalesce(func.sum(balance_slots.c[column]), 0))
        .where(balance_slots.c.account_code == accounts.c.code)
        .scalar_subquery()
    )
    return (accounts.c[column] + in_slots).label(column)


accounts_view: Subquery = select(
    *(_with_slots(c.name) if c.name in ("posted_dr_fen", "posted_cr_fen") else c for c in accounts.c)
).subquery("accounts_v")
"""Every account (code, type, currency, status, posted and pending sums in fen). Locking rows of this view
(FOR UPDATE) locks the accounts; the posted sums are read as of the statement's start, so a reader that locks
reads them again in a second statement."""

entries_view: Subquery = select(*entries.c).subquery("entries_v")
"""Every entry (id, idempotency_key, description, hold_id, created_at)."""

postings_view: Subquery = select(*postings.c).subquery("postings_v")
"""Every posting (entry_id, account_code, side D or C, amount_fen, currency, created_at)."""


def entry_legs(conn: Connection, idempotency_keys: Sequence[str]) -> list[dict[str, Any]]:
    """The legs of the entries with these keys (id, description, created_at, account_code, side, amount_fen), in
    entry and posting order, in one query."""
    e, p = entries.c, postings.c
    rows = conn.execute(
        select(e.id, e.description, e.created_at, p.account_code, p.side, p.amount_fen)
        .join(postings, p.entry_id == e.id)
        .where(e.idempotency_key.in_(idempotency_keys))
        .order_by(e.id, p.id)
    ).all()
    return [dict(r._mapping) for r in rows]
