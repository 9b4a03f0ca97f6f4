"""The fake WeChat Pay: API v3 in service-provider mode on its real paths, with its own platform key (public-key
mode, PUB_KEY_ID_...) and platform certificate, checking every request's WECHATPAY2-SHA256-RSA2048 signature
against the service provider's API certificate and signing every answer and notification.

Pay code (付款码) orders answer at once (no notification, as at WeChat); Native and JSAPI orders wait for the
simulated payer, and a paid order or a refund owes an AEAD_AES_256_GCM-encrypted notification to its notify_url.
The trade bill (交易账单) is the two-step download: GET /v3/bill/tradebill gives a download_url and the bill's
SHA1, the download gives the (gzipped) CSV.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import hashlib
import json
import re
import secrets
import threading
import time
import uuid
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from fastapi import APIRouter, Request
from fastapi.responses import Response

from zhifu.channels.statement import business_date_of
from zhifu.channels.wechat import RAILS, REF_PREFIX, REF_WIDTH, sign, wire
from zhifu.channels.wechat.statement import write_wechat
from zhifu.railsim.store import Txn

if TYPE_CHECKING:
    from zhifu.railsim.server import FakeRails

FAMILY = "wechat"
RAIL = RAILS[0].name
BILL_TOKEN_TTL_S = 30  # WeChat's download_url stays valid for 30 seconds
_SUB_MCHID = re.compile(r"[0-9]{1,32}")
_OUT_NO = re.compile(r"[0-9A-Za-z_\-|*]{6,32}")


# -- keys
def _rsa_key(path: Path) -> rsa.RSAPrivateKey:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    path.chmod(0o600)
    return key


def _certificate(path: Path, key: rsa.RSAPrivateKey, common_name: str, org_unit: str) -> str:
    now = dt.datetime.now(dt.UTC)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Zhifu fake rails"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, org_unit),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=5 * 365))
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return f"{cert.serial_number:X}"


def make_server_keys(folder: Path) -> dict[str, Any]:
    """Generate, once, the platform's key (its public key under a PUB_KEY_ID_ and in a platform certificate),
    the service provider's API key and certificate (what our connector signs with), and the APIv3 key."""
    folder = Path(folder)
    platform = _rsa_key(folder / "wechat_platform_key.pem")
    (folder / "wechat_platform_public_key.pem").write_bytes(
        platform.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    platform_serial = _certificate(
        folder / "wechat_platform_cert.pem", platform, "Tenpay.com Root CA (fake)", "Tenpay.com CA Center"
    )
    sp_mchid = f"19{secrets.randbelow(10**8):08d}"
    merchant = _rsa_key(folder / "wechat_merchant_key.pem")
    merchant_serial = _certificate(folder / "wechat_merchant_cert.pem", merchant, sp_mchid, "Zhifu")
    apiv3 = folder / "wechat_apiv3_key"
    apiv3.write_text(secrets.token_hex(16))
    apiv3.chmod(0o600)
    return {
        "sp_mchid": sp_mchid,
        "sp_appid": f"wx{secrets.token_hex(8)}",
        "platform_key_path": str(folder / "wechat_platform_key.pem"),
        "platform_public_key_path": str(folder / "wechat_platform_public_key.pem"),
        "platform_public_key_id": f"PUB_KEY_ID_01{secrets.randbelow(10**26):026d}",
        "platform_cert_path": str(folder / "wechat_platform_cert.pem"),
        "platform_cert_serial": platform_serial,
        "merchant_cert_path": str(folder / "wechat_merchant_cert.pem"),
        "merchant_serial_no": merchant_serial,
        "merchant_private_key_path": str(folder / "wechat_merchant_key.pem"),
        "apiv3_key_path": str(apiv3),
    }


def client_config(folder: Path, base_url: str, server_keys: dict[str, Any]) -> dict[str, Any]:
    """What our connector (or the wechatpayv3 SDK) needs: ids, its own key, the platform's public key and
    certificate, the APIv3 key file, and where notifications go."""
    k = server_keys
    return {
        "base_url": base_url,
        "sp_mchid": k["sp_mchid"],
        "sp_appid": k["sp_appid"],
        "merchant_serial_no": k["merchant_serial_no"],
        "merchant_private_key_path": k["merchant_private_key_path"],
        "apiv3_key_path": k["apiv3_key_path"],
        "platform_public_key_id": k["platform_public_key_id"],
        "platform_public_key_path": k["platform_public_key_path"],
        "platform_cert_path": k["platform_cert_path"],
        "notify_url_base": "http://127.0.0.1:8000",
    }


# -- the wire
class _Refused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _trade_state(t: Txn, refunded: bool) -> str:
    if t.status == "succeeded":
        return "REFUND" if refunded else "SUCCESS"
    return {"awaiting": "NOTPAY", "paying": "USERPAYING", "failed": "PAYERROR", "closed": "CLOSED"}[t.status]


def _desc(state: str, t: Txn) -> str:
    if state == "PAYERROR":
        return wire.DECLINES.get(t.failure_code or "", ("", "支付失败 / payment failed"))[1]
    return {
        "SUCCESS": "支付成功",
        "REFUND": "转入退款",
        "NOTPAY": "未支付",
        "USERPAYING": "需要用户输入支付密码",
        "CLOSED": "已关闭",
    }[state]


class WechatRail:
    """The fake rail's state that is not in the store: keys, bill download tokens."""

    def __init__(self, sim: FakeRails) -> None:
        k = sim.server_keys[FAMILY]
        self.sim = sim
        self.sp_mchid: str = k["sp_mchid"]
        self.sp_appid: str = k["sp_appid"]
        self.platform_key = sign.load_private_key(k["platform_key_path"])
        self.public_key_id: str = k["platform_public_key_id"]
        self.cert_serial: str = k["platform_cert_serial"]
        self.cert_path: str = k["platform_cert_path"]
        self.merchant_serial: str = k["merchant_serial_no"]
        self.merchant_key = sign.load_public_key(k["merchant_cert_path"])
        self.apiv3_key = Path(k["apiv3_key_path"]).read_bytes().strip()
        # what signs notifications: the platform public key (a merchant in public-key mode) or the platform
        # certificate (a merchant that has not switched); a test may change it
        self.notify_mode = "public_key"
        self.bills: dict[str, tuple[bytes, float]] = {}
        self.lock = threading.Lock()

    # answers
    def answer(self, request: Request, status: int, doc: dict[str, Any] | None = None) -> Response:
        """A signed answer: with the platform public key when the caller is in public-key mode (its
        Wechatpay-Serial names our PUB_KEY_ID), else with the platform certificate."""
        body = json.dumps(doc, ensure_ascii=False, separators=(",", ":")) if doc is not None else ""
        serial = (
            self.public_key_id
            if request.headers.get("wechatpay-serial") == self.public_key_id
            else self.cert_serial
        )
        headers = sign.signed_headers(body, serial=serial, key=self.platform_key)
        headers["Request-ID"] = uuid.uuid4().hex
        return Response(
            body.encode(),
            status_code=status,
            headers=headers,
            media_type="application/json" if doc is not None else None,
        )

    def refuse(self, request: Request, exc: _Refused) -> Response:
        return self.answer(request, exc.status, {"code": exc.code, "message": exc.message})

    # requests
    async def verify(self, request: Request) -> bytes:
        """Check the caller's WECHATPAY2-SHA256-RSA2048 Authorization over method, path?query, and body."""
        body = await request.body()
        try:
            fields = sign.parse_authorization(request.headers.get("authorization", ""))
            if fields["mchid"] != self.sp_mchid:
                raise sign.SignatureError("mchid is not a service provider here")
            if fields["serial_no"].upper() != self.merchant_serial:
                raise sign.SignatureError("serial_no is not the merchant's API certificate")
            sign.check_timestamp(fields["timestamp"])
            raw_path = request.scope.get("raw_path") or request.url.path.encode()
            query = request.scope.get("query_string") or b""
            url_path = raw_path.decode() + (f"?{query.decode()}" if query else "")
            message = sign.request_message(
                request.method,
                url_path,
                fields["timestamp"],
                fields["nonce_str"],
                body.decode("utf-8", errors="replace"),
            )
            if not sign.rsa_verify(self.merchant_key, message, fields["signature"]):
                raise sign.SignatureError("signature does not verify")
        except sign.SignatureError as exc:
            raise _Refused(401, "SIGN_ERROR", f"签名错误 / {exc}") from None
        return body

    def sp_check(self, doc: dict[str, Any], *, appid: bool = True) -> str:
        if doc.get("sp_mchid") != self.sp_mchid:
            raise _Refused(400, "PARAM_ERROR", "sp_mchid 与请求的商户号不一致 / sp_mchid is not the caller's")
        if appid and doc.get("sp_appid") != self.sp_appid:
            raise _Refused(
                400, "APPID_MCHID_NOT_MATCH", "sp_appid 与 sp_mchid 不匹配 / appid does not match mchid"
            )
        return self.sub_check(doc.get("sub_mchid"))

    @staticmethod
    def sub_check(sub: object) -> str:
        if not isinstance(sub, str) or not _SUB_MCHID.fullmatch(sub):
            raise _Refused(400, "PARAM_ERROR", "缺少或错误的 sub_mchid / sub_mchid is missing or malformed")
        return sub

    # documents
    def trade_json(self, t: Txn) -> dict[str, Any]:
        state = _trade_state(t, bool(self.sim.store.refunds_of(RAIL, t.out_trade_no)))
        doc: dict[str, Any] = {
            "sp_appid": self.sp_appid,
            "sp_mchid": self.sp_mchid,
            "sub_mchid": t.merchant_code,
            "out_trade_no": t.out_trade_no,
            "trade_type": t.trade_type,
            "trade_state": state,
            "trade_state_desc": _desc(state, t),
            "attach": "",
        }
        if state not in ("NOTPAY",):
            doc["transaction_id"] = t.ref
        if t.status in ("succeeded", "failed", "paying"):
            doc["bank_type"] = wire.bank_type(t.card_issuer, t.card_type)
            doc["payer"] = {"sp_openid": t.payer_ref or "payer_sim"}
        if t.status == "succeeded" and t.finished_at:
            doc["success_time"] = wire.rfc3339(t.finished_at)
        doc["amount"] = {
            "total": t.amount_fen,
            "payer_total": t.amount_fen,
            "currency": "CNY",
            "payer_currency": "CNY",
        }
        return doc

    def refund_json(self, r: Txn, *, notification: bool = False) -> dict[str, Any]:
        account = (
            "支付用户零钱" if r.card_type in (None, "wallet") else f"{(r.card_issuer or '银行').upper()}卡"
        )
        amount = {
            "total": r.total_fen,
            "refund": r.amount_fen,
            "payer_total": r.total_fen,
            "payer_refund": r.amount_fen,
        }
        doc: dict[str, Any] = {
            "sub_mchid": r.merchant_code,
            "out_trade_no": r.out_trade_no,
            "transaction_id": r.extra.get("original_ref", ""),
            "out_refund_no": r.out_refund_no,
            "refund_id": r.ref,
            "user_received_account": account,
        }
        if notification:
            doc |= {"sp_mchid": self.sp_mchid, "refund_status": "SUCCESS", "amount": amount}
        else:
            doc |= {
                "channel": "ORIGINAL",
                "status": "SUCCESS",
                "funds_account": "AVAILABLE",
                "create_time": wire.rfc3339(r.created_at),
                "amount": amount
                | {
                    "settlement_refund": r.amount_fen,
                    "settlement_total": r.total_fen,
                    "discount_refund": 0,
                    "currency": "CNY",
                },
            }
        if r.finished_at:
            doc["success_time"] = wire.rfc3339(r.finished_at)
        return doc

    def notification(self, t: Txn) -> tuple[bytes, dict[str, str]] | None:
        """The signed, encrypted notification WeChat posts for a paid order or a refund (none for a failure)."""
        if t.status != "succeeded":
            return None
        if t.kind == "payment":
            event, summary, kind, resource = (
                "TRANSACTION.SUCCESS",
                "支付成功",
                "transaction",
                self.trade_json(t),
            )
            resource["trade_state"], resource["trade_state_desc"] = "SUCCESS", "支付成功"
        else:
            event, summary, kind, resource = (
                "REFUND.SUCCESS",
                "退款成功",
                "refund",
                self.refund_json(t, notification=True),
            )
        doc = {
            "id": str(uuid.uuid4()),
            "create_time": wire.rfc3339(self.sim.now()),
            "resource_type": "encrypt-resource",
            "event_type": event,
            "summary": summary,
            "resource": {
                "original_type": kind,
                **sign.aes_gcm_encrypt(self.apiv3_key, json.dumps(resource, ensure_ascii=False), kind),
            },
        }
        body = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
        serial = self.public_key_id if self.notify_mode == "public_key" else self.cert_serial
        headers = sign.signed_headers(body, serial=serial, key=self.platform_key)
        headers["Content-Type"] = "application/json"
        return body.encode(), headers

    # bills
    def bill_token(self, data: bytes) -> str:
        token = secrets.token_urlsafe(24)
        now = time.monotonic()
        with self.lock:
            self.bills = {k: v for k, v in self.bills.items() if v[1] > now}
            self.bills[token] = (data, now + BILL_TOKEN_TTL_S)
        return token


def _json(body: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(body)
    except ValueError:
        raise _Refused(400, "PARAM_ERROR", "请求体不是 JSON / the body is not JSON") from None
    if not isinstance(doc, dict):
        raise _Refused(400, "PARAM_ERROR", "请求体不是 JSON 对象 / the body is not a JSON object")
    return doc


def _order_fields(doc: dict[str, Any]) -> tuple[str, int, str]:
    out_trade_no = doc.get("out_trade_no")
    if not isinstance(out_trade_no, str) or not _OUT_NO.fullmatch(out_trade_no):
        raise _Refused(400, "PARAM_ERROR", "out_trade_no 格式错误 / out_trade_no is malformed")
    amount = doc.get("amount")
    total = amount.get("total") if isinstance(amount, dict) else None
    if isinstance(total, bool) or not isinstance(total, int) or total <= 0:
        raise _Refused(
            400, "PARAM_ERROR", "amount.total 须为正整数（分） / amount.total must be positive fen"
        )
    if amount.get("currency", "CNY") != "CNY":  # type: ignore[union-attr]
        raise _Refused(400, "PARAM_ERROR", "仅支持 CNY / only CNY")
    description = doc.get("description")
    if not isinstance(description, str) or not description or len(description) > 127:
        raise _Refused(400, "PARAM_ERROR", "description 必填且不超过 127 字 / description is required")
    return out_trade_no, total, description


_RAILS: weakref.WeakKeyDictionary[FakeRails, WechatRail] = weakref.WeakKeyDictionary()


def rail_of(sim: FakeRails) -> WechatRail:
    """The fake WeChat Pay mounted on a FakeRails (its keys, its notification mode)."""
    return _RAILS[sim]


def router(sim: FakeRails) -> APIRouter:
    rail = _RAILS[sim] = WechatRail(sim)
    store = sim.store
    store.encoders[RAIL] = rail.notification
    r = APIRouter(tags=["fake WeChat Pay"])
    facts = RAILS[0]

    def now() -> dt.datetime:
        return sim.now()

    def owned(t: Txn | None, sub: str) -> Txn:
        if t is None or t.merchant_code != sub:
            raise _Refused(404, "ORDER_NOT_EXIST", "订单不存在 / no such order")
        return t

    @r.post(wire.CODEPAY)
    async def codepay(request: Request) -> Response:
        try:
            doc = _json(await rail.verify(request))
            sub = rail.sp_check(doc)
            out_trade_no, total, description = _order_fields(doc)
            payer = doc.get("payer")
            auth_code = payer.get("auth_code") if isinstance(payer, dict) else None
            if not isinstance(auth_code, str) or not re.fullmatch(facts.paycode_pattern or "", auth_code):
                raise _Refused(400, "PARAM_ERROR", "付款码无效 / payer.auth_code is not a WeChat pay code")
            if not isinstance(doc.get("scene_info"), dict):
                raise _Refused(400, "PARAM_ERROR", "scene_info 必填 / scene_info is required")
            try:
                t, outcome = store.create_order(
                    RAIL,
                    out_trade_no=out_trade_no,
                    merchant_code=sub,
                    amount_fen=total,
                    description=description,
                    notify_url=None,
                    trade_type="MICROPAY",
                    at=now(),
                    auth_code=auth_code,
                    card_types=facts.card_types,
                    ref_prefix=REF_PREFIX,
                    ref_width=REF_WIDTH,
                )
            except ValueError:
                raise _Refused(
                    400, "OUT_TRADE_NO_USED", "商户订单号重复 / out_trade_no already used"
                ) from None
        except _Refused as exc:
            return rail.refuse(request, exc)
        if outcome == "timeout":  # the money is taken, the answer comes too late
            await asyncio.sleep(store.behaviour.hang_s)
        if t.status == "failed":
            code, message = wire.DECLINES.get(t.failure_code or "", ("PAYERROR", "支付失败"))
            return rail.answer(request, 403, {"code": code, "message": message})
        if t.status == "paying":
            return rail.answer(
                request, 200, {"trade_state": "USERPAYING", "trade_state_desc": "需要用户输入支付密码"}
            )
        return rail.answer(request, 200, rail.trade_json(t))

    async def prepay(request: Request, trade_type: str) -> Response:
        try:
            doc = _json(await rail.verify(request))
            sub = rail.sp_check(doc)
            out_trade_no, total, description = _order_fields(doc)
            notify_url = doc.get("notify_url")
            if not isinstance(notify_url, str) or not notify_url.startswith(("http://", "https://")):
                raise _Refused(400, "PARAM_ERROR", "notify_url 必填 / notify_url is required")
            extra: dict[str, Any] = {}
            if trade_type == "JSAPI":
                payer = doc.get("payer")
                openid = (
                    (payer.get("sp_openid") or payer.get("sub_openid")) if isinstance(payer, dict) else None
                )
                if not isinstance(openid, str) or not openid:
                    raise _Refused(
                        400, "PARAM_ERROR", "payer.sp_openid 必填 / the payer's openid is required"
                    )
                extra["openid"] = openid
            expires = None
            if doc.get("time_expire"):
                try:
                    expires = wire.parse_time(str(doc["time_expire"]))
                except ValueError:
                    raise _Refused(
                        400, "PARAM_ERROR", "time_expire 格式错误 / time_expire is not RFC 3339"
                    ) from None
            try:
                t, _ = store.create_order(
                    RAIL,
                    out_trade_no=out_trade_no,
                    merchant_code=sub,
                    amount_fen=total,
                    description=description,
                    notify_url=notify_url,
                    trade_type=trade_type,
                    at=now(),
                    expires_at=expires,
                    card_types=facts.card_types,
                    ref_prefix=REF_PREFIX,
                    ref_width=REF_WIDTH,
                    extra=extra,
                )
            except ValueError:
                raise _Refused(
                    400, "OUT_TRADE_NO_USED", "商户订单号重复 / out_trade_no already used"
                ) from None
            if t.status == "succeeded":
                raise _Refused(400, "ORDERPAID", "该订单已支付 / the order is already paid")
            if t.status in ("closed", "failed"):
                raise _Refused(400, "ORDER_CLOSED", "订单已关闭 / the order is closed")
        except _Refused as exc:
            return rail.refuse(request, exc)
        token = hashlib.sha256(f"{t.ref}".encode()).hexdigest()[:16]
        if trade_type == "JSAPI":
            return rail.answer(
                request, 200, {"prepay_id": f"wx{t.created_at.astimezone(wire.SHANGHAI):%d%H%M%S}{token}"}
            )
        return rail.answer(request, 200, {"code_url": f"weixin://wxpay/bizpayurl?pr={token[:11]}"})

    @r.post(wire.NATIVE)
    async def native(request: Request) -> Response:
        return await prepay(request, "NATIVE")

    @r.post(wire.JSAPI)
    async def jsapi(request: Request) -> Response:
        return await prepay(request, "JSAPI")

    def query_args(request: Request) -> str:
        if request.query_params.get("sp_mchid") != rail.sp_mchid:
            raise _Refused(400, "PARAM_ERROR", "sp_mchid 与请求的商户号不一致 / sp_mchid is not the caller's")
        return rail.sub_check(request.query_params.get("sub_mchid"))

    @r.get("/v3/pay/partner/transactions/out-trade-no/{out_trade_no}")
    async def query(out_trade_no: str, request: Request) -> Response:
        try:
            await rail.verify(request)
            t = owned(store.order(RAIL, out_trade_no), query_args(request))
        except _Refused as exc:
            return rail.refuse(request, exc)
        return rail.answer(request, 200, rail.trade_json(t))

    @r.get("/v3/pay/partner/transactions/id/{transaction_id}")
    async def query_by_id(transaction_id: str, request: Request) -> Response:
        try:
            await rail.verify(request)
            t = store.by_ref(RAIL, transaction_id)
            t = owned(t if t is None or t.kind == "payment" else None, query_args(request))
        except _Refused as exc:
            return rail.refuse(request, exc)
        return rail.answer(request, 200, rail.trade_json(t))

    @r.post("/v3/pay/partner/transactions/out-trade-no/{out_trade_no}/close")
    async def close(out_trade_no: str, request: Request) -> Response:
        try:
            doc = _json(await rail.verify(request))
            sub = rail.sp_check(doc, appid=False)
            t = owned(store.order(RAIL, out_trade_no), sub)
            if t.status == "succeeded":
                raise _Refused(400, "ORDERPAID", "订单已支付 / the order is paid")
            store.close_order(RAIL, out_trade_no, now())
        except _Refused as exc:
            return rail.refuse(request, exc)
        return rail.answer(request, 204)

    @r.post(wire.REFUNDS)
    async def refund(request: Request) -> Response:
        try:
            doc = _json(await rail.verify(request))
            sub = rail.sub_check(doc.get("sub_mchid"))
            if doc.get("out_trade_no"):
                t = store.order(RAIL, str(doc["out_trade_no"]))
            elif doc.get("transaction_id"):
                t = store.by_ref(RAIL, str(doc["transaction_id"]))
            else:
                raise _Refused(400, "PARAM_ERROR", "out_trade_no 或 transaction_id 必填 / name the order")
            if t is None or t.kind != "payment" or t.merchant_code != sub:
                raise _Refused(404, "RESOURCE_NOT_EXISTS", "订单不存在 / no such order")
            out_refund_no = doc.get("out_refund_no")
            if not isinstance(out_refund_no, str) or not _OUT_NO.fullmatch(out_refund_no):
                raise _Refused(400, "PARAM_ERROR", "out_refund_no 格式错误 / out_refund_no is malformed")
            amount = doc.get("amount") if isinstance(doc.get("amount"), dict) else {}
            refund_fen, total_fen = amount.get("refund"), amount.get("total")
            if not isinstance(refund_fen, int) or isinstance(refund_fen, bool) or refund_fen <= 0:
                raise _Refused(
                    400, "PARAM_ERROR", "amount.refund 须为正整数（分） / amount.refund must be positive"
                )
            if total_fen != t.amount_fen:
                raise _Refused(
                    400, "PARAM_ERROR", "amount.total 与订单金额不一致 / amount.total is not the order's"
                )
            try:
                r_ = store.refund(
                    RAIL,
                    out_trade_no=t.out_trade_no,
                    out_refund_no=out_refund_no,
                    amount_fen=refund_fen,
                    at=now(),
                    ref_prefix="50" + REF_PREFIX[2:],
                    ref_width=REF_WIDTH + 1,
                )
            except KeyError:
                raise _Refused(404, "RESOURCE_NOT_EXISTS", "订单不存在 / no such order") from None
            except ValueError as exc:
                reason = {
                    "order_not_paid": "订单未支付 / the order is not paid",
                    "refund_exceeds_payment": "申请退款金额超过订单可退金额 / the refund exceeds what is left",
                }
                raise _Refused(
                    400,
                    "INVALID_REQUEST",
                    reason.get(str(exc), "退款单号已用于其他金额 / out_refund_no already used"),
                ) from None
        except _Refused as exc:
            return rail.refuse(request, exc)
        return rail.answer(request, 200, rail.refund_json(r_))

    @r.get("/v3/refund/domestic/refunds/{out_refund_no}")
    async def refund_query(out_refund_no: str, request: Request) -> Response:
        try:
            await rail.verify(request)
            sub = rail.sub_check(request.query_params.get("sub_mchid"))
            r_ = store.refund_of(RAIL, out_refund_no)
            if r_ is None or r_.merchant_code != sub:
                raise _Refused(404, "RESOURCE_NOT_EXISTS", "退款单不存在 / no such refund")
        except _Refused as exc:
            return rail.refuse(request, exc)
        return rail.answer(request, 200, rail.refund_json(r_))

    @r.get(wire.TRADEBILL)
    async def tradebill(request: Request) -> Response:
        try:
            await rail.verify(request)
            q = request.query_params
            try:
                bill_date = dt.date.fromisoformat(q.get("bill_date", ""))
            except ValueError:
                raise _Refused(
                    400, "PARAM_ERROR", "bill_date 须为 YYYY-MM-DD / bill_date is malformed"
                ) from None
            if bill_date > business_date_of(now()):
                raise _Refused(400, "PARAM_ERROR", "账单日期不能晚于当前日期 / bill_date is in the future")
            bill_type = q.get("bill_type", "ALL")
            if bill_type not in ("ALL", "SUCCESS", "REFUND"):
                raise _Refused(
                    400, "PARAM_ERROR", "bill_type 须为 ALL、SUCCESS 或 REFUND / unknown bill_type"
                )
            tar_type = q.get("tar_type")
            if tar_type not in (None, "GZIP"):
                raise _Refused(400, "PARAM_ERROR", "tar_type 仅支持 GZIP / tar_type must be GZIP")
            lines = sim.statement_lines(RAIL, bill_date)
            if q.get("sub_mchid"):
                lines = [line for line in lines if line.merchant_code == q["sub_mchid"]]
            if bill_type != "ALL":
                lines = [
                    line
                    for line in lines
                    if line.txn_type == ("refund" if bill_type == "REFUND" else "payment")
                ]
            if not lines:
                raise _Refused(400, "NO_STATEMENT_EXIST", "账单文件不存在 / no bill for that date")
            csv = write_wechat(lines, bill_date)
        except _Refused as exc:
            return rail.refuse(request, exc)
        token = rail.bill_token(gzip.compress(csv, mtime=0) if tar_type == "GZIP" else csv)
        return rail.answer(
            request,
            200,
            {
                "hash_type": "SHA1",
                "hash_value": hashlib.sha1(csv).hexdigest(),
                "download_url": f"{sim.base_url}{wire.BILLDOWNLOAD}?token={token}",
            },
        )

    @r.get(wire.BILLDOWNLOAD)
    async def billdownload(request: Request) -> Response:
        try:
            await rail.verify(request)
            with rail.lock:
                found = rail.bills.get(request.query_params.get("token", ""))
            if found is None or found[1] < time.monotonic():
                raise _Refused(400, "INVALID_REQUEST", "下载地址已过期 / the download_url has expired")
        except _Refused as exc:
            return rail.refuse(request, exc)
        return Response(found[0], media_type="application/octet-stream")  # the file itself is not signed

    @r.get(wire.CERTIFICATES)
    async def certificates(request: Request) -> Response:
        try:
            await rail.verify(request)
        except _Refused as exc:
            return rail.refuse(request, exc)
        cert = x509.load_pem_x509_certificate(Path(rail.cert_path).read_bytes())
        enc = sign.aes_gcm_encrypt(rail.apiv3_key, Path(rail.cert_path).read_text(), "certificate")
        enc.pop("algorithm")
        item = {
            "serial_no": rail.cert_serial,
            "effective_time": wire.rfc3339(cert.not_valid_before_utc),
            "expire_time": wire.rfc3339(cert.not_valid_after_utc),
            "encrypt_certificate": {"algorithm": "AEAD_AES_256_GCM", **enc},
        }
        return rail.answer(request, 200, {"data": [item]})

    return r
