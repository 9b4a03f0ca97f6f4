"""Message formats of the three rail families: UnionPay-switched (form fields), WeChat (JSON), Alipay (form)."""

from __future__ import annotations

import datetime as dt
import json
import random
from typing import Any
from urllib.parse import parse_qsl, urlencode

from zhifu.channels.base import Notification
from zhifu.channels.sim import SimulatedRail
from zhifu.core.errors import InvalidRequest
from zhifu.core.money import fen_to_yuan_str

_CARD_CODE = {"debit": "01", "credit": "02", "wallet": "00"}
_CARD_NAME = {v: k for k, v in _CARD_CODE.items()}


def _bad(channel: str, field: str) -> InvalidRequest:
    return InvalidRequest(f"{channel} notification lacks or mangles {field}", param=field, code="bad_notification")


class UnionPayFamily(SimulatedRail):
    """UnionPay-switched rails: 21-digit query ids, 6-digit trace numbers, form-encoded notifications."""

    default_issuer = "yiyuan_rcb"

    def code_url(self, ref: str) -> str:
        return f"https://qr.95516.com/00010000/{ref}"

    def encode_notification(self, t: Any) -> tuple[bytes, dict[str, str]]:
        fields = {
            "version": "5.1.0", "txnType": "04" if t.kind == "refund" else "01",
            "orderId": t.refund_id if t.kind == "refund" else t.payment_id, "origOrderId": t.payment_id,
            "queryId": t.ref, "traceNo": t.trace_no, "txnAmt": str(t.amount_fen),
            "respCode": "00" if t.status == "succeeded" else "51", "respMsg": t.failure_code or "success",
            "issInsCode": t.card_issuer or "", "payCardType": _CARD_CODE.get(t.card_type or "", "01"),
            "payerId": t.payer_ref or "", "channel": self.name,
        }
        return urlencode(fields).encode(), {"Content-Type": "application/x-www-form-urlencoded"}

    def decode_notification(self, body: bytes) -> Notification:
        f = dict(parse_qsl(body.decode(), strict_parsing=True))
        for k in ("txnType", "orderId", "origOrderId", "queryId", "txnAmt", "respCode"):
            if k not in f:
                raise _bad(self.name, k)
        if not f["txnAmt"].isdigit():
            raise _bad(self.name, "txnAmt")
        refund = f["txnType"] == "04"
        return Notification(
            notify_id=f"{f['queryId']}:{f['respCode']}", kind="refund" if refund else "payment",
            payment_id=f["origOrderId"], outcome="succeeded" if f["respCode"] == "00" else "failed",
            channel_ref=f["queryId"], amount_fen=int(f["txnAmt"]), refund_id=f["orderId"] if refund else None,
            payer_ref=f.get("payerId") or None, card_issuer=f.get("issInsCode") or None,
            card_type=_CARD_NAME.get(f.get("payCardType", ""), "debit"),
            failure_code=None if f["respCode"] == "00" else f.get("respMsg"))


class WeChatFamily(SimulatedRail):
    """WeChat-style: 28-digit transaction ids starting 42000, JSON notifications with an event type."""

    bank_standard = False
    card_types = ("wallet", "debit", "credit")
    ref_digits = 28

    def new_ref(self, at: dt.datetime, rng: random.Random) -> str:
        return f"42000{at:%Y%m%d}{rng.randrange(10**15):015d}"

    def code_url(self, ref: str) -> str:
        return f"weixin://wxpay/bizpayurl?pr={ref[-10:]}"

    def encode_notification(self, t: Any) -> tuple[bytes, dict[str, str]]:
        ok = t.status == "succeeded"
        resource = {"out_trade_no": t.payment_id, "transaction_id": t.ref, "trade_state": "SUCCESS" if ok else "PAYERROR",
                    "amount": {"total": t.amount_fen, "currency": "CNY"}, "payer": {"openid": t.payer_ref or ""},
                    "bank_type": t.card_issuer or "OTHERS", "card_type": t.card_type or "wallet",
                    "err_code": t.failure_code}
        if t.kind == "refund":
            resource.update(out_refund_no=t.refund_id, refund_id=t.ref, refund_status="SUCCESS" if ok else "ABNORMAL")
        event = ("REFUND." if t.kind == "refund" else "TRANSACTION.") + ("SUCCESS" if ok else "FAIL")
        body = json.dumps({"id": f"evt-{t.ref}", "event_type": event, "resource": resource}, separators=(",", ":"))
        return body.encode(), {"Content-Type": "application/json"}

    def decode_notification(self, body: bytes) -> Notification:
        try:
            doc = json.loads(body)
            r = doc["resource"]
            event = doc["event_type"]
            amount = r["amount"]["total"]
        except (ValueError, KeyError, TypeError) as exc:
            raise _bad(self.name, "resource") from exc
        if not isinstance(amount, int) or isinstance(amount, bool):
            raise _bad(self.name, "amount.total")
        refund = event.startswith("REFUND.")
        return Notification(
            notify_id=doc.get("id", r["transaction_id"]), kind="refund" if refund else "payment",
            payment_id=r["out_trade_no"], outcome="succeeded" if event.endswith("SUCCESS") else "failed",
            channel_ref=r.get("refund_id") if refund else r["transaction_id"], amount_fen=amount,
            refund_id=r.get("out_refund_no"), payer_ref=r.get("payer", {}).get("openid") or None,
            card_issuer=None if r.get("bank_type") == "OTHERS" else r.get("bank_type"),
            card_type=r.get("card_type"), failure_code=r.get("err_code"))


class AlipayFamily(SimulatedRail):
    """Alipay-style: 28-digit trade numbers, form notifications with amounts in yuan."""

    bank_standard = False
    card_types = ("wallet", "debit", "credit")
    ref_digits = 28

    def new_ref(self, at: dt.datetime, rng: random.Random) -> str:
        return f"{at:%Y%m%d}2200{rng.randrange(10**16):016d}"

    def code_url(self, ref: str) -> str:
        return f"https://qr.alipay.com/bax{ref[-12:]}"

    def encode_notification(self, t: Any) -> tuple[bytes, dict[str, str]]:
        ok = t.status == "succeeded"
        fields = {"notify_id": f"{t.ref}-{t.status}", "trade_no": t.ref, "out_trade_no": t.payment_id,
                  "trade_status": "TRADE_SUCCESS" if ok else "TRADE_CLOSED",
                  "buyer_id": t.payer_ref or "", "fund_channel": t.card_type or "ALIPAYACCOUNT"}
        if t.kind == "refund":
            fields.update(out_biz_no=t.refund_id, refund_fee=fen_to_yuan_str(t.amount_fen), gmt_refund="1")
        else:
            fields["total_amount"] = fen_to_yuan_str(t.amount_fen)
        return urlencode(fields).encode(), {"Content-Type": "application/x-www-form-urlencoded"}

    def decode_notification(self, body: bytes) -> Notification:
        from zhifu.core.money import parse_yuan

        f = dict(parse_qsl(body.decode(), strict_parsing=True))
        for k in ("notify_id", "trade_no", "out_trade_no", "trade_status"):
            if k not in f:
                raise _bad(self.name, k)
        refund = "out_biz_no" in f
        amount_text = f.get("refund_fee") if refund else f.get("total_amount")
        if amount_text is None:
            raise _bad(self.name, "total_amount")
        return Notification(
            notify_id=f["notify_id"], kind="refund" if refund else "payment", payment_id=f["out_trade_no"],
            outcome="succeeded" if f["trade_status"] == "TRADE_SUCCESS" else "failed",
            channel_ref=f["trade_no"], amount_fen=parse_yuan(amount_text, param="total_amount"),
            refund_id=f.get("out_biz_no"), payer_ref=f.get("buyer_id") or None,
            card_type=f.get("fund_channel") if f.get("fund_channel") in ("wallet", "debit", "credit") else "wallet")
