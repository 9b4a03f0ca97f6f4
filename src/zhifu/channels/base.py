"""The one contract every payment rail implements, and the values that cross it.

A rail is one package in `channels/` (`channels/wechat/`, `channels/alipay/`, `channels/unionpay/`): its connector
speaks the rail's own protocol over HTTP, its wire formats and signing stay inside it, its statement format is
parsed and written there, and it declares its own facts. Nothing outside `channels/` names a rail.

Connectors never touch our database: the payment service commits its intent, calls the connector, and records the
answer in a second transaction (no network call inside a database transaction).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

from zhifu.core.errors import InvalidRequest

if TYPE_CHECKING:
    from zhifu.channels.statement import StatementLine

RAIL_TIMEOUT_S = 5.0  # one call to a rail; past it the outcome is unknown and the sweeper asks again
RAIL_CONNECT_TIMEOUT_S = 2.0


@dataclasses.dataclass(frozen=True, slots=True)
class RailFacts:
    """What the rest of the platform may know of a rail, declared in the rail's own package."""

    name: str  # the channel name we store on payments: unionpay_qr, wechat, ...
    label_zh: str
    label_en: str
    family: str  # the protocol it speaks: wechat | alipay | unionpay
    terminal: bool  # taken at a POS terminal (card, NFC, face, social-security card), not by a code
    bank_standard: bool  # counts as bank-standard smart pay for the programme's share target
    mobile: bool  # counts as mobile payment for the active-users target
    card_types: tuple[str, ...]
    statement_format: str  # zm | wechat | alipay
    # what the rail keeps of a payment, by card type ("*" for any): (issuer ppm, issuer cap fen or None,
    # network ppm, network cap fen or None) -- the default of fee_channel_costs, which operators can override
    costs: Mapping[str, tuple[int, int | None, int, int | None]] = dataclasses.field(default_factory=dict)
    paycode_pattern: str | None = None  # a regex the consumer's pay code of this rail fully matches
    reports_card_issuer: bool = True  # wallets do not tell the acquirer which bank funded a payment
    ref_digits: int = 28  # the length of the rail's transaction ids


@dataclasses.dataclass(frozen=True, slots=True)
class PaymentOrder:
    """What a rail is asked to collect."""

    payment_id: str  # our id: the rail's out_trade_no / orderId
    merchant_id: str
    amount_fen: int  # what the payer pays (after any instant discount)
    description: str
    expires_at: dt.datetime
    created_at: dt.datetime
    auth_code: str | None = None  # the consumer's pay code, when the merchant scans it
    flow: str = "dynamic_code"  # pay_code | dynamic_code | jsapi | terminal
    payer_openid: str | None = None  # JSAPI: the payer's id at the rail
    merchant_name: str = ""  # the shop's short name, as the rail shows it to the payer and on its statement


@dataclasses.dataclass(frozen=True, slots=True)
class ChannelResult:
    """A rail's answer: `succeeded`, `failed`, `processing` (paying, or unknown after a timeout), `awaiting`
    (a code is waiting to be scanned), `closed`, or `unknown` (the rail knows no such order)."""

    status: str
    channel_ref: str | None = None
    code_url: str | None = None
    failure_code: str | None = None
    failure_message: str | None = None
    payer_ref: str | None = None
    card_issuer: str | None = None
    card_type: str | None = None
    amount_fen: int | None = None  # what the rail says it collected or refunded, when it says


@dataclasses.dataclass(frozen=True, slots=True)
class Notification:
    """A verified rail notification, mapped to our terms."""

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
    merchant_code: str | None = (
        None  # the rail's number for the (sub-)merchant, checked against the payment's
    )


@dataclasses.dataclass(frozen=True, slots=True)
class NotificationAck:
    """What the rail expects back when we accept (or refuse) its notification."""

    status_code: int
    body: bytes
    media_type: str


class RailError(Exception):
    """A rail answered 5xx, garbage, or an unsigned or badly signed response: the outcome is unknown."""

    def __init__(self, rail: str, reason: str) -> None:
        super().__init__(f"{rail}: {reason}")
        self.rail = rail
        self.reason = reason


class RailTimeout(RailError):
    """A rail did not answer within its timeout: the outcome is unknown until a query says."""


class BadNotification(InvalidRequest):
    """A notification refused: forged or missing signature, wrong certificate, undecryptable, malformed."""

    code = "bad_notification"


def merchant_code(merchant_id: str) -> str:
    """The 15-digit number a rail knows one of our merchants by (its sub-merchant number; ZM's field is 15)."""
    digest = int.from_bytes(hashlib.sha256(merchant_id.encode()).digest()[:8], "big")
    return f"898{digest % 10**12:012d}"


class Channel(Protocol):
    """A rail's connector. Every method is a network call (never inside a database transaction)."""

    facts: RailFacts

    def create(self, order: PaymentOrder) -> ChannelResult: ...

    # merchant_id: the rails of a service provider (WeChat's sub_mchid) need the sub-merchant on every call

    def query(self, payment_id: str, merchant_id: str | None = None) -> ChannelResult: ...

    def close(self, payment_id: str, merchant_id: str | None = None) -> ChannelResult:
        """`closed` when the order is closed (or never paid); `succeeded` when the payer paid first."""
        ...

    def refund(
        self, payment_id: str, refund_id: str, amount_fen: int, total_fen: int, merchant_id: str | None = None
    ) -> ChannelResult: ...

    def refund_query(
        self, payment_id: str, refund_id: str, merchant_id: str | None = None
    ) -> ChannelResult: ...

    def parse_notification(self, body: bytes, headers: Mapping[str, str]) -> Notification:
        """Verify the rail's signature (raise BadNotification) and map the notification to our terms."""
        ...

    def notification_ack(self, accepted: bool) -> NotificationAck: ...

    def fetch_statement(self, business_date: dt.date) -> bytes:
        """The rail's statement file of a business date, downloaded as the rail publishes it."""
        ...

    def parse_statement(self, data: bytes, business_date: dt.date) -> list[StatementLine]: ...

    def write_statement(self, lines: Sequence[StatementLine], business_date: dt.date) -> bytes: ...
