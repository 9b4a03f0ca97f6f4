"""Alipay OpenAPI signing (RSA2 = SHA256withRSA, PKCS#1 v1.5, base64): the content a request, a response and an
asynchronous notification are signed over, and the exact response text the `sign` beside it covers.

- A request is signed over its parameters sorted by name as `k=v` joined by `&` (raw values, not URL-encoded),
  without `sign` and without empty values; `sign_type` is included.
- A notification likewise, but without `sign` and `sign_type`.
- A response `{"<method>_response": {...}, "sign": "..."}` is signed over the exact JSON text of the
  `<method>_response` value as it appears in the answer (not a re-serialisation).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

SIGN_TYPE = "RSA2"


def load_private_key(path: str | Path) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{Path(path).name} is not an RSA private key")
    return key


def load_public_key(path: str | Path) -> rsa.RSAPublicKey:
    key = serialization.load_pem_public_key(Path(path).read_bytes())
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError(f"{Path(path).name} is not an RSA public key")
    return key


def content(params: Mapping[str, str], *, notification: bool = False) -> str:
    """The text a request (or, with `notification`, a notification) is signed over."""
    skip = {"sign", "sign_type"} if notification else {"sign"}
    return "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k not in skip and v not in ("", None))


def sign(key: rsa.RSAPrivateKey, text: str) -> str:
    return base64.b64encode(key.sign(text.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()


def verify(key: rsa.RSAPublicKey, text: str, signature: str) -> bool:
    try:
        raw = base64.b64decode(signature.encode(), validate=True)
    except (binascii.Error, ValueError):
        return False
    try:
        key.verify(raw, text.encode(), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def response_type(method: str) -> str:
    """alipay.trade.query -> alipay_trade_query_response."""
    return method.replace(".", "_") + "_response"


def top_level_texts(raw: str) -> dict[str, str]:
    """The exact JSON text of each top-level value of a JSON object (ValueError if `raw` is not one)."""
    dec = json.JSONDecoder()
    out: dict[str, str] = {}
    i = _skip(raw, 0)
    if i >= len(raw) or raw[i] != "{":
        raise ValueError("not a JSON object")
    i = _skip(raw, i + 1)
    if i < len(raw) and raw[i] == "}":
        return out
    while True:
        key, i = dec.raw_decode(raw, i)
        if not isinstance(key, str):
            raise ValueError("a key is not a string")
        i = _skip(raw, i)
        if i >= len(raw) or raw[i] != ":":
            raise ValueError("a key has no value")
        start = _skip(raw, i + 1)
        _, end = dec.raw_decode(raw, start)
        out[key] = raw[start:end]
        i = _skip(raw, end)
        if i < len(raw) and raw[i] == ",":
            i = _skip(raw, i + 1)
            continue
        if i < len(raw) and raw[i] == "}" and not raw[i + 1 :].strip():
            return out
        raise ValueError("malformed JSON object")


def _skip(raw: str, i: int) -> int:
    while i < len(raw) and raw[i] in " \t\r\n":
        i += 1
    return i


def signed_response(
    key: rsa.RSAPrivateKey, method: str, body: Mapping[str, object], *, signed: bool = True
) -> str:
    """The gateway's answer: `{"<method>_response": <text>, "sign": <RSA2 over text>}`."""
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    if not signed:
        return f'{{"{response_type(method)}":{text}}}'
    return f'{{"{response_type(method)}":{text},"sign":"{sign(key, text)}"}}'
