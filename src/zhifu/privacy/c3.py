"""C3 数据拒收 / C3 data is never stored (JR/T 0171-2020 §4.2: authentication data): the platform refuses any request
that carries a card's verification code (CVV2/CVN2/CVC2), magnetic-stripe track data, a PIN or PIN block, a
payment or login password, or raw biometric data — as a field of the documented body, an unknown extra field,
a nested one, a form field or a query parameter — before any route sees it, with a 400 naming the field.

Names are matched, not models: a field a route does not know is otherwise dropped or refused for being unknown,
and either way it has passed through the process; refusing it here means it is never parsed, logged or kept.
A value shaped like track-2 data (PAN=expiry+service code…) is refused whatever its field is called.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from typing import Any, Final
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from zhifu.core import asgi

# Where the check does not apply: the console's login form (its password is checked and forgotten, never kept)
# and the rails' notifications (their signed wire formats name their own fields).
EXEMPT_PATHS: Final = ("/login", "/notify/")
DEPTH_MAX: Final = 32  # a request nested deeper is not a payment request; the JSON parser refuses it later
FIELDS_MAX: Final = 10_000  # keys looked at per request: the body is already bounded at 64 KB

# (kind, Chinese name, English name) of each refused category
KINDS: Final = {
    "card_verification_code": ("卡片验证码", "card verification code (CVV2/CVN2/CVC2)"),
    "track_data": ("磁道信息", "magnetic-stripe track data"),
    "pin": ("交易密码 / PIN", "PIN or PIN block"),
    "password": ("密码", "password"),
    "biometric": ("生物识别信息", "biometric data"),
}

_TOKENS: Final = {
    "cvv": "card_verification_code",
    "cvv2": "card_verification_code",
    "cvn": "card_verification_code",
    "cvn2": "card_verification_code",
    "cvc": "card_verification_code",
    "cvc2": "card_verification_code",
    "cav2": "card_verification_code",
    "csc": "card_verification_code",
    "track": "track_data",
    "track1": "track_data",
    "track2": "track_data",
    "track3": "track_data",
    "trk2": "track_data",
    "pin": "pin",
    "pinblock": "pin",
    "password": "password",
    "passwd": "password",
    "pwd": "password",
    "passcode": "password",
    "biometric": "biometric",
    "biometrics": "biometric",
    "fingerprint": "biometric",
    "iris": "biometric",
    "voiceprint": "biometric",
    "palmprint": "biometric",
    "faceprint": "biometric",
}
_JOINED: Final = (
    ("securitycode", "card_verification_code"),
    ("verificationvalue", "card_verification_code"),
    ("安全码", "card_verification_code"),
    ("trackdata", "track_data"),
    ("magstripe", "track_data"),
    ("magneticstripe", "track_data"),
    ("磁道", "track_data"),
    ("pinblock", "pin"),
    ("password", "password"),
    ("密码", "password"),
    ("faceimage", "biometric"),
    ("facephoto", "biometric"),
    ("facefeature", "biometric"),
    ("facetemplate", "biometric"),
    ("指纹", "biometric"),
    ("人脸", "biometric"),
    ("虹膜", "biometric"),
    ("声纹", "biometric"),
)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SPLIT = re.compile(r"[^0-9a-z\u4e00-\u9fff]+")
_TRACK2_VALUE = re.compile(r";?\d{12,19}[=D]\d{7,}\??")  # PAN, separator, expiry YYMM, service code, …


@functools.lru_cache(maxsize=4096)  # an API's field names repeat: each is judged once
def kind_of_name(name: str) -> str | None:
    """The C3 category a field name looks like, or None: `cvv2`, `cardCvn2`, `track_2`, `pay_password`, `PIN`."""
    lowered = _CAMEL.sub("_", name).lower()
    tokens = [t for t in _SPLIT.split(lowered) if t]
    for i, t in enumerate(tokens):
        if t in _TOKENS:
            return _TOKENS[t]
        if t == "track" or (t.startswith("track") and t[5:].isdigit()):
            return "track_data"
        if i + 1 < len(tokens) and t == "track" and tokens[i + 1] in ("1", "2", "3"):
            return "track_data"
    joined = "".join(tokens)
    for needle, kind in _JOINED:
        if needle in joined:
            return kind
    return None


def _walk(doc: Any, path: str, depth: int) -> Iterator[tuple[str, Any]]:
    if depth > DEPTH_MAX:
        return
    if isinstance(doc, dict):
        for k, v in doc.items():
            p = f"{path}.{k}" if path else str(k)
            yield p, v
            yield from _walk(v, p, depth + 1)
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            p = f"{path}.{i}" if path else str(i)
            yield from _walk(v, p, depth + 1)


def find_c3(doc: Any) -> tuple[str, str] | None:
    """(the field's path, its C3 category) of the first C3 item in a parsed request, or None."""
    for n, (path, value) in enumerate(_walk(doc, "", 0)):
        if n >= FIELDS_MAX:
            break
        kind = kind_of_name(path.rsplit(".", 1)[-1])
        if kind is None and isinstance(value, str) and _TRACK2_VALUE.fullmatch(value.strip()):
            kind = "track_data"
        if kind is not None:
            return path, kind
    if isinstance(doc, str) and _TRACK2_VALUE.fullmatch(doc.strip()):
        return "", "track_data"
    return None


def refusal(path: str, kind: str) -> dict[str, Any]:
    """The error object: which field, which category, and that nothing was kept."""
    zh, en = KINDS[kind]
    return {
        "error": {
            "type": "invalid_request_error",
            "code": "c3_data_refused",
            "message": f"字段 {path} 是{zh}（C3 类个人金融信息），本平台不收集、不存储；请求未被处理 / field "
            f"{path} is {en}, C3 personal financial information that this platform never collects or "
            "stores; nothing was done",
            "param": path,
        }
    }


def check_request(path: str, query: bytes, content_type: str, body: bytes) -> tuple[str, str] | None:
    """The first C3 field of a request (query string, JSON or form body), or None; the API, the console's forms,
    the cashier and the public pages alike, the login form and the rails' notifications aside."""
    if path.startswith(EXEMPT_PATHS):
        return None
    found = find_c3(dict(parse_qsl(query.decode("latin-1"), keep_blank_values=True))) if query else None
    if found is not None:
        return found
    kind = content_type.split(";")[0].strip().lower()
    if body and kind.endswith("json"):
        try:
            return find_c3(json.loads(body))
        except (ValueError, RecursionError):
            return None  # not JSON: the route refuses it with its own error
    if body and kind == "application/x-www-form-urlencoded":
        return find_c3(dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)))
    return None


class RefuseC3:
    """ASGI middleware: a request carrying C3 data is answered 400 before any route, log or table sees it.
    It sits inside the body limit, so the body it reads is bounded."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path", "").startswith(EXEMPT_PATHS):
            await self.app(scope, receive, send)
            return
        body = await asgi.read_body(receive)
        if body is None:
            return
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        found = check_request(
            scope["path"],
            scope.get("query_string", b""),
            headers.get(b"content-type", b"").decode("latin-1"),
            body,
        )
        if found is not None:
            data = json.dumps(refusal(*found), ensure_ascii=False).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 400,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(data)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": data})
            return
        await self.app(scope, asgi.replaying(body, receive), send)
