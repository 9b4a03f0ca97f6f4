"""`zhifu keys rotate`: a new active field key, every encrypted field re-encrypted online in small transactions,
then each old key retired (erased) once no ciphertext names it.

Encrypted fields are found by convention: every column whose name ends in `_enc`, in every table.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Connection, Table, and_, func, insert, not_, or_, select, update

from zhifu import audit
from zhifu.core import clock
from zhifu.db import Database
from zhifu.privacy.keys import _KEY_BYTES, keyring, prefix_of, wrap
from zhifu.privacy.models import privacy_keys

BATCH_ROWS = 500  # rows per transaction: short enough that payments never wait on a rotation for long
PASSES_MAX = 5  # re-encryption passes before giving up on retiring a key someone keeps writing with


def encrypted_columns() -> list[tuple[Table, list[Column[Any]]]]:
    from zhifu.db.schema import metadata

    out = []
    for table in metadata.sorted_tables:
        cols = [c for c in table.columns if c.name.endswith("_enc")]
        if cols:
            out.append((table, cols))
    return out


def _stale(cols: list[Column[Any]], version: int) -> Any:
    prefix = prefix_of(version) + "%"
    return or_(*[and_(c.is_not(None), not_(c.like(prefix))) for c in cols])


def usage(conn: Connection) -> dict[int, int]:
    """How many stored values name each key version (0 included), across every encrypted column."""
    versions = [0, *conn.execute(select(privacy_keys.c.version).where(privacy_keys.c.version > 0)).scalars()]
    out = dict.fromkeys(versions, 0)
    for table, cols in encrypted_columns():
        for c in cols:
            for v in versions:
                out[v] += conn.execute(
                    select(func.count()).select_from(table).where(c.like(prefix_of(v) + "%"))
                ).scalar_one()
    return out


def pending(conn: Connection, version: int) -> int:
    """Rows with at least one value not yet under `version`."""
    return sum(
        conn.execute(select(func.count()).select_from(t).where(_stale(cols, version))).scalar_one()
        for t, cols in encrypted_columns()
    )


def start(conn: Connection, *, at: dt.datetime | None = None) -> int:
    """Make a new active key and set the old active one retiring; returns the new version."""
    at = at or clock.now()
    version = 1 + max([0, *conn.execute(select(privacy_keys.c.version)).scalars()])
    conn.execute(update(privacy_keys).where(privacy_keys.c.status == "active").values(status="retiring"))
    conn.execute(
        insert(privacy_keys),
        [
            {
                "version": version,
                "status": "active",
                "wrapped": wrap(version, os.urandom(_KEY_BYTES)),
                "created_at": at,
                "retired_at": None,
            }
        ],
    )
    audit.record(conn, None, "privacy.key_rotated", "privacy_key", f"v{version}", {"version": version}, at=at)
    return version


def reencrypt_batch(
    conn: Connection, table: Table, cols: list[Column[Any]], version: int, rows_max: int = BATCH_ROWS
) -> int:
    """Re-encrypt up to rows_max rows of one table onto `version`; returns how many rows it changed."""
    ring = keyring(conn)
    assert ring.active is not None and ring.active[0] == version, (
        "the key being rotated to is no longer active"
    )
    pk = list(table.primary_key.columns)
    q = select(*pk, *cols).where(_stale(cols, version)).order_by(*pk).limit(rows_max)
    if conn.dialect.name == "postgresql":
        q = q.with_for_update()
    rows = conn.execute(q).all()
    for r in rows:
        m = r._mapping
        values = {
            c.name: ring.encrypt(ring.decrypt(m[c.name]))
            for c in cols
            if m[c.name] is not None and not m[c.name].startswith(prefix_of(version))
        }
        conn.execute(update(table).where(and_(*[k == m[k.name] for k in pk])).values(**values))
    return len(rows)


def retire_unused(conn: Connection, *, at: dt.datetime | None = None) -> tuple[list[int], dict[int, int]]:
    """Retire every non-active key no value names any more; returns (retired versions, uses of the others)."""
    at = at or clock.now()
    uses = usage(conn)
    rows = {r.version: r.status for r in conn.execute(select(privacy_keys.c.version, privacy_keys.c.status))}
    done, left = [], {}
    for v, n in uses.items():
        if rows.get(v) in ("active", "retired") or (v == 0 and rows.get(0) == "retired"):
            continue
        if n:
            left[v] = n
            continue
        if v == 0 and 0 not in rows:
            conn.execute(
                insert(privacy_keys),
                [{"version": 0, "status": "retired", "wrapped": None, "created_at": at, "retired_at": at}],
            )
        else:
            conn.execute(
                update(privacy_keys)
                .where(privacy_keys.c.version == v)
                .values(status="retired", wrapped=None, retired_at=at)
            )
        done.append(v)
    if done:
        audit.record(
            conn,
            None,
            "privacy.key_retired",
            "privacy_key",
            ",".join(f"v{v}" for v in done)[:64],
            {"versions": done, "erased": True},
            at=at,
        )
    return done, left


@dataclass
class RotationResult:
    version: int
    rows: int
    passes: int
    retired: list[int]
    still_used: dict[int, int]


def rotate(
    db: Database,
    *,
    rows_max: int = BATCH_ROWS,
    progress: Callable[[int, int], None] | None = None,
    between_batches: Callable[[], None] | None = None,
) -> RotationResult:
    """The whole rotation, online: each batch is its own short transaction, so payments and onboarding go on.
    `progress(done, total)` is called after each batch."""
    version = db.run(start)
    total = db.run(lambda c: pending(c, version))
    done = passes = 0
    retired: list[int] = []
    left: dict[int, int] = {}
    while passes < PASSES_MAX:
        passes += 1
        for table, cols in encrypted_columns():
            while True:
                n = db.run(lambda c, t=table, cs=cols: reencrypt_batch(c, t, cs, version, rows_max))
                done += n
                if progress:
                    progress(done, max(total, done))
                if between_batches:
                    between_batches()
                if n < rows_max:
                    break
        more, left = db.run(retire_unused)
        retired += more
        if not left:
            break
    return RotationResult(version, done, passes, retired, left)


def status(conn: Connection) -> list[dict[str, Any]]:
    """Each key version with its status and how many values name it."""
    uses = usage(conn)
    rows = {r.version: r for r in conn.execute(select(privacy_keys).order_by(privacy_keys.c.version))}
    out = []
    for v in sorted(set(rows) | {v for v, n in uses.items() if n}):
        r = rows.get(v)
        out.append(
            {
                "version": v,
                "status": r.status if r else "legacy",
                "uses": uses.get(v, 0),
                "created_at": r.created_at if r else None,
                "retired_at": r.retired_at if r else None,
            }
        )
    return out
