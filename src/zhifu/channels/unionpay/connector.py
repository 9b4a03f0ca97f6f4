"""The UnionPay acquirer gateway connector: consume (pay code 06, consumer-scanned QR 07, terminal 01), query,
consume undo as close, refund, refund query, backend notifications, and the ZM statement download."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from typing import Any

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
from zhifu.channels.statement import StatementFormatError, StatementLine
from zhifu.channels.unionpay import statement as zm
from zhifu.channels.unionpay import wire
from zhifu.channels.unionpay.sign import (
    ENCODING,
    FORM,
    VERSION,
    SignatureError,
    Signer,
    Verifier,
    decode_form,
    encode_form,
)

log = logging.getLogger("zhifu.channels.unionpay")


class UnionPayConnector:
    """One UnionPay-switched rail (unionpay_qr, unionpay_card, nfc, bank_app, face, sscard) at the gateway."""

    def __init__(self, facts: RailFacts, config: Mapping[str, Any], http: RailHttp) -> None:
        self.facts = facts
        self.http = http
        self.acq_ins_code = str(config["acq_ins_code"])
        self.signer = Signer.from_files(config["sign_key_path"], config["sign_cert_path"])
        self.verifier = Verifier.from_file(config["unionpay_cert_path"])
        self.notify_url = (
            f"{str(config.get('notify_url_base', 'http://127.0.0.1:8000')).rstrip('/')}/notify/{facts.name}"
        )
        self.statement_mer_id = str(config["statement_mer_ids"][facts.name])
        self.term_id = str(config.get("term_id", "00000001"))

    # -- wire
    def _base(
        self, txn_type: str, txn_sub_type: str, mer_id: str, order_id: str, txn_time: str
    ) -> dict[str, str]:
        return {
            "version": VERSION,
            "encoding": ENCODING,
            "txnType": txn_type,
            "txnSubType": txn_sub_type,
            "bizType": wire.BIZ_TYPE,
            "channelType": wire.CHANNEL_MOBILE,
            "accessType": wire.ACCESS_ACQUIRER,
            "acqInsCode": self.acq_ins_code,
            "merId": mer_id,
            "orderId": order_id,
            "txnTime": txn_time,
        }

    def _call(self, path: str, fields: dict[str, str]) -> dict[str, str]:
        r = self.http.request(
            "POST", path, content=encode_form(self.signer.sign(fields)), headers={"Content-Type": FORM}
        )
        if r.status_code != 200:
            raise RailError(self.facts.name, f"{path} answered HTTP {r.status_code}")
        try:
            answer = decode_form(r.content)
            self.verifier.verify(answer)
        except SignatureError as exc:
            log.warning("%s: refused the answer to %s: %s", self.facts.name, path, exc)
            raise RailError(self.facts.name, f"answer to {path} refused: {exc}") from None
        if "respCode" not in answer:
            raise RailError(self.facts.name, f"answer to {path} has no respCode")
        for key in ("merId", "orderId"):  # an answer about another order is not an answer
            if key in fields and key in answer and answer[key] != fields[key]:
                raise RailError(self.facts.name, f"answer to {path} names another {key}")
        return answer

    @staticmethod
    def _card(answer: Mapping[str, str]) -> str | None:
        return wire.CARD_TYPES.get(answer.get("payCardType", ""))

    def _failed(self, code: str, answer: Mapping[str, str]) -> ChannelResult:
        return ChannelResult(
            "failed",
            channel_ref=answer.get("queryId"),
            failure_code=wire.DECLINE_BY_CODE.get(code, f"unionpay_{code}"),
            failure_message=answer.get("origRespMsg") or answer.get("respMsg"),
        )

    # -- payments
    def create(self, order: PaymentOrder) -> ChannelResult:
        if order.flow == "pay_code":
            sub = wire.SUB_PAY_CODE
        elif order.flow == "terminal" or self.facts.terminal:
            sub = wire.SUB_SELF_SERVICE
        else:
            sub = wire.SUB_CONSUMER_SCANNED
        if sub == wire.SUB_PAY_CODE and not order.auth_code:
            raise RailError(self.facts.name, "a pay-code purchase needs the consumer's code")
        fields = self._base(
            wire.TXN_CONSUME,
            sub,
            merchant_code(order.merchant_id),
            order.payment_id,
            wire.txn_time_of(order.payment_id, order.created_at),
        )
        fields.update(
            txnAmt=str(order.amount_fen),
            currencyCode=wire.CURRENCY_CNY,
            backUrl=self.notify_url,
            payTimeout=wire.beijing_stamp(order.expires_at),
            reqReserved=wire.reserved(self.facts.name, order.payment_id),
        )
        if order.merchant_name:  # acquirer access: the sub-merchant's short name shown to the payer and on ZM
            fields["subMerAbbr"] = order.merchant_name[:20]
        if sub == wire.SUB_PAY_CODE:
            fields["qrNo"] = order.auth_code or ""
        if sub == wire.SUB_SELF_SERVICE:
            fields["termId"] = self.term_id
        answer = self._call(wire.BACK_TRANS, fields)
        code = answer["respCode"]
        if code == wire.OK:
            if sub == wire.SUB_PAY_CODE:
                return ChannelResult(
                    "succeeded",
                    channel_ref=answer.get("queryId"),
                    card_type=self._card(answer),
                    card_issuer=answer.get("issInsCode") or None,
                    amount_fen=_fen(answer),
                )
            return ChannelResult("awaiting", channel_ref=answer.get("queryId"), code_url=answer.get("qrCode"))
        if code in wire.PENDING:
            return ChannelResult("processing", channel_ref=answer.get("queryId"))
        return self._failed(code, answer)

    def _query(self, our_id: str, payment_id: str) -> dict[str, str]:
        fields = self._base(
            wire.TXN_QUERY, "00", "", our_id, wire.txn_time_of(our_id, dt.datetime.now(dt.UTC))
        )
        fields.pop("merId")
        fields.pop("channelType")
        fields["reqReserved"] = wire.reserved(self.facts.name, payment_id)
        return self._call(wire.QUERY_TRANS, fields)

    def _query_result(self, answer: Mapping[str, str], awaiting_ok: bool) -> ChannelResult:
        code = answer["respCode"]
        if code == wire.NO_SUCH_TXN:
            return ChannelResult("unknown")
        if code in wire.PENDING:
            return ChannelResult("processing")
        if code != wire.OK:
            raise RailError(self.facts.name, f"query answered respCode {code}")
        orig = answer.get("origRespCode", "")
        ref = answer.get("queryId")
        if orig == wire.OK:
            return ChannelResult(
                "succeeded",
                channel_ref=ref,
                card_type=self._card(answer),
                card_issuer=answer.get("issInsCode") or None,
                amount_fen=_fen(answer),
            )
        if orig in wire.PENDING:
            waiting = awaiting_ok and answer.get("txnSubType") in (
                wire.SUB_CONSUMER_SCANNED,
                wire.SUB_SELF_SERVICE,
            )
            return ChannelResult("awaiting" if waiting else "processing", channel_ref=ref)
        if orig == wire.ORIG_BAD_STATE:
            return ChannelResult("closed", channel_ref=ref)
        return self._failed(orig, answer)

    def query(self, payment_id: str, merchant_id: str | None = None) -> ChannelResult:
        return self._query_result(self._query(payment_id, payment_id), awaiting_ok=True)

    def close(self, payment_id: str, merchant_id: str | None = None) -> ChannelResult:
        """Consume undo (txnType 31) of an unpaid order closes it; a paid one stays paid (refund it instead)."""
        now = dt.datetime.now(dt.UTC)
        q = self.query(payment_id)
        if q.status in ("succeeded", "failed", "closed", "unknown"):
            return q if q.status != "unknown" else ChannelResult("closed")
        fields = self._base(wire.TXN_UNDO, "00", "", f"{payment_id}X", wire.beijing_stamp(now))
        fields.pop("merId")
        fields.update(
            origQryId=q.channel_ref or "",
            origOrderId=payment_id,
            reqReserved=wire.reserved(self.facts.name, payment_id),
        )
        answer = self._call(wire.BACK_TRANS, fields)
        code = answer["respCode"]
        if code == wire.OK:
            return ChannelResult("closed", channel_ref=q.channel_ref)
        if code == wire.PAID_ALREADY:
            return self.query(payment_id)
        if code in wire.PENDING:
            return ChannelResult("processing", channel_ref=q.channel_ref)
        raise RailError(self.facts.name, f"consume undo answered respCode {code}")

    def refund(
        self, payment_id: str, refund_id: str, amount_fen: int, total_fen: int, merchant_id: str | None = None
    ) -> ChannelResult:
        """Refund (txnType 04) against the original's queryId, asked of the gateway first. The gateway accepts
        (respCode 00) and answers the outcome by notification or query."""
        q = self._query(payment_id, payment_id)
        if q["respCode"] != wire.OK or q.get("origRespCode") != wire.OK or not q.get("queryId"):
            return ChannelResult(
                "failed",
                failure_code="order_not_paid",
                failure_message="原交易未成功 / the original payment has not succeeded",
            )
        mer_id = q.get("merId") or ""
        fields = self._base(
            wire.TXN_REFUND, "00", mer_id, refund_id, wire.txn_time_of(refund_id, dt.datetime.now(dt.UTC))
        )
        fields.update(
            txnAmt=str(amount_fen),
            currencyCode=wire.CURRENCY_CNY,
            origQryId=q["queryId"],
            backUrl=self.notify_url,
            reqReserved=wire.reserved(self.facts.name, payment_id),
        )
        if not mer_id:
            fields.pop("merId")
        answer = self._call(wire.BACK_TRANS, fields)
        code = answer["respCode"]
        if code == wire.OK or code in wire.PENDING:
            return ChannelResult("processing", channel_ref=answer.get("queryId"), amount_fen=amount_fen)
        return ChannelResult(
            "failed",
            channel_ref=answer.get("queryId"),
            failure_code=wire.DECLINE_BY_CODE.get(code, f"unionpay_{code}"),
            failure_message=answer.get("respMsg"),
        )

    def refund_query(self, payment_id: str, refund_id: str, merchant_id: str | None = None) -> ChannelResult:
        return self._query_result(self._query(refund_id, payment_id), awaiting_ok=False)

    # -- notifications
    def parse_notification(self, body: bytes, headers: Mapping[str, str]) -> Notification:
        try:
            fields = decode_form(body)
            self.verifier.verify(fields)
        except SignatureError as exc:
            log.warning("%s: notification refused: %s", self.facts.name, exc)
            raise BadNotification(
                f"银联通知验签失败 / UnionPay notification refused: {exc}", param="signature"
            ) from None
        try:
            txn_type, code, order_id = fields["txnType"], fields["respCode"], fields["orderId"]
            amount = int(fields["txnAmt"])
            query_id = fields["queryId"]
        except (KeyError, ValueError) as exc:
            raise BadNotification(
                f"银联通知缺少字段 / UnionPay notification lacks a field: {exc}", param="notification"
            ) from None
        rail, payment_id = wire.parse_reserved(fields.get("reqReserved"))
        if rail is not None and rail != self.facts.name:
            raise BadNotification(
                f"通知属于渠道 {rail} / the notification is for rail {rail}", param="reqReserved"
            )
        if txn_type not in (wire.TXN_CONSUME, wire.TXN_REFUND) or code in wire.PENDING:
            raise BadNotification(
                f"银联通知不是最终结果 / not a final consume or refund result ({txn_type}/{code})",
                param="txnType",
            )
        refund = txn_type == wire.TXN_REFUND
        if refund and payment_id is None:
            raise BadNotification(
                "退款通知缺少原订单 / refund notification names no payment", param="reqReserved"
            )
        ok = code == wire.OK
        return Notification(
            notify_id=f"{query_id}:{code}",
            kind="refund" if refund else "payment",
            payment_id=payment_id if refund and payment_id else order_id,
            outcome="succeeded" if ok else "failed",
            channel_ref=query_id,
            amount_fen=amount,
            refund_id=order_id if refund else None,
            payer_ref=fields.get("accNo") or None,
            card_issuer=fields.get("issInsCode") or None,
            card_type=self._card(fields),
            failure_code=None if ok else wire.DECLINE_BY_CODE.get(code, f"unionpay_{code}"),
            merchant_code=fields.get("merId"),
        )

    def notification_ack(self, accepted: bool) -> NotificationAck:
        return (
            NotificationAck(200, b"ok", "text/plain")
            if accepted
            else NotificationAck(400, b"fail", "text/plain")
        )

    # -- statements
    def fetch_statement(self, business_date: dt.date) -> bytes:
        """fileTransfer (txnType 76): the ZM file of the settlement date, unpacked from `fileContent`."""
        settle = f"{business_date:%m%d}"
        fields = {
            "version": VERSION,
            "encoding": ENCODING,
            "txnType": wire.TXN_FILE,
            "txnSubType": "01",
            "bizType": wire.BIZ_TYPE,
            "accessType": "0",
            "merId": self.statement_mer_id,
            "settleDate": settle,
            "txnTime": wire.beijing_stamp(dt.datetime.now(dt.UTC)),
            "fileType": wire.FILE_TYPE_ZM,
        }
        answer = self._call(wire.FILE_TRANS, fields)
        if answer["respCode"] != wire.OK:
            raise RailError(
                self.facts.name, f"statement of {business_date} not available (respCode {answer['respCode']})"
            )
        if answer.get("settleDate") != settle:
            raise StatementFormatError(
                f"the gateway sent the file of settlement date {answer.get('settleDate')}, not {settle}",
                field="settleDate",
            )
        name = wire.zm_file_name(business_date, self.statement_mer_id)
        try:
            content = base64.b64decode(answer.get("fileContent", ""), validate=True)
            return wire.unpack_file(content, name)
        except (binascii.Error, ValueError, OSError) as exc:  # zlib.error and BadZipFile are among these
            raise StatementFormatError(f"statement file refused: {exc}", field="fileContent") from None
        except Exception as exc:
            raise StatementFormatError(
                f"statement file refused: {type(exc).__name__}", field="fileContent"
            ) from None

    def parse_statement(self, data: bytes, business_date: dt.date) -> list[StatementLine]:
        return zm.parse_zm(data, business_date, self.facts.name)

    def write_statement(self, lines: Sequence[StatementLine], business_date: dt.date) -> bytes:
        return zm.write_zm(lines, business_date)


def _fen(answer: Mapping[str, str]) -> int | None:
    text = answer.get("txnAmt", "")
    return int(text) if text.isdigit() else None
