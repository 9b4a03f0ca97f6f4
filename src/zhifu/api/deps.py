"""What every API route needs: the database, the caller, the raw body, and idempotent execution."""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy import Connection, Engine, event
from starlette.concurrency import run_in_threadpool

from zhifu.api import idempotency
from zhifu.core.errors import InvalidRequest, PermissionDenied, Unauthenticated, ZhifuError
from zhifu.db import Database
from zhifu.db.engine import after_commit
from zhifu.merchants import MerchantPrincipal, Principal, as_merchant, authenticate
from zhifu.payments import recovery
from zhifu.webhooks import to_json

# A verified API key is remembered this long, so a request does not read its key row again. A key revoked in this
# process, through any engine, is forgotten at once (any write to api_keys clears every memory, again when it
# commits); a key revoked by another process (the CLI, another web process) stops working at most this long after.
KEY_CACHE_S = 2.0
KEY_CACHE_MAX = 10_000  # keys remembered per process; past this the memory starts again


class KeyCache:
    """Verified keys of one database: SHA-256 of the header -> (key id, role, merchant id, when it was verified)."""

    def __init__(self) -> None:
        self._keys: dict[bytes, tuple[str, str, str | None, float]] = {}
        self._lock = threading.Lock()
        self.generation = 0  # bumped at every clear: a lookup that began before a clear is not remembered
        _caches.add(self)  # under _caches_lock (made only by _key_cache)
        if not event.contains(Engine, "after_cursor_execute", _watch):
            event.listen(Engine, "after_cursor_execute", _watch)

    def get(self, digest: bytes) -> Principal | None:
        hit = self._keys.get(digest)
        if hit is None or time.monotonic() - hit[3] > KEY_CACHE_S:
            return None
        return Principal.model_construct(key_id=hit[0], role=hit[1], merchant_id=hit[2])

    def put(self, digest: bytes, p: Principal, generation: int, verified_at: float) -> None:
        with self._lock:
            if generation != self.generation:
                return
            if len(self._keys) >= KEY_CACHE_MAX:
                self._keys.clear()
            self._keys[digest] = (p.key_id, str(p.role), p.merchant_id, verified_at)

    def clear(self) -> None:
        with self._lock:
            self.generation += 1
            self._keys.clear()


_caches: weakref.WeakSet[KeyCache] = weakref.WeakSet()
_caches_lock = threading.Lock()


def _clear_all(_db: object = None) -> None:
    with _caches_lock:
        caches = list(_caches)
    for cache in caches:
        cache.clear()


def _watch(conn: Connection, _cur: Any, statement: str, *_args: Any) -> None:
    """Any engine of this process writing api_keys (a key made, revoked or changed) clears every memory of keys."""
    if "api_keys" in statement and statement.lstrip()[:6].upper() != "SELECT":
        _clear_all()
        with contextlib.suppress(RuntimeError):  # outside Database.tx/run there is no commit to wait for
            after_commit(conn, _clear_all)


def _key_cache(db: Database) -> KeyCache:
    cache = getattr(db, "_zhifu_key_cache", None)
    if cache is None:
        with _caches_lock:
            cache = getattr(db, "_zhifu_key_cache", None)
            if cache is None:
                cache = KeyCache()
                db._zhifu_key_cache = cache  # type: ignore[attr-defined]
    return cache


async def get_db(request: Request) -> Database:
    return request.app.state.db


async def principal(request: Request) -> Principal:
    """The caller's key: from the memory of verified keys when it is there (no thread, no database), else read
    and verified in a worker thread."""
    db: Database = request.app.state.db
    header = request.headers.get("authorization")
    cache = _key_cache(db)
    digest = hashlib.sha256(header.encode()).digest() if header else b""
    p = cache.get(digest) if header else None
    if p is None:
        p = await run_in_threadpool(_verify, db, request, header, cache, digest)
    request.state.api_auth = (f"key:{p.key_id}", str(p.role))  # the audit log's actor for this request
    return p


def _verify(db: Database, request: Request, header: str | None, cache: KeyCache, digest: bytes) -> Principal:
    generation, verified_at = cache.generation, time.monotonic()
    try:
        with db.read() as conn:
            p = authenticate(conn, header)
    except Unauthenticated:
        _auth_failed(db, request)
        raise
    cache.put(digest, p, generation, verified_at)
    return p


def _auth_failed(db: Database, request: Request) -> None:
    """A refused API key in the audit log, in its own transaction: why (never the key) and where it was used."""
    from zhifu import audit

    header = request.headers.get("authorization") or ""
    reason = (
        "missing"
        if not header
        else "malformed"
        if not header.startswith("Bearer sk_") or len(header) < 27
        else "invalid_or_revoked"
    )
    ip = request.client.host if request.client else ""
    details = {"reason": reason, "method": request.method, "path": request.url.path[:200], "ip": ip[:64]}
    db.run(
        lambda c: audit.record(c, "anonymous", "api.auth_failed", "api_key", "none", details, role="public")
    )


async def merchant_principal(request: Request) -> MerchantPrincipal:
    p = as_merchant(await principal(request))
    if p is None:
        raise PermissionDenied("this route needs a merchant's key", param="authorization")
    return p


async def operator_principal(request: Request) -> Principal:
    p = await principal(request)
    if p.role != "operator":
        raise PermissionDenied("this route needs an operator's key", param="authorization")
    return p


async def raw_body(request: Request) -> bytes:
    return await request.body()


def json_response(doc: Any, status: int = 200) -> Response:
    return Response(to_json(doc), status_code=status, media_type="application/json")


def run_idempotent(
    request: Request,
    p: Principal,
    body: bytes,
    fn: Callable[[], Any],
    status: int = 200,
    *,
    resource: str | None = None,
    resume: Callable[[str], Any] | None = None,
) -> Response:
    """Run fn once per Idempotency-Key; errors raised by fn are stored and replayed like successes.

    A route whose work records a recovery point names the kind of object it makes (`resource`) and how to answer
    with one (`resume`, which also finishes a rail call a crash cut short): a retry after a crash between the work
    and the stored answer gets that object instead of a second run of the work."""
    key = request.headers.get("idempotency-key")
    if key is None:
        return json_response(fn(), status)
    db: Database = request.app.state.db
    scope = p.merchant_id or p.key_id
    kind = resource if resume is not None else None
    got = idempotency.begin(
        db, scope, key, idempotency.request_hash(request.method, request.url.path, body), kind=kind
    )
    if isinstance(got, idempotency.Stored):
        return Response(
            got.body,
            status_code=got.status,
            media_type="application/json",
            headers={"Idempotent-Replayed": "true"},
        )
    claim = recovery.Claim(scope, key, kind) if kind is not None else None
    work = fn
    if isinstance(got, idempotency.Recover) and claim is not None and resume is not None:
        claim.resource_id = got.resource_id
        work = lambda: resume(got.resource_id)  # noqa: E731
    try:
        with recovery.claimed(claim) if claim is not None else contextlib.nullcontext():
            doc, code = work(), status
    except ZhifuError as exc:
        if claim is not None and (claim.resource_id is not None or exc.code == "idempotency_in_flight"):
            raise  # after the work committed, or another attempt did it: not this key's answer; a retry gets it
        doc, code = {"error": exc.to_dict()}, exc.http_status
    except BaseException:
        idempotency.release(db, scope, key)  # keeps the key when the work committed (its recovery point)
        raise
    text = to_json(doc)
    idempotency.finish(db, scope, key, code, text)
    return Response(text, status_code=code, media_type="application/json")


def loads(body: bytes) -> Any:
    """The JSON body; not UTF-8, not JSON or nested past the parser's depth is a 400 with the error object."""
    try:
        return json.loads(body)
    except UnicodeDecodeError as exc:
        raise InvalidRequest("请求体不是 UTF-8 / the body is not valid UTF-8", code="invalid_utf8") from exc
    except (ValueError, RecursionError) as exc:
        raise InvalidRequest("请求体不是合法 JSON / the body is not valid JSON", code="invalid_json") from exc
