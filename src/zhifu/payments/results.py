"""支付结果类型 / What payments' service functions give other capabilities: a payment, a refund, a balance, as the
API shows them. The same shapes the OpenAPI models in `schemas.py` describe; these are for the type checker."""

from __future__ import annotations

import datetime as dt
from typing import Any, TypedDict


class FailureDoc(TypedDict):
    code: str
    message: str | None


class PayerDoc(TypedDict):
    card_issuer: str | None
    card_type: str


class PaymentDoc(TypedDict):
    id: str
    object: str  # "payment"
    merchant_id: str
    merchant_order_no: str
    amount_fen: int
    discount_fen: int
    payable_fen: int
    currency: str
    channel: str
    flow: str
    status: str  # a PaymentStatus
    description: str
    code_url: str | None
    channel_ref: str | None
    fee_fen: int
    refunded_fen: int
    payer: PayerDoc | None
    failure: FailureDoc | None
    metadata: dict[str, Any]
    notify_url: str | None
    business_date: str | None
    created_at: dt.datetime
    expires_at: dt.datetime
    succeeded_at: dt.datetime | None


class RefundDoc(TypedDict):
    id: str
    object: str  # "refund"
    payment_id: str
    merchant_id: str
    merchant_refund_no: str
    amount_fen: int
    fee_refunded_fen: int
    status: str  # a RefundStatus
    reason: str
    channel_ref: str | None
    failure_code: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


class BalanceDoc(TypedDict):
    object: str  # "balance"
    merchant_id: str
    currency: str
    available_fen: int
    posted_fen: int
    pending_fen: int
