"""Consent and the data subject's rights over HTTP (operator keys; a merchant key acts for its own merchant):
record a consent, withdraw it, list a subject's consents, export what we hold about a subject, and the
consent-gated turnover evidence for a lender."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from zhifu.api.deps import get_db, json_response, loads, operator_principal, principal, raw_body
from zhifu.consent import requests, service
from zhifu.core.errors import InvalidRequest, NotFound
from zhifu.db import Database
from zhifu.merchants import Principal

router = APIRouter(prefix="/v1", tags=["consent"])


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


@router.post("/consents", summary="Record a payer's or merchant's consent (operator; a merchant for itself)")
def grant(
    request: Request,
    body: bytes = Depends(raw_body),
    p: Principal = Depends(principal),
    db: Database = Depends(get_db),
) -> Response:
    req = _model(service.GrantIn, body)
    _subject(p, req.subject_type, req.phone, req.merchant_id)
    return json_response(db.run(lambda c: service.grant(c, req)))


@router.post("/consents/withdraw", summary="Withdraw consent for a purpose; effective for the next use")
def withdraw(
    body: bytes = Depends(raw_body), p: Principal = Depends(principal), db: Database = Depends(get_db)
) -> Response:
    req = _model(WithdrawIn, body)
    key = _subject(p, req.subject_type, req.phone, req.merchant_id)
    done = db.run(lambda c: service.withdraw(c, req.subject_type, key, req.purpose, recipient=req.recipient))
    return json_response({"object": "list", "data": done})


@router.get("/consents", summary="A subject's consents, in force and past")
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


@router.get(
    "/data-subjects/export", summary="What we hold about a subject, why, and who saw it (PIPL art. 45)"
)
def export(
    subject_type: str = Query(..., pattern="^(payer|merchant)$"),
    phone: str | None = Query(None, max_length=11),
    merchant_id: str | None = Query(None, max_length=32),
    p: Principal = Depends(principal),
    db: Database = Depends(get_db),
) -> Response:
    key = _subject(p, subject_type, phone, merchant_id)
    return json_response(service.subject_export(db, subject_type, key))


@router.get(
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


@router.post(
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


@router.get("/data-subjects/requests", summary="Data-subject requests, newest first (operator)")
def list_requests(
    status: str | None = Query(None, pattern="^(pending|applied|rejected)$"),
    p: Principal = Depends(operator_principal),
    db: Database = Depends(get_db),
) -> Response:
    with db.read() as c:
        return json_response({"object": "list", "data": requests.list_requests(c, status=status)})


@router.get("/data-subjects/requests/{request_id}", summary="One data-subject request (operator)")
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


router.add_api_route(
    "/data-subjects/requests/{request_id}/approve",
    _decide("approve"),
    methods=["POST"],
    summary="Approve and apply a request (a different operator key from the one that filed it)",
)
router.add_api_route(
    "/data-subjects/requests/{request_id}/reject",
    _decide("reject"),
    methods=["POST"],
    summary="Reject a request with a note (a different operator key from the one that filed it)",
)
