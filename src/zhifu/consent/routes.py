"""Consent and the data subject's rights over HTTP (operator keys; a merchant key acts for its own merchant):
record a consent, withdraw it, list a subject's consents, export what we hold about a subject, and the
consent-gated turnover evidence for a lender."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from zhifu.api.deps import get_db, json_response, loads, operator_principal, principal, raw_body
from zhifu.consent import requests, service
from zhifu.console import operations as ops
from zhifu.console import routes as console
from zhifu.console.service import User
from zhifu.core.errors import ConflictError, InvalidRequest, NotFound, PermissionDenied, ZhifuError
from zhifu.db import Database
from zhifu.merchants import Principal

api = APIRouter(prefix="/v1", tags=["consent"])


class WithdrawIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subject_type: str = Field(pattern="^(payer|merchant)$")
    phone: str | None = Field(None, max_length=11)
    merchant_id: str | None = Field(None, max_length=32)
    purpose: str = Field(max_length=20)
    recipient: str | None = Field(None, max_length=64)


def _subject(p: Principal, subject_type: str, phone: str | None, merchant_id: str | None) -> str:
    """The subject's stored key; a merchant key may only name its own merchant (another tenant is a 404)."""
    if p.role == "merchant":
        if subject_type != "merchant" or (merchant_id and merchant_id != p.merchant_id):
            raise NotFound("没有这个数据主体 / no such subject", param="subject")
        merchant_id = p.merchant_id
    return service.subject_key(subject_type, phone=phone, merchant_id=merchant_id)


def _model(cls: type[BaseModel], body: bytes) -> Any:
    from pydantic import ValidationError

    try:
        return cls.model_validate(loads(body))
    except ValidationError as exc:
        e = exc.errors()[0]
        param = ".".join(str(x) for x in e.get("loc", ())) or None
        raise InvalidRequest(f"{param}: {e.get('msg')}", param=param) from exc
    except ValueError as exc:
        raise InvalidRequest("the body is not valid JSON") from exc


@api.post("/consents", summary="Record a payer's or merchant's consent (operator; a merchant for itself)")
def grant(
    request: Request,
    body: bytes = Depends(raw_body),
    p: Principal = Depends(principal),
    db: Database = Depends(get_db),
) -> Response:
    req = _model(service.GrantIn, body)
    _subject(p, req.subject_type, req.phone, req.merchant_id)
    return json_response(db.run(lambda c: service.grant(c, req)))


@api.post("/consents/withdraw", summary="Withdraw consent for a purpose; effective for the next use")
def withdraw(
    body: bytes = Depends(raw_body), p: Principal = Depends(principal), db: Database = Depends(get_db)
) -> Response:
    req = _model(WithdrawIn, body)
    key = _subject(p, req.subject_type, req.phone, req.merchant_id)
    done = db.run(lambda c: service.withdraw(c, req.subject_type, key, req.purpose, recipient=req.recipient))
    return json_response({"object": "list", "data": done})


@api.get("/consents", summary="A subject's consents, in force and past")
def consents(
    subject_type: str = Query(..., pattern="^(payer|merchant)$"),
    phone: str | None = Query(None, max_length=11),
    merchant_id: str | None = Query(None, max_length=32),
    p: Principal = Depends(principal),
    db: Database = Depends(get_db),
) -> Response:
    key = _subject(p, subject_type, phone, merchant_id)
    with db.read() as c:
        return json_response({"object": "list", "data": service.list_for(c, subject_type, key)})


@api.get("/data-subjects/export", summary="What we hold about a subject, why, and who saw it (PIPL art. 45)")
def export(
    subject_type: str = Query(..., pattern="^(payer|merchant)$"),
    phone: str | None = Query(None, max_length=11),
    merchant_id: str | None = Query(None, max_length=32),
    p: Principal = Depends(principal),
    db: Database = Depends(get_db),
) -> Response:
    key = _subject(p, subject_type, phone, merchant_id)
    return json_response(service.subject_export(db, subject_type, key))


@api.get(
    "/merchants/{merchant_id}/turnover-evidence",
    summary="A merchant's monthly turnover for a lender, only with the merchant's consent (operator)",
)
def turnover(
    merchant_id: str,
    lender: str = Query(..., max_length=64),
    months: int = Query(6),
    p: Principal = Depends(operator_principal),
    db: Database = Depends(get_db),
) -> Response:
    return json_response(service.turnover_evidence(db, merchant_id, lender, months))


# ---------------------------------------------------------------- data-subject requests (maker-checker)


class DecideIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field("", max_length=requests.NOTE_CHARS_MAX)


def _actor(p: Principal) -> str:
    return f"key:{p.key_id}"


@api.post(
    "/data-subjects/requests",
    summary="File a payer's or merchant's correction or deletion request (operator; a second key decides it)",
)
def file_request(
    body: bytes = Depends(raw_body),
    p: Principal = Depends(operator_principal),
    db: Database = Depends(get_db),
) -> Response:
    req = _model(requests.FileIn, body)
    return json_response(db.run(lambda c: requests.file_request(c, req, filed_by=_actor(p))))


@api.get("/data-subjects/requests", summary="Data-subject requests, newest first (operator)")
def list_requests(
    status: str | None = Query(None, pattern="^(pending|applied|rejected)$"),
    p: Principal = Depends(operator_principal),
    db: Database = Depends(get_db),
) -> Response:
    with db.read() as c:
        return json_response({"object": "list", "data": requests.list_requests(c, status=status)})


@api.get("/data-subjects/requests/{request_id}", summary="One data-subject request (operator)")
def get_request(
    request_id: str, p: Principal = Depends(operator_principal), db: Database = Depends(get_db)
) -> Response:
    with db.read() as c:
        return json_response(requests.get_request(c, request_id))


def _decide(decision: str):  # type: ignore[no-untyped-def]
    def decide(
        request_id: str,
        body: bytes = Depends(raw_body),
        p: Principal = Depends(operator_principal),
        db: Database = Depends(get_db),
    ) -> Response:
        req = _model(DecideIn, body or b"{}")
        return json_response(
            db.run(lambda c: requests.decide(c, request_id, decision, decided_by=_actor(p), note=req.note))
        )

    return decide


api.add_api_route(
    "/data-subjects/requests/{request_id}/approve",
    _decide("approve"),
    methods=["POST"],
    summary="Approve and apply a request (a different operator key from the one that filed it)",
)
api.add_api_route(
    "/data-subjects/requests/{request_id}/reject",
    _decide("reject"),
    methods=["POST"],
    summary="Reject a request with a note (a different operator key from the one that filed it)",
)


# ---------------------------------------------------------------- console: the operator's request desk

pages = APIRouter(
    route_class=console.ConsoleRoute, include_in_schema=False, dependencies=[Depends(console.csrf_guard)]
)
DESK = "/console/operator/subject-requests"
console.add_nav(
    "operator", ((DESK, "数据主体请求 / Data-subject requests"),), after=len(console.NAV["operator"])
)
_operator = console.role("operator")
_CJK = re.compile(r"[\u4e00-\u9fff]")
LABELS = {
    "subject_type": "主体类型 / subject",
    "phone": "付款人手机号 / payer's phone",
    "merchant_id": "商户号 / merchant id",
    "merchant": "商户号 / merchant id",
    "kind": "请求类型 / kind",
    "field": "更正字段 / field",
    "value": "新值 / new value",
    "reason": "申请事由 / reason",
    "note": "复核意见 / note",
    "decision": "决定 / decision",
    "request": "请求 / request",
    "form": "表单 / form",
}
_PYDANTIC_ZH = {
    "missing": "必填 / required",
    "string_too_short": "必填 / required",
    "string_too_long": "过长 / too long",
    "string_pattern_mismatch": "请选择一项 / choose one of the options",
}


def _explain(exc: ZhifuError) -> tuple[str, str]:
    """(field, "字段：原因") for a person: the field named in Chinese first, the service's Chinese reason."""
    field = getattr(exc, "field", None) or exc.param or "form"
    if isinstance(exc, ops.FormError):  # a console form's own refusal (an out-of-date form)
        from zhifu.console.operator_routes import explain

        return field, explain(exc, "zh")
    zh, sep, en = exc.message.partition(" / ")
    text = zh if sep and _CJK.search(zh) else exc.message
    return field, f"{LABELS.get(field, field)}：{text}"


def _file_in(values: dict[str, str]) -> requests.FileIn:
    from pydantic import ValidationError

    doc = {k: values.get(k, "").strip() or None for k in ("subject_type", "kind", "field", "value", "reason")}
    if doc["subject_type"] == "payer":
        doc["phone"] = values.get("phone", "").strip() or None
    else:
        doc["merchant_id"] = values.get("merchant_id", "").strip() or None
    doc["reason"] = doc["reason"] or ""
    try:
        return requests.FileIn.model_validate(doc)
    except ValidationError as exc:
        e = exc.errors()[0]
        field = str(e["loc"][0]) if e.get("loc") else "form"
        raise InvalidRequest(_PYDANTIC_ZH.get(e["type"], f"不接受 / {e['msg']}"), param=field) from exc


def _desk(
    request: Request,
    user: User,
    *,
    error: str | None = None,
    field: str | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    with request.app.state.db.read() as c:
        pending = requests.list_requests(c, status="pending", acquirer_id=user.institution_id)
        recent = [
            r for r in requests.list_requests(c, acquirer_id=user.institution_id) if r["status"] != "pending"
        ]
    return console.page(
        request,
        "consent/requests.html",
        {
            "pending": pending,
            "recent": recent[:50],
            "error": error,
            "error_field": field,
            "v": values or {"subject_type": "merchant", "kind": "correction"},
            "form_token": (values or {}).get("form_token") or ops.new_form_token(),
            "correctable": requests.CORRECTABLE,
            "me": ops.actor(user),
        },
        status=status,
        active=DESK,
    )


def _detail(
    request: Request, user: User, request_id: str, *, error: str | None = None, status: int = 200
) -> Response:
    with request.app.state.db.read() as c:
        req = requests.get_request(c, request_id, acquirer_id=user.institution_id)
    return console.page(
        request,
        "consent/request.html",
        {"r": req, "error": error, "form_token": ops.new_form_token(), "me": ops.actor(user)},
        status=status,
        active=DESK,
    )


async def _form_values(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


_REFUSED = (InvalidRequest, ConflictError, PermissionDenied)


@pages.get(DESK)
def desk(request: Request, user: User = Depends(_operator)) -> Response:
    return _desk(request, user)


@pages.post(DESK)
async def desk_file(request: Request, user: User = Depends(_operator)) -> Response:
    values = await _form_values(request)
    db: Database = request.app.state.db

    def act(c: Any) -> str:
        req = _file_in(values)
        done = requests.file_request(c, req, filed_by=ops.actor(user), acquirer_id=user.institution_id)
        return f"{DESK}/{done['id']}"

    try:
        url = await run_in_threadpool(ops.once, db, user, values.get("form_token", ""), act)
    except (*_REFUSED, NotFound) as exc:
        field, message = _explain(exc)
        return _desk(request, user, error=message, field=field, values=values, status=exc.http_status)
    return console._redirect(request, url)


@pages.get(DESK + "/{request_id}")
def desk_request(request: Request, request_id: str, user: User = Depends(_operator)) -> Response:
    return _detail(request, user, request_id[:40])


@pages.post(DESK + "/{request_id}/decide")
async def desk_decide(request: Request, request_id: str, user: User = Depends(_operator)) -> Response:
    values = await _form_values(request)
    request_id = request_id[:40]

    def act(c: Any) -> str:
        requests.decide(
            c,
            request_id,
            values.get("decision", ""),
            decided_by=ops.actor(user),
            note=values.get("note", ""),
            acquirer_id=user.institution_id,
        )
        return f"{DESK}/{request_id}"

    try:
        url = await run_in_threadpool(ops.once, request.app.state.db, user, values.get("form_token", ""), act)
    except _REFUSED as exc:
        return _detail(request, user, request_id, error=_explain(exc)[1], status=exc.http_status)
    return console._redirect(request, url)


router = APIRouter()
router.include_router(api)
router.include_router(pages)
