"""The audit log: record an entry (one insert in the caller's transaction), integrate the queue into the SM3
Merkle tree (a background step), sign checkpoints with SM2, prove inclusion and consistency, and `verify`,
which re-derives every hash from the entries and names the first one that was changed.

Design: appends must be cheap enough for the payment path, so `record` only inserts canonical JSON into
`audit_queue`. `integrate` (every half second in `zhifu serve`, or `zhifu audit integrate`) moves queued
entries into `audit_log` under consecutive leaf indexes, extends the 256-wide hash tiles and signs a new
checkpoint; one checkpoint a minute is kept for good. Proofs read O(log n) tiles.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Final

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Connection, delete, func, insert, select, text, update

from zhifu.audit import merkle
from zhifu.audit.context import current_actor, mark_exported
from zhifu.audit.models import audit_checkpoints, audit_keys, audit_log, audit_queue, audit_state, audit_tiles
from zhifu.audit.offline import Checkpoint, VerifyError, key_id, leaf_hash, sm2_sign, sm3
from zhifu.core import clock
from zhifu.core.config import get_settings, secret
from zhifu.core.errors import InvalidRequest, NotFound
from zhifu.core.paging import page_of
from zhifu.db import Database
from zhifu.db.rows import first_row
from zhifu.reference import mask_account, mask_id, mask_phone

ENTRY_BYTES_MAX: Final = 8192  # an entry names an action and digests, never a document; bigger is a mistake
INTEGRATE_BATCH_MAX: Final = (
    5000  # entries per integration transaction: ~40 ms of hashing under the write lock
)
INTEGRATE_INTERVAL_S: Final = 0.5  # so an entry is provable within about a second of its commit
KEEP_INTERVAL_S: Final = 60  # a checkpoint is kept for good at least this often while the log grows
TILE_WIDTH: Final = 256
TILE_BITS: Final = 8
HASH_BYTES: Final = 32
LOG_PAGE_MAX: Final = 200  # entries one page of the log shows (the log's own bound, above core's PAGE_MAX)
PROBLEMS_MAX: Final = 20  # verify reports this many problems, then only counts
STREAM_CHUNK: Final = 20_000  # rows fetched at a time while verifying
TILES_PER_FETCH: Final = 200
VERIFY_CHUNK: Final = 1 << 20  # entries per scanned range: a progress step and a worker's task
PARALLEL_MIN: Final = 2 * VERIFY_CHUNK  # below this, starting processes costs more than it saves
VERIFY_EVERY_S: Final = (
    3600  # the background verification's period: a tampered row is reported within the hour
)
VERIFY_WORKERS_MAX: Final = 4  # the fold in this process keeps up with about this many hashing processes

_N_SM2 = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123


# ---------------------------------------------------------------- entries


def canonical(doc: Any) -> str:
    """Canonical JSON: sorted keys, no spaces, UTF-8 text (the bytes that are hashed)."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def digest(obj: Any) -> str:
    """SM3 over an object's canonical JSON: how an entry refers to a before or after state without holding it."""
    return sm3(canonical(obj).encode()).hex()


def _utc_text(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


_insert_entry = insert(audit_queue)


def record(
    conn: Connection,
    actor: str | None,
    action: str,
    object_type: str,
    object_id: str,
    details: dict[str, Any] | None = None,
    *,
    role: str | None = None,
    merchant_id: str | None = None,
    at: dt.datetime | None = None,
) -> None:
    """Append an entry in the caller's transaction: it is in the log if and only if the action committed.
    `actor=None` names whoever is acting (the console user, the API key, the command's user)."""
    if not action or len(action) > 64 or not object_type or len(object_type) > 32 or len(object_id) > 64:
        raise InvalidRequest(
            "审计条目的动作或对象无效 / audit entry action or object is invalid", param="action"
        )
    if actor is None or role is None:
        who, their_role = current_actor(conn)
        actor, role = actor or who, role or their_role
    at = at or clock.now()
    body = canonical(
        {
            "v": 1,
            "at": _utc_text(at),
            "actor": actor,
            "role": role,
            "action": action,
            "object": {"type": object_type, "id": object_id},
            "merchant": merchant_id,
            "details": details or {},
        }
    )
    if len(body.encode()) > ENTRY_BYTES_MAX:
        raise InvalidRequest(
            f"审计条目超过 {ENTRY_BYTES_MAX} 字节 / audit entry over {ENTRY_BYTES_MAX} bytes", param="details"
        )
    conn.execute(
        _insert_entry,
        [
            {
                "body": body,
                "action": action,
                "object_type": object_type,
                "object_id": object_id,
                "actor": actor[:64],
                "role": role[:16],
                "merchant_id": merchant_id,
                "at": at,
            }
        ],
    )


def exported(
    db: Database,
    what: str,
    object_id: str,
    details: dict[str, Any] | None = None,
    *,
    merchant_id: str | None = None,
) -> None:
    """Record a download of data (a report, a statement, a reconciliation file) by whoever is acting, in its
    own transaction: the file was built from a read, and the entry says who took it away."""
    mark_exported()
    db.run(
        lambda c: record(
            c, None, f"export.{what}", "export", object_id[:64], details, merchant_id=merchant_id
        )
    )


# ---------------------------------------------------------------- keys


def origin() -> str:
    return f"zhifu-audit/{get_settings().county_profile}"


@functools.lru_cache(maxsize=8)
def _keypair(secret_key: str, version: int) -> tuple[str, str]:
    """(private, public) hex of key `version`: a scalar derived from the secret key with HKDF-SM3."""
    raw = HKDF(
        algorithm=hashes.SM3(), length=40, salt=b"zhifu-audit", info=f"sm2-checkpoint-v{version}".encode()
    ).derive(secret_key.encode())
    d = int.from_bytes(raw, "big") % (_N_SM2 - 2) + 1
    from gmssl import sm2

    c = sm2.CryptSM2(private_key=f"{d:064x}", public_key="")
    return f"{d:064x}", c._kg(d, c.ecc_table["g"])


def public_key(version: int | None = None, conn: Connection | None = None) -> str:
    if version is None:
        version = _state(conn)["key_version"] if conn is not None else 1
    return _keypair(secret(), version)[1]


def _state(conn: Connection, *, lock: bool = False) -> dict[str, Any]:
    q = select(audit_state).where(audit_state.c.id == 1)
    row = first_row(conn, q, lock=lock)
    if row is None:
        _ensure_key(conn, 1)
        conn.execute(
            insert(audit_state),
            [{"id": 1, "size": 0, "key_version": 1, "latest": None, "updated_at": clock.now()}],
        )
        row = conn.execute(q).one()
    return row._asdict()


def _ensure_key(conn: Connection, version: int) -> None:
    pub = _keypair(secret(), version)[1]
    if conn.execute(select(audit_keys.c.version).where(audit_keys.c.version == version)).first() is None:
        conn.execute(
            insert(audit_keys),
            [{"version": version, "key_id": key_id(pub), "public_key": pub, "created_at": clock.now()}],
        )


def rotate_key(conn: Connection) -> dict[str, Any]:
    """Sign from now on with the next key version; the old public key stays listed to verify old checkpoints."""
    st = _state(conn, lock=True)
    new = st["key_version"] + 1
    _ensure_key(conn, new)
    conn.execute(
        update(audit_keys).where(audit_keys.c.version == st["key_version"]).values(retired_at=clock.now())
    )
    conn.execute(update(audit_state).where(audit_state.c.id == 1).values(key_version=new))
    pub = public_key(new)
    record(conn, None, "audit.key_rotated", "audit_key", key_id(pub), {"version": new, "public_key": pub})
    return {"object": "audit_key", "version": new, "key_id": key_id(pub), "public_key": pub}


def keys(conn: Connection) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in conn.execute(select(audit_keys).order_by(audit_keys.c.version))]


# ---------------------------------------------------------------- tiles


class Tiles:
    """The tile store of one transaction, with a cache; `full` gives any full subtree's hash."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._cache: dict[tuple[int, int], bytes] = {}
        self._stored: set[tuple[int, int]] = set()
        self._dirty: set[tuple[int, int]] = set()

    def get(self, level: int, idx: int) -> bytes:
        key = (level, idx)
        if key not in self._cache:
            row = self.conn.execute(
                select(audit_tiles.c.hashes).where(audit_tiles.c.level == level, audit_tiles.c.idx == idx)
            ).first()
            self._cache[key] = bytes(row[0]) if row else b""
            if row:
                self._stored.add(key)
        return self._cache[key]

    def _put(self, level: int, idx: int, data: bytes) -> None:
        self._cache[(level, idx)] = data
        self._dirty.add((level, idx))

    def full(self, height: int, index: int) -> bytes:
        level, rest = divmod(height, TILE_BITS)
        first = index << rest
        tile = self.get(level, first >> TILE_BITS)
        off = (first & (TILE_WIDTH - 1)) * HASH_BYTES
        count = 1 << rest
        chunk = tile[off : off + count * HASH_BYTES]
        if len(chunk) != count * HASH_BYTES:
            raise VerifyError(f"tile {level}/{first >> TILE_BITS} is missing hashes")
        return merkle.hash_up([chunk[i : i + HASH_BYTES] for i in range(0, len(chunk), HASH_BYTES)])

    def append(self, size: int, leaves: Sequence[bytes]) -> None:
        """Add leaf hashes to a tree of `size` leaves, completing tiles and carrying their roots up a level."""
        level, new = 0, list(leaves)
        while new:
            count = size >> (TILE_BITS * level)
            idx = count >> TILE_BITS
            tile = self.get(level, idx)
            if len(tile) != (count & (TILE_WIDTH - 1)) * HASH_BYTES:
                raise VerifyError(
                    f"tile {level}/{idx} holds {len(tile) // HASH_BYTES} hashes, not "
                    f"{count & (TILE_WIDTH - 1)}: run zhifu audit verify"
                )
            parents: list[bytes] = []
            parts = [tile]
            filled = count & (TILE_WIDTH - 1)
            for h in new:
                parts.append(h)
                filled += 1
                if filled == TILE_WIDTH:
                    full = b"".join(parts)
                    self._put(level, idx, full)
                    parents.append(
                        merkle.hash_up([full[i : i + HASH_BYTES] for i in range(0, len(full), HASH_BYTES)])
                    )
                    idx, parts, filled = idx + 1, [b""], 0
            rest = b"".join(parts)
            if rest:
                self._put(level, idx, rest)
            level, new = level + 1, parents

    def flush(self) -> None:
        for key in sorted(self._dirty):
            level, idx = key
            data = self._cache[key]
            if key in self._stored:
                self.conn.execute(
                    update(audit_tiles)
                    .where(audit_tiles.c.level == level, audit_tiles.c.idx == idx)
                    .values(hashes=data)
                )
            else:
                self.conn.execute(insert(audit_tiles), [{"level": level, "idx": idx, "hashes": data}])
                self._stored.add(key)
        self._dirty.clear()


def tree_root(conn: Connection, size: int) -> bytes:
    return merkle.root(size, Tiles(conn).full)


# ---------------------------------------------------------------- integration and checkpoints


@dataclasses.dataclass(frozen=True)
class Integration:
    integrated: int
    size: int
    checkpoint: str | None
    kept: bool


def _sign_with(priv: str, pub: str, size: int, root: bytes, at: dt.datetime | None = None) -> Checkpoint:
    cp = Checkpoint(origin(), size, root, _utc_text(at or clock.now()), key_id(pub))
    cp.signature = sm2_sign(priv, pub, cp.body().encode())
    return cp


def _sign(conn: Connection, size: int, root: bytes, version: int, at: dt.datetime) -> Checkpoint:
    priv, pub = _keypair(secret(), version)
    return _sign_with(priv, pub, size, root, at)


def integrate(
    conn: Connection, *, batch_max: int = INTEGRATE_BATCH_MAX, force_keep: bool = False
) -> Integration:
    """Sequence up to batch_max queued entries, extend the tree, sign a checkpoint if it grew."""
    st = _state(conn, lock=True)
    size = st["size"]
    rows = conn.execute(select(audit_queue).order_by(audit_queue.c.id).limit(batch_max)).all()
    tiles = Tiles(conn)
    if rows:
        out, leaves = [], []
        for i, r in enumerate(rows):
            out.append(
                {
                    "leaf_index": size + i,
                    "body": r.body,
                    "action": r.action,
                    "object_type": r.object_type,
                    "object_id": r.object_id,
                    "actor": r.actor,
                    "role": r.role,
                    "merchant_id": r.merchant_id,
                    "at": r.at,
                }
            )
            leaves.append(leaf_hash(r.body.encode()))
        conn.execute(insert(audit_log), out)
        ids = [r.id for r in rows]
        for i in range(0, len(ids), 1000):
            conn.execute(delete(audit_queue).where(audit_queue.c.id.in_(ids[i : i + 1000])))
        tiles.append(size, leaves)
        tiles.flush()
        size += len(rows)
    latest = Checkpoint.parse(st["latest"]) if st["latest"] else None
    if latest is not None and latest.size == size and not force_keep:
        return Integration(len(rows), size, None, False)
    now = clock.now()
    cp = _sign(conn, size, merkle.root(size, tiles.full), st["key_version"], now)
    text = cp.text()
    conn.execute(
        update(audit_state).where(audit_state.c.id == 1).values(size=size, latest=text, updated_at=now)
    )
    last_kept = conn.execute(
        select(audit_checkpoints.c.size, audit_checkpoints.c.at)
        .order_by(audit_checkpoints.c.size.desc())
        .limit(1)
    ).first()
    keep = force_keep or last_kept is None or (now - last_kept.at).total_seconds() >= KEEP_INTERVAL_S
    if keep and (last_kept is None or last_kept.size < size):
        conn.execute(
            insert(audit_checkpoints),
            [{"size": size, "root": cp.root.hex(), "text": text, "key_id": cp.key, "at": now}],
        )
    return Integration(len(rows), size, text, keep)


def integrate_db(db: Database, *, force_keep: bool = False) -> int:
    """Integrate everything queued (in batches), one transaction per batch; returns the tree's size."""
    while True:
        done = db.run(lambda c: integrate(c, force_keep=force_keep))
        if done.integrated < INTEGRATE_BATCH_MAX:
            return done.size


def latest_checkpoint(conn: Connection) -> Checkpoint | None:
    st = _state(conn)
    return Checkpoint.parse(st["latest"]) if st["latest"] else None


def checkpoints(conn: Connection, *, limit: int = 50, before_size: int | None = None) -> list[dict[str, Any]]:
    q = select(audit_checkpoints).order_by(audit_checkpoints.c.size.desc()).limit(min(limit, LOG_PAGE_MAX))
    if before_size is not None:
        q = q.where(audit_checkpoints.c.size < before_size)
    return [dict(r._mapping) for r in conn.execute(q)]


def _checkpoint_of(conn: Connection, size: int | None) -> Checkpoint:
    if size is None:
        cp = latest_checkpoint(conn)
        if cp is None:
            raise NotFound("还没有签名的检查点 / no signed checkpoint yet", param="size")
        return cp
    row = conn.execute(select(audit_checkpoints.c.text).where(audit_checkpoints.c.size == size)).first()
    if row is None:
        latest = latest_checkpoint(conn)
        if latest is not None and latest.size == size:
            return latest
        raise NotFound(f"没有大小为 {size} 的检查点 / no checkpoint of size {size}", param="size")
    return Checkpoint.parse(row.text)


# ---------------------------------------------------------------- proofs


def entry(conn: Connection, index: int) -> dict[str, Any]:
    row = conn.execute(select(audit_log).where(audit_log.c.leaf_index == index)).first()
    if row is None:
        raise NotFound(f"没有第 {index} 条审计记录 / no audit entry {index}", param="index")
    return dict(row._mapping)


def prove(conn: Connection, index: int, *, size: int | None = None) -> dict[str, Any]:
    """An inclusion proof of entry `index` against a checkpoint (the latest unless `size` names a kept one)."""
    cp = _checkpoint_of(conn, size)
    if not 0 <= index < cp.size:
        raise NotFound(
            f"第 {index} 条不在大小为 {cp.size} 的检查点中 / entry {index} is not in the checkpoint "
            f"of size {cp.size} (it is signed within a second of its commit)",
            param="index",
        )
    body = entry(conn, index)["body"]
    path = merkle.inclusion_path(index, cp.size, Tiles(conn).full)
    return {
        "type": "inclusion",
        "index": index,
        "entry": body,
        "proof": [p.hex() for p in path],
        "checkpoint": cp.text(),
    }


def prove_consistency(conn: Connection, old_size: int, new_size: int | None = None) -> dict[str, Any]:
    old, new = _checkpoint_of(conn, old_size), _checkpoint_of(conn, new_size)
    if old.size > new.size:
        raise InvalidRequest(
            "旧检查点必须不大于新检查点 / the old checkpoint must not be larger than the new one", param="old"
        )
    path = merkle.consistency_path(old.size, new.size, Tiles(conn).full)
    return {"type": "consistency", "old": old.text(), "new": new.text(), "proof": [p.hex() for p in path]}


# ---------------------------------------------------------------- verify (fsck)


@dataclasses.dataclass
class Report:
    size: int = 0
    entries: int = 0
    queued: int = 0
    checkpoints: int = 0
    signatures: int = 0
    first_bad: int | None = None
    problems: list[str] = dataclasses.field(default_factory=list)
    problems_total: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.problems_total == 0

    def bad(self, message: str, index: int | None = None) -> None:
        self.problems_total += 1
        if len(self.problems) < PROBLEMS_MAX:
            self.problems.append(message)
        if index is not None and (self.first_bad is None or index < self.first_bad):
            self.first_bad = index

    def to_dict(self) -> dict[str, Any]:
        return {"object": "audit_verification", "ok": self.ok, **dataclasses.asdict(self)}


def _stream(conn: Connection, sql: str) -> Iterator[Any]:
    result = conn.execution_options(stream_results=True).execute(text(sql))
    while True:
        chunk = result.fetchmany(STREAM_CHUNK)
        if not chunk:
            return
        yield from chunk


def verify(
    conn: Connection,
    *,
    progress: Callable[[int], None] | None = None,
    workers: int = 1,
    url: str | None = None,
    chunk: int = VERIFY_CHUNK,
) -> Report:
    """Recompute the tree from the entries: every leaf against its tile, every kept checkpoint's root and
    signature, the latest checkpoint, and that sizes only grow. Names the first entry that is wrong.
    With `workers` > 1 and the database's `url`, ranges of `chunk` entries are hashed in other processes."""
    t0 = time.perf_counter()
    rep = Report()
    st = _state(conn)
    rep.size = st["size"]
    rep.queued = conn.execute(select(func.count()).select_from(audit_queue)).scalar_one()
    pub_by_id = {r["key_id"]: r["public_key"] for r in keys(conn)}
    kept = [
        (r.size, r.root, r.text, r.at)
        for r in conn.execute(select(audit_checkpoints).order_by(audit_checkpoints.c.size))
    ]
    cps: list[tuple[int, bytes, str]] = []  # (size, signed root, where)
    last_time = ""
    for size, root_hex, cp_text, _at in kept:
        rep.checkpoints += 1
        try:
            cp = Checkpoint.parse(cp_text)
            pub = pub_by_id.get(cp.key)
            if pub is None:
                raise VerifyError(f"key {cp.key} is not one of the log's keys")
            cp.verify(pub)
            rep.signatures += 1
            if cp.size != size or cp.root.hex() != root_hex:
                raise VerifyError("its text and its row disagree")
            if cp.time < last_time:
                raise VerifyError("it is older than the checkpoint before it")
            last_time = cp.time
            cps.append((cp.size, cp.root, f"checkpoint of size {size}"))
        except VerifyError as exc:
            rep.bad(f"检查点 {size} 无效 / checkpoint of size {size}: {exc}")
    if st["latest"]:
        try:
            cp = Checkpoint.parse(st["latest"])
            pub = pub_by_id.get(cp.key)
            if pub is None:
                raise VerifyError(f"key {cp.key} is not one of the log's keys")
            cp.verify(pub)
            rep.signatures += 1
            if cp.size != rep.size:
                raise VerifyError(f"it signs size {cp.size}, the tree has {rep.size}")
            if not any(c[0] == cp.size and c[1] == cp.root for c in cps):
                cps.append((cp.size, cp.root, "latest checkpoint"))
        except VerifyError as exc:
            rep.bad(f"最新检查点无效 / latest checkpoint: {exc}")
    cps.sort(key=lambda c: c[0])
    if cps and cps[-1][0] > rep.size:
        rep.bad(
            f"a checkpoint signs size {cps[-1][0]} but the log holds {rep.size}: entries were deleted",
            rep.size,
        )

    _scan_all(conn, rep, cps, workers=workers, url=url, chunk=chunk, progress=progress)
    rep.seconds = round(time.perf_counter() - t0, 3)
    return rep


# The scan is the cost of verify: each entry is hashed once as a leaf and once more on the way up. OpenSSL's SM3
# called without hashlib's name lookup (which costs as much as hashing a 300-byte entry), rows read through the
# driver's own cursor (no result-row objects), leaves compared with their tile 256 at a time, and the tree
# above the tiles built from tile roots, so the per-entry Python is a few lines. Ranges of `chunk` entries
# are independent (each starts on a tile), so other processes can hash them while this one folds the roots.


class _Digest:
    """What `_new` returns where OpenSSL has no SM3: the hash of gmssl's SM3, behind the same .digest()."""

    def __init__(self, _name: str, data: bytes) -> None:
        self._d = sm3(data)

    def digest(self) -> bytes:
        return self._d


def _openssl_new() -> Callable[[str, bytes], Any]:
    try:
        import _hashlib  # CPython's OpenSSL binding, behind hashlib.new

        _hashlib.new("sm3")
    except (ImportError, AttributeError, ValueError):  # pragma: no cover - depends on the build
        return _Digest
    return _hashlib.new  # type: ignore[no-any-return]


_new = _openssl_new()


def _fast_sm3(data: bytes) -> bytes:
    return _new("sm3", data).digest()  # type: ignore[no-any-return]


def _tile_root(leaves: list[bytes]) -> bytes:
    """The root over a full tile's 256 leaf hashes (RFC 6962 interior nodes), in the scan's tight loop."""
    new, level = _new, leaves
    while len(level) > 1:
        level = [new("sm3", b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level), 2)]
    return level[0]


def _chunks(conn: Connection, lo: int, hi: int) -> Iterator[list[tuple[int, bytes]]]:
    """(leaf_index, body as UTF-8 bytes) of [lo, hi) in order, in lists, straight from the driver: SQLite hands
    its stored UTF-8 over as bytes, PostgreSQL converts to bytea (a server-side cursor)."""
    dc: Any = conn.connection.driver_connection
    sql = "SELECT leaf_index, {1} FROM audit_log WHERE leaf_index >= {0} AND leaf_index < {0} ORDER BY leaf_index"
    restore = None
    if conn.dialect.name == "postgresql":
        cur = dc.cursor(name=f"zhifu_audit_verify_{lo}", binary=True)  # bytea as raw bytes, no hex
        cur.itersize = STREAM_CHUNK
        cur.execute(sql.format("%s", "convert_to(body, 'UTF8')"), (lo, hi))
    else:
        restore, dc.text_factory = dc.text_factory, bytes
        cur = dc.cursor()
        cur.execute(sql.format("?", "body"), (lo, hi))
    try:
        while rows := cur.fetchmany(STREAM_CHUNK):
            yield rows
    finally:
        cur.close()
        if restore is not None:
            dc.text_factory = restore


def _level0_tiles(conn: Connection, first: int) -> dict[int, bytes]:
    return {
        r[0]: bytes(r[1])
        for r in conn.execute(
            select(audit_tiles.c.idx, audit_tiles.c.hashes).where(
                audit_tiles.c.level == 0,
                audit_tiles.c.idx >= first,
                audit_tiles.c.idx < first + TILES_PER_FETCH,
            )
        )
    }


def _scan(conn: Connection, lo: int, hi: int, cuts: Sequence[int], size: int) -> dict[str, Any]:
    """Hash entries [lo, hi) (lo on a tile boundary) and check them against their level-0 tiles. Returns the
    roots of the full tiles, the leaf hashes of tiles a checkpoint cuts (and of a last partial tile), the
    problems, and `gap`: where a missing entry stopped the scan."""
    new = _new
    cut_tiles = {c >> TILE_BITS for c in cuts if c & (TILE_WIDTH - 1)}
    roots: list[bytes] = []
    leaves_of: dict[int, bytes] = {}
    problems: list[tuple[str, int]] = []
    more = 0
    gap: int | None = None
    tiles: dict[int, bytes] = {}
    cur: list[bytes] = []
    expected = lo

    def close_tile(t: int, leaves: list[bytes]) -> None:
        nonlocal more
        got = b"".join(leaves)
        if t not in tiles:
            tiles.update(_level0_tiles(conn, t))
        stored = tiles.pop(t, b"")[: len(got)]
        if got != stored:
            for i in range(len(leaves)):
                if stored[i * HASH_BYTES : (i + 1) * HASH_BYTES] != leaves[i]:
                    if len(problems) < PROBLEMS_MAX:
                        index = (t << TILE_BITS) + i
                        problems.append(
                            (
                                f"第 {index} 条被改动 / entry {index} was changed after it was sequenced "
                                "(its content does not match its recorded hash)",
                                index,
                            )
                        )
                    else:
                        more += 1
        if len(leaves) == TILE_WIDTH:
            roots.append(_tile_root(leaves))
            if t in cut_tiles:
                leaves_of[t] = got
        else:
            leaves_of[t] = got

    for rows in _chunks(conn, lo, hi):
        first, last = rows[0][0], rows[-1][0]
        if first != expected or last - first != len(rows) - 1:  # rows are ordered and unique: a gap is here
            for j, (index, _body) in enumerate(rows):
                if index != expected + j:
                    gap = expected + j
                    if index > gap:
                        message = f"第 {gap} 条缺失 / entry {gap} is missing (deleted); the next is {index}"
                    else:
                        message = f"第 {index} 条重复 / entry {index} appears twice (inserted)"
                    problems.append((message, min(gap, index)))
                    rows = rows[:j]
                    break
        cur.extend([new("sm3", b"\x00" + body).digest() for _, body in rows])
        expected += len(rows)
        full = len(cur) - len(cur) % TILE_WIDTH
        tile0 = (expected - len(cur)) >> TILE_BITS
        for k, start in enumerate(range(0, full, TILE_WIDTH)):
            close_tile(tile0 + k, cur[start : start + TILE_WIDTH])
        cur = cur[full:]
        if gap is not None:
            break
    if cur:
        close_tile(expected >> TILE_BITS, cur)
    if gap is None and expected < hi:
        gap = expected
        if hi == size:
            problems.append(
                (
                    f"日志只有 {expected} 条，树有 {size} 条 / the log holds {expected} entries, the tree "
                    f"{size}: entries at the end were deleted",
                    expected,
                )
            )
        else:
            problems.append((f"第 {expected} 条缺失 / entry {expected} is missing (deleted)", expected))
    return {
        "lo": lo,
        "end": expected,
        "roots": b"".join(roots),
        "leaves": leaves_of,
        "problems": problems,
        "more": more,
        "gap": gap,
    }


def _scan_in_process(job: tuple[str, int, int, list[int], int]) -> dict[str, Any]:
    url, lo, hi, cuts, size = job
    db = Database(url)
    try:
        with db.read() as conn:
            return _scan(conn, lo, hi, cuts, size)
    finally:
        db.dispose()


def _scan_all(
    conn: Connection,
    rep: Report,
    cps: list[tuple[int, bytes, str]],
    *,
    workers: int,
    url: str | None,
    chunk: int,
    progress: Callable[[int], None] | None,
) -> None:
    """Scan [0, size) in ranges (here or in `workers` processes), fold the tile roots into one compact tree
    and compare its root at every checkpoint's size with the signed one; then look for rows outside the tree."""
    if chunk <= 0 or chunk % TILE_WIDTH:
        raise ValueError(f"chunk must be a positive multiple of {TILE_WIDTH}")
    size = rep.size
    cut_sizes = [c[0] for c in cps]
    jobs = [
        (lo, min(lo + chunk, size), [s for s in cut_sizes if lo < s <= lo + chunk])
        for lo in range(0, size, chunk)
    ]
    pool = None
    if workers > 1 and url is not None and len(jobs) > 1:
        import multiprocessing

        pool = multiprocessing.get_context("spawn").Pool(min(workers, len(jobs)))
        results: Iterator[dict[str, Any]] = pool.imap(
            _scan_in_process, [(url, lo, hi, cuts, size) for lo, hi, cuts in jobs]
        )
    else:
        results = (_scan(conn, lo, hi, cuts, size) for lo, hi, cuts in jobs)
    compact = merkle.Compact(_fast_sm3)
    next_cp = 0
    while next_cp < len(cps) and cps[next_cp][0] == 0:
        next_cp += 1
    good_size = 0  # the largest checkpoint whose signed root the entries reproduce

    def check(root: bytes) -> None:
        nonlocal next_cp, good_size
        at, signed_root, where = cps[next_cp]
        if root != signed_root:
            # the entry-level checks are precise when they fire; otherwise the signed roots bound it
            rep.bad(
                f"{where}: 重算的根与签名的根不同 / the recomputed root differs from the signed root: "
                f"an entry in [{good_size}, {at}) was changed, inserted, deleted or reordered",
                good_size if rep.first_bad is None else None,
            )
        elif rep.first_bad is None:
            good_size = at
        next_cp += 1

    try:
        for res in results:
            for message, index in res["problems"]:
                rep.bad(message, index)
            rep.problems_total += res["more"]
            pos, end, k = res["lo"], res["end"], 0
            roots, leaves_of = res["roots"], res["leaves"]
            while pos < end:
                t, tile_end = pos >> TILE_BITS, min(pos + TILE_WIDTH, end)
                while next_cp < len(cps) and cps[next_cp][0] < tile_end:  # a checkpoint inside the tile
                    part = compact.copy()
                    leaves = leaves_of[t]
                    for i in range(cps[next_cp][0] - pos):
                        part.append_hash(leaves[i * HASH_BYTES : (i + 1) * HASH_BYTES])
                    check(part.root())
                if tile_end - pos == TILE_WIDTH:
                    compact.append_subtree(roots[k * HASH_BYTES : (k + 1) * HASH_BYTES], TILE_BITS)
                    k += 1
                else:
                    leaves = leaves_of[t]
                    for i in range(tile_end - pos):
                        compact.append_hash(leaves[i * HASH_BYTES : (i + 1) * HASH_BYTES])
                pos = tile_end
                while next_cp < len(cps) and cps[next_cp][0] == pos:
                    check(compact.root())
            rep.entries = end
            if progress is not None:
                progress(end)
            if res["gap"] is not None:
                break
    finally:
        if pool is not None:
            pool.terminate()
    outside = conn.execute(
        text("SELECT count(*), min(leaf_index) FROM audit_log WHERE leaf_index >= :size OR leaf_index < 0"),
        {"size": size},
    ).one()
    if outside[0]:
        rep.entries += outside[0]
        first = outside[1] if outside[1] >= 0 else 0
        rep.bad(
            f"第 {first} 条不是排序器写入的 / entry {first} was not sequenced by the integrator (inserted): the "
            f"tree has {size} entries, the log {outside[0]} more",
            first,
        )


def verify_db(
    db: Database,
    *,
    progress: Callable[[int], None] | None = None,
    workers: int | None = None,
    chunk: int = VERIFY_CHUNK,
) -> Report:
    """Verify, then remember the outcome for the dashboard (in a second, short transaction). A log of
    PARALLEL_MIN entries or more is hashed on every core (up to VERIFY_WORKERS_MAX) unless `workers` says."""
    in_memory = db.dialect == "sqlite" and ("memory" in db.url or db.url.endswith(":///"))
    with db.read() as conn:
        if workers is None:
            big = _state(conn)["size"] >= PARALLEL_MIN
            workers = min(VERIFY_WORKERS_MAX, os.cpu_count() or 1) if big else 1
        rep = verify(conn, progress=progress, workers=1 if in_memory else workers, url=db.url, chunk=chunk)
    first = rep.problems[0][:500] if rep.problems else None
    db.run(
        lambda c: (
            _state(c),
            c.execute(
                update(audit_state)
                .where(audit_state.c.id == 1)
                .values(
                    verified_at=clock.now(),
                    verified_size=rep.entries,
                    verified_ok="Y" if rep.ok else "N",
                    verified_problem=first,
                )
            ),
        )
    )
    return rep


# ---------------------------------------------------------------- reading


def list_entries(
    conn: Connection,
    *,
    action: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    actor: str | None = None,
    role: str | None = None,
    merchant_id: str | None = None,
    merchant_in: Sequence[str] | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    before: int | None = None,
    limit: int = 50,
) -> dict[str, Any]:
    """Newest first, filtered; `before` is the cursor (a leaf index); `merchant_in` scopes to some merchants'
    entries (an acquirer's operator); `since` ≤ at < `until`."""
    q = select(audit_log)
    for col, value in (
        (audit_log.c.action, action),
        (audit_log.c.object_type, object_type),
        (audit_log.c.object_id, object_id),
        (audit_log.c.actor, actor),
        (audit_log.c.role, role),
        (audit_log.c.merchant_id, merchant_id),
    ):
        if value:
            q = q.where(col == value)
    if merchant_in is not None:
        q = q.where(audit_log.c.merchant_id.in_(list(merchant_in)))
    if since is not None:
        q = q.where(audit_log.c.at >= since)
    if until is not None:
        q = q.where(audit_log.c.at < until)
    data, more = page_of(
        conn,
        q,
        audit_log.c.leaf_index,
        limit=limit,
        starting_after=before,
        public=_entry_doc,
        page_max=LOG_PAGE_MAX,
    )
    return {"object": "list", "data": data, "has_more": more}


_PERSONAL = (  # what personal data looks like inside an entry's details, and how it is shown
    (re.compile(r"(?<![0-9])[0-9]{17}[0-9Xx](?![0-9A-Za-z])"), mask_id),
    (re.compile(r"(?<![0-9])[0-9]{15,19}(?![0-9])"), mask_account),
    (re.compile(r"(?<![0-9])1[3-9][0-9]{9}(?![0-9])"), mask_phone),
)


def masked(value: Any) -> Any:
    """An entry's details with ID, card and phone numbers masked (6+4 cards, 3+4 phones, 6+4 IDs), for pages
    that show the log to people; the stored entry is what was hashed and is never changed."""
    if isinstance(value, str):
        for pattern, mask in _PERSONAL:
            value = pattern.sub(lambda m, mask=mask: mask(m.group(0)), value)
        return value
    if isinstance(value, dict):
        return {k: masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v) for v in value]
    return value


def _entry_doc(r: Any) -> dict[str, Any]:
    body = json.loads(r.body)
    return {
        "object": "audit_entry",
        "index": r.leaf_index,
        "at": r.at,
        "actor": r.actor,
        "role": r.role,
        "action": r.action,
        "object_type": r.object_type,
        "object_id": r.object_id,
        "merchant_id": r.merchant_id,
        "details": body.get("details", {}),
    }


def entries_about(
    conn: Connection, object_type: str, object_id: str, *, limit: int = LOG_PAGE_MAX
) -> list[dict[str, Any]]:
    """What the log says about one object (a data subject's export reads who saw their data here)."""
    return list_entries(conn, object_type=object_type, object_id=object_id, limit=limit)["data"]


@functools.lru_cache(maxsize=64)
def _checks(text: str, pub: str) -> bool:
    try:
        Checkpoint.parse(text).verify(pub)
    except VerifyError:
        return False
    return True


def _signature_ok(text: str, conn: Connection) -> bool:
    """Whether a checkpoint's SM2 signature checks with the log's key it names (remembered per text)."""
    cp = Checkpoint.parse(text)
    pub = next((k["public_key"] for k in keys(conn) if k["key_id"] == cp.key), None)
    return pub is not None and _checks(text, pub)


def verify_due(db: Database, *, every_s: float = VERIFY_EVERY_S) -> Report | None:
    """The background verification: once the last one is `every_s` old, verify again in this process (one
    core, so serving goes on) and remember the outcome for the dashboard; None when not due."""
    with db.read() as conn:
        last = _state(conn)["verified_at"] if conn.execute(select(audit_state.c.id)).first() else None
    if last is not None and (clock.now() - last).total_seconds() < every_s:
        return None
    return verify_db(db, workers=1)


def status(conn: Connection) -> dict[str, Any]:
    """For the regulator's dashboard: the latest checkpoint and what is waiting."""
    st = _state(conn)
    try:
        cp = Checkpoint.parse(st["latest"]) if st["latest"] else None
        signature_ok = _signature_ok(st["latest"], conn) if st["latest"] else None
    except VerifyError:  # a mangled checkpoint is shown as invalid, never a broken page
        cp, signature_ok = None, False
    queued = conn.execute(select(func.count()).select_from(audit_queue)).scalar_one()
    kept = conn.execute(select(func.count()).select_from(audit_checkpoints)).scalar_one()
    return {
        "object": "audit_status",
        "signature_ok": signature_ok,
        "size": st["size"],
        "queued": queued,
        "kept_checkpoints": kept,
        "root": cp.root.hex() if cp else None,
        "checkpoint_time": cp.time if cp else None,
        "key_id": cp.key if cp else None,
        "public_key": public_key(st["key_version"]),
        "checkpoint": cp.text() if cp else None,
        "verified_at": st["verified_at"],
        "verified_size": st["verified_size"],
        "verified_ok": st["verified_ok"] == "Y" if st["verified_ok"] else None,
        "verified_problem": st["verified_problem"],
    }
