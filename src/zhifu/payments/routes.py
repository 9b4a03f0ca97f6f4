"""HTTP routes of payments, refunds and the balance."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from zhifu.api.deps import get_db, json_response, merchant_principal, raw_body, run_idempotent
from zhifu.db import Database
from zhifu.merchants import MerchantPrincipal
from zhifu.payments import service
from zhifu.payments.results import PaymentDoc, RefundDoc
from zhifu.payments.schemas import BalanceOut, PaymentListOut, PaymentOut, RefundListOut, RefundOut, ok
from zhifu.payments.service import CreatePayment, CreateRefund

router = APIRouter(prefix="/v1", tags=["payments"])


@router.post("/payments", summary="Create a payment", responses=ok(PaymentOut, "The payment"))
def create_payment(
    req: CreatePayment,
    request: Request,
    p: MerchantPrincipal = Depends(merchant_principal),
    body: bytes = Depends(raw_body),
    db: Database = Depends(get_db),
) -> Response:
    def go() -> PaymentDoc:
        return service.create_and_answer(db, p.merchant_id, req)  # the rail is called after the commit

    # a retry after a crash runs the create again: the same merchant_order_no and body return that payment and
    # finish its rail call if a crash cut it short
    return run_idempotent(request, p, body, go, resource="payment", resume=lambda _pid: go())


@router.get(
    "/payments", summary="List payments, newest first", responses=ok(PaymentListOut, "A page of payments")
)
def list_payments(
    p: MerchantPrincipal = Depends(merchant_principal),
    db: Database = Depends(get_db),
    status: str | None = None,
    merchant_order_no: str | None = None,
    channel: str | None = None,
    created_gte: dt.datetime | None = None,
    created_lt: dt.datetime | None = None,
    limit: int = Query(20, ge=1, le=100),
    starting_after: str | None = None,
) -> Response:
    with db.read() as c:
        rows, more = service.list_payments(
            c,
            p.merchant_id,
            status=status,
            created_gte=created_gte,
            created_lt=created_lt,
            merchant_order_no=merchant_order_no,
            channel=channel,
            limit=limit,
            starting_after=starting_after,
        )
    return json_response({"object": "list", "data": rows, "has_more": more})


@router.get("/payments/{payment_id}", summary="Retrieve a payment", responses=ok(PaymentOut, "The payment"))
def get_payment(
    payment_id: str, p: MerchantPrincipal = Depends(merchant_principal), db: Database = Depends(get_db)
) -> Response:
    with db.read() as c:
        return json_response(service.get_payment(c, p.merchant_id, payment_id))


@router.post(
    "/payments/{payment_id}/close",
    summary="Close an unpaid payment",
    responses=ok(PaymentOut, "The payment, closed (or succeeded if the payer paid first)"),
)
def close_payment(
    payment_id: str,
    request: Request,
    p: MerchantPrincipal = Depends(merchant_principal),
    body: bytes = Depends(raw_body),
    db: Database = Depends(get_db),
) -> Response:
    return run_idempotent(request, p, body, lambda: service.close_payment(db, p.merchant_id, payment_id))


@router.post(
    "/payments/{payment_id}/refunds",
    summary="Refund all or part of a payment",
    responses=ok(RefundOut, "The refund"),
)
def create_refund(
    payment_id: str,
    request: Request,
    req: CreateRefund | None = None,
    p: MerchantPrincipal = Depends(merchant_principal),
    body: bytes = Depends(raw_body),
    db: Database = Depends(get_db),
) -> Response:
    req = req or CreateRefund()

    def go() -> RefundDoc:
        made = db.run(lambda c: service.create_refund(c, p.merchant_id, payment_id, req))
        with db.read() as c:
            return service.get_refund(c, p.merchant_id, made["id"])

    return run_idempotent(
        request,
        p,
        body,
        go,
        resource="refund",
        resume=lambda rid: service.resume_refund(db, p.merchant_id, rid),
    )


@router.get(
    "/payments/{payment_id}/refunds",
    summary="List a payment's refunds",
    responses=ok(RefundListOut, "The payment's refunds, newest first"),
)
def list_refunds(
    payment_id: str, p: MerchantPrincipal = Depends(merchant_principal), db: Database = Depends(get_db)
) -> Response:
    with db.read() as c:
        return json_response(
            {"object": "list", "data": service.list_refunds(c, p.merchant_id, payment_id), "has_more": False}
        )


@router.get("/refunds/{refund_id}", summary="Retrieve a refund", responses=ok(RefundOut, "The refund"))
def get_refund(
    refund_id: str, p: MerchantPrincipal = Depends(merchant_principal), db: Database = Depends(get_db)
) -> Response:
    with db.read() as c:
        return json_response(service.get_refund(c, p.merchant_id, refund_id))


@router.get(
    "/balance",
    summary="What the acquirer owes the merchant",
    responses=ok(BalanceOut, "The merchant's balance"),
)
def balance(p: MerchantPrincipal = Depends(merchant_principal), db: Database = Depends(get_db)) -> Response:
    with db.read() as c:
        return json_response(service.merchant_balance(c, p.merchant_id))
