"""What every API route needs: the database, the caller, the raw body, and idempotent execution."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from zhifu.api import idempotency
from zhifu.core.errors import InvalidRequest, PermissionDenied, Unauthenticated, ZhifuError
from zhifu.db import Database
from zhifu.merchants import MerchantPrincipal, Principal, as_merchant, authenticate
from zhifu.payments import recovery
from zhifu.webhooks import to_json


def get_db(request: Request) -> Database:
    return request.app.state.db


def principal(request: Request) -> Principal:
    db: Database = request.app.state.db
    try:
        with db.read() as conn:
            p = authenticate(conn, request.headers.get("authorization"))
    except Unauthenticated:
        _auth_failed(db, request)
        raise
    request.state.api_auth = (f"key:{p.key_id}", str(p.role))  # the audit log's actor for this request
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


def merchant_principal(request: Request) -> MerchantPrincipal:
    p = as_merchant(principal(request))
    if p is None:
        raise PermissionDenied("this route needs a merchant's key", param="authorization")
    return p


def operator_principal(request: Request) -> Principal:
    p = principal(request)
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
