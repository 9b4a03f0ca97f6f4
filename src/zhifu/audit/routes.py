"""The audit log over HTTP: the signed checkpoint and consistency proofs for anyone, entries and inclusion
proofs for operator keys (a merchant key sees its own entries), and the console page /console/{regulator,
operator}/audit with filters, proofs, kept checkpoints and a verify button."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import PlainTextResponse, Response

from zhifu.api.deps import get_db, json_response, principal
from zhifu.audit import service
from zhifu.console import routes as console
from zhifu.console.service import User
from zhifu.core import clock
from zhifu.core.errors import InvalidRequest, NotFound
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
    limit: int = Query(50, ge=1, le=service.LOG_PAGE_MAX),
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


ROLES_SHOWN = ("operator", "regulator", "merchant", "biller", "complaints", "system", "cli")
SCOPE_MERCHANTS_MAX = 20_000  # an acquirer's merchants in a county, with room; more is not one county


def _scope_of(request: Request, user: User) -> list[str] | None:
    """Which entries a console user may browse: the regulator and the platform's operator all; another
    acquirer's operator those of its own merchants."""
    from zhifu.console import operations as ops
    from zhifu.merchants import list_merchants

    if user.role == "regulator" or ops.runs_platform(user):
        return None
    ids: list[str] = []
    after = None
    with request.app.state.db.read() as c:
        while len(ids) < SCOPE_MERCHANTS_MAX:
            page, more = list_merchants(c, acquirer_id=user.institution_id, limit=100, starting_after=after)
            ids += [m["id"] for m in page]
            if not more or not page:
                break
            after = page[-1]["id"]
    return ids


def _day(value: str, field: str) -> dt.datetime | None:
    """A YYYY-MM-DD date in Beijing time as the UTC instant it starts; '' is none."""
    if not value:
        return None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidRequest(
            f"{LABELS[field]}：日期写作 YYYY-MM-DD / write the date as YYYY-MM-DD", param=field
        ) from None
    return dt.datetime.combine(day, dt.time(), clock.SHANGHAI).astimezone(dt.UTC)


LABELS = {"since": "开始日期 / from", "until": "结束日期 / to", "before": "「下一页」/ next page"}


def _log_page(
    request: Request,
    user: User,
    *,
    report: dict[str, Any] | None = None,
    filters: dict[str, str] | None = None,
    before: int | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    db: Database = request.app.state.db
    f = {k: "" for k in ("action", "object_type", "object", "actor", "role", "merchant", "since", "until")}
    f.update(filters or {})
    since = until = None
    if error is None:
        try:
            since = _day(f["since"], "since")
            until = _day(f["until"], "until")
            if until is not None:
                until += dt.timedelta(days=1)  # the end date is included
        except InvalidRequest as exc:
            error, status = exc.message, 400
    scope = _scope_of(request, user)
    with db.read() as c:
        st = service.status(c)
        page = service.list_entries(
            c,
            action=f["action"] or None,
            object_type=f["object_type"] or None,
            object_id=f["object"] or None,
            actor=f["actor"] or None,
            role=f["role"] or None,
            merchant_id=f["merchant"] or None,
            merchant_in=scope,
            since=since,
            until=until,
            before=before,
        )
        cps = service.checkpoints(c, limit=20)
    for e in page["data"]:
        e["details"] = service.masked(e["details"])
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
            "filters": f,
            "roles": ROLES_SHOWN,
            "scoped": scope is not None,
            "next_query": urlencode({k: v for k, v in f.items() if v}),
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
        object_type: str = "",
        object: str = "",
        actor: str = "",
        role: str = "",
        merchant: str = "",
        since: str = "",
        until: str = "",
        before: str = "",
        user: User = Depends(user_dep),
    ) -> Response:
        filters = {
            "action": action[:64],
            "object_type": object_type[:32],
            "object": object[:64],
            "actor": actor[:64],
            "role": role[:16],
            "merchant": merchant[:32],
            "since": since[:10],
            "until": until[:10],
        }
        cursor = None
        if before:
            if not before.isdigit() or len(before) > 19:
                return _log_page(
                    request,
                    user,
                    filters=filters,
                    error="「下一页」参数无效 / before: not an entry number",
                    status=400,
                )
            cursor = int(before)
        return _log_page(request, user, filters=filters, before=cursor)

    def verify(request: Request, user: User = Depends(user_dep)) -> Response:
        rep = service.verify_db(request.app.state.db)
        return _log_page(request, user, report=rep.to_dict())

    def proof(request: Request, index: str, user: User = Depends(user_dep)) -> Response:
        if not index.isdigit() or len(index) > 19:
            raise NotFound(f"没有第 {index[:20]} 条审计记录 / no audit entry {index[:20]}", param="index")
        scope = _scope_of(request, user)
        with request.app.state.db.read() as c:
            if scope is not None and service.entry(c, int(index))["merchant_id"] not in scope:
                raise NotFound(f"没有第 {index} 条审计记录 / no audit entry {index}", param="index")
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
