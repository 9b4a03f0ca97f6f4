"""Our connector to WeChat Pay API v3 in service-provider (partner) mode: we are the service provider (sp_mchid,
sp_appid) and each of our merchants is a sub-merchant (sub_mchid = merchant_code(merchant_id)).

Every request is signed with the service provider's API key (Authorization: WECHATPAY2-SHA256-RSA2048 ...), every
answer below 500 must carry a platform signature that verifies against the platform public key (PUB_KEY_ID_...)
or the platform certificate its Wechatpay-Serial names, and notifications are verified the same way before their
AEAD_AES_256_GCM `resource` is decrypted with the APIv3 key.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

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
from zhifu.channels.wechat import sign, wire
from zhifu.channels.wechat.statement import parse_wechat, write_wechat
from zhifu.core.errors import InvalidRequest

log = logging.getLogger("zhifu.channels.wechat")
SUB_MCHIDS_KEPT = (
    100_000  # payment id -> sub_mchid remembered from create, for the calls that do not name one
)


class WechatConnector:
    """One WeChat Pay rail (`wechat`) reached through the service provider's keys."""

    def __init__(self, facts: RailFacts, config: Mapping[str, Any], http: RailHttp) -> None:
        self.facts = facts
        self.http = http
        try:
            self.sp_mchid = str(config["sp_mchid"])
            self.sp_appid = str(config["sp_appid"])
            self.serial_no = str(config["merchant_serial_no"])
            self._key = sign.load_private_key(config["merchant_private_key_path"])
            with open(config["apiv3_key_path"], "rb") as f:
                self._apiv3_key = f.read().strip()
            platform: dict[str, Any] = {}
            if config.get("platform_public_key_id"):
                platform[str(config["platform_public_key_id"])] = sign.load_public_key(
                    config["platform_public_key_path"]
                )
            if config.get("platform_cert_path"):
                platform[sign.cert_serial(config["platform_cert_path"])] = sign.load_public_key(
                    config["platform_cert_path"]
                )
        except (KeyError, OSError, ValueError) as exc:
            raise InvalidRequest(
                f"微信支付配置不完整 / WeChat Pay configuration is incomplete: {type(exc).__name__} "
                f"{exc.args[0] if isinstance(exc, KeyError) else ''}".strip(),
                param="channel",
            ) from None
        if len(self._apiv3_key) != 32:
            raise InvalidRequest("APIv3 密钥须为 32 字节 / the APIv3 key must be 32 bytes", param="channel")
        if not platform:
            raise InvalidRequest(
                "缺少微信支付平台公钥或平台证书 / no WeChat Pay platform public key or certificate",
                param="channel",
            )
        self._platform = platform
        # in public-key mode every request names the platform key it expects answers signed with
        self._serial_header = str(config.get("platform_public_key_id") or "")
        base = str(config.get("notify_url_base") or "").rstrip("/")
        if not base.startswith(("http://", "https://")):
            raise InvalidRequest(
                "微信支付配置缺少 notify_url_base / the WeChat Pay configuration has no notify_url_base",
                param="channel",
            )
        self.notify_url = f"{base}/notify/{facts.name}"
        self._subs: OrderedDict[str, str] = OrderedDict()
        self._subs_lock = threading.Lock()

    # -- plumbing
    def _remember(self, payment_id: str, sub_mchid: str) -> None:
        with self._subs_lock:
            self._subs[payment_id] = sub_mchid
            self._subs.move_to_end(payment_id)
            while len(self._subs) > SUB_MCHIDS_KEPT:
                self._subs.popitem(last=False)

    def _sub(self, payment_id: str, merchant_id: str | None) -> str | None:
        if merchant_id is not None:
            sub = merchant_code(merchant_id)
            self._remember(payment_id, sub)
            return sub
        with self._subs_lock:
            return self._subs.get(payment_id)

    def _call(
        self, method: str, path: str, doc: Mapping[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        """One signed call; the answer's platform signature is verified. Returns (HTTP status, JSON body)."""
        body = json.dumps(doc, ensure_ascii=False, separators=(",", ":")) if doc is not None else ""
        headers = {
            "Accept": "application/json",
            "Authorization": sign.authorization(
                method, path, body, mchid=self.sp_mchid, serial_no=self.serial_no, key=self._key
            ),
        }
        if doc is not None:
            headers["Content-Type"] = "application/json"
        if self._serial_header:
            headers["Wechatpay-Serial"] = self._serial_header
        r = self.http.request(
            method, path, content=body.encode() if doc is not None else None, headers=headers
        )
        text = r.content.decode("utf-8", errors="replace")
        try:
            sign.verify_platform(r.headers, text, self._platform)
        except sign.SignatureError as exc:
            log.warning("wechat %s %s: answer refused: %s", method, path.split("?")[0], exc)
            raise RailError(
                self.facts.name,
                f"answer to {method} {path.split('?')[0]} is not signed by the platform: {exc}",
            ) from None
        if not text:
            return r.status_code, {}
        try:
            data = json.loads(text)
        except ValueError:
            raise RailError(self.facts.name, f"answer to {method} {path.split('?')[0]} is not JSON") from None
        if not isinstance(data, dict):
            raise RailError(self.facts.name, f"answer to {method} {path.split('?')[0]} is not a JSON object")
        return r.status_code, data

    def _unexpected(self, what: str, status: int, data: Mapping[str, Any]) -> RailError:
        return RailError(self.facts.name, f"{what} answered HTTP {status} {data.get('code', '')}".strip())

    # -- payments
    def create(self, order: PaymentOrder) -> ChannelResult:
        sub = merchant_code(order.merchant_id)
        self._remember(order.payment_id, sub)
        doc: dict[str, Any] = {
            "sp_appid": self.sp_appid,
            "sp_mchid": self.sp_mchid,
            "sub_mchid": sub,
            "description": order.description[:127] or "-",
            "out_trade_no": order.payment_id,
            "amount": {"total": order.amount_fen, "currency": "CNY"},
        }
        if order.flow == "pay_code":
            if not order.auth_code:
                raise InvalidRequest(
                    "付款码支付须有付款码 / a pay-code payment needs the auth_code", param="auth_code"
                )
            doc |= {"payer": {"auth_code": order.auth_code}, "scene_info": {"store_info": {"out_id": sub}}}
            status, data = self._call("POST", wire.CODEPAY, doc)
            if status == 200:
                return self._trade(data)
            if status == 202 or data.get("code") == "USERPAYING":
                return ChannelResult("processing")
            decline = wire.DECLINE_BY_CODE.get(str(data.get("code")))
            if decline is not None or status in (400, 403):
                return ChannelResult(
                    "failed",
                    failure_code=decline or str(data.get("code", "")).lower() or None,
                    failure_message=str(data.get("message", ""))[:200] or None,
                )
            raise self._unexpected("codepay", status, data)
        if order.flow not in ("dynamic_code", "static_code", "jsapi"):  # a shop's code opens a Native order
            raise InvalidRequest(
                f"微信支付不支持 {order.flow} / WeChat Pay takes pay codes, Native and JSAPI orders",
                param="flow",
            )
        doc |= {"time_expire": wire.rfc3339(order.expires_at), "notify_url": self.notify_url}
        if order.flow == "jsapi":
            if not order.payer_openid:
                raise InvalidRequest(
                    "JSAPI 支付须有付款人 openid / a JSAPI order needs the payer's openid",
                    param="payer_openid",
                )
            doc["payer"] = {"sp_openid": order.payer_openid}
            status, data = self._call("POST", wire.JSAPI, doc)
            if status == 200 and data.get("prepay_id"):
                return ChannelResult("awaiting", code_url=f"prepay_id={data['prepay_id']}")
        else:
            status, data = self._call("POST", wire.NATIVE, doc)
            if status == 200 and data.get("code_url"):
                return ChannelResult("awaiting", code_url=str(data["code_url"]))
        if 400 <= status < 500 and data.get("code"):
            return ChannelResult(
                "failed",
                failure_code=str(data["code"]).lower(),
                failure_message=str(data.get("message", ""))[:200] or None,
            )
        raise self._unexpected(order.flow, status, data)

    def _trade(self, data: Mapping[str, Any]) -> ChannelResult:
        state = str(data.get("trade_state", ""))
        status = wire.TRADE_STATES.get(state)
        if status is None:
            raise RailError(self.facts.name, f"unknown trade_state {state[:20]!r}")
        if data.get("sp_mchid") not in (None, self.sp_mchid):
            raise RailError(self.facts.name, "answer names another service provider")
        issuer, card_type = wire.card_of(data.get("bank_type"))
        payer = data.get("payer") or {}
        amount = data.get("amount") or {}
        failure = None
        if status == "failed":
            failure = wire.DECLINE_BY_DESC.get(str(data.get("trade_state_desc", "")), "payerror")
        return ChannelResult(
            status,
            channel_ref=data.get("transaction_id"),
            failure_code=failure,
            failure_message=(str(data.get("trade_state_desc"))[:200] if failure else None),
            payer_ref=payer.get("sub_openid") or payer.get("sp_openid"),
            card_issuer=issuer,
            card_type=card_type,
            amount_fen=amount.get("total"),
        )

    def query(self, payment_id: str, merchant_id: str | None = None) -> ChannelResult:
        sub = self._sub(payment_id, merchant_id)
        path = wire.BY_OUT_TRADE_NO.format(out_trade_no=payment_id) + f"?sp_mchid={self.sp_mchid}"
        if sub:
            path += f"&sub_mchid={sub}"
        status, data = self._call("GET", path)
        if status == 200:
            return self._trade(data)
        if status == 404 and data.get("code") == "ORDER_NOT_EXIST":
            return ChannelResult("unknown", failure_code="order_not_exist")
        raise self._unexpected("query", status, data)

    def close(self, payment_id: str, merchant_id: str | None = None) -> ChannelResult:
        sub = self._sub(payment_id, merchant_id)
        status, data = self._call(
            "POST",
            wire.CLOSE.format(out_trade_no=payment_id),
            {"sp_mchid": self.sp_mchid, **({"sub_mchid": sub} if sub else {})},
        )
        if status in (200, 204) or data.get("code") in ("ORDER_CLOSED", "ORDER_NOT_EXIST"):
            return ChannelResult("closed")
        if data.get("code") == "ORDERPAID":
            return self.query(payment_id, merchant_id)
        raise self._unexpected("close", status, data)

    # -- refunds
    def refund(
        self, payment_id: str, refund_id: str, amount_fen: int, total_fen: int, merchant_id: str | None = None
    ) -> ChannelResult:
        sub = self._sub(payment_id, merchant_id)
        doc: dict[str, Any] = {
            "out_trade_no": payment_id,
            "out_refund_no": refund_id,
            "notify_url": self.notify_url,
            "amount": {"refund": amount_fen, "total": total_fen, "currency": "CNY"},
        }
        if sub:
            doc["sub_mchid"] = sub
        status, data = self._call("POST", wire.REFUNDS, doc)
        if status == 200:
            return self._refund(data)
        if status == 404 and data.get("code") in ("RESOURCE_NOT_EXISTS", "ORDER_NOT_EXIST"):
            return ChannelResult("unknown", failure_code="order_not_exist")
        if status in (400, 403) and data.get("code") not in (None, "PARAM_ERROR", "SIGN_ERROR"):
            return ChannelResult(
                "failed",
                failure_code=str(data["code"]).lower(),
                failure_message=str(data.get("message", ""))[:200] or None,
            )
        raise self._unexpected("refund", status, data)

    def _refund(self, data: Mapping[str, Any]) -> ChannelResult:
        state = str(data.get("status", ""))
        status = wire.REFUND_STATES.get(state)
        if status is None:
            raise RailError(self.facts.name, f"unknown refund status {state[:20]!r}")
        amount = data.get("amount") or {}
        return ChannelResult(
            status,
            channel_ref=data.get("refund_id"),
            amount_fen=amount.get("refund"),
            failure_code=state.lower() if status == "failed" else None,
        )

    def refund_query(self, payment_id: str, refund_id: str, merchant_id: str | None = None) -> ChannelResult:
        sub = self._sub(payment_id, merchant_id)
        path = wire.REFUND.format(out_refund_no=refund_id) + (f"?sub_mchid={sub}" if sub else "")
        status, data = self._call("GET", path)
        if status == 200:
            if data.get("out_trade_no") not in (None, payment_id):
                raise RailError(self.facts.name, "refund answer names another order")
            return self._refund(data)
        if status == 404 and data.get("code") in ("RESOURCE_NOT_EXISTS", "ORDER_NOT_EXIST"):
            return ChannelResult("unknown", failure_code="refund_not_exist")
        raise self._unexpected("refund query", status, data)

    # -- notifications
    def parse_notification(self, body: bytes, headers: Mapping[str, str]) -> Notification:
        text = body.decode("utf-8", errors="replace")
        try:
            sign.verify_platform(headers, text, self._platform)
        except sign.SignatureError as exc:
            raise BadNotification(f"微信支付通知验签失败 / WeChat Pay notification refused: {exc}") from None
        try:
            doc = json.loads(text)
            resource = doc["resource"]
            event = str(doc["event_type"])
            notify_id = str(doc["id"])
        except (ValueError, KeyError, TypeError):
            raise BadNotification("微信支付通知格式错误 / WeChat Pay notification is malformed") from None
        if doc.get("resource_type") != "encrypt-resource" or not isinstance(resource, dict):
            raise BadNotification(
                "微信支付通知没有加密资源 / WeChat Pay notification has no encrypted resource"
            )
        try:
            plain = json.loads(sign.aes_gcm_decrypt(self._apiv3_key, resource))
        except sign.SignatureError as exc:
            raise BadNotification(f"微信支付通知解密失败 / WeChat Pay notification refused: {exc}") from None
        except ValueError:
            raise BadNotification("微信支付通知资源不是 JSON / the decrypted resource is not JSON") from None
        if plain.get("sp_mchid") != self.sp_mchid:
            raise BadNotification(
                "微信支付通知属于其他服务商 / the notification is for another service provider"
            )
        try:
            if event == "TRANSACTION.SUCCESS":
                r = self._trade(plain)
                if r.status != "succeeded":
                    raise BadNotification(f"支付通知状态 {plain.get('trade_state')} / unexpected trade_state")
                return Notification(
                    notify_id=notify_id,
                    kind="payment",
                    payment_id=str(plain["out_trade_no"]),
                    outcome="succeeded",
                    channel_ref=r.channel_ref,
                    amount_fen=int(plain["amount"]["total"]),
                    payer_ref=r.payer_ref,
                    card_issuer=r.card_issuer,
                    card_type=r.card_type,
                    merchant_code=plain.get("sub_mchid"),
                )
            if event in ("REFUND.SUCCESS", "REFUND.ABNORMAL", "REFUND.CLOSED"):
                ok = plain.get("refund_status") == "SUCCESS" and event == "REFUND.SUCCESS"
                return Notification(
                    notify_id=notify_id,
                    kind="refund",
                    payment_id=str(plain["out_trade_no"]),
                    outcome="succeeded" if ok else "failed",
                    channel_ref=plain.get("refund_id"),
                    amount_fen=int(plain["amount"]["refund"]),
                    refund_id=str(plain["out_refund_no"]),
                    failure_code=None if ok else str(plain.get("refund_status", "")).lower() or None,
                    merchant_code=plain.get("sub_mchid"),
                )
        except (KeyError, TypeError, ValueError, RailError) as exc:
            raise BadNotification(
                f"微信支付通知字段错误 / WeChat Pay notification fields: {type(exc).__name__}"
            ) from None
        raise BadNotification(f"未知的微信支付通知类型 / unknown event_type {event[:40]!r}")

    def notification_ack(self, accepted: bool) -> NotificationAck:
        if accepted:
            return NotificationAck(204, b"", "application/json")
        return NotificationAck(
            400,
            json.dumps({"code": "FAIL", "message": "失败 / refused"}, ensure_ascii=False).encode(),
            "application/json",
        )

    # -- statements
    def fetch_statement(self, business_date: dt.date) -> bytes:
        """The trade bill (交易账单) of all sub-merchants for a date: ask for its download_url, then download it
        (gzipped) and check its SHA1 against the hash the first answer gave."""
        path = f"{wire.TRADEBILL}?bill_date={business_date.isoformat()}&bill_type=ALL&tar_type=GZIP"
        status, data = self._call("GET", path)
        if (
            status == 400 and data.get("code") == "NO_STATEMENT_EXIST"
        ):  # no transaction that day: an empty bill
            return write_wechat([], business_date)
        if status != 200:
            raise RailError(
                self.facts.name,
                f"trade bill of {business_date} refused: HTTP {status} "
                f"{data.get('code', '')} {str(data.get('message', ''))[:80]}".strip(),
            )
        url = str(data.get("download_url", ""))
        ours, theirs = urlsplit(self.http.base_url), urlsplit(url)
        if (theirs.scheme, theirs.netloc) != (ours.scheme, ours.netloc):
            raise RailError(self.facts.name, "download_url is not on the rail's host")
        signed_path = theirs.path + (f"?{theirs.query}" if theirs.query else "")
        auth = sign.authorization(
            "GET", signed_path, "", mchid=self.sp_mchid, serial_no=self.serial_no, key=self._key
        )
        r = self.http.request("GET", url, headers={"Authorization": auth})
        if r.status_code != 200:
            raise RailError(self.facts.name, f"bill download answered HTTP {r.status_code}")
        raw = r.content
        if raw[:2] == b"\x1f\x8b":
            try:
                raw = gzip.decompress(raw)
            except (OSError, EOFError):
                raise RailError(self.facts.name, "bill download is not a valid gzip file") from None
        hash_type = str(data.get("hash_type", "SHA1")).upper()
        if hash_type != "SHA1" or hashlib.sha1(raw).hexdigest() != str(data.get("hash_value", "")).lower():
            raise RailError(self.facts.name, "bill download does not match its hash")
        return raw

    def parse_statement(self, data: bytes, business_date: dt.date) -> list[StatementLine]:
        return parse_wechat(data, business_date, self.facts.name)

    def write_statement(self, lines: Sequence[StatementLine], business_date: dt.date) -> bytes:
        return write_wechat(lines, business_date)


__all__ = ["WechatConnector"]
