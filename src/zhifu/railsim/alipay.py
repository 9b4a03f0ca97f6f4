"""The fake Alipay: the OpenAPI gateway (`/gateway.do`, GET query or form POST, RSA2-signed requests checked with the
app's public key, answers signed with Alipay's own key), the asynchronous notifications it owes, and the bill
download (`alipay.data.dataservice.bill.downloadurl.query`, then a short-lived `bill_download_url`).

Methods: alipay.trade.pay, alipay.trade.precreate, alipay.trade.query, alipay.trade.close, alipay.trade.refund,
alipay.trade.fastpay.refund.query, alipay.data.dataservice.bill.downloadurl.query.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from zhifu.channels.alipay import RAILS
from zhifu.channels.alipay import sign as rsa2
from zhifu.channels.alipay.statement import write_alipay
from zhifu.channels.statement import business_date_of
from zhifu.core.errors import InvalidRequest
from zhifu.core.money import fen_to_yuan_str, parse_yuan
from zhifu.railsim.store import Txn

if TYPE_CHECKING:
    from zhifu.railsim.server import FakeRails

FAMILY = "alipay"
RAIL = RAILS[0].name
FACTS = RAILS[0]
SHANGHAI = ZoneInfo("Asia/Shanghai")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
BILL_URL_TTL_S = 30  # Alipay's bill_download_url is valid for 30 seconds
KEY_FILES = {
    "alipay_private_key": "alipay_rail_private_key.pem",
    "alipay_public_key": "alipay_public_key.pem",
    "app_private_key": "alipay_app_private_key.pem",
    "app_public_key": "alipay_app_public_key.pem",
}
DECLINE_CODES = {  # the store's decline -> Alipay's sub_code and sub_msg
    "insufficient_funds": ("ACQ.BUYER_BALANCE_NOT_ENOUGH", "买家余额不足"),
    "limit_exceeded": ("ACQ.BUYER_PAYMENT_AMOUNT_DAY_LIMIT_ERROR", "买家付款日限额超限"),
    "card_blocked": ("ACQ.BUYER_ENABLE_STATUS_FORBID", "买家状态非法"),
}
TRADE_STATUS = {
    "awaiting": "WAIT_BUYER_PAY",
    "paying": "WAIT_BUYER_PAY",
    "succeeded": "TRADE_SUCCESS",
    "failed": "TRADE_CLOSED",
    "closed": "TRADE_CLOSED",
}
SCENES = frozenset({"bar_code", "wave_code", "security_code"})


# -- keys and configuration
def _write_key(folder: Path, name: str, key: rsa.RSAPrivateKey) -> tuple[str, str]:
    priv = folder / KEY_FILES[f"{name}_private_key"]
    pub = folder / KEY_FILES[f"{name}_public_key"]
    priv.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    priv.chmod(0o600)
    pub.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return str(priv), str(pub)


def make_server_keys(folder: Path) -> dict[str, Any]:
    """Alipay's own RSA key pair (it signs answers and notifications) and the acquirer app's pair (the app signs
    requests; Alipay keeps its public key), as PEM files in `folder`; the app id, the partner id and the secret
    that signs bill download links."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    alipay_priv, alipay_pub = _write_key(
        folder, "alipay", rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    app_priv, app_pub = _write_key(
        folder, "app", rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    return {
        "app_id": f"2021{secrets.randbelow(10**12):012d}",
        "pid": f"2088{secrets.randbelow(10**12):012d}",
        "alipay_private_key": alipay_priv,
        "alipay_public_key": alipay_pub,
        "app_private_key": app_priv,
        "app_public_key": app_pub,
        "bill_secret": secrets.token_hex(32),
    }


def client_config(folder: Path, base_url: str, server_keys: Mapping[str, Any]) -> dict[str, Any]:
    """What our connector (or the public SDK) needs: the gateway, the app id, the app's private key and Alipay's
    public key."""
    return {
        "base_url": base_url.rstrip("/"),
        "gateway_path": "/gateway.do",
        "app_id": server_keys["app_id"],
        "seller_id": server_keys["pid"],
        "sign_type": rsa2.SIGN_TYPE,
        "app_private_key": server_keys["app_private_key"],
        "alipay_public_key": server_keys["alipay_public_key"],
        "notify_url_base": "http://127.0.0.1:8000",
    }


# -- small helpers
def _beijing(at: dt.datetime | None) -> str:
    return at.astimezone(SHANGHAI).strftime(TIME_FORMAT) if at else ""


def _ok(**fields: Any) -> dict[str, Any]:
    return {"code": "10000", "msg": "Success", **{k: v for k, v in fields.items() if v not in (None, "")}}


def _fail(sub_code: str, sub_msg: str, **fields: Any) -> dict[str, Any]:
    return {
        "code": "40004",
        "msg": "Business Failed",
        "sub_code": sub_code,
        "sub_msg": sub_msg,
        **{k: v for k, v in fields.items() if v not in (None, "")},
    }


def _bad(code: str, msg: str, sub_code: str, sub_msg: str) -> dict[str, Any]:
    return {"code": code, "msg": msg, "sub_code": sub_code, "sub_msg": sub_msg}


def buyer_user_id(payer_ref: str | None) -> str:
    """The payer's 16-digit Alipay user id (2088...), stable for one simulated payer; a payer that already has
    one (the simulated county's consumers do) keeps it."""
    if payer_ref and len(payer_ref) == 16 and payer_ref.startswith("2088") and payer_ref.isdigit():
        return payer_ref
    digest = int.from_bytes(hashlib.sha256((payer_ref or "payer_sim").encode()).digest()[:8], "big")
    return f"2088{digest % 10**12:012d}"


def _logon_id(uid: str) -> str:
    return f"{uid[4:7]}***{uid[-4:]}@sim.alipay"


def _fund_bill_list(t: Txn) -> list[dict[str, str]]:
    amount = fen_to_yuan_str(t.amount_fen)
    if t.card_type in ("debit", "credit"):
        return [
            {
                "fund_channel": "BANKCARD",
                "amount": amount,
                "real_amount": amount,
                "fund_type": "DEBIT_CARD" if t.card_type == "debit" else "CREDIT_CARD",
            }
        ]
    return [{"fund_channel": "ALIPAYACCOUNT", "amount": amount, "real_amount": amount}]


class BizError(Exception):
    """A request Alipay answers with a signed business failure."""

    def __init__(self, sub_code: str, sub_msg: str) -> None:
        super().__init__(sub_msg)
        self.answer = _fail(sub_code, sub_msg)


def _yuan(biz: Mapping[str, Any], name: str) -> int:
    value = biz.get(name)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise BizError("ACQ.INVALID_PARAMETER", f"参数无效: {name} 缺失")
    try:
        return parse_yuan(value, param=name)
    except InvalidRequest:
        raise BizError("ACQ.INVALID_PARAMETER", f"参数无效: {name}={value!r}") from None


def _text(biz: Mapping[str, Any], name: str, *, required: bool = True, max_len: int = 64) -> str | None:
    value = biz.get(name)
    if value in (None, ""):
        if required:
            raise BizError("ACQ.INVALID_PARAMETER", f"参数无效: {name} 缺失")
        return None
    if not isinstance(value, str) or len(value) > max_len:
        raise BizError("ACQ.INVALID_PARAMETER", f"参数无效: {name}")
    return value


class FakeAlipay:
    """The gateway's behaviour over the fake rails' store."""

    def __init__(self, sim: FakeRails) -> None:
        self.sim = sim
        self.store = sim.store
        keys = sim.server_keys[FAMILY]
        self.keys = keys
        self.app_id = str(keys["app_id"])
        self.pid = str(keys["pid"])
        self.private_key = rsa2.load_private_key(keys["alipay_private_key"])
        self.app_key = rsa2.load_public_key(keys["app_public_key"])
        self.methods: dict[str, Callable[[dict[str, Any], dict[str, str]], dict[str, Any]]] = {
            "alipay.trade.pay": self.pay,
            "alipay.trade.precreate": self.precreate,
            "alipay.trade.query": self.query,
            "alipay.trade.close": self.close,
            "alipay.trade.refund": self.refund,
            "alipay.trade.fastpay.refund.query": self.refund_query,
            "alipay.data.dataservice.bill.downloadurl.query": self.bill_url,
        }

    # -- the gateway
    def handle(self, params: dict[str, str]) -> str:
        """One gateway call: the answer's JSON text (signed unless the request itself could not be trusted)."""
        method = params.get("method", "")
        if not method:
            return json.dumps(
                {
                    "error_response": _bad(
                        "40001", "Missing Required Arguments", "isv.missing-method", "缺少方法名参数"
                    )
                },
                ensure_ascii=False,
            )
        handler = self.methods.get(method)
        if handler is None:
            return json.dumps(
                {
                    "error_response": _bad(
                        "40002", "Invalid Arguments", "isv.invalid-method", "不存在的方法名"
                    )
                },
                ensure_ascii=False,
            )
        refused = self._check(params)
        if refused is not None:
            return rsa2.signed_response(self.private_key, method, refused, signed=False)
        try:
            biz = json.loads(params.get("biz_content") or "{}")
            if not isinstance(biz, dict):
                raise ValueError
        except ValueError:
            return rsa2.signed_response(
                self.private_key,
                method,
                _fail("ACQ.INVALID_PARAMETER", "参数无效: biz_content 不是 JSON 对象"),
            )
        try:
            answer = handler(biz, params)
        except BizError as exc:
            answer = exc.answer
        return rsa2.signed_response(self.private_key, method, answer)

    def _check(self, params: Mapping[str, str]) -> dict[str, Any] | None:
        """The public parameters and the app's signature; an answer when the request is refused."""
        for name in ("app_id", "sign", "sign_type", "timestamp", "charset", "version"):
            if not params.get(name):
                return _bad(
                    "40001",
                    "Missing Required Arguments",
                    f"isv.missing-{name.replace('_', '-')}",
                    f"缺少 {name} 参数",
                )
        if params["app_id"] != self.app_id:
            return _bad("40002", "Invalid Arguments", "isv.invalid-app-id", "无效的AppID参数")
        if params["charset"].lower() not in ("utf-8", "utf8"):
            return _bad("40002", "Invalid Arguments", "isv.invalid-charset", "字符集错误")
        if params["sign_type"] != rsa2.SIGN_TYPE:
            return _bad("40002", "Invalid Arguments", "isv.invalid-signature-type", "无效的签名类型")
        if params["version"] != "1.0":
            return _bad("40002", "Invalid Arguments", "isv.invalid-version", "无效的版本号")
        try:
            dt.datetime.strptime(params["timestamp"], TIME_FORMAT)
        except ValueError:
            return _bad("40002", "Invalid Arguments", "isv.invalid-timestamp", "非法的时间戳参数")
        if not rsa2.verify(self.app_key, rsa2.content(params), params["sign"]):
            return _bad(
                "40002",
                "Invalid Arguments",
                "isv.invalid-signature",
                "验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配",
            )
        return None

    # -- orders
    def _trade_no(self, at: dt.datetime) -> str:
        """yyyymmdd, 2200, then a counter kept in the store: 28 digits that never repeat."""
        return f"{at.astimezone(SHANGHAI):%Y%m%d}2200{self.store.next_seq('ref:alipay') % 10**16:016d}"

    def _find(self, biz: Mapping[str, Any]) -> Txn:
        out_trade_no = _text(biz, "out_trade_no", required=False)
        trade_no = _text(biz, "trade_no", required=False)
        if not out_trade_no and not trade_no:
            raise BizError("ACQ.INVALID_PARAMETER", "参数无效: out_trade_no 与 trade_no 不能同时为空")
        t = self.store.by_ref(RAIL, trade_no) if trade_no else self.store.order(RAIL, out_trade_no or "")
        if t is None or t.kind != "payment" or (out_trade_no and t.out_trade_no != out_trade_no):
            raise BizError("ACQ.TRADE_NOT_EXIST", "交易不存在")
        return t

    def _place(
        self, biz: Mapping[str, Any], params: Mapping[str, str], *, auth_code: str | None, trade_type: str
    ) -> tuple[Txn, str]:
        out_trade_no = _text(biz, "out_trade_no")
        amount = _yuan(biz, "total_amount")
        subject = _text(biz, "subject", max_len=256)
        sub = biz.get("sub_merchant")
        code = (sub.get("merchant_id") if isinstance(sub, dict) else None) or biz.get("store_id") or self.pid
        now = self.sim.now()
        expires = None
        if biz.get("time_expire"):
            try:
                expires = dt.datetime.strptime(str(biz["time_expire"]), TIME_FORMAT).replace(tzinfo=SHANGHAI)
            except ValueError:
                raise BizError("ACQ.INVALID_PARAMETER", "参数无效: time_expire") from None
        extra = {"passback_params": str(biz["passback_params"])} if biz.get("passback_params") else {}
        try:
            return self.store.create_order(
                RAIL,
                out_trade_no=out_trade_no or "",
                merchant_code=str(code)[:32],
                amount_fen=amount,
                description=subject or "",
                notify_url=params.get("notify_url") or None,
                trade_type=trade_type,
                at=now,
                expires_at=expires,
                auth_code=auth_code,
                card_types=FACTS.card_types,
                extra=extra,
                ref=self._trade_no(now),
            )
        except ValueError:
            raise BizError("ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改") from None

    def _paid(self, t: Txn) -> dict[str, Any]:
        uid = buyer_user_id(t.payer_ref)
        amount = fen_to_yuan_str(t.amount_fen)
        return {
            "trade_no": t.ref,
            "out_trade_no": t.out_trade_no,
            "buyer_logon_id": _logon_id(uid),
            "buyer_user_id": uid,
            "total_amount": amount,
            "receipt_amount": amount,
            "buyer_pay_amount": amount,
            "invoice_amount": amount,
            "point_amount": "0.00",
            "gmt_payment": _beijing(t.finished_at),
            "fund_bill_list": _fund_bill_list(t),
            "store_id": t.merchant_code,
        }

    def pay(self, biz: dict[str, Any], params: dict[str, str]) -> dict[str, Any]:
        auth_code = _text(biz, "auth_code")
        if biz.get("scene") not in SCENES:
            raise BizError("ACQ.INVALID_PARAMETER", "参数无效: scene")
        if not re.fullmatch(FACTS.paycode_pattern or "", auth_code or ""):
            raise BizError(
                "ACQ.PAYMENT_AUTH_CODE_INVALID", "支付失败，获取顾客账户信息失败，请顾客刷新付款码后重新收款"
            )
        t, outcome = self._place(biz, params, auth_code=auth_code, trade_type=str(biz["scene"]))
        if outcome == "timeout":  # Alipay took the money but its answer arrives after our connector gave up
            time.sleep(self.store.behaviour.hang_s)
        if t.status == "succeeded":
            return _ok(**self._paid(t))
        if t.status == "paying":
            return {
                "code": "10003",
                "msg": "order success pay inprocess",
                "trade_no": t.ref,
                "out_trade_no": t.out_trade_no,
            }
        if t.status == "failed" and outcome != "duplicate":
            sub_code, sub_msg = DECLINE_CODES.get(t.failure_code or "", ("ACQ.PAYMENT_FAIL", "支付失败"))
            return _fail(sub_code, sub_msg)
        if t.status == "awaiting":  # the same out_trade_no was placed as a QR code
            raise BizError("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
        raise BizError("ACQ.TRADE_HAS_CLOSE", "交易已经关闭")

    def precreate(self, biz: dict[str, Any], params: dict[str, str]) -> dict[str, Any]:
        t, _ = self._place(biz, params, auth_code=None, trade_type="precreate")
        if t.status == "succeeded":
            raise BizError("ACQ.TRADE_HAS_SUCCESS", "交易已被支付")
        if t.status in ("failed", "closed"):
            raise BizError("ACQ.TRADE_HAS_CLOSE", "交易已经关闭")
        if t.auth_code:
            raise BizError("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
        return _ok(out_trade_no=t.out_trade_no, qr_code=qr_code(t))

    def query(self, biz: dict[str, Any], params: dict[str, str]) -> dict[str, Any]:
        t = self._find(biz)
        fields: dict[str, Any] = {
            "trade_no": t.ref,
            "out_trade_no": t.out_trade_no,
            "trade_status": TRADE_STATUS[t.status],
            "total_amount": fen_to_yuan_str(t.amount_fen),
            "store_id": t.merchant_code,
        }
        if t.status == "succeeded":
            paid = self._paid(t)
            paid["send_pay_date"] = paid.pop("gmt_payment")
            fields.update(paid)
        return _ok(**fields)

    def close(self, biz: dict[str, Any], params: dict[str, str]) -> dict[str, Any]:
        t = self._find(biz)
        if t.status not in ("awaiting", "paying"):
            raise BizError("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
        t = self.store.close_order(RAIL, t.out_trade_no, self.sim.now())
        if t.status != "closed":  # paid meanwhile
            raise BizError("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
        return _ok(trade_no=t.ref, out_trade_no=t.out_trade_no)

    # -- refunds
    def refund(self, biz: dict[str, Any], params: dict[str, str]) -> dict[str, Any]:
        t = self._find(biz)
        amount = _yuan(biz, "refund_amount")
        out_request_no = _text(biz, "out_request_no", required=False) or t.out_trade_no
        again = self.store.refund_of(RAIL, out_request_no)
        try:
            r = self.store.refund(
                RAIL,
                out_trade_no=t.out_trade_no,
                out_refund_no=out_request_no,
                amount_fen=amount,
                at=self.sim.now(),
                ref=out_request_no,
            )
        except KeyError:
            raise BizError("ACQ.TRADE_NOT_EXIST", "交易不存在") from None
        except ValueError as exc:
            reason = str(exc)
            if reason == "order_not_paid":
                raise BizError("ACQ.TRADE_STATUS_ERROR", "交易状态不合法") from None
            if reason == "refund_exceeds_payment":
                raise BizError("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限") from None
            raise BizError("ACQ.INVALID_PARAMETER", "参数无效: 同一退款请求号的退款金额不同") from None
        uid = buyer_user_id(t.payer_ref)
        refunded = sum(
            x.amount_fen for x in self.store.refunds_of(RAIL, t.out_trade_no) if x.status == "succeeded"
        )
        return _ok(
            trade_no=t.ref,
            out_trade_no=t.out_trade_no,
            buyer_logon_id=_logon_id(uid),
            buyer_user_id=uid,
            fund_change="N" if again is not None else "Y",
            refund_fee=fen_to_yuan_str(refunded),
            gmt_refund_pay=_beijing(r.finished_at),
            store_name=None,
        )

    def refund_query(self, biz: dict[str, Any], params: dict[str, str]) -> dict[str, Any]:
        t = self._find(biz)
        out_request_no = _text(biz, "out_request_no")
        r = self.store.refund_of(RAIL, out_request_no or "")
        if r is None or r.out_trade_no != t.out_trade_no:  # Alipay answers Success with no refund in it
            return _ok(trade_no=t.ref, out_trade_no=t.out_trade_no)
        return _ok(
            trade_no=t.ref,
            out_trade_no=t.out_trade_no,
            out_request_no=r.out_refund_no,
            total_amount=fen_to_yuan_str(t.amount_fen),
            refund_amount=fen_to_yuan_str(r.amount_fen),
            refund_status="REFUND_SUCCESS" if r.status == "succeeded" else "",
            gmt_refund_pay=_beijing(r.finished_at),
        )

    # -- the bill
    def bill_url(self, biz: dict[str, Any], params: dict[str, str]) -> dict[str, Any]:
        if biz.get("bill_type") != "trade":
            raise BizError("ACQ.INVALID_PARAMETER", "参数无效: bill_type 仅支持 trade")
        try:
            day = dt.date.fromisoformat(str(biz.get("bill_date", "")))
        except ValueError:
            raise BizError("ACQ.INVALID_PARAMETER", "参数无效: bill_date 应为 yyyy-MM-dd") from None
        if day > business_date_of(self.sim.now()):
            raise BizError("isp.bill_not_exist", "账单不存在")
        return _ok(bill_download_url=self.download_url(day, int(time.time()) + BILL_URL_TTL_S))

    def _token(self, day: str, expires: int) -> str:
        return hmac.new(
            bytes.fromhex(self.keys["bill_secret"]), f"{day}|{expires}".encode(), hashlib.sha256
        ).hexdigest()

    def download_url(self, day: dt.date, expires: int) -> str:
        ymd = f"{day:%Y%m%d}"
        query = {
            "bizType": "trade",
            "userId": self.pid,
            "fileType": "csv",
            "bizDates": ymd,
            "downloadFileName": f"{self.pid}0156_{ymd}.csv",
            "fileId": f"{self.pid}_{ymd}",
            "timestamp": str(expires),
            "token": self._token(ymd, expires),
        }
        return f"{self.sim.base_url}/downloadBillFile.resource?{urlencode(query)}"

    def bill_file(self, query: Mapping[str, str]) -> Response:
        ymd, expires, token = query.get("bizDates", ""), query.get("timestamp", ""), query.get("token", "")
        if not expires.isdigit() or not hmac.compare_digest(self._token(ymd, int(expires)), token):
            return Response(
                "链接无效 / invalid link", status_code=403, media_type="text/plain; charset=utf-8"
            )
        if int(expires) < time.time():
            return Response(
                "链接已过期 / the link has expired", status_code=403, media_type="text/plain; charset=utf-8"
            )
        day = dt.datetime.strptime(ymd, "%Y%m%d").date()
        data = write_alipay(self.sim.statement_lines(RAIL, day), day, account=f"{self.pid}0156")
        return Response(
            data,
            media_type="application/octet-stream",
            headers={"Content-Disposition": f'attachment; filename="{self.pid}0156_{ymd}.csv"'},
        )

    # -- notifications
    def notification(self, t: Txn) -> tuple[bytes, dict[str, str]]:
        """The trade_status_sync notification a finished payment or refund owes, RSA2-signed over its sorted
        fields without sign and sign_type."""
        order = t if t.kind == "payment" else self.store.order(RAIL, t.out_trade_no)
        assert order is not None
        uid = buyer_user_id(order.payer_ref)
        amount = fen_to_yuan_str(order.amount_fen)
        fields: dict[str, str] = {
            "notify_time": _beijing(self.sim.now()),
            "notify_type": "trade_status_sync",
            "notify_id": hashlib.sha256(f"{t.rail}|{t.ref}|{t.kind}|{t.status}".encode()).hexdigest()[:34],
            "app_id": self.app_id,
            "auth_app_id": self.app_id,
            "charset": "utf-8",
            "version": "1.0",
            "trade_no": order.ref,
            "out_trade_no": order.out_trade_no,
            "seller_id": self.pid,
            "total_amount": amount,
            "subject": order.description,
            "gmt_create": _beijing(order.created_at),
            "passback_params": str(order.extra.get("passback_params", "")),
        }
        if t.kind == "refund":
            refunded = sum(
                x.amount_fen
                for x in self.store.refunds_of(RAIL, order.out_trade_no)
                if x.status == "succeeded"
            )
            fields.update(
                out_biz_no=t.out_refund_no or "",
                refund_fee=fen_to_yuan_str(refunded),
                send_back_fee=fen_to_yuan_str(t.amount_fen),
                gmt_refund=(t.finished_at or t.created_at)
                .astimezone(SHANGHAI)
                .strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],
                trade_status="TRADE_CLOSED" if refunded >= order.amount_fen else "TRADE_SUCCESS",
                buyer_id=uid,
                gmt_payment=_beijing(order.finished_at),
            )
        elif t.status == "succeeded":
            fields.update(
                trade_status="TRADE_SUCCESS",
                buyer_id=uid,
                buyer_logon_id=_logon_id(uid),
                receipt_amount=amount,
                invoice_amount=amount,
                buyer_pay_amount=amount,
                point_amount="0.00",
                gmt_payment=_beijing(t.finished_at),
                fund_bill_list=json.dumps(_fund_bill_list(t), separators=(",", ":")),
            )
        else:
            fields.update(trade_status="TRADE_CLOSED", gmt_close=_beijing(t.finished_at))
        fields = {k: v for k, v in fields.items() if v}
        fields["sign_type"] = rsa2.SIGN_TYPE
        fields["sign"] = rsa2.sign(self.private_key, rsa2.content(fields, notification=True))
        return urlencode(fields).encode(), {
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"
        }


def qr_code(t: Txn) -> str:
    return f"https://qr.alipay.com/bax{hashlib.sha256(t.ref.encode()).hexdigest()[:21]}"


def router(sim: FakeRails) -> APIRouter:
    fake = FakeAlipay(sim)
    sim.store.encoders[RAIL] = fake.notification
    r = APIRouter(tags=["alipay"])

    @r.api_route("/gateway.do", methods=["GET", "POST"], include_in_schema=False)
    async def gateway(request: Request) -> Response:
        params = dict(request.query_params)
        if request.method == "POST":
            body = await request.body()
            try:
                params.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
            except UnicodeDecodeError:
                return Response(
                    json.dumps(
                        {
                            "error_response": _bad(
                                "40002", "Invalid Arguments", "isv.invalid-charset", "字符集错误"
                            )
                        }
                    ),
                    media_type="application/json;charset=utf-8",
                )
        text = await run_in_threadpool(fake.handle, params)
        return Response(text.encode("utf-8"), media_type="application/json;charset=utf-8")

    @r.get("/downloadBillFile.resource", include_in_schema=False)
    def download(request: Request) -> Response:
        return fake.bill_file(dict(request.query_params))

    return r
