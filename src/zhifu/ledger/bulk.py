"""Bulk posting of recorded history: many new entries, each at its own time, in the caller's transaction.

`post_entries` answers a retry with the entry already posted under its key; history recorded in bulk is new
by construction, so here a key already used (in the book or twice in the call) is refused instead. Every entry
is checked as the one-by-one path checks it (a key of 1–160 characters, 2–64 positive legs that balance per
currency, open accounts in the leg's currency, no overdraft of a guarded account, in order) before anything is
written; entries that repeat the same legs (a shop's prices repeat) are checked and hashed once. Then the
entries, their postings and the balances are written with one executemany each.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import Connection, Index

from zhifu.core.ids import new_ids_fast
from zhifu.db.meta import utc_bind
from zhifu.ledger.errors import IdempotencyConflict, LedgerError
from zhifu.ledger.models import EntryRequest, Leg, entries, postings
from zhifu.ledger.service import (
    BATCH_MAX,
    LEGS_MAX,
    _check_accounts,
    _check_entry,
    _check_overdraft_in_order,
    _content_hash,
    _cursor,
    _hot_sql,
    _lock_posting_accounts,
    _write_deltas,
)

BULK_MAX = BATCH_MAX  # entries per call: the ledger's batch bound (memory and lock time)
KEY_CHARS_MAX = 160  # the column's width, as _check_entry has it
# Secondary indexes posting never reads: a bulk load into a fresh book may build them once at the end.
DEFERRABLE_INDEXES = frozenset(
    {"ix_ledger_entries_created_at", "ix_ledger_postings_account_id", "ix_ledger_postings_entry"}
)


class BulkEntry(NamedTuple):
    """One entry of history: its idempotency key, its legs (from `ledger.movements`), what it is, when."""

    idempotency_key: str
    legs: tuple[Leg, ...]
    description: str
    at: dt.datetime


def deferrable_indexes() -> list[Index]:
    """The ledger's indexes that posting never reads, for a bulk loader to drop and build once afterwards."""
    return [ix for t in (entries, postings) for ix in t.indexes if ix.name in DEFERRABLE_INDEXES]


def _checked(key: str, legs: tuple[Leg, ...]) -> tuple[str, list[tuple[str, str, int, str]]]:
    """The content hash and posting values of legs, checked as _check_entry checks them. Legs of plain positive
    ints on D and C sides that balance in one currency (every movement the batch path builds) are checked and
    hashed here in one pass, to the same hash; anything else goes through _check_entry itself, which names the
    fault."""
    values = [(g.account, g.side, g.amount_fen, g.currency) for g in legs]
    if 2 <= len(values) <= LEGS_MAX:
        currency = values[0][3]
        net = 0
        for _code, side, fen, cur in values:
            if type(fen) is not int or fen <= 0 or cur != currency:
                break
            if side == "D":
                net += fen
            elif side == "C":
                net -= fen
            else:
                break
        else:
            if net == 0:
                return _content_hash(values), values
    return _check_entry(EntryRequest(key, legs)), values


def post_bulk(conn: Connection, items: Sequence[BulkEntry]) -> list[str]:
    """Post new entries in the given order, all or nothing; returns their ids. Nothing is written unless every
    entry passes every check."""
    if len(items) > BULK_MAX:
        raise LedgerError(
            f"a batch holds at most {BULK_MAX} entries", param="entries", code="batch_too_large"
        )
    if not items:
        return []
    # The same legs object repeats when its builder's caller reuses it (a shop's prices repeat): it is checked
    # once, by identity (the items hold every legs object for the length of the call). id(legs) -> the legs,
    # their content hash, their posting values (without entry and time) and how many entries carry them.
    checked: dict[int, tuple[tuple[Leg, ...], str, list[tuple[str, str, int, str]], list[int]]] = {}
    for e in items:
        legs = e.legs
        seen = checked.get(id(legs))
        if seen is not None:
            seen[3][0] += 1
        else:
            content, values = _checked(e.idempotency_key, legs)  # balances, positive integer legs, 2–64
            checked[id(legs)] = (legs, content, values, [1])
    keys = {e.idempotency_key for e in items}
    if "" in keys or max(map(len, keys)) > KEY_CHARS_MAX:
        raise LedgerError(
            f"an entry needs an idempotency key of 1–{KEY_CHARS_MAX} characters", param="idempotency_key"
        )
    if len(keys) != len(items):
        raise IdempotencyConflict("an idempotency key repeats in the batch", param="idempotency_key")

    deltas: dict[str, list[int]] = {}
    pairs: dict[tuple[str, str], tuple[Leg, ...]] = {}
    for legs, _content, values, (n,) in checked.values():
        for g, (code, side, fen, currency) in zip(legs, values, strict=True):
            d = deltas.get(code)
            if d is None:
                d = deltas[code] = [0, 0, 0, 0]
            d[0 if side == "D" else 1] += n * fen
            pairs.setdefault((code, currency), (g,))

    sql = _hot_sql(conn)
    accs = _lock_posting_accounts(conn, sql, deltas.keys())
    # open accounts in the leg's currency: a property of each (account, currency) pair, checked once per pair
    _check_accounts(accs, (EntryRequest("", one) for one in pairs.values()))
    guarded = {code for code, acc in accs.items() if acc["no_overdraft"]}
    if guarded:  # only the entries that touch a guarded account can overdraw it, in their order
        touching = {k for k, c in checked.items() if any(v[0] in guarded for v in c[2])}
        _check_overdraft_in_order(
            accs, [EntryRequest(e.idempotency_key, e.legs) for e in items if id(e.legs) in touching]
        )

    stamp = utc_bind(conn.dialect)
    try:
        stamps = [stamp(e.at) for e in items]
    except ValueError as exc:
        raise LedgerError(f"entry times must be timezone-aware: {exc}", param="at") from exc
    ids = new_ids_fast("je", [int(e.at.timestamp() * 1000) for e in items])
    entry_rows: list[tuple[Any, ...]] = []
    posting_rows: list[tuple[Any, ...]] = []
    add_entry, add_postings = entry_rows.append, posting_rows.extend
    for e, eid, at in zip(items, ids, stamps, strict=True):
        _legs, content, values, _n = checked[id(e.legs)]
        add_entry((eid, e.idempotency_key, content, e.description, None, at))
        add_postings([(eid, code, side, fen, currency, at) for code, side, fen, currency in values])
    cursor = _cursor(conn)
    try:
        cursor.executemany(sql.insert_entry, entry_rows)
    except conn.dialect.dbapi.IntegrityError as exc:  # type: ignore[union-attr]
        raise IdempotencyConflict(
            "an idempotency key in the batch was already posted", param="idempotency_key"
        ) from exc
    cursor.executemany(sql.insert_posting, posting_rows)
    _write_deltas(conn, deltas, sql)  # posted sums onto the accounts' rows (their stored balance)
    return ids
