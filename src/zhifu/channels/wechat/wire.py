"""WeChat Pay API v3 (service-provider mode) wire vocabulary shared by our connector and the fake rail: paths,
trade states, error codes, bank types and time formats."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")

CODEPAY = "/v3/pay/partner/transactions/codepay"
NATIVE = "/v3/pay/partner/transactions/native"
JSAPI = "/v3/pay/partner/transactions/jsapi"
BY_OUT_TRADE_NO = "/v3/pay/partner/transactions/out-trade-no/{out_trade_no}"
CLOSE = "/v3/pay/partner/transactions/out-trade-no/{out_trade_no}/close"
REFUNDS = "/v3/refund/domestic/refunds"
REFUND = "/v3/refund/domestic/refunds/{out_refund_no}"
TRADEBILL = "/v3/bill/tradebill"
BILLDOWNLOAD = "/v3/billdownload/file"
CERTIFICATES = "/v3/certificates"

# trade_state -> our status
TRADE_STATES = {
    "SUCCESS": "succeeded",
    "REFUND": "succeeded",
    "NOTPAY": "awaiting",
    "USERPAYING": "processing",
    "PAYERROR": "failed",
    "CLOSED": "closed",
    "REVOKED": "closed",
}
# refund status -> our status
REFUND_STATES = {"SUCCESS": "succeeded", "PROCESSING": "processing", "CLOSED": "failed", "ABNORMAL": "failed"}

# a declined pay code: our failure code <-> the rail's error code and message (HTTP 403 on the codepay call;
# trade_state PAYERROR with this trade_state_desc on a query)
DECLINES = {
    "insufficient_funds": ("NOTENOUGH", "用户余额不足 / insufficient funds"),
    "limit_exceeded": ("EXCEED_LIMIT", "超出支付限额 / limit exceeded"),
    "card_blocked": ("CARD_FROZEN", "支付卡已冻结 / card blocked"),
}
DECLINE_BY_CODE = {code: ours for ours, (code, _) in DECLINES.items()}
DECLINE_BY_DESC = {desc: ours for ours, (_, desc) in DECLINES.items()}


def bank_type(card_issuer: str | None, card_type: str | None) -> str:
    """WeChat's bank_type: OTHERS for the wallet (零钱), ISSUER_DEBIT / ISSUER_CREDIT for a bank card."""
    if card_type not in ("debit", "credit"):
        return "OTHERS"
    return f"{(card_issuer or 'OTHERS').upper()}_{card_type.upper()}"


def card_of(bank: str | None) -> tuple[str | None, str | None]:
    """(card_issuer, card_type) of a bank_type."""
    if not bank:
        return None, None
    if bank == "OTHERS":
        return None, "wallet"
    issuer, _, kind = bank.rpartition("_")
    card_type = {"DEBIT": "debit", "CREDIT": "credit"}.get(kind)
    if card_type is None:
        return None, None
    return (None if issuer in ("", "OTHERS") else issuer.lower()), card_type


def rfc3339(at: dt.datetime) -> str:
    """WeChat Pay's time format: RFC 3339 in Beijing time, 2018-06-08T10:34:56+08:00."""
    return at.astimezone(SHANGHAI).isoformat(timespec="seconds")


def parse_time(text: str) -> dt.datetime:
    at = dt.datetime.fromisoformat(text)
    if at.tzinfo is None:
        raise ValueError(f"{text!r} has no offset")
    return at.astimezone(dt.UTC)
