"""HTTP routes of merchant onboarding and review (operator keys) and a merchant's own profile and keys."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from zhifu.api.deps import (
    get_db,
    json_response,
    merchant_principal,
    operator_principal,
    raw_body,
    run_idempotent,
)
from zhifu.db import Database
from zhifu.merchants import Principal, service
from zhifu.merchants.service import MerchantApplication

router = APIRouter(prefix="/v1", tags=["merchants"])


class ReviewBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(default=None, max_length=500)


class KeyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str = Field(default="", max_length=60)


@router.post("/merchants", summary="Submit a merchant application (operator)")
def apply(
    req: MerchantApplication,
    request: Request,
    p: Principal = Depends(operator_principal),
    body: bytes = Depends(raw_body),
    db: Database = Depends(get_db),
) -> Response:
    return run_idempotent(request, p, body, lambda: db.run(lambda c: service.apply(c, req)))


@router.get("/merchants", summary="List merchants (operator)")
def list_merchants(
    p: Principal = Depends(operator_principal),
    db: Database = Depends(get_db),
    status: str | None = None,
    town_code: str | None = None,
    limit: int = Query(20, ge=1, le=100),
    starting_after: str | None = None,
) -> Response:
    with db.read() as c:
        rows, more = service.list_merchants(
            c, status=status, town_code=town_code, limit=limit, starting_after=starting_after
        )
    return json_response({"object": "list", "data": rows, "has_more": more})


@router.get("/merchants/{merchant_id}", summary="Retrieve a merchant (operator)")
def get_merchant(
    merchant_id: str, p: Principal = Depends(operator_principal), db: Database = Depends(get_db)
) -> Response:
    with db.read() as c:
        return json_response(service.get_merchant(c, merchant_id))


@router.post(
    "/merchants/{merchant_id}/keys", summary="Issue a merchant API key; the secret is shown once (operator)"
)
def create_key(
    merchant_id: str,
    request: Request,
    req: KeyBody | None = None,
    p: Principal = Depends(operator_principal),
    body: bytes = Depends(raw_body),
    db: Database = Depends(get_db),
) -> Response:
    def go() -> dict:
        key, secret = db.run(
            lambda c: service.create_key(c, merchant_id=merchant_id, label=req.label if req else "")
        )
        return {**key, "secret": secret}

    return run_idempotent(request, p, body, go)


@router.get("/merchant", summary="The calling merchant's own profile")
def me(p: Principal = Depends(merchant_principal), db: Database = Depends(get_db)) -> Response:
    with db.read() as c:
        return json_response(service.get_merchant(c, p.merchant_id))


@router.get("/keys", summary="The calling merchant's API keys")
def my_keys(p: Principal = Depends(merchant_principal), db: Database = Depends(get_db)) -> Response:
    with db.read() as c:
        return json_response(
            {"object": "list", "data": service.list_keys(c, p.merchant_id), "has_more": False}
        )


@router.post("/keys/{key_id}/roll", summary="Replace a key; the new secret is shown once")
def roll_key(
    key_id: str, p: Principal = Depends(merchant_principal), db: Database = Depends(get_db)
) -> Response:
    key, secret = db.run(lambda c: service.roll_key(c, key_id, merchant_id=p.merchant_id))
    return json_response({**key, "secret": secret})


@router.post("/keys/{key_id}/revoke", summary="Revoke a key")
def revoke_key(
    key_id: str, p: Principal = Depends(merchant_principal), db: Database = Depends(get_db)
) -> Response:
    return json_response(db.run(lambda c: service.revoke_key(c, key_id, merchant_id=p.merchant_id)))


@router.post(
    "/merchants/{merchant_id}/{action}",
    summary="Review: approve, reject, request_changes, suspend, reactivate, terminate (operator)",
)
def review(
    merchant_id: str,
    action: Literal["approve", "reject", "request_changes", "suspend", "reactivate", "terminate"],
    request: Request,
    req: ReviewBody | None = None,
    p: Principal = Depends(operator_principal),
    body: bytes = Depends(raw_body),
    db: Database = Depends(get_db),
) -> Response:
    reason = req.reason if req else None
    return run_idempotent(
        request, p, body, lambda: db.run(lambda c: service.review(c, merchant_id, action, reason=reason))
    )
