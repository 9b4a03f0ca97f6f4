"""The audit log over HTTP: the signed checkpoint and consistency proofs for anyone, entries and inclusion
proofs for operator keys (a merchant key sees its own entries), and the console page /console/{regulator,
operator}/audit with filters, proofs, kept checkpoints and a verify button."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import PlainTextResponse, Response

from zhifu.api.deps import get_db, json_response, principal
from zhifu.audit import service
from zhifu.console import routes as console
from zhifu.console.service import User
from zhifu.core.errors import NotFound
from zhifu.db import Database
from zhifu.merchants import Principal

router = APIRouter()
api = APIRouter(prefix="/v1/audit", tags=["audit"])
pages = APIRouter(
    route_class=console.ConsoleRoute, include_in_schema=False, dependencies=[Depends(console.csrf_guard)]
)
ROLES = ("regulator", "operator")
NAV_LABEL = "审计日志 / Audit log"
for _r in ROLES:
    console.add_nav(_r, ((f"/console/{_r}/audit", NAV_LABEL),), after=len(console.NAV[_r]))


@api.get("/checkpoint", summary="The latest signed checkpoint (text/plain, a signed note); any key")
def checkpoint(p: Principal = Depends(principal), db: Database = Depends(get_db)) -> Response:
    with db.read() as c:
        cp = service.latest_checkpoint(c)
    if cp is None:
        raise NotFound("还没有检查点 / no checkpoint yet", param="checkpoint")
    return PlainTextResponse(cp.text())


@api.get("/public-key", summary="The SM2 public keys that sign checkpoints; any key")
def public_keys(p: Principal = Depends(principal), db: Database = Depends(get_db)) -> Response:
    with db.read() as c:
        ks = service.keys(c)
    return json_response({"object": "list", "data": [{"object": "audit_key", **k} for k in ks]})


@api.get("/consistency", summary="A consistency proof between two checkpoints; any key")
def consistency(
    old: int = Query(..., ge=0),
    new: int | None = Query(None, ge=0),
    p: Principal = Depends(principal),
    db: Database = Depends(get_db),
) -> Response:
    with db.read() as c:
        return json_response(service.prove_consistency(c, old, new))


def _scope(p: Principal, merchant: str | None) -> str | None:
    if p.role == "merchant":
        if merchant and merchant != p.merchant_id:
            raise NotFound("没有这个商户 / no such merchant", param="merchant")
        return p.merchant_id
    return merchant


@api.get("/entries", summary="Entries, newest first (operator; a merchant key sees its own)")
def entries(
    action: str | None = Query(None, max_length=64),
    object_id: str | None = Query(None, max_length=64),
    merchant: str | None = Query(None, max_length=32),
    before: int | None = Query(None, ge=0),
    limit: int = Query(50, ge=1, le=service.PAGE_MAX),
    p: Principal = Depends(principal),
    db: Database = Depends(get_db),
) -> Response:
    with db.read() as c:
        return json_response(
            service.list_entries(
                c,
                action=action,
                object_id=object_id,
                merchant_id=_scope(p, merchant),
                before=before,
                limit=limit,
            )
        )


@api.get("/entries/{index}/proof", summary="An inclusion proof of one entry against the latest checkpoint")
def entry_proof(
    index: int,
    size: int | None = Query(None, ge=1),
    p: Principal = Depends(principal),
    db: Database = Depends(get_db),
) -> Response:
    with db.read() as c:
        if p.role == "merchant" and service.entry(c, index)["merchant_id"] != p.merchant_id:
            raise NotFound(f"没有第 {index} 条审计记录 / no audit entry {index}", param="index")
        return json_response(service.prove(c, index, size=size))


# ---------------------------------------------------------------- console


def _role_of(request: Request) -> str:
    return request.url.path.split("/")[2]


def _log_page(
    request: Request,
    *,
    report: dict[str, Any] | None = None,
    action: str = "",
    object_id: str = "",
    actor: str = "",
    merchant: str = "",
    before: int | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    db: Database = request.app.state.db
    with db.read() as c:
        st = service.status(c)
        page = service.list_entries(
            c,
            action=action or None,
            object_id=object_id or None,
            actor=actor or None,
            merchant_id=merchant or None,
            before=before,
        )
        cps = service.checkpoints(c, limit=20)
    base = f"/console/{_role_of(request)}/audit"
    return console.page(
        request,
        "audit/log.html",
        {
            "base": base,
            "st": st,
            "page": page,
            "cps": cps,
            "report": report,
            "error": error,
            "filters": {"action": action, "object": object_id, "actor": actor, "merchant": merchant},
        },
        status=status,
        active=base,
    )


def _pages_for(role_name: str) -> None:
    """The log, verify, proof and consistency routes of one console role."""
    user_dep = console.role(role_name)
    base = f"/console/{role_name}/audit"

    def log(
        request: Request,
        action: str = "",
        object: str = "",
        actor: str = "",
        merchant: str = "",
        before: str = "",
        user: User = Depends(user_dep),
    ) -> Response:
        cursor = None
        if before:
            if not before.isdigit():
                return _log_page(
                    request, error="「下一页」参数无效 / before: not an entry number", status=400
                )
            cursor = int(before)
        return _log_page(
            request,
            action=action[:64],
            object_id=object[:64],
            actor=actor[:64],
            merchant=merchant[:32],
            before=cursor,
        )

    def verify(request: Request, user: User = Depends(user_dep)) -> Response:
        rep = service.verify_db(request.app.state.db)
        return _log_page(request, report=rep.to_dict())

    def proof(request: Request, index: str, user: User = Depends(user_dep)) -> Response:
        if not index.isdigit() or len(index) > 19:
            raise NotFound(f"没有第 {index[:20]} 条审计记录 / no audit entry {index[:20]}", param="index")
        with request.app.state.db.read() as c:
            doc = service.prove(c, int(index))
        return _download(doc, f"audit-proof-{index}.json")

    def consistency(
        request: Request, old: int = Query(..., ge=0), user: User = Depends(user_dep)
    ) -> Response:
        with request.app.state.db.read() as c:
            doc = service.prove_consistency(c, old)
        return _download(doc, f"audit-consistency-{old}.json")

    pages.add_api_route(base, log, methods=["GET"], name=f"audit_log_{role_name}")
    pages.add_api_route(f"{base}/verify", verify, methods=["POST"], name=f"audit_verify_{role_name}")
    pages.add_api_route(
        f"{base}/entries/{{index}}/proof", proof, methods=["GET"], name=f"audit_proof_{role_name}"
    )
    pages.add_api_route(
        f"{base}/consistency", consistency, methods=["GET"], name=f"audit_consistency_{role_name}"
    )


def _download(doc: dict[str, Any], filename: str) -> Response:
    return Response(
        json.dumps(doc, ensure_ascii=False, indent=2),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


for _r in ROLES:
    _pages_for(_r)

router.include_router(api)
router.include_router(pages)
