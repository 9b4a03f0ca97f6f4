"""The only code that changes money balances: entries, holds, balances, history and verification.

An account with an overdraft guard keeps its posted sums on its own row, which posting locks (FOR UPDATE on
PostgreSQL) because the guard needs the exact balance. Every other account's postings add to one of its balance
slots (`ledger_balance_slots`, the slot of the posting's database connection, `zhifu.db.slots`) and only
share-lock its row (FOR KEY SHARE: closing the account still waits for them), so concurrent payments to the
platform's accounts do not queue on one row. A stored balance is always the row plus the sum of its slots;
pending sums (holds) stay on the row."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, and_, func, select, update
from sqlalchemy.exc import StatementError

from zhifu.core import clock as _clock
from zhifu.core.ids import new_id_fast
from zhifu.core.paging import page_of
from zhifu.db.batching import IN_CHUNK
from zhifu.db.slots import connection_slot
from zhifu.ledger.errors import (
    AccountClosed,
    CurrencyMismatch,
    HoldExceeded,
    HoldExpired,
    HoldNotPending,
    IdempotencyConflict,
    InvalidLegAmount,
    LedgerError,
    Overdraft,
    UnbalancedEntry,
    UnknownAccount,
)
from zhifu.ledger.models import (
    BALANCE_SLOTS,
    AccountType,
    Balance,
    EntryRequest,
    Leg,
    accounts,
    balance_slots,
    entries,
    holds,
    normal_balance,
    postings,
)

LEGS_MAX = 64  # one entry never needs more legs than this
BATCH_MAX = 10_000  # entries per batch call: bounds memory and lock time
HISTORY_PAGE_MAX = 1_000  # postings one page of an account's history shows
HOLD_TIMEOUT_S_MAX = 30 * 24 * 3600
GUARD_CACHE_MAX = 65_536  # accounts whose overdraft guard this process remembers (posting's lock mode)


@dataclasses.dataclass(frozen=True, slots=True)
class PostedEntry:
    id: str
    idempotency_key: str
    replayed: bool


@dataclasses.dataclass(frozen=True, slots=True)
class Hold:
    id: str
    debit: str
    credit: str
    amount_fen: int
    currency: str
    status: str
    posted_fen: int
    posted_entry_id: str | None
    expires_at: dt.datetime


@dataclasses.dataclass(frozen=True, slots=True)
class Violation:
    kind: str
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.subject}: {self.detail}"


# ---------------------------------------------------------------- accounts


def open_account(
    conn: Connection, code: str, type: AccountType | str, *, currency: str = "CNY", no_overdraft: bool = False
) -> None:
    """Open an account; opening one that exists with the same attributes is a no-op."""
    open_accounts(conn, [(code, AccountType(type), currency, no_overdraft)])


def open_accounts(conn: Connection, specs: Iterable[tuple[str, AccountType | str, str, bool]]) -> None:
    """Open many accounts at once (code, type, currency, no_overdraft); existing identical ones are kept."""
    wanted = {code: (AccountType(t).value, cur, bool(no)) for code, t, cur, no in specs}
    if not wanted:
        return
    existing = _load_accounts(conn, wanted.keys(), lock=False)
    rows = []
    now = _clock.now()
    for code, (t, cur, no) in wanted.items():
        if not code or len(code) > 96:
            raise LedgerError(f"account code {code!r} must be 1–96 characters", param="code")
        have = existing.get(code)
        if have is not None:
            if (have["type"], have["currency"], bool(have["no_overdraft"])) != (t, cur, no):
                raise LedgerError(
                    f"account {code} exists with other attributes", param="code", code="account_exists"
                )
            continue
        rows.append(
            {
                "code": code,
                "type": t,
                "currency": cur,
                "no_overdraft": no,
                "status": "open",
                "posted_dr_fen": 0,
                "posted_cr_fen": 0,
                "pending_dr_fen": 0,
                "pending_cr_fen": 0,
                "created_at": now,
            }
        )
    if rows:
        conn.execute(accounts.insert(), rows)


def close_account(conn: Connection, code: str) -> None:
    """Close an account whose balance and holds are all zero; nothing posts to it afterwards."""
    acc = _load_accounts(conn, [code], lock=True).get(code)
    if acc is None:
        raise UnknownAccount(f"no account {code}", param="account")
    _add_slots(conn, {code: acc})  # read after the lock: no posting to the account is in flight
    if acc["posted_dr_fen"] != acc["posted_cr_fen"] or acc["pending_dr_fen"] or acc["pending_cr_fen"]:
        raise LedgerError(
            f"account {code} still has a balance or holds", param="account", code="account_not_empty"
        )
    conn.execute(update(accounts).where(accounts.c.code == code).values(status="closed"))


def get_balance(conn: Connection, code: str) -> Balance:
    acc = _load_accounts(conn, [code], lock=False).get(code)
    if acc is None:
        raise UnknownAccount(f"no account {code}", param="account")
    return _balance_of(_add_slots(conn, {code: acc})[code])


def _balance_of(acc: Any) -> Balance:
    return Balance(
        account=acc["code"],
        type=AccountType(acc["type"]),
        posted_fen=normal_balance(acc["type"], acc["posted_dr_fen"], acc["posted_cr_fen"]),
        pending_debits_fen=acc["pending_dr_fen"],
        pending_credits_fen=acc["pending_cr_fen"],
    )


def balance_as_of(conn: Connection, code: str, at: dt.datetime) -> int:
    """The posted balance on the account's normal side from postings made at or before `at`."""
    acc = _load_accounts(conn, [code], lock=False).get(code)
    if acc is None:
        raise UnknownAccount(f"no account {code}", param="account")
    row = conn.execute(
        select(
            func.coalesce(func.sum(postings.c.amount_fen).filter(postings.c.side == "D"), 0),
            func.coalesce(func.sum(postings.c.amount_fen).filter(postings.c.side == "C"), 0),
        ).where(postings.c.account_code == code, postings.c.created_at <= at)
    ).one()
    return normal_balance(acc["type"], int(row[0]), int(row[1]))


def history(
    conn: Connection, code: str, *, limit: int = 50, starting_after: int | None = None
) -> tuple[list[dict[str, Any]], bool]:
    """Postings of an account, newest first, with a cursor (the last posting id seen)."""
    q = (
        select(
            postings.c.id,
            postings.c.entry_id,
            postings.c.side,
            postings.c.amount_fen,
            postings.c.currency,
            postings.c.created_at,
            entries.c.description,
        )
        .join(entries, entries.c.id == postings.c.entry_id)
        .where(postings.c.account_code == code)
    )
    return page_of(
        conn,
        q,
        postings.c.id,
        limit=limit,
        starting_after=starting_after,
        public=lambda r: dict(r._mapping),
        page_max=HISTORY_PAGE_MAX,
    )


# ---------------------------------------------------------------- entries


def post_entry(conn: Connection, request: EntryRequest, *, at: dt.datetime | None = None) -> PostedEntry:
    """Post one balanced entry; a retry with the same key and legs returns the existing entry."""
    return post_entries(conn, [request], at=at)[0]


def transfer(
    conn: Connection,
    key: str,
    debit: str,
    credit: str,
    amount_fen: int,
    description: str = "",
    *,
    at: dt.datetime | None = None,
) -> PostedEntry:
    return post_entry(
        conn,
        EntryRequest(key, (Leg(debit, "D", amount_fen), Leg(credit, "C", amount_fen)), description),
        at=at,
    )


def post_entries(
    conn: Connection,
    requests: Sequence[EntryRequest],
    *,
    at: dt.datetime | None = None,
    hold_ids: Sequence[str | None] | None = None,
    ats: Sequence[dt.datetime] | None = None,
) -> list[PostedEntry]:
    """Post many entries in the caller's transaction, all or nothing, in the given order.

    `ats` gives each entry its own time (bulk recording of what happened at different moments)."""
    if len(requests) > BATCH_MAX:
        raise LedgerError(
            f"a batch holds at most {BATCH_MAX} entries", param="entries", code="batch_too_large"
        )
    at = at or _clock.now()
    hashes = [_check_entry(r) for r in requests]
    sql = _hot_sql(conn)

    existing = _existing_entries(conn, sql, [r.idempotency_key for r in requests])
    if ats is not None and len(ats) != len(requests):
        raise LedgerError("ats needs one time per entry", param="ats")
    ids = (
        _entry_ids(int(at.timestamp() * 1000), len(requests))
        if ats is None
        else [_entry_ids(int(t.timestamp() * 1000), 1)[0] for t in ats]
    )
    results: list[PostedEntry | None] = [None] * len(requests)
    fresh: list[int] = []
    seen: dict[str, int] = {}
    for i, r in enumerate(requests):
        key = r.idempotency_key
        prior = existing.get(key)
        if prior is None and key in seen:
            prior = (results[seen[key]].id, hashes[seen[key]])  # type: ignore[union-attr]
        if prior is not None:
            if prior[1] != hashes[i]:
                raise IdempotencyConflict(
                    f"idempotency key {key} was used for a different entry", param="idempotency_key"
                )
            results[i] = PostedEntry(prior[0], key, True)
            continue
        results[i] = PostedEntry(ids[i], key, False)
        seen[key] = i
        fresh.append(i)
    if not fresh:
        return results  # type: ignore[return-value]

    deltas: dict[str, list[int]] = {}
    for i in fresh:
        for leg in requests[i].legs:
            d = deltas.get(leg.account)
            if d is None:
                d = deltas[leg.account] = [0, 0, 0, 0]
            d[0 if leg.side == "D" else 1] += leg.amount_fen
    accs = _lock_posting_accounts(conn, sql, deltas.keys())
    _check_accounts(accs, (requests[i] for i in fresh))
    _check_overdraft_in_order(accs, [requests[i] for i in fresh])

    try:
        stamp = _driver_value(conn, entries.c.created_at, at)
        stamps = None if ats is None else [_driver_value(conn, entries.c.created_at, t) for t in ats]
    except ValueError as exc:  # the column refuses `at` (a naive time): fail as a Core insert would
        message = f"({type(exc).__module__}.{type(exc).__name__}) {exc}"
        raise StatementError(message, sql.insert_entry, None, exc) from exc
    entry_rows: list[tuple[Any, ...]] = []
    posting_rows: list[tuple[Any, ...]] = []
    for i in fresh:
        r = requests[i]
        eid = ids[i]
        if stamps is not None:
            stamp = stamps[i]
        entry_rows.append(
            (eid, r.idempotency_key, hashes[i], r.description, hold_ids[i] if hold_ids else None, stamp)
        )
        for leg in r.legs:
            posting_rows.append((eid, leg.account, leg.side, leg.amount_fen, leg.currency, stamp))
    cur = _cursor(conn)
    cur.executemany(sql.insert_entry, entry_rows)
    cur.executemany(sql.insert_posting, posting_rows)
    _write_posted(conn, sql, deltas, accs)
    return results  # type: ignore[return-value]


def _check_entry(r: EntryRequest) -> str:
    """Validate one request on its own; return the hash of its content for idempotency."""
    if not r.idempotency_key or len(r.idempotency_key) > 160:
        raise LedgerError("an entry needs an idempotency key of 1–160 characters", param="idempotency_key")
    if len(r.legs) < 2 or len(r.legs) > LEGS_MAX:
        raise UnbalancedEntry(f"an entry needs 2–{LEGS_MAX} legs, got {len(r.legs)}", param="legs")
    per_currency: dict[str, int] = {}
    for leg in r.legs:
        if isinstance(leg.amount_fen, bool) or not isinstance(leg.amount_fen, int) or leg.amount_fen <= 0:
            raise InvalidLegAmount(
                f"leg amount must be a positive integer of fen, got {leg.amount_fen!r}", param="amount_fen"
            )
        if leg.side not in ("D", "C"):
            raise LedgerError(f"leg side must be D or C, got {leg.side!r}", param="side")
        per_currency[leg.currency] = per_currency.get(leg.currency, 0) + (
            leg.amount_fen if leg.side == "D" else -leg.amount_fen
        )
    off = {c: v for c, v in per_currency.items() if v != 0}
    if off:
        raise UnbalancedEntry(
            f"entry {r.idempotency_key} does not balance: debits − credits = {off}", param="legs"
        )
    return _content_hash((leg.account, leg.side, leg.amount_fen, leg.currency) for leg in r.legs)


def _content_hash(values: Iterable[tuple[str, str, int, str]]) -> str:
    """An entry's content for idempotency: its legs (account, side, fen, currency) in any order, hashed."""
    canon = "|".join(sorted(f"{code}:{side}:{fen}:{currency}" for code, side, fen, currency in values))
    return hashlib.sha256(canon.encode()).hexdigest()


def _existing_entries(conn: Connection, sql: _HotSql, keys: Sequence[str]) -> dict[str, tuple[str, str]]:
    """Entries already posted under these keys: key -> (entry id, content hash)."""
    out: dict[str, tuple[str, str]] = {}
    uniq = list(dict.fromkeys(keys))
    for start in range(0, len(uniq), IN_CHUNK):
        chunk = uniq[start : start + IN_CHUNK]
        for key, eid, content in (
            _cursor(conn).execute(sql.existing_entries(len(chunk)), tuple(chunk)).fetchall()
        ):
            out[key] = (eid, content)
    return out


def _load_accounts(conn: Connection, codes: Iterable[str], *, lock: bool) -> dict[str, Any]:
    """Read account rows; with lock=True, lock them in code order so concurrent posters cannot deadlock."""
    ordered = sorted(set(codes))
    out: dict[str, Any] = {}
    for start in range(0, len(ordered), IN_CHUNK):
        q = (
            select(accounts)
            .where(accounts.c.code.in_(ordered[start : start + IN_CHUNK]))
            .order_by(accounts.c.code)
        )
        if lock and conn.dialect.name == "postgresql":
            q = q.with_for_update()
        for row in conn.execute(q):
            out[row.code] = dict(row._mapping)
    return out


def _lock_posting_accounts(conn: Connection, sql: _HotSql, codes: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The columns posting needs of these accounts, locked in code order like _load_accounts(lock=True).

    On PostgreSQL the rows are locked FOR UPDATE when one of them has an overdraft guard (its balance is on the
    row and is checked), else FOR KEY SHARE, which concurrent postings share and close_account's FOR UPDATE waits
    for. Whether an account has a guard never changes once it is open, so this process remembers it; the guards
    of accounts it does not know yet are read first without a lock (else a process's first postings would all
    lock the platform's accounts FOR UPDATE and queue every other posting behind them). A guard found on an
    account that was only share-locked (a database made afresh under the same code) is locked again FOR UPDATE,
    in the same order."""
    ordered = sorted(set(codes))
    unknown = [code for code in ordered if code not in _GUARDED]
    if unknown and sql.lock:
        for code, acc in _read_posting_accounts(conn, sql, unknown, None).items():
            _remember_guard(code, bool(acc["no_overdraft"]))
    exclusive = not all(_GUARDED.get(code) is False for code in ordered)
    out = _read_posting_accounts(conn, sql, ordered, exclusive)
    for code, acc in out.items():
        _remember_guard(code, bool(acc["no_overdraft"]))
    if not exclusive and any(acc["no_overdraft"] for acc in out.values()):
        out = _read_posting_accounts(conn, sql, ordered, True)
    return out


def _read_posting_accounts(
    conn: Connection, sql: _HotSql, ordered: list[str], exclusive: bool | None
) -> dict[str, dict[str, Any]]:
    """The rows locked FOR UPDATE (exclusive), against closing only (False), or not at all (None)."""
    out: dict[str, dict[str, Any]] = {}
    names = _POSTING_ACCOUNT_COLUMNS
    for start in range(0, len(ordered), IN_CHUNK):
        chunk = ordered[start : start + IN_CHUNK]
        text = sql.posting_accounts(len(chunk), exclusive)
        for row in _cursor(conn).execute(text, tuple(chunk)).fetchall():
            out[row[0]] = dict(zip(names, row, strict=True))
    return out


# account code -> whether it has an overdraft guard (fixed when the account is opened); bounded, oldest out
_GUARDED: dict[str, bool] = {}


def _remember_guard(code: str, guarded: bool) -> None:
    if _GUARDED.get(code) is guarded:
        return
    if len(_GUARDED) >= GUARD_CACHE_MAX:
        del _GUARDED[next(iter(_GUARDED))]
    _GUARDED[code] = guarded


def _write_posted(
    conn: Connection, sql: _HotSql, deltas: dict[str, list[int]], accs: dict[str, dict[str, Any]]
) -> None:
    """Add posted deltas: on the row of an account with a guard, to this connection's slot of any other. Both in
    code order, so two postings wait for each other in one order only."""
    rows: list[tuple[int, int, int, int, str]] = []
    slotted: list[tuple[str, int, int, int]] = []
    slot = connection_slot(conn, BALANCE_SLOTS)
    for code, d in sorted(deltas.items()):
        assert d[2] == 0 and d[3] == 0, "posting moves posted sums only"
        if accs[code]["no_overdraft"]:
            rows.append((d[0], d[1], 0, 0, code))
        else:
            slotted.append((code, slot, d[0], d[1]))
    cur = _cursor(conn)
    if rows:
        cur.executemany(sql.add_to_balances, rows)
    if slotted:
        cur.executemany(sql.add_to_slot, slotted)


def _slot_sums(conn: Connection, codes: Iterable[str] | None = None) -> dict[str, tuple[int, int]]:
    """Posted debits and credits in the balance slots, per account (of `codes`, or of every account)."""
    q = select(
        balance_slots.c.account_code,
        func.sum(balance_slots.c.posted_dr_fen),
        func.sum(balance_slots.c.posted_cr_fen),
    ).group_by(balance_slots.c.account_code)
    if codes is None:
        return {code: (int(d), int(c)) for code, d, c in conn.execute(q)}
    ordered = sorted(set(codes))
    out: dict[str, tuple[int, int]] = {}
    for start in range(0, len(ordered), IN_CHUNK):
        chunk = ordered[start : start + IN_CHUNK]
        for code, d, c in conn.execute(q.where(balance_slots.c.account_code.in_(chunk))):
            out[code] = (int(d), int(c))
    return out


def _add_slots(conn: Connection, accs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Account rows with their slots added to the posted sums: the stored balance."""
    for code, (d, c) in _slot_sums(conn, accs.keys()).items():
        acc = accs[code]
        acc["posted_dr_fen"] += d
        acc["posted_cr_fen"] += c
    return accs


def _check_accounts(accs: dict[str, Any], reqs: Iterable[EntryRequest]) -> None:
    for r in reqs:
        for leg in r.legs:
            acc = accs.get(leg.account)
            if acc is None:
                raise UnknownAccount(f"no account {leg.account}", param="account")
            if acc["status"] != "open":
                raise AccountClosed(f"account {leg.account} is closed", param="account")
            if acc["currency"] != leg.currency:
                raise CurrencyMismatch(
                    f"leg in {leg.currency} on account {leg.account} kept in {acc['currency']}",
                    param="currency",
                )


def _available(acc: dict[str, Any]) -> int:
    if AccountType(acc["type"]).debit_normal:
        return acc["posted_dr_fen"] - acc["posted_cr_fen"] - acc["pending_cr_fen"]
    return acc["posted_cr_fen"] - acc["posted_dr_fen"] - acc["pending_dr_fen"]


def _check_overdraft_in_order(accs: dict[str, Any], reqs: Sequence[EntryRequest]) -> None:
    guarded = {c: dict(a) for c, a in accs.items() if a["no_overdraft"]}
    if not guarded:
        return
    for r in reqs:
        touched = []
        for leg in r.legs:
            acc = guarded.get(leg.account)
            if acc is not None:
                acc["posted_dr_fen" if leg.side == "D" else "posted_cr_fen"] += leg.amount_fen
                touched.append(acc)
        for acc in touched:
            if _available(acc) < 0:
                raise Overdraft(
                    f"entry {r.idempotency_key} would overdraw {acc['code']} "
                    f"(available after it: {_available(acc)} fen)",
                    param="account",
                )


def _write_deltas(conn: Connection, deltas: dict[str, list[int]], sql: _HotSql | None = None) -> None:
    """Add pending deltas (holds) to the stored balance rows, in code order."""
    rows = [(d[0], d[1], d[2], d[3], code) for code, d in sorted(deltas.items())]
    _cursor(conn).executemany((sql or _hot_sql(conn)).add_to_balances, rows)


def _cursor(conn: Connection) -> Any:
    """A driver cursor inside the connection's open transaction: the posting path's statements are fixed and
    few, so they skip SQLAlchemy's per-statement work. Driver errors are retried by Database.run like wrapped
    ones."""
    return conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]


# ---------------------------------------------------------------- the posting path's SQL, written for the driver
# Posting runs a handful of statements per call. They are written out once per dialect and run through
# exec_driver_sql with positional parameters, which skips building and caching a Core statement per call;
# the PostgreSQL text carries the same casts SQLAlchemy renders there.

_POSTING_ACCOUNT_COLUMNS = (
    "code",
    "type",
    "currency",
    "no_overdraft",
    "status",
    "posted_dr_fen",
    "posted_cr_fen",
    "pending_dr_fen",
    "pending_cr_fen",
)


@dataclasses.dataclass(frozen=True, slots=True)
class _HotSql:
    text: (
        str  # a string parameter: the driver's positional marker, with its cast where the dialect renders one
    )
    lock: str  # the row-locking suffix, empty where the whole database is locked instead
    share_lock: str  # the suffix that locks rows against closing only
    insert_entry: str
    insert_posting: str
    add_to_balances: str
    add_to_slot: str

    def existing_entries(self, n: int) -> str:
        """Entries by idempotency key, for `n` keys."""
        return _existing_entries_sql(self.text, n)

    def posting_accounts(self, n: int, exclusive: bool | None = True) -> str:
        """What posting reads of `n` accounts, locked in code order (for update, or against closing only), or
        not locked (None)."""
        lock = "" if exclusive is None else self.lock if exclusive else self.share_lock
        return _posting_accounts_sql(self.text, lock, n)


@functools.cache
def _hot_sql_for(dialect_name: str, paramstyle: str) -> _HotSql:
    if paramstyle == "qmark":
        mark = "?"
    elif paramstyle in ("format", "pyformat"):
        mark = "%s"
    else:
        raise LedgerError(
            f"the ledger does not support the {paramstyle!r} parameter style", code="unsupported_driver"
        )
    pg = dialect_name == "postgresql"
    text, big, time = (
        (f"{mark}::VARCHAR", f"{mark}::BIGINT", f"{mark}::TIMESTAMP WITH TIME ZONE") if pg else (mark,) * 3
    )
    a, sl = accounts.name, balance_slots.name
    return _HotSql(
        text=text,
        lock=" FOR UPDATE" if pg else "",
        share_lock=" FOR KEY SHARE" if pg else "",
        insert_entry=(
            f"INSERT INTO {entries.name} (id, idempotency_key, content_hash, description, hold_id, "
            f"created_at) VALUES ({text}, {text}, {text}, {text}, {text}, {time})"
        ),
        insert_posting=(
            f"INSERT INTO {postings.name} (entry_id, account_code, side, amount_fen, currency, "
            f"created_at) VALUES ({text}, {text}, {text}, {big}, {text}, {time})"
        ),
        add_to_balances=(
            f"UPDATE {a} SET posted_dr_fen=({a}.posted_dr_fen + {big}), "
            f"posted_cr_fen=({a}.posted_cr_fen + {big}), pending_dr_fen=({a}.pending_dr_fen + {big}), "
            f"pending_cr_fen=({a}.pending_cr_fen + {big}) WHERE {a}.code = {text}"
        ),
        add_to_slot=(
            f"INSERT INTO {sl} (account_code, slot, posted_dr_fen, posted_cr_fen) "
            f"VALUES ({text}, {mark}, {big}, {big}) ON CONFLICT (account_code, slot) DO UPDATE SET "
            f"posted_dr_fen = {sl}.posted_dr_fen + excluded.posted_dr_fen, "
            f"posted_cr_fen = {sl}.posted_cr_fen + excluded.posted_cr_fen"
        ),
    )


def _hot_sql(conn: Connection) -> _HotSql:
    return _hot_sql_for(conn.dialect.name, conn.dialect.paramstyle)


@functools.lru_cache(maxsize=256)
def _existing_entries_sql(param: str, n: int) -> str:
    return (
        f"SELECT idempotency_key, id, content_hash FROM {entries.name} "
        f"WHERE idempotency_key IN ({', '.join([param] * n)})"
    )


@functools.lru_cache(maxsize=256)
def _posting_accounts_sql(param: str, lock: str, n: int) -> str:
    return (
        f"SELECT {', '.join(_POSTING_ACCOUNT_COLUMNS)} FROM {accounts.name} "
        f"WHERE code IN ({', '.join([param] * n)}) ORDER BY code{lock}"
    )


def _driver_value(conn: Connection, column: Any, value: Any) -> Any:
    """`value` as SQLAlchemy hands it to the driver for `column` (its type's own bind processing)."""
    process = _bind_processor(column.type, conn.dialect)
    return process(value) if process is not None else value


@functools.lru_cache(maxsize=32)
def _bind_processor(type_: Any, dialect: Any) -> Callable[[Any], Any] | None:
    processor: Callable[[Any], Any] | None = type_.dialect_impl(dialect).bind_processor(dialect)
    return processor


# Each random byte picks one of the 32 Crockford base32 digits by its low five bits (256 = 8 × 32, so every
# digit is equally likely): 16 such digits carry the same 80 random bits new_id_fast draws.
_RANDOM_DIGIT = bytes(b"0123456789ABCDEFGHJKMNPQRSTVWXYZ"[b & 31] for b in range(256))


@functools.lru_cache(maxsize=16)
def _entry_id_head(ms: int) -> str:
    """ "je_" and the ten characters of the 48-bit time, which new_id_fast derives from `ms` alone."""
    return new_id_fast("je", ms)[:13]


def _entry_ids(ms: int, n: int) -> list[str]:
    """`n` entry ids of new_id_fast's shape for time `ms`, with the random bits for all of them drawn at once."""
    head = _entry_id_head(ms)
    tails = os.urandom(16 * n).translate(_RANDOM_DIGIT).decode("ascii")
    return [head + tails[k : k + 16] for k in range(0, 16 * n, 16)]


# ---------------------------------------------------------------- holds (two-phase transfers)


def hold(
    conn: Connection,
    key: str,
    debit: str,
    credit: str,
    amount_fen: int,
    *,
    timeout_s: int,
    description: str = "",
    currency: str = "CNY",
    at: dt.datetime | None = None,
) -> Hold:
    """Reserve `amount_fen` from debit to credit until posted, voided or expired after `timeout_s`."""
    at = at or _clock.now()
    request = EntryRequest(
        key, (Leg(debit, "D", amount_fen, currency), Leg(credit, "C", amount_fen, currency))
    )
    content = _check_entry(request)
    if debit == credit:
        raise LedgerError("a hold needs two different accounts", param="credit")
    if not (0 < timeout_s <= HOLD_TIMEOUT_S_MAX):
        raise LedgerError(f"timeout_s must be 1–{HOLD_TIMEOUT_S_MAX}", param="timeout_s")
    prior = conn.execute(select(holds).where(holds.c.idempotency_key == key)).first()
    if prior is not None:
        if prior.content_hash != content:
            raise IdempotencyConflict(
                f"idempotency key {key} was used for a different hold", param="idempotency_key"
            )
        return _hold_of(prior)
    accs = _load_accounts(conn, [debit, credit], lock=True)
    _check_accounts(accs, [request])
    d_acc = accs[debit]
    if d_acc["no_overdraft"] and not AccountType(d_acc["type"]).debit_normal:
        if _available(d_acc) - amount_fen < 0:
            raise Overdraft(
                f"hold {key} would overdraw {debit} (available {_available(d_acc)} fen)", param="account"
            )
    c_acc = accs[credit]
    if c_acc["no_overdraft"] and AccountType(c_acc["type"]).debit_normal:
        if _available(c_acc) - amount_fen < 0:
            raise Overdraft(
                f"hold {key} would overdraw {credit} (available {_available(c_acc)} fen)", param="account"
            )
    hid = new_id_fast("hold", int(at.timestamp() * 1000))
    expires_at = at + dt.timedelta(seconds=timeout_s)
    row = {
        "id": hid,
        "idempotency_key": key,
        "content_hash": content,
        "debit_code": debit,
        "credit_code": credit,
        "amount_fen": amount_fen,
        "currency": currency,
        "status": "pending",
        "posted_fen": 0,
        "posted_entry_id": None,
        "description": description,
        "created_at": at,
        "expires_at": expires_at,
        "resolved_at": None,
    }
    conn.execute(holds.insert(), [row])
    _write_deltas(conn, {debit: [0, 0, amount_fen, 0], credit: [0, 0, 0, amount_fen]})
    return Hold(hid, debit, credit, amount_fen, currency, "pending", 0, None, expires_at)


def get_hold(conn: Connection, hold_id: str) -> Hold:
    row = conn.execute(select(holds).where(holds.c.id == hold_id)).first()
    if row is None:
        raise LedgerError(f"no hold {hold_id}", param="hold_id", code="unknown_hold")
    return _hold_of(row)


def _hold_of(row: Any) -> Hold:
    return Hold(
        row.id,
        row.debit_code,
        row.credit_code,
        row.amount_fen,
        row.currency,
        row.status,
        row.posted_fen,
        row.posted_entry_id,
        row.expires_at,
    )


def _lock_hold(conn: Connection, hold_id: str) -> Any:
    q = select(holds).where(holds.c.id == hold_id)
    if conn.dialect.name == "postgresql":
        q = q.with_for_update()
    row = conn.execute(q).first()
    if row is None:
        raise LedgerError(f"no hold {hold_id}", param="hold_id", code="unknown_hold")
    return row


def post_hold(
    conn: Connection,
    hold_id: str,
    amount_fen: int | None = None,
    *,
    at: dt.datetime | None = None,
    description: str = "",
) -> PostedEntry:
    """Post a pending hold, fully or in part; the rest of the reservation is released."""
    at = at or _clock.now()
    row = _lock_hold(conn, hold_id)
    amount = row.amount_fen if amount_fen is None else amount_fen
    if row.status == "posted" and row.posted_fen == amount:
        return PostedEntry(row.posted_entry_id, f"hold:{hold_id}:post", True)
    if row.status != "pending":
        raise HoldNotPending(f"hold {hold_id} is {row.status}, not pending", param="hold_id")
    if row.expires_at <= at:
        raise HoldExpired(f"hold {hold_id} expired at {row.expires_at.isoformat()}", param="hold_id")
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise InvalidLegAmount(
            f"amount to post must be a positive integer of fen, got {amount!r}", param="amount_fen"
        )
    if amount > row.amount_fen:
        raise HoldExceeded(f"cannot post {amount} fen of a {row.amount_fen} fen hold", param="amount_fen")
    _write_deltas(
        conn, {row.debit_code: [0, 0, -row.amount_fen, 0], row.credit_code: [0, 0, 0, -row.amount_fen]}
    )
    req = EntryRequest(
        f"hold:{hold_id}:post",
        (Leg(row.debit_code, "D", amount, row.currency), Leg(row.credit_code, "C", amount, row.currency)),
        description or row.description,
    )
    posted = post_entries(conn, [req], at=at, hold_ids=[hold_id])[0]
    conn.execute(
        update(holds)
        .where(holds.c.id == hold_id)
        .values(status="posted", posted_fen=amount, posted_entry_id=posted.id, resolved_at=at)
    )
    return posted


def void_hold(conn: Connection, hold_id: str, *, at: dt.datetime | None = None) -> None:
    """Release a pending hold; voiding a voided hold again is a no-op."""
    at = at or _clock.now()
    row = _lock_hold(conn, hold_id)
    if row.status == "voided":
        return
    if row.status != "pending":
        raise HoldNotPending(f"hold {hold_id} is {row.status}, not pending", param="hold_id")
    if row.expires_at <= at:
        raise HoldExpired(f"hold {hold_id} expired at {row.expires_at.isoformat()}", param="hold_id")
    _release(conn, row, "voided", at)


def _release(conn: Connection, row: Any, status: str, at: dt.datetime) -> None:
    _write_deltas(
        conn, {row.debit_code: [0, 0, -row.amount_fen, 0], row.credit_code: [0, 0, 0, -row.amount_fen]}
    )
    conn.execute(update(holds).where(holds.c.id == row.id).values(status=status, resolved_at=at))


def expire_holds(conn: Connection, *, at: dt.datetime | None = None, limit: int = 1000) -> list[str]:
    """Expire pending holds past their deadline, releasing what they reserved."""
    at = at or _clock.now()
    q = (
        select(holds)
        .where(and_(holds.c.status == "pending", holds.c.expires_at <= at))
        .order_by(holds.c.expires_at)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True)
    expired = []
    for row in conn.execute(q).all():
        _release(conn, row, "expired", at)
        expired.append(row.id)
    return expired


# ---------------------------------------------------------------- verification


def verify(conn: Connection) -> list[Violation]:
    """Recompute the book from its postings and holds; every difference is a violation."""
    out: list[Violation] = []
    sums: dict[str, list[int]] = {}
    for code, side, total in conn.execute(
        select(postings.c.account_code, postings.c.side, func.sum(postings.c.amount_fen)).group_by(
            postings.c.account_code, postings.c.side
        )
    ):
        sums.setdefault(code, [0, 0])[0 if side == "D" else 1] = int(total)
    slots = _slot_sums(conn)
    pend: dict[str, list[int]] = {}
    for code, total in conn.execute(
        select(holds.c.debit_code, func.sum(holds.c.amount_fen))
        .where(holds.c.status == "pending")
        .group_by(holds.c.debit_code)
    ):
        pend.setdefault(code, [0, 0])[0] = int(total)
    for code, total in conn.execute(
        select(holds.c.credit_code, func.sum(holds.c.amount_fen))
        .where(holds.c.status == "pending")
        .group_by(holds.c.credit_code)
    ):
        pend.setdefault(code, [0, 0])[1] = int(total)
    for stored in conn.execute(select(accounts)).mappings():
        acc = dict(stored)
        code = acc["code"]
        in_slots = slots.pop(code, (0, 0))
        if acc["no_overdraft"] and any(in_slots):
            out.append(
                Violation("slotted_guard", code, "an account with an overdraft guard has balance slots")
            )
        acc["posted_dr_fen"] += in_slots[0]
        acc["posted_cr_fen"] += in_slots[1]
        want = sums.get(code, [0, 0])
        if [acc["posted_dr_fen"], acc["posted_cr_fen"]] != want:
            out.append(
                Violation(
                    "stored_balance",
                    code,
                    f"stored debits/credits {acc['posted_dr_fen']}/"
                    f"{acc['posted_cr_fen']} but postings sum to {want[0]}/{want[1]}",
                )
            )
        want_p = pend.get(code, [0, 0])
        if [acc["pending_dr_fen"], acc["pending_cr_fen"]] != want_p:
            out.append(
                Violation(
                    "stored_pending",
                    code,
                    f"stored pending {acc['pending_dr_fen']}/"
                    f"{acc['pending_cr_fen']} but pending holds sum to {want_p[0]}/{want_p[1]}",
                )
            )
        recomputed = acc.copy()
        recomputed.update(
            posted_dr_fen=want[0], posted_cr_fen=want[1], pending_dr_fen=want_p[0], pending_cr_fen=want_p[1]
        )
        if acc["no_overdraft"] and _available(recomputed) < 0:
            out.append(
                Violation("overdraft", code, f"no_overdraft account stands at {_available(recomputed)} fen")
            )
        if acc["status"] == "closed" and (want[0] != want[1] or any(want_p)):
            out.append(Violation("closed_not_empty", code, "closed account has a balance or holds"))
    debit_sum = func.coalesce(func.sum(postings.c.amount_fen).filter(postings.c.side == "D"), 0)
    credit_sum = func.coalesce(func.sum(postings.c.amount_fen).filter(postings.c.side == "C"), 0)
    for eid, cur, d, c, n in conn.execute(
        select(postings.c.entry_id, postings.c.currency, debit_sum, credit_sum, func.count())
        .group_by(postings.c.entry_id, postings.c.currency)
        .having((debit_sum != credit_sum) | (func.count() < 2))
    ):
        out.append(Violation("unbalanced_entry", eid, f"{cur}: debits {d} ≠ credits {c} over {n} postings"))
    for cur, d, c in conn.execute(
        select(postings.c.currency, debit_sum, credit_sum).group_by(postings.c.currency)
    ):
        if int(d) != int(c):
            out.append(Violation("trial_balance", cur, f"Σ debits {d} ≠ Σ credits {c}"))
    for row in conn.execute(
        select(postings.c.id, postings.c.account_code, postings.c.currency, accounts.c.currency)
        .join(accounts, accounts.c.code == postings.c.account_code)
        .where(postings.c.currency != accounts.c.currency)
        .limit(100)
    ):
        out.append(Violation("currency", row[1], f"posting {row[0]} in {row[2]} on a {row[3]} account"))
    for h in conn.execute(select(holds).where(holds.c.status == "posted")).all():
        if h.posted_entry_id is None:
            out.append(Violation("hold", h.id, "posted hold without its entry"))
            continue
        got = conn.execute(
            select(func.sum(postings.c.amount_fen)).where(
                postings.c.entry_id == h.posted_entry_id, postings.c.side == "D"
            )
        ).scalar()
        if int(got or 0) != h.posted_fen:
            out.append(Violation("hold", h.id, f"posted {h.posted_fen} fen but its entry moves {got}"))
    return out
