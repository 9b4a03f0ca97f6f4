"""The fake rails' own book: orders, refunds and the notifications they owe, in a SQLite file of their own.

Behaviour is the simulators' of old: a pay code's last digit chooses the outcome (7 asks for the PIN, 8 is
declined, 9 takes the money but the answer never arrives in time); a code waits to be scanned until the simulated
payer pays; finished transactions owe a signed notification after a delay, some of them lost on purpose.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import random
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

DECLINES = {
    "insufficient_funds": "余额不足 / insufficient funds",
    "limit_exceeded": "超出支付限额 / limit exceeded",
    "card_blocked": "卡片已冻结 / card blocked",
}
OUTCOMES = ("success", "userpaying", "timeout", *(f"decline_{k}" for k in DECLINES))
SHANGHAI = ZoneInfo("Asia/Shanghai")
FINAL = frozenset({"succeeded", "failed", "closed"})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS txns (
  rail TEXT NOT NULL, ref TEXT NOT NULL, kind TEXT NOT NULL, out_trade_no TEXT NOT NULL, out_refund_no TEXT,
  merchant_code TEXT NOT NULL, amount_fen INTEGER NOT NULL, total_fen INTEGER NOT NULL, status TEXT NOT NULL,
  trace_no TEXT NOT NULL, auth_code TEXT, payer_ref TEXT, card_issuer TEXT, card_type TEXT, failure_code TEXT,
  description TEXT NOT NULL DEFAULT '', notify_url TEXT, trade_type TEXT NOT NULL DEFAULT '',
  created_at TEXT NOT NULL, finished_at TEXT, expires_at TEXT, extra TEXT NOT NULL DEFAULT '{}',
  PRIMARY KEY (rail, ref));
CREATE UNIQUE INDEX IF NOT EXISTS ux_txns_order ON txns (rail, kind, out_trade_no, COALESCE(out_refund_no, ''));
CREATE INDEX IF NOT EXISTS ix_txns_finished ON txns (rail, finished_at);
CREATE TABLE IF NOT EXISTS outbox (
  id INTEGER PRIMARY KEY AUTOINCREMENT, rail TEXT NOT NULL, url TEXT NOT NULL, body BLOB NOT NULL,
  headers TEXT NOT NULL, due_at TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, state TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS ix_outbox_due ON outbox (state, due_at);
CREATE TABLE IF NOT EXISTS seq (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS statements (rail TEXT NOT NULL, business_date TEXT NOT NULL, lines TEXT NOT NULL,
  PRIMARY KEY (rail, business_date));
"""


@dataclasses.dataclass(frozen=True, slots=True)
class Txn:
    """One order or refund at a fake rail."""

    rail: str
    ref: str  # the rail's transaction id (transaction_id / trade_no / queryId)
    kind: str  # payment | refund
    out_trade_no: str  # our payment id
    out_refund_no: str | None
    merchant_code: str  # the (sub-)merchant number the rail knows
    amount_fen: int
    total_fen: int  # the payment's amount (for a refund: its payment's)
    status: str  # awaiting | paying | succeeded | failed | closed
    trace_no: str
    auth_code: str | None
    payer_ref: str | None
    card_issuer: str | None
    card_type: str | None
    failure_code: str | None
    description: str
    notify_url: str | None
    trade_type: str  # the rail's own word for the flow: MICROPAY, NATIVE, JSAPI, 06, 07, ...
    created_at: dt.datetime
    finished_at: dt.datetime | None
    expires_at: dt.datetime | None
    extra: dict[str, Any]

    @property
    def failure_message(self) -> str | None:
        return DECLINES.get(self.failure_code or "")


@dataclasses.dataclass
class Behaviour:
    """How the fake rails misbehave when a test or the demo does not force an outcome."""

    notify_delay_ms: int = 0
    decline_rate_ppm: int = 0
    timeout_rate_ppm: int = 0  # payer-side: the payer paid but the notification is lost
    lost_notification_ppm: int = 0
    hang_s: float = 6.0  # how long a pay code ending in 9 keeps our connector waiting (past its timeout)
    seed: int = 7


def _ts(at: dt.datetime | None) -> str | None:
    return at.astimezone(dt.UTC).isoformat() if at else None


def _dt(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None


def paycode_outcome(auth_code: str) -> str:
    """The fake rail reads the last digit of a pay code: 7 asks for the PIN, 8 is declined, 9 times out."""
    return {"7": "userpaying", "8": "decline_insufficient_funds", "9": "timeout"}.get(
        auth_code[-1], "success"
    )


def paycode_payer(auth_code: str) -> str:
    """The payer behind a pay code: the fake rail reads the 12 digits before the last one as the payer's number,
    so a simulated consumer's code (zhifu.sim.world.pay_code) is paid by that consumer."""
    return f"2088{auth_code[-13:-1]}" if len(auth_code) >= 13 else f"paycode:{auth_code[-6:]}"


class RailStore:
    """The fake rails' state. Thread-safe: the HTTP server, the payer and the notifier share it."""

    def __init__(self, path: Path | str, behaviour: Behaviour | None = None) -> None:
        self.path = str(path)
        self.behaviour = behaviour or Behaviour()
        self.rng = random.Random(self.behaviour.seed)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        # a notification being sent when the rails last stopped is owed again
        self._db.execute("UPDATE outbox SET state = 'due' WHERE state = 'sending'")
        # the family that encodes a finished transaction's notification: rail -> (txn -> (body, headers), or None
        # when the rail sends none for it)
        self.encoders: dict[str, Callable[[Txn], tuple[bytes, dict[str, str]] | None]] = {}
        self.clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def forget(self) -> None:
        """Drop every order, refund, notification and fixed statement (tests start each case afresh); the
        reference counters stay, so references never repeat."""
        with self._tx() as db:
            for table in ("txns", "outbox", "statements"):
                db.execute(f"DELETE FROM {table}")

    # -- plumbing
    def _tx(self) -> _Tx:
        return _Tx(self)

    def next_seq(self, name: str) -> int:
        """A counter kept in the file: references never repeat, across restarts too."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO seq (name, value) VALUES (?, 1) ON CONFLICT (name) DO UPDATE SET value = value + 1",
                (name,),
            )
            return int(db.execute("SELECT value FROM seq WHERE name = ?", (name,)).fetchone()[0])

    def new_ref(self, rail: str, at: dt.datetime, prefix: str = "", width: int = 28) -> str:
        """The rail's id for a transaction: a prefix, the Beijing date and time, then a counter kept in the file."""
        head = f"{prefix}{at.astimezone(SHANGHAI):%Y%m%d%H%M%S}"
        digits = width - len(head)
        if digits < 6:
            raise ValueError(f"a reference of {width} characters leaves no room for its counter")
        return f"{head}{self.next_seq(f'ref:{rail}') % 10**digits:0{digits}d}"

    @staticmethod
    def _row(r: sqlite3.Row) -> Txn:
        return Txn(
            rail=r["rail"],
            ref=r["ref"],
            kind=r["kind"],
            out_trade_no=r["out_trade_no"],
            out_refund_no=r["out_refund_no"],
            merchant_code=r["merchant_code"],
            amount_fen=r["amount_fen"],
            total_fen=r["total_fen"],
            status=r["status"],
            trace_no=r["trace_no"],
            auth_code=r["auth_code"],
            payer_ref=r["payer_ref"],
            card_issuer=r["card_issuer"],
            card_type=r["card_type"],
            failure_code=r["failure_code"],
            description=r["description"],
            notify_url=r["notify_url"],
            trade_type=r["trade_type"],
            created_at=_dt(r["created_at"]),  # type: ignore[arg-type]
            finished_at=_dt(r["finished_at"]),
            expires_at=_dt(r["expires_at"]),
            extra=json.loads(r["extra"]),
        )

    def _insert(self, db: sqlite3.Connection, t: Txn) -> None:
        db.execute(
            "INSERT OR IGNORE INTO txns (rail, ref, kind, out_trade_no, out_refund_no, merchant_code, amount_fen, total_fen,"
            " status, trace_no, auth_code, payer_ref, card_issuer, card_type, failure_code, description, notify_url,"
            " trade_type, created_at, finished_at, expires_at, extra) VALUES"
            " (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                t.rail,
                t.ref,
                t.kind,
                t.out_trade_no,
                t.out_refund_no,
                t.merchant_code,
                t.amount_fen,
                t.total_fen,
                t.status,
                t.trace_no,
                t.auth_code,
                t.payer_ref,
                t.card_issuer,
                t.card_type,
                t.failure_code,
                t.description,
                t.notify_url,
                t.trade_type,
                _ts(t.created_at),
                _ts(t.finished_at),
                _ts(t.expires_at),
                json.dumps(t.extra, ensure_ascii=False),
            ),
        )

    def _update(self, db: sqlite3.Connection, t: Txn, **values: Any) -> Txn:
        cols = ", ".join(f"{k} = ?" for k in values)
        args = [_ts(v) if isinstance(v, dt.datetime) else v for v in values.values()]
        db.execute(f"UPDATE txns SET {cols} WHERE rail = ? AND ref = ?", (*args, t.rail, t.ref))
        return dataclasses.replace(t, **values)

    # -- reading
    def order(self, rail: str, out_trade_no: str) -> Txn | None:
        with self._lock:
            r = self._db.execute(
                "SELECT * FROM txns WHERE rail = ? AND kind = 'payment' AND out_trade_no = ?",
                (rail, out_trade_no),
            ).fetchone()
        return self._row(r) if r else None

    def by_ref(self, rail: str, ref: str) -> Txn | None:
        with self._lock:
            r = self._db.execute("SELECT * FROM txns WHERE rail = ? AND ref = ?", (rail, ref)).fetchone()
        return self._row(r) if r else None

    def refund_of(self, rail: str, out_refund_no: str) -> Txn | None:
        with self._lock:
            r = self._db.execute(
                "SELECT * FROM txns WHERE rail = ? AND kind = 'refund' AND out_refund_no = ?",
                (rail, out_refund_no),
            ).fetchone()
        return self._row(r) if r else None

    def refunds_of(self, rail: str, out_trade_no: str) -> list[Txn]:
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM txns WHERE rail = ? AND kind = 'refund' AND out_trade_no = ? "
                "ORDER BY created_at, ref",
                (rail, out_trade_no),
            ).fetchall()
        return [self._row(r) for r in rows]

    def finished_between(self, rail: str, start: dt.datetime, end: dt.datetime) -> list[Txn]:
        """Succeeded payments and refunds finished in [start, end), for the rail's statement."""
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM txns WHERE rail = ? AND status = 'succeeded' AND finished_at >= ? AND finished_at < ? "
                "ORDER BY finished_at, ref",
                (rail, _ts(start), _ts(end)),
            ).fetchall()
        return [self._row(r) for r in rows]

    # -- the merchant's side (what our connectors ask for)
    def create_order(
        self,
        rail: str,
        *,
        out_trade_no: str,
        merchant_code: str,
        amount_fen: int,
        description: str,
        notify_url: str | None,
        trade_type: str,
        at: dt.datetime,
        expires_at: dt.datetime | None = None,
        auth_code: str | None = None,
        card_types: tuple[str, ...] = ("debit",),
        default_issuer: str | None = None,
        ref_prefix: str = "",
        ref_width: int = 28,
        extra: dict[str, Any] | None = None,
        ref: str | None = None,
    ) -> tuple[Txn, str]:
        """Place an order; with a pay code the payer's app answers at once. Returns the order and the outcome
        (`awaiting`, `userpaying`, `success`, `timeout`, `decline_*`); a repeated out_trade_no with the same
        amount returns the existing order (`duplicate`), with another amount raises ValueError. `ref` is the rail's
        own reference when its layout is not a prefix, the time and a counter (Alipay's trade_no)."""
        with self._tx() as db:
            old = db.execute(
                "SELECT * FROM txns WHERE rail = ? AND kind = 'payment' AND out_trade_no = ?",
                (rail, out_trade_no),
            ).fetchone()
            if old is not None:
                t = self._row(old)
                if t.amount_fen != amount_fen or t.merchant_code != merchant_code:
                    raise ValueError("out_trade_no already used with another amount or merchant")
                return t, "duplicate"
            t = Txn(
                rail=rail,
                ref=ref or self.new_ref(rail, at, ref_prefix, ref_width),
                kind="payment",
                out_trade_no=out_trade_no,
                out_refund_no=None,
                merchant_code=merchant_code,
                amount_fen=amount_fen,
                total_fen=amount_fen,
                status="awaiting",
                trace_no=f"{self.rng.randrange(1_000_000):06d}",
                auth_code=auth_code,
                payer_ref=None,
                card_issuer=None,
                card_type=None,
                failure_code=None,
                description=description,
                notify_url=notify_url,
                trade_type=trade_type,
                created_at=at,
                finished_at=None,
                expires_at=expires_at,
                extra=extra or {},
            )
            if auth_code is None:
                self._insert(db, t)
                return t, "awaiting"
            outcome = paycode_outcome(auth_code)
            t = dataclasses.replace(
                t, payer_ref=paycode_payer(auth_code), card_issuer=default_issuer, card_type=card_types[0]
            )
            if outcome == "userpaying":
                t = dataclasses.replace(t, status="paying")
            elif outcome.startswith("decline_"):
                t = dataclasses.replace(
                    t, status="failed", failure_code=outcome[len("decline_") :], finished_at=at
                )
            else:  # success, or timeout: the rail takes the money either way
                t = dataclasses.replace(t, status="succeeded", finished_at=at)
            self._insert(db, t)  # userpaying: the simulated payer enters the PIN (pay) or gives up
            return t, outcome

    def close_order(self, rail: str, out_trade_no: str, at: dt.datetime) -> Txn:
        """Close an unpaid order; a paid one stays paid (the caller reports it). KeyError if unknown."""
        with self._tx() as db:
            t = self.order(rail, out_trade_no)
            if t is None:
                raise KeyError(out_trade_no)
            if t.status in ("awaiting", "paying"):
                t = self._update(db, t, status="closed", finished_at=at)
            return t

    def refund(
        self,
        rail: str,
        *,
        out_trade_no: str,
        out_refund_no: str,
        amount_fen: int,
        at: dt.datetime,
        ref_prefix: str = "",
        ref_width: int = 28,
        ref: str | None = None,
    ) -> Txn:
        """Refund part or all of a paid order; the same out_refund_no again returns the same refund. KeyError if
        the order is unknown; ValueError (with the rail's reason) if it is not paid or the amount is too much."""
        with self._tx() as db:
            t = self.order(rail, out_trade_no)
            if t is None:
                raise KeyError(out_trade_no)
            old = self.refund_of(rail, out_refund_no)
            if old is not None:
                if old.amount_fen != amount_fen or old.out_trade_no != out_trade_no:
                    raise ValueError("out_refund_no already used with another amount")
                return old
            if t.status != "succeeded":
                raise ValueError("order_not_paid")
            done = sum(r.amount_fen for r in self.refunds_of(rail, out_trade_no) if r.status != "failed")
            if done + amount_fen > t.amount_fen:
                raise ValueError("refund_exceeds_payment")
            r = dataclasses.replace(
                t,
                ref=ref or self.new_ref(rail, at, ref_prefix, ref_width),
                kind="refund",
                out_refund_no=out_refund_no,
                amount_fen=amount_fen,
                total_fen=t.amount_fen,
                status="succeeded",
                trace_no=f"{self.rng.randrange(1_000_000):06d}",
                auth_code=None,
                failure_code=None,
                created_at=at,
                finished_at=at,
                extra={"original_ref": t.ref},
            )
            self._insert(db, r)
            self._owe_notification(db, r, at)
            return r

    # -- the payer's side (the simulator)
    def pay(
        self,
        rail: str,
        out_trade_no: str,
        *,
        outcome: str | None = None,
        payer_ref: str | None = None,
        card_issuer: str | None = None,
        card_type: str | None = None,
        at: dt.datetime,
    ) -> Txn:
        """The payer completes (or fails) an order; its notification becomes due. ValueError if it is final."""
        outcome = outcome or self._random_outcome()
        if outcome not in OUTCOMES or outcome == "userpaying":
            raise ValueError(
                f"outcome must be one of success, timeout, {', '.join('decline_' + k for k in DECLINES)}"
            )
        with self._tx() as db:
            t = self.order(rail, out_trade_no)
            if t is None:
                raise KeyError(out_trade_no)
            if t.status in FINAL:
                raise ValueError(f"the order is already {t.status}")
            values: dict[str, Any] = {
                "payer_ref": payer_ref or t.payer_ref or "payer_sim",
                "card_issuer": card_issuer or t.card_issuer,
                "card_type": card_type or t.card_type,
                "finished_at": at,
            }
            if outcome.startswith("decline_"):
                values.update(status="failed", failure_code=outcome[len("decline_") :])
            else:
                values.update(status="succeeded")
            t = self._update(db, t, **values)
            self._owe_notification(db, t, at, lost=outcome == "timeout")
            return t

    def _random_outcome(self) -> str:
        b = self.behaviour
        r = self.rng.randrange(1_000_000)
        if r < b.decline_rate_ppm:
            return "decline_insufficient_funds"
        if r < b.decline_rate_ppm + b.timeout_rate_ppm:
            return "timeout"
        return "success"

    # -- notifications owed
    def _owe_notification(
        self, db: sqlite3.Connection, t: Txn, at: dt.datetime, *, lost: bool = False
    ) -> None:
        if not t.notify_url or t.rail not in self.encoders:
            return
        if not lost and self.behaviour.lost_notification_ppm:
            lost = self.rng.randrange(1_000_000) < self.behaviour.lost_notification_ppm
        encoded = self.encoders[t.rail](t)
        if encoded is None:  # the rail owes no notification for this one (WeChat: a failed payment)
            return
        body, headers = encoded
        due = at + dt.timedelta(milliseconds=self.behaviour.notify_delay_ms)
        db.execute(
            "INSERT INTO outbox (rail, url, body, headers, due_at, state) VALUES (?,?,?,?,?,?)",
            (t.rail, t.notify_url, body, json.dumps(headers), _ts(due), "lost" if lost else "due"),
        )

    def due_notifications(
        self, at: dt.datetime, limit: int = 200
    ) -> list[tuple[int, str, bytes, dict[str, str]]]:
        """The notifications due by `at`, each claimed for the caller (state `sending`): the notifier and the
        payer's requests deliver at the same time, and no notification goes out twice at once."""
        with self._tx() as db:
            rows = db.execute(
                "SELECT id, url, body, headers FROM outbox WHERE state = 'due' AND due_at <= ? "
                "ORDER BY id LIMIT ?",
                (_ts(at), limit),
            ).fetchall()
            db.executemany("UPDATE outbox SET state = 'sending' WHERE id = ?", [(r["id"],) for r in rows])
        return [(r["id"], r["url"], bytes(r["body"]), json.loads(r["headers"])) for r in rows]

    def release_notifications(self, outbox_ids: list[int]) -> None:
        """Claimed notifications that were not sent are due again."""
        if outbox_ids:
            with self._tx() as db:
                db.executemany(
                    "UPDATE outbox SET state = 'due' WHERE id = ? AND state = 'sending'",
                    [(i,) for i in outbox_ids],
                )

    def notification_sent(self, outbox_id: int, *, ok: bool, at: dt.datetime, attempts_max: int = 8) -> None:
        with self._tx() as db:
            r = db.execute("SELECT attempts FROM outbox WHERE id = ?", (outbox_id,)).fetchone()
            attempts = r["attempts"] + 1
            if ok or attempts >= attempts_max:
                db.execute(
                    "UPDATE outbox SET state = ?, attempts = ? WHERE id = ?",
                    ("sent" if ok else "given_up", attempts, outbox_id),
                )
            else:  # the rails retry with a growing delay (WeChat: 15 s, 15 s, 30 s, 3 min, ...)
                due = at + dt.timedelta(seconds=min(2**attempts, 300))
                db.execute(
                    "UPDATE outbox SET state = 'due', attempts = ?, due_at = ? WHERE id = ?",
                    (attempts, _ts(due), outbox_id),
                )

    def last_notification(self, rail: str, out_trade_no: str) -> tuple[str, bytes, dict[str, str]] | None:
        """The newest notification owed for an order (tests replay it late, twice or forged)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT url, body, headers FROM outbox WHERE rail = ? ORDER BY id DESC", (rail,)
            ).fetchall()
        for r in rows:
            if out_trade_no.encode() in bytes(r["body"]) or out_trade_no in r["url"]:
                return r["url"], bytes(r["body"]), json.loads(r["headers"])
        return None

    # -- statements
    def set_statement(self, rail: str, business_date: dt.date, lines: list[dict[str, Any]]) -> None:
        """The file a rail will serve for a date, fixed (with the discrepancies the simulator planted in it)."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO statements (rail, business_date, lines) VALUES (?,?,?) "
                "ON CONFLICT (rail, business_date) DO UPDATE SET lines = excluded.lines",
                (rail, business_date.isoformat(), json.dumps(lines, ensure_ascii=False)),
            )

    def statement(self, rail: str, business_date: dt.date) -> list[dict[str, Any]] | None:
        with self._lock:
            r = self._db.execute(
                "SELECT lines FROM statements WHERE rail = ? AND business_date = ?",
                (rail, business_date.isoformat()),
            ).fetchone()
        return json.loads(r["lines"]) if r else None

    def unpaid_between(self, rail: str, start: dt.datetime, end: dt.datetime, n: int) -> list[Txn]:
        """Orders created in [start, end) that the payer never paid (awaiting, paying or closed), oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM txns WHERE rail = ? AND kind = 'payment' AND status IN ('awaiting', 'paying', 'closed')"
                " AND created_at >= ? AND created_at < ? ORDER BY created_at, ref LIMIT ?",
                (rail, _ts(start), _ts(end), n),
            ).fetchall()
        return [self._row(r) for r in rows]

    def paid_unnoticed(self, t: Txn, at: dt.datetime, card_type: str) -> None:
        """Simulator: the payer paid an order but the rail's notification never reached the merchant."""
        with self._tx() as db:
            self._update(
                db,
                t,
                status="succeeded",
                finished_at=at,
                payer_ref=t.payer_ref or "payer_sim",
                card_type=t.card_type or card_type,
            )

    def bulk_insert(self, txns: list[Txn]) -> None:
        """History written by the simulator's batch path: the rails' side of a simulated past."""
        with self._tx() as db:
            for t in txns:
                self._insert(db, t)

    def load_history(self, rows: list[dict[str, Any]]) -> None:
        """The rails' side of payments and refunds the simulator recorded in bulk (payments.batch rows)."""
        from zhifu.channels.base import merchant_code

        self.bulk_insert(
            [
                Txn(
                    rail=r["rail"],
                    ref=r["ref"],
                    kind=r["kind"],
                    out_trade_no=r["out_trade_no"],
                    out_refund_no=r["out_refund_no"],
                    merchant_code=merchant_code(r["merchant_id"]),
                    amount_fen=r["amount_fen"],
                    total_fen=r.get("total_fen", r["amount_fen"]),
                    status=r["status"],
                    trace_no=r["trace_no"],
                    auth_code=None,
                    payer_ref=r["payer_ref"],
                    card_issuer=r["card_issuer"],
                    card_type=r["card_type"],
                    failure_code=r["failure_code"],
                    description="",
                    notify_url=None,
                    trade_type=r["trade_type"],
                    created_at=r["created_at"],
                    finished_at=r["finished_at"],
                    expires_at=None,
                    extra={"original_ref": r["original_ref"]} if r.get("original_ref") else {},
                )
                for r in rows
            ]
        )

    def move_finished(self, rail: str, ref: str, at: dt.datetime) -> None:
        """Simulator: the rail books a transaction on another day (a cross-day discrepancy)."""
        with self._tx() as db:
            db.execute("UPDATE txns SET finished_at = ? WHERE rail = ? AND ref = ?", (_ts(at), rail, ref))


class _Tx:
    """One write transaction on the store, serialised by its lock."""

    def __init__(self, store: RailStore) -> None:
        self.store = store

    def __enter__(self) -> sqlite3.Connection:
        self.store._lock.acquire()
        self.nested = self.store._db.in_transaction
        if not self.nested:
            self.store._db.execute("BEGIN IMMEDIATE")
        return self.store._db

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            if not self.nested:
                self.store._db.execute("ROLLBACK" if exc_type else "COMMIT")
        finally:
            self.store._lock.release()
