"""The Alipay OpenAPI connector: form-encoded calls to `/gateway.do` signed RSA2 with the app's private key, answers
and asynchronous notifications verified with Alipay's public key.

Operations: alipay.trade.pay (pay code, scene bar_code), alipay.trade.precreate (a QR code), alipay.trade.query,
alipay.trade.close, alipay.trade.refund (out_request_no = our refund id), alipay.trade.fastpay.refund.query, and
the bill download (alipay.data.dataservice.bill.downloadurl.query, then the file at bill_download_url).
Indirect (bank-acquired) sub-merchants: `sub_merchant.merchant_id` and `store_id` carry the 15-digit merchant code,
and `passback_params` carries it too so the notification names the merchant (Alipay echoes it verbatim).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode
from zoneinfo import ZoneInfo

from zhifu.channels.alipay import sign as rsa2
from zhifu.channels.alipay.statement import parse_alipay, write_alipay
from zhifu.channels.base import (
    BadNotification,
    ChannelResult,
    Notification,
    NotificationAck,
    PaymentOrder,
    RailError,
    RailFacts,
    merchant_code,
)
from zhifu.channels.http import RailHttp
from zhifu.channels.statement import StatementLine
from zhifu.core.errors import InvalidRequest
from zhifu.core.money import fen_to_yuan_str, parse_yuan

log = logging.getLogger("zhifu.channels.alipay")
SHANGHAI = ZoneInfo("Asia/Shanghai")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
GATEWAY_PATH = "/gateway.do"
SUBJECT_MAX = 256
# Alipay's sub_code of a declined pay code -> our decline code
DECLINES = {
    "ACQ.BUYER_BALANCE_NOT_ENOUGH": "insufficient_funds",
    "ACQ.BUYER_BANKCARD_BALANCE_NOT_ENOUGH": "insufficient_funds",
    "ACQ.BUYER_PAYMENT_AMOUNT_DAY_LIMIT_ERROR": "limit_exceeded",
    "ACQ.BUYER_PAYMENT_AMOUNT_MONTH_LIMIT_ERROR": "limit_exceeded",
    "ACQ.PAYMENT_FAIL": "payment_failed",
    "ACQ.BUYER_ENABLE_STATUS_FORBID": "card_blocked",
}
UNSURE = frozenset({"ACQ.SYSTEM_ERROR", "ACQ.AQC_SYSTEM_ERROR"})  # outcome unknown: ask again later
FINAL_TRADE = {"TRADE_SUCCESS": "succeeded", "TRADE_FINISHED": "succeeded", "TRADE_CLOSED": "failed"}


def _beijing(at: dt.datetime) -> str:
    return at.astimezone(SHANGHAI).strftime(TIME_FORMAT)


def _card_type(fund_bill_list: Any) -> str | None:
    """What the payer paid with, from Alipay's fund_bill_list (bank card debit/credit, else the wallet)."""
    if not isinstance(fund_bill_list, list) or not fund_bill_list:
        return None
    for bill in fund_bill_list:
        if isinstance(bill, dict) and bill.get("fund_channel") == "BANKCARD":
            return {"DEBIT_CARD": "debit", "CREDIT_CARD": "credit"}.get(str(bill.get("fund_type")), "debit")
    return "wallet"


class AlipayConnector:
    """One Alipay app (the acquirer's) speaking for its sub-merchants."""

    def __init__(self, facts: RailFacts, config: Mapping[str, Any], http: RailHttp) -> None:
        self.facts = facts
        self.http = http
        try:
            self.app_id = str(config["app_id"])
            self.private_key = rsa2.load_private_key(config["app_private_key"])
            self.alipay_key = rsa2.load_public_key(config["alipay_public_key"])
        except (KeyError, OSError, ValueError) as exc:
            raise InvalidRequest(
                f"支付宝配置不完整 / the alipay rail configuration is incomplete: "
                f"{type(exc).__name__} {exc.args[0] if exc.args else ''}",
                param="channel",
            ) from None
        self.gateway = str(config.get("gateway_path", GATEWAY_PATH))
        self.notify_url = (
            f"{str(config.get('notify_url_base', 'http://127.0.0.1:8000')).rstrip('/')}/notify/{facts.name}"
        )

    # -- the wire
    def _params(self, method: str, biz: Mapping[str, Any], *, notify: bool) -> dict[str, str]:
        params = {
            "app_id": self.app_id,
            "method": method,
            "format": "JSON",
            "charset": "utf-8",
            "sign_type": rsa2.SIGN_TYPE,
            "timestamp": _beijing(dt.datetime.now(dt.UTC)),
            "version": "1.0",
            "biz_content": json.dumps(biz, ensure_ascii=False, separators=(",", ":")),
        }
        if notify:
            params["notify_url"] = self.notify_url
        params["sign"] = rsa2.sign(self.private_key, rsa2.content(params))
        return params

    def call(self, method: str, biz: Mapping[str, Any], *, notify: bool = False) -> dict[str, Any]:
        """One gateway call; the `<method>_response` object once its signature verifies (RailError if it does not,
        if it is unsigned, or if the answer is not Alipay's)."""
        body = urlencode(self._params(method, biz, notify=notify)).encode()
        r = self.http.request(
            "POST",
            self.gateway,
            content=body,
            headers={"Content-Type": "application/x-www-form-urlencoded;charset=utf-8"},
        )
        if r.status_code != 200:
            raise RailError(self.facts.name, f"{method} answered HTTP {r.status_code}")
        try:
            texts = rsa2.top_level_texts(r.content.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise RailError(self.facts.name, f"{method}: the answer is not Alipay's JSON") from None
        key = rsa2.response_type(method)
        if key not in texts:
            err = texts.get("error_response")
            raise RailError(
                self.facts.name, f"{method}: no {key} in the answer" + (f" ({_codes(err)})" if err else "")
            )
        if "sign" not in texts:
            raise RailError(self.facts.name, f"{method}: unsigned answer ({_codes(texts[key])})")
        try:
            signature = json.loads(texts["sign"])
        except ValueError:
            signature = None
        if not isinstance(signature, str) or not rsa2.verify(self.alipay_key, texts[key], signature):
            log.warning("alipay %s: the answer's signature does not verify", method)
            raise RailError(self.facts.name, f"{method}: the answer's signature does not verify")
        doc = json.loads(texts[key])
        if not isinstance(doc, dict) or "code" not in doc:
            raise RailError(self.facts.name, f"{method}: the answer has no code")
        return doc

    def _fen(self, value: Any, name: str) -> int:
        try:
            return parse_yuan(str(value), param=name)
        except InvalidRequest:
            raise RailError(self.facts.name, f"{name} {value!r} is not an amount of yuan") from None

    def _business_error(self, method: str, doc: Mapping[str, Any]) -> RailError:
        return RailError(self.facts.name, f"{method}: {_codes(json.dumps(doc, ensure_ascii=False))}")

    # -- payments
    def create(self, order: PaymentOrder) -> ChannelResult:
        code = merchant_code(order.merchant_id)
        biz: dict[str, Any] = {
            "out_trade_no": order.payment_id,
            "total_amount": fen_to_yuan_str(order.amount_fen),
            "subject": (order.description or order.payment_id)[:SUBJECT_MAX],
            "store_id": code,
            "sub_merchant": {"merchant_id": code},
            "passback_params": code,
            "time_expire": _beijing(order.expires_at),
        }
        if order.auth_code:
            biz.update(scene="bar_code", auth_code=order.auth_code, product_code="FACE_TO_FACE_PAYMENT")
            doc = self.call("alipay.trade.pay", biz, notify=True)
            return self._pay_answer(doc)
        doc = self.call("alipay.trade.precreate", biz, notify=True)
        if doc["code"] == "10000" and doc.get("qr_code"):
            return ChannelResult("awaiting", doc.get("trade_no"), code_url=str(doc["qr_code"]))
        if doc["code"] == "40004":
            return ChannelResult(
                "failed", failure_code=doc.get("sub_code"), failure_message=doc.get("sub_msg")
            )
        if doc["code"] == "20000":
            return ChannelResult(
                "processing", failure_code="SYSTEM_ERROR", failure_message=doc.get("sub_msg")
            )
        raise self._business_error("alipay.trade.precreate", doc)

    def _pay_answer(self, doc: Mapping[str, Any]) -> ChannelResult:
        code, sub = doc["code"], doc.get("sub_code")
        if code == "10000":
            return ChannelResult(
                "succeeded",
                doc.get("trade_no"),
                payer_ref=doc.get("buyer_user_id"),
                card_type=_card_type(doc.get("fund_bill_list")),
                amount_fen=self._fen(doc.get("total_amount"), "total_amount"),
            )
        if code == "10003":  # the payer confirms in the app (password); query until final
            return ChannelResult(
                "processing",
                doc.get("trade_no"),
                failure_code="USERPAYING",
                failure_message="等待用户付款 / waiting for the payer",
            )
        if code == "20000" or sub in UNSURE:
            return ChannelResult(
                "processing",
                doc.get("trade_no"),
                failure_code="SYSTEM_ERROR",
                failure_message=doc.get("sub_msg"),
            )
        if code == "40004":
            return ChannelResult(
                "failed",
                doc.get("trade_no"),
                failure_code=DECLINES.get(str(sub), sub),
                failure_message=doc.get("sub_msg"),
            )
        raise self._business_error("alipay.trade.pay", doc)

    def query(self, payment_id: str, merchant_id: str | None = None) -> ChannelResult:
        doc = self.call("alipay.trade.query", {"out_trade_no": payment_id})
        if doc["code"] == "40004" and doc.get("sub_code") == "ACQ.TRADE_NOT_EXIST":
            return ChannelResult(
                "unknown", failure_code="ACQ.TRADE_NOT_EXIST", failure_message=doc.get("sub_msg")
            )
        if doc["code"] == "20000" or doc.get("sub_code") in UNSURE:
            return ChannelResult(
                "processing", failure_code="SYSTEM_ERROR", failure_message=doc.get("sub_msg")
            )
        if doc["code"] != "10000":
            raise self._business_error("alipay.trade.query", doc)
        status = doc.get("trade_status")
        ref = doc.get("trade_no")
        if status in ("TRADE_SUCCESS", "TRADE_FINISHED"):
            return ChannelResult(
                "succeeded",
                ref,
                payer_ref=doc.get("buyer_user_id"),
                card_type=_card_type(doc.get("fund_bill_list")),
                amount_fen=self._fen(doc.get("total_amount"), "total_amount"),
            )
        if status == "WAIT_BUYER_PAY":
            return ChannelResult("awaiting", ref)
        if status == "TRADE_CLOSED":  # unpaid and closed (timed out, declined, or closed by us)
            return ChannelResult("closed", ref, failure_code="TRADE_CLOSED")
        raise RailError(self.facts.name, f"alipay.trade.query: unknown trade_status {status!r}")

    def close(self, payment_id: str, merchant_id: str | None = None) -> ChannelResult:
        """Close an unpaid trade."""
        doc = self.call("alipay.trade.close", {"out_trade_no": payment_id})
        if doc["code"] == "10000":
            return ChannelResult("closed", doc.get("trade_no"))
        sub = doc.get("sub_code")
        if sub == "ACQ.TRADE_NOT_EXIST":  # a code never scanned: nothing to pay any more
            return ChannelResult("closed", failure_code=sub)
        if sub == "ACQ.TRADE_STATUS_ERROR":  # paid, or already closed: the trade's status says which
            return self.query(payment_id)
        if doc["code"] == "20000" or sub in UNSURE:
            return ChannelResult(
                "processing", failure_code="SYSTEM_ERROR", failure_message=doc.get("sub_msg")
            )
        raise self._business_error("alipay.trade.close", doc)

    # -- refunds
    def refund(
        self, payment_id: str, refund_id: str, amount_fen: int, total_fen: int, merchant_id: str | None = None
    ) -> ChannelResult:
        doc = self.call(
            "alipay.trade.refund",
            {
                "out_trade_no": payment_id,
                "out_request_no": refund_id,
                "refund_amount": fen_to_yuan_str(amount_fen),
            },
        )
        if doc["code"] == "10000":  # synchronous: the refund is done when Alipay answers Success
            return ChannelResult("succeeded", refund_id, amount_fen=amount_fen)
        sub = doc.get("sub_code")
        if doc["code"] == "20000" or sub in UNSURE:
            return ChannelResult(
                "processing", failure_code="SYSTEM_ERROR", failure_message=doc.get("sub_msg")
            )
        if doc["code"] == "40004":
            return ChannelResult("failed", failure_code=sub, failure_message=doc.get("sub_msg"))
        raise self._business_error("alipay.trade.refund", doc)

    def refund_query(self, payment_id: str, refund_id: str, merchant_id: str | None = None) -> ChannelResult:
        doc = self.call(
            "alipay.trade.fastpay.refund.query", {"out_trade_no": payment_id, "out_request_no": refund_id}
        )
        sub = doc.get("sub_code")
        if doc["code"] == "40004" and sub == "ACQ.TRADE_NOT_EXIST":
            return ChannelResult("unknown", failure_code=sub, failure_message=doc.get("sub_msg"))
        if doc["code"] == "20000" or sub in UNSURE:
            return ChannelResult(
                "processing", failure_code="SYSTEM_ERROR", failure_message=doc.get("sub_msg")
            )
        if doc["code"] != "10000":
            raise self._business_error("alipay.trade.fastpay.refund.query", doc)
        if not doc.get("refund_amount"):  # Alipay answers Success with no refund when it made none
            return ChannelResult("unknown", failure_code="REFUND_NOT_EXIST")
        if doc.get("refund_status") not in (None, "", "REFUND_SUCCESS"):
            return ChannelResult("processing", refund_id)
        return ChannelResult(
            "succeeded", refund_id, amount_fen=self._fen(doc["refund_amount"], "refund_amount")
        )

    # -- notifications
    def parse_notification(self, body: bytes, headers: Mapping[str, str]) -> Notification:
        try:
            fields = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True))
        except (UnicodeDecodeError, ValueError):
            raise BadNotification("支付宝通知格式错误 / the Alipay notification is not a form") from None
        signature = fields.get("sign")
        if not signature:
            raise BadNotification("支付宝通知没有签名 / the Alipay notification is not signed", param="sign")
        if fields.get("sign_type") != rsa2.SIGN_TYPE:
            raise BadNotification(
                f"支付宝通知签名类型不是 RSA2 / sign_type {fields.get('sign_type')!r} is not RSA2",
                param="sign_type",
            )
        if not rsa2.verify(self.alipay_key, rsa2.content(fields, notification=True), signature):
            log.warning(
                "alipay notification %s: signature does not verify", fields.get("notify_id", "?")[:64]
            )
            raise BadNotification(
                "支付宝通知签名无效 / the Alipay notification's signature does not verify", param="sign"
            )
        if fields.get("app_id") != self.app_id:
            raise BadNotification(
                "支付宝通知不是发给本应用的 / the notification is for another app_id", param="app_id"
            )
        for name in ("notify_id", "out_trade_no", "trade_status"):
            if not fields.get(name):
                raise BadNotification(f"支付宝通知缺少 {name} / the notification has no {name}", param=name)
        outcome = FINAL_TRADE.get(fields["trade_status"])
        code = fields.get("passback_params") or None
        try:
            if fields.get("out_biz_no"):  # a refund of the trade: out_biz_no is the refund's out_request_no
                amount = fields.get("send_back_fee") or fields.get("refund_fee") or ""
                return Notification(
                    notify_id=fields["notify_id"],
                    kind="refund",
                    payment_id=fields["out_trade_no"],
                    outcome="succeeded",
                    channel_ref=fields["out_biz_no"],
                    amount_fen=parse_yuan(amount, param="refund_fee"),
                    refund_id=fields["out_biz_no"],
                    merchant_code=code,
                )
            if outcome is None:
                raise BadNotification(
                    f"支付宝通知状态非终态 / trade_status {fields['trade_status']!r} is not final",
                    param="trade_status",
                )
            return Notification(
                notify_id=fields["notify_id"],
                kind="payment",
                payment_id=fields["out_trade_no"],
                outcome=outcome,
                channel_ref=fields.get("trade_no") or None,
                amount_fen=parse_yuan(fields.get("total_amount", ""), param="total_amount"),
                payer_ref=fields.get("buyer_id") or None,
                card_type=_card_type(_json(fields.get("fund_bill_list"))) if outcome == "succeeded" else None,
                failure_code=None if outcome == "succeeded" else "TRADE_CLOSED",
                merchant_code=code,
            )
        except BadNotification:
            raise
        except InvalidRequest as exc:
            raise BadNotification(f"支付宝通知金额无效 / {exc}", param="total_amount") from None

    def notification_ack(self, accepted: bool) -> NotificationAck:
        """Alipay reads the text: `success` stops its retries, anything else (`fail`) asks it to send again."""
        return NotificationAck(200, b"success" if accepted else b"fail", "text/plain")

    # -- statements
    def fetch_statement(self, business_date: dt.date) -> bytes:
        doc = self.call(
            "alipay.data.dataservice.bill.downloadurl.query",
            {"bill_type": "trade", "bill_date": business_date.isoformat()},
        )
        if doc["code"] != "10000" or not doc.get("bill_download_url"):
            raise RailError(
                self.facts.name,
                f"no bill of {business_date.isoformat()}: {_codes(json.dumps(doc, ensure_ascii=False))}",
            )
        r = self.http.request("GET", str(doc["bill_download_url"]))
        if r.status_code != 200:
            raise RailError(self.facts.name, f"the bill download answered HTTP {r.status_code}")
        return r.content

    def parse_statement(self, data: bytes, business_date: dt.date) -> list[StatementLine]:
        return parse_alipay(data, business_date, self.facts.name)

    def write_statement(self, lines: Sequence[StatementLine], business_date: dt.date) -> bytes:
        return write_alipay(lines, business_date)


def _json(text: str | None) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def _codes(text: str | None) -> str:
    """code/sub_code of an answer, for a log line or an error (never the whole answer)."""
    doc = _json(text) if isinstance(text, str) else None
    if not isinstance(doc, dict):
        return "unreadable"
    return " ".join(f"{k}={doc[k]}" for k in ("code", "msg", "sub_code", "sub_msg") if doc.get(k))
