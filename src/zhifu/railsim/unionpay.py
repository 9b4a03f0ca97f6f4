"""The fake UnionPay acquirer gateway: backTransReq (consume 06/07/01, refund 04, consume undo 31), queryTrans,
fileTransRequest (the ZM file, zipped, zlib-deflated, base64), and signed backend notifications to backUrl —
form-encoded 5.1.0 messages signed with its own certificate, requests verified with the acquirer's."""

from __future__ import annotations

import base64
import datetime as dt
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from fastapi import APIRouter, Request, Response

from zhifu.channels.registry import FACTS
from zhifu.channels.unionpay import DEFAULT_ISSUER, RAILS, REF_WIDTH, wire
from zhifu.channels.unionpay.sign import (
    FORM,
    VERSION,
    SignatureError,
    Signer,
    Verifier,
    decode_form,
    encode_form,
    make_certificate,
)
from zhifu.channels.unionpay.statement import write_zm
from zhifu.railsim.store import Txn

if TYPE_CHECKING:
    from zhifu.railsim.server import FakeRails

FAMILY = "unionpay"
ACQ_INS_CODE = "48020000"  # the acquirer's institution code (a county rural bank's, in this simulation)
_RAIL_NAMES = tuple(f.name for f in RAILS)
_DIGITS = re.compile(r"[0-9]+")
_MER_ID = re.compile(r"[0-9A-Z]{15}")
_ORDER_ID = re.compile(r"[0-9A-Za-z_]{8,40}")


def make_server_keys(folder: Path) -> dict[str, Any]:
    """UnionPay's signing certificate and the acquirer's, each with its key, written once into `folder`."""
    folder = Path(folder)
    up_key, up_cert = make_certificate(
        folder, "unionpay_sign", "UnionPay signing (simulated)", serial=x509.random_serial_number()
    )
    acq_key, acq_cert = make_certificate(
        folder, "unionpay_acquirer_sign", "Acquirer signing (simulated)", serial=x509.random_serial_number()
    )
    statement_mer_ids = {name: f"777290058{i:06d}" for i, name in enumerate(_RAIL_NAMES, start=110)}
    return {
        "unionpay_key_path": str(up_key),
        "unionpay_cert_path": str(up_cert),
        "acquirer_key_path": str(acq_key),
        "acquirer_cert_path": str(acq_cert),
        "acq_ins_code": ACQ_INS_CODE,
        "statement_mer_ids": statement_mer_ids,
    }


def client_config(folder: Path, base_url: str, server_keys: dict[str, Any]) -> dict[str, Any]:
    """What our connector reads: the gateway's URL, the acquirer's key and certificate, UnionPay's certificate."""
    return {
        "base_url": base_url,
        "notify_url_base": "http://127.0.0.1:8000",
        "acq_ins_code": server_keys["acq_ins_code"],
        "sign_key_path": server_keys["acquirer_key_path"],
        "sign_cert_path": server_keys["acquirer_cert_path"],
        "unionpay_cert_path": server_keys["unionpay_cert_path"],
        "statement_mer_ids": dict(server_keys["statement_mer_ids"]),
    }


class _Gateway:
    def __init__(self, sim: FakeRails) -> None:
        keys = sim.server_keys[FAMILY]
        self.sim = sim
        self.store = sim.store
        self.signer = Signer.from_files(keys["unionpay_key_path"], keys["unionpay_cert_path"])
        self.pub_cert = self.signer.cert.public_bytes(serialization.Encoding.PEM).decode()
        self.verifier = Verifier.from_file(keys["acquirer_cert_path"])
        self.acq_ins_code = keys["acq_ins_code"]
        self.file_rails = {v: k for k, v in keys["statement_mer_ids"].items()}

    # -- messages
    def answer(self, req: dict[str, str], **fields: str | None) -> Response:
        echo = {
            k: req[k]
            for k in (
                "version",
                "encoding",
                "bizType",
                "txnType",
                "txnSubType",
                "accessType",
                "acqInsCode",
                "merId",
                "orderId",
                "txnTime",
                "reqReserved",
            )
            if k in req
        }
        out = {**echo, **{k: v for k, v in fields.items() if v is not None}, "signPubKeyCert": self.pub_cert}
        out.setdefault("version", VERSION)
        out.setdefault("encoding", "UTF-8")
        return Response(encode_form(self.signer.sign(out)), media_type=FORM)

    def txn_fields(self, t: Txn) -> dict[str, str]:
        """What the gateway says of a transaction in a query answer and a notification."""
        refund = t.kind == "refund"
        local = (t.finished_at or t.created_at).astimezone(wire.SHANGHAI)
        out = {
            "queryId": t.ref,
            "txnAmt": str(t.amount_fen),
            "currencyCode": wire.CURRENCY_CNY,
            "merId": t.merchant_code,
            "traceNo": t.trace_no,
            "traceTime": local.strftime("%m%d%H%M%S"),
            "txnType": wire.TXN_REFUND if refund else wire.TXN_CONSUME,
            "txnSubType": "00" if refund else t.trade_type,
            "orderId": t.out_refund_no if refund else t.out_trade_no,
        }
        if t.status == "succeeded":
            out.update(
                settleAmt=str(t.amount_fen),
                settleCurrencyCode=wire.CURRENCY_CNY,
                settleDate=local.strftime("%m%d"),
            )
        if t.payer_ref:
            out["accNo"] = t.payer_ref
        if t.card_type in wire.CARD_CODES:
            out["payCardType"] = wire.CARD_CODES[t.card_type]
        if t.card_issuer:
            out["issInsCode"] = t.card_issuer
        if refund and t.extra.get("original_ref"):
            out["origQryId"] = str(t.extra["original_ref"])
        if t.extra.get("txn_time"):
            out["txnTime"] = str(t.extra["txn_time"])
        return out

    def encode_notification(self, t: Txn) -> tuple[bytes, dict[str, str]] | None:
        if t.status not in ("succeeded", "failed"):
            return None
        code = wire.OK if t.status == "succeeded" else wire.DECLINE_CODES.get(t.failure_code or "", "01")
        fields = {
            "version": VERSION,
            "encoding": "UTF-8",
            "bizType": wire.BIZ_TYPE,
            "accessType": wire.ACCESS_ACQUIRER,
            "acqInsCode": self.acq_ins_code,
            **self.txn_fields(t),
            "respCode": code,
            "respMsg": "成功[0000000]" if code == wire.OK else (t.failure_message or "失败"),
            "reqReserved": wire.reserved(t.rail, t.out_trade_no),
            "signPubKeyCert": self.pub_cert,
        }
        return encode_form(self.signer.sign(fields)), {"Content-Type": FORM}

    def find(self, rail: str | None, order_id: str) -> Txn | None:
        for name in (rail,) if rail in _RAIL_NAMES else _RAIL_NAMES:
            t = self.store.order(name, order_id) or self.store.refund_of(name, order_id)
            if t is not None:
                return t
        return None

    def by_ref(self, rail: str | None, ref: str) -> Txn | None:
        for name in (rail,) if rail in _RAIL_NAMES else _RAIL_NAMES:
            t = self.store.by_ref(name, ref)
            if t is not None:
                return t
        return None

    async def read(self, request: Request) -> dict[str, str] | Response:
        try:
            req = decode_form(await request.body())
            self.verifier.verify(req)
        except SignatureError as exc:
            return self.answer({}, respCode="11", respMsg=f"验证签名失败 / signature refused: {exc}")
        if req.get("version") != VERSION or req.get("encoding", "UTF-8").upper() != "UTF-8":
            return self.answer(
                req, respCode="10", respMsg="报文格式错误 / version must be 5.1.0, encoding UTF-8"
            )
        return req

    # -- operations
    def back_trans(self, req: dict[str, str]) -> Response:
        txn_type = req.get("txnType")
        if txn_type == wire.TXN_CONSUME:
            return self.consume(req)
        if txn_type == wire.TXN_REFUND:
            return self.refund(req)
        if txn_type == wire.TXN_UNDO:
            return self.undo(req)
        return self.answer(req, respCode="10", respMsg=f"txnType {txn_type} is not served here")

    def _bad(self, req: dict[str, str], field: str) -> Response:
        return self.answer(req, respCode="10", respMsg=f"报文格式错误 / field {field} missing or malformed")

    def consume(self, req: dict[str, str]) -> Response:
        rail, _ = wire.parse_reserved(req.get("reqReserved"))
        sub = req.get("txnSubType")
        for field, ok in (
            ("reqReserved", rail in _RAIL_NAMES),
            ("txnSubType", sub in (wire.SUB_PAY_CODE, wire.SUB_CONSUMER_SCANNED, wire.SUB_SELF_SERVICE)),
            ("merId", bool(_MER_ID.fullmatch(req.get("merId", "")))),
            ("orderId", bool(_ORDER_ID.fullmatch(req.get("orderId", "")))),
            ("txnTime", len(req.get("txnTime", "")) == 14 and req["txnTime"].isdigit()),
            ("txnAmt", bool(_DIGITS.fullmatch(req.get("txnAmt", ""))) and int(req["txnAmt"]) > 0),
            ("currencyCode", req.get("currencyCode") == wire.CURRENCY_CNY),
            ("acqInsCode", req.get("acqInsCode") == self.acq_ins_code),
            ("backUrl", req.get("backUrl", "").startswith("http")),
            ("qrNo", sub != wire.SUB_PAY_CODE or bool(_DIGITS.fullmatch(req.get("qrNo", "")))),
        ):
            if not ok:
                return self._bad(req, field)
        assert rail is not None
        facts = FACTS[rail]
        now = self.sim.now()
        try:
            t, outcome = self.store.create_order(
                rail,
                out_trade_no=req["orderId"],
                merchant_code=req["merId"],
                amount_fen=int(req["txnAmt"]),
                description="",
                notify_url=req["backUrl"],
                trade_type=sub or "",
                at=now,
                auth_code=req.get("qrNo") if sub == wire.SUB_PAY_CODE else None,
                card_types=facts.card_types,
                default_issuer=DEFAULT_ISSUER,
                ref_width=REF_WIDTH,
                extra={"txn_time": req["txnTime"], "sub_merchant_name": req.get("subMerAbbr", "")},
            )
        except ValueError:
            return self.answer(req, respCode="12", respMsg="重复交易 / orderId already used")
        if outcome == "duplicate":
            return self.answer(req, respCode="12", respMsg="重复交易 / orderId already used")
        if outcome == "awaiting":
            qr = f"https://qr.95516.com/00010000/{t.ref}" if sub == wire.SUB_CONSUMER_SCANNED else None
            return self.answer(req, respCode=wire.OK, respMsg="成功[0000000]", qrCode=qr)
        if outcome == "userpaying":
            return self.answer(
                req,
                respCode="05",
                respMsg="交易已受理，请稍后查询交易结果 / waiting for the PIN",
                queryId=t.ref,
            )
        if outcome.startswith("decline_"):
            return self.answer(
                req,
                respCode=wire.DECLINE_CODES[outcome[len("decline_") :]],
                respMsg=t.failure_message,
                queryId=t.ref,
            )
        if outcome == "timeout":
            time.sleep(self.store.behaviour.hang_s)
        return self.answer(req, respCode=wire.OK, respMsg="成功[0000000]", **self.txn_fields(t))

    def query(self, req: dict[str, str]) -> Response:
        if req.get("txnType") != wire.TXN_QUERY:
            return self._bad(req, "txnType")
        rail, _ = wire.parse_reserved(req.get("reqReserved"))
        t = self.find(rail, req.get("orderId", ""))
        if t is None or (t.extra.get("txn_time") and t.extra["txn_time"] != req.get("txnTime")):
            return self.answer(req, respCode=wire.NO_SUCH_TXN, respMsg="查无此交易 / no such transaction")
        orig = {
            "succeeded": wire.OK,
            "awaiting": "05",
            "paying": "05",
            "closed": wire.ORIG_BAD_STATE,
            "failed": wire.DECLINE_CODES.get(t.failure_code or "", "01"),
        }[t.status]
        return self.answer(
            req,
            respCode=wire.OK,
            respMsg="成功[0000000]",
            origRespCode=orig,
            origRespMsg=t.failure_message if t.status == "failed" else None,
            **self.txn_fields(t),
        )

    def undo(self, req: dict[str, str]) -> Response:
        rail, _ = wire.parse_reserved(req.get("reqReserved"))
        orig = self.by_ref(rail, req.get("origQryId", "")) if req.get("origQryId") else None
        if orig is None and req.get("origOrderId"):
            orig = self.find(rail, req["origOrderId"])
        if orig is None or orig.kind != "payment":
            return self.answer(
                req, respCode=wire.ORIG_BAD_STATE, respMsg="原交易不存在 / no original transaction"
            )
        if orig.status == "succeeded":
            return self.answer(
                req, respCode=wire.PAID_ALREADY, respMsg="原交易已成功，请退货 / paid: refund it"
            )
        if orig.status in ("awaiting", "paying"):
            self.store.close_order(orig.rail, orig.out_trade_no, self.sim.now())
            return self.answer(req, respCode=wire.OK, respMsg="成功[0000000]", origQryId=orig.ref)
        return self.answer(
            req, respCode=wire.ORIG_BAD_STATE, respMsg="原交易状态不正确 / original not undoable"
        )

    def refund(self, req: dict[str, str]) -> Response:
        rail, _ = wire.parse_reserved(req.get("reqReserved"))
        for field, ok in (
            ("origQryId", bool(req.get("origQryId"))),
            ("orderId", bool(_ORDER_ID.fullmatch(req.get("orderId", "")))),
            ("txnAmt", bool(_DIGITS.fullmatch(req.get("txnAmt", ""))) and int(req["txnAmt"]) > 0),
            ("backUrl", req.get("backUrl", "").startswith("http")),
        ):
            if not ok:
                return self._bad(req, field)
        orig = self.by_ref(rail, req["origQryId"])
        if orig is None or orig.kind != "payment":
            return self.answer(
                req, respCode=wire.ORIG_BAD_STATE, respMsg="原交易不存在 / no original transaction"
            )
        try:
            r = self.store.refund(
                orig.rail,
                out_trade_no=orig.out_trade_no,
                out_refund_no=req["orderId"],
                amount_fen=int(req["txnAmt"]),
                at=self.sim.now(),
                ref_width=REF_WIDTH,
            )
        except (KeyError, ValueError) as exc:
            code = "33" if "exceeds" in str(exc) else wire.ORIG_BAD_STATE
            return self.answer(req, respCode=code, respMsg=f"退货失败 / refund refused: {exc}")
        return self.answer(req, respCode=wire.OK, respMsg="成功[0000000]", queryId=r.ref, origQryId=orig.ref)

    def file_transfer(self, req: dict[str, str]) -> Response:
        if req.get("txnType") != wire.TXN_FILE:
            return self._bad(req, "txnType")
        rail = self.file_rails.get(req.get("merId", ""))
        settle = req.get("settleDate", "")
        if rail is None:
            return self.answer(req, respCode="98", respMsg="文件不存在 / no file for this merchant")
        if len(settle) != 4 or not settle.isdigit():
            return self._bad(req, "settleDate")
        day = _settle_day(settle, self.sim.now().astimezone(wire.SHANGHAI).date())
        if day is None:
            return self.answer(req, respCode="98", respMsg="文件不存在 / no such settlement date")
        name = wire.zm_file_name(day, req["merId"])
        data = write_zm(self.sim.statement_lines(rail, day), day)
        content = base64.b64encode(wire.pack_file(name, data)).decode("ascii")
        return self.answer(
            req,
            respCode=wire.OK,
            respMsg="成功[0000000]",
            settleDate=settle,
            fileName=f"{name}.zip",
            fileContent=content,
        )


def _settle_day(mmdd: str, today: dt.date) -> dt.date | None:
    """The latest date with this MMDD that is not in the future (Beijing). After the day's cut-off the business
    date is already tomorrow, so tomorrow counts as not in the future (else the file of 12-07 asked for at 23:30 on
    12-06 was last year's)."""
    for year in (today.year + 1, today.year, today.year - 1):
        try:
            day = dt.date(year, int(mmdd[:2]), int(mmdd[2:]))
        except ValueError:
            continue
        if day <= today + dt.timedelta(days=1):
            return day
    return None


def router(sim: FakeRails) -> APIRouter:
    gw = _Gateway(sim)
    for name in _RAIL_NAMES:
        sim.store.encoders[name] = gw.encode_notification
    r = APIRouter()

    @r.post(wire.BACK_TRANS)
    async def back_trans(request: Request) -> Response:
        req = await gw.read(request)
        if isinstance(req, Response):
            return req
        return await _in_thread(gw.back_trans, req)

    @r.post(wire.QUERY_TRANS)
    async def query_trans(request: Request) -> Response:
        req = await gw.read(request)
        return req if isinstance(req, Response) else await _in_thread(gw.query, req)

    @r.post(wire.FILE_TRANS)
    async def file_trans(request: Request) -> Response:
        req = await gw.read(request)
        return req if isinstance(req, Response) else await _in_thread(gw.file_transfer, req)

    return r


async def _in_thread(fn: Any, req: dict[str, str]) -> Response:
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(fn, req)
