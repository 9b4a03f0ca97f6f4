"""The payment API's answers as OpenAPI schemas (documentation only: the routes answer the dicts of service.public
and service.refund_public, and the contract test checks every answer against these)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel


class PayerOut(BaseModel):
    card_issuer: str | None
    card_type: str


class FailureOut(BaseModel):
    code: str
    message: str | None


class PaymentOut(BaseModel):
    id: str
    object: Literal["payment"]
    merchant_id: str
    merchant_order_no: str
    amount_fen: int
    discount_fen: int
    payable_fen: int
    currency: str
    channel: str
    flow: str
    status: Literal["created", "processing", "succeeded", "failed", "closed", "expired"]
    description: str
    code_url: str | None
    channel_ref: str | None
    fee_fen: int
    refunded_fen: int
    payer: PayerOut | None
    failure: FailureOut | None
    metadata: dict[str, str]
    notify_url: str | None
    business_date: dt.date | None
    created_at: dt.datetime
    expires_at: dt.datetime
    succeeded_at: dt.datetime | None


class PaymentListOut(BaseModel):
    object: Literal["list"]
    data: list[PaymentOut]
    has_more: bool


class RefundOut(BaseModel):
    id: str
    object: Literal["refund"]
    payment_id: str
    merchant_id: str
    merchant_refund_no: str
    amount_fen: int
    fee_refunded_fen: int
    status: Literal["pending", "succeeded", "failed"]
    reason: str
    channel_ref: str | None
    failure_code: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


class RefundListOut(BaseModel):
    object: Literal["list"]
    data: list[RefundOut]
    has_more: bool


class BalanceOut(BaseModel):
    object: Literal["balance"]
    merchant_id: str
    currency: str
    available_fen: int
    posted_fen: int
    pending_fen: int


def ok(model: type[BaseModel], description: str) -> dict[int | str, dict[str, object]]:
    """The `responses` of a route whose 200 answers `model`."""
    return {200: {"model": model, "description": description}}
