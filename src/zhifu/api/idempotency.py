"""Idempotency-Key with Stripe's semantics: the same key and body replay the stored response (errors too, once
execution started); another body is a 422; a request still in flight is a 409; keys live at least 24 hours.

Routes whose work records a recovery point (zhifu.payments.recovery: the created object's id, written in the work's
own transaction) survive a crash between the work and the stored response: a retry answers with that object in its
current state (finishing the rail call if need be) and never does the work twice."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib

from sqlalchemy import and_, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from zhifu.core import clock
from zhifu.core.errors import ConflictError, InvalidRequest, UnprocessableError
from zhifu.db import Database
from zhifu.db.idempotency import idempotency_keys

KEY_LENGTH_MAX = 255
KEEP_S = 48 * 3600  # at least the 24 hours promised, with room
IN_FLIGHT_STALE_S = 60  # a request that died mid-way frees its key after this long
# A request with a recovery point whose work has not committed this long after its claim has died (its work is a
# few milliseconds; SQLite's busy wait is 10 s): a retry runs the work, and the recovery point's compare-and-set
# keeps a slow first attempt from committing too.
WORK_COMMIT_S_MAX = 10


@dataclasses.dataclass(frozen=True, slots=True)
class Stored:
    status: int
    body: str


@dataclasses.dataclass(frozen=True, slots=True)
class Recover:
    """The request's work committed (its recovery point names what it made) but its answer was never stored."""

    resource_id: str


def request_hash(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


def begin(
    db: Database, scope: str, key: str, req_hash: str, *, kind: str | None = None
) -> Stored | Recover | None:
    """Claim a key for this request; return the stored response when it is a replay, or what the work made when
    a request of a route with recovery points (`kind`) died after its work."""
    if not key or len(key) > KEY_LENGTH_MAX:
        raise InvalidRequest(
            f"Idempotency-Key must be 1–{KEY_LENGTH_MAX} characters", param="Idempotency-Key"
        )
    now = clock.now()
    with db.tx() as conn:
        ins = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(idempotency_keys)
        res = conn.execute(
            ins.values(
                scope=scope, key=key, request_hash=req_hash, status="in_flight", created_at=now, locked_at=now
            )
            .on_conflict_do_nothing()
            .returning(idempotency_keys.c.key)
        )
        if res.first() is not None:
            return None
        row = conn.execute(
            select(idempotency_keys).where(
                and_(idempotency_keys.c.scope == scope, idempotency_keys.c.key == key)
            )
        ).one()
        if row.request_hash != req_hash:
            raise UnprocessableError(
                "Idempotency-Key was used with a different request",
                param="Idempotency-Key",
                code="idempotency_key_reused",
            )
        if row.status == "done":
            return Stored(row.response_status, row.response_body)
        if kind is not None and row.resource_id is not None and row.resource_kind == kind:
            return Recover(row.resource_id)
        stale_s = WORK_COMMIT_S_MAX if kind is not None else IN_FLIGHT_STALE_S
        if row.locked_at > now - dt.timedelta(seconds=stale_s):
            raise ConflictError(
                "a request with this Idempotency-Key is still in flight",
                param="Idempotency-Key",
                code="idempotency_in_flight",
            )
        conn.execute(
            update(idempotency_keys)
            .where(and_(idempotency_keys.c.scope == scope, idempotency_keys.c.key == key))
            .values(locked_at=now)
        )
        return None


def finish(db: Database, scope: str, key: str, status: int, body: str) -> None:
    """Store the answer; the first stored answer of a key is the one replayed."""
    with db.tx() as conn:
        conn.execute(
            update(idempotency_keys)
            .where(
                and_(
                    idempotency_keys.c.scope == scope,
                    idempotency_keys.c.key == key,
                    idempotency_keys.c.status == "in_flight",
                )
            )
            .values(status="done", response_status=status, response_body=body)
        )


def release(db: Database, scope: str, key: str) -> None:
    """Forget a claim whose request failed before it could answer (an unexpected error), so a retry runs; a claim
    whose work committed keeps its recovery point, so the retry answers with what the work made."""
    with db.tx() as conn:
        conn.execute(
            delete(idempotency_keys).where(
                and_(
                    idempotency_keys.c.scope == scope,
                    idempotency_keys.c.key == key,
                    idempotency_keys.c.status == "in_flight",
                    idempotency_keys.c.resource_id.is_(None),
                )
            )
        )


def purge(db: Database, *, at: dt.datetime | None = None) -> int:
    at = at or clock.now()
    with db.tx() as conn:
        return conn.execute(
            delete(idempotency_keys).where(idempotency_keys.c.created_at < at - dt.timedelta(seconds=KEEP_S))
        ).rowcount
