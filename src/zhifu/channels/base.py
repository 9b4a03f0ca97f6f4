"""The one contract every payment channel implements, and the values that cross it."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Protocol

from sqlalchemy import Connection


@dataclasses.dataclass(frozen=True, slots=True)
class PaymentOrder:
    """What a channel is asked to collect."""

    payment_id: str
    merchant_id: str
    amount_fen: int  # what the payer pays (after any instant discount)
    description: str
    expires_at: dt.datetime
    auth_code: str | None = None  # the consumer's pay code, when the merchant scans it


@dataclasses.dataclass(frozen=True, slots=True)
class ChannelResult:
    """A channel's answer: `succeeded`, `failed`, `processing` (paying, or unknown after a timeout) or `awaiting`
    (a code is waiting to be scanned)."""

    status: str
    channel_ref: str | None = None
    code_url: str | None = None
    failure_code: str | None = None
    failure_message: str | None = None
    payer_ref: str | None = None
    card_issuer: str | None = None
    card_type: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Notification:
    """A verified channel notification, mapped to our terms."""

    notify_id: str
    kind: str  # payment | refund
    payment_id: str
    outcome: str  # succeeded | failed
    channel_ref: str | None
    amount_fen: int
    refund_id: str | None = None
    payer_ref: str | None = None
    card_issuer: str | None = None
    card_type: str | None = None
    failure_code: str | None = None


class Channel(Protocol):
    name: str
    label_zh: str
    label_en: str
    bank_standard: bool  # counts as bank-standard smart pay for the programme's share target
    mobile: bool  # counts as mobile payment for the active-users target
    card_types: tuple[str, ...]

    def create(self, conn: Connection, order: PaymentOrder, *, at: dt.datetime) -> ChannelResult: ...

    def query(self, conn: Connection, payment_id: str, *, at: dt.datetime) -> ChannelResult: ...

    def refund(self, conn: Connection, payment_id: str, refund_id: str, amount_fen: int, *,
               at: dt.datetime) -> ChannelResult: ...

    def close(self, conn: Connection, payment_id: str, *, at: dt.datetime) -> bool: ...

    def parse_notification(self, body: bytes, headers: dict[str, str]) -> Notification: ...

    def statement_rows(self, conn: Connection, business_date: dt.date) -> list[dict[str, object]]: ...
