"""WeChat Pay API v3 signing: `WECHATPAY2-SHA256-RSA2048` (SHA256withRSA, PKCS#1 v1.5) on requests, responses and
notifications, and AEAD_AES_256_GCM under the APIv3 key for a notification's `resource`.

A request's signature covers "METHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nBODY\\n" and travels in the Authorization
header (mchid, nonce_str, signature, timestamp, serial_no). A response or notification's covers
"TIMESTAMP\\nNONCE\\nBODY\\n" and travels in the Wechatpay-Signature, -Timestamp, -Nonce and -Serial headers; the
serial names the platform public key (PUB_KEY_ID_...) or the platform certificate (its hex serial) that verifies it.
Both sides of the protocol use these functions: our connector and the fake rail.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import time
from collections.abc import Mapping
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SCHEMA = "WECHATPAY2-SHA256-RSA2048"
TIMESTAMP_SKEW_S = 300  # WeChat Pay: refuse a signed message whose timestamp is more than 5 minutes off
_AUTH_FIELD = re.compile(r'(\w+)="([^"]*)"')


class SignatureError(Exception):
    """A signature, serial, timestamp or ciphertext that does not verify. The message never carries a secret."""


def load_private_key(path: str | Path) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{path} is not an RSA private key")
    return key


def load_public_key(path: str | Path) -> rsa.RSAPublicKey:
    """A PEM public key, or the public key of a PEM certificate."""
    data = Path(path).read_bytes()
    key = (
        x509.load_pem_x509_certificate(data).public_key()
        if b"CERTIFICATE" in data
        else serialization.load_pem_public_key(data)
    )
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError(f"{path} is not an RSA public key")
    return key


def cert_serial(path: str | Path) -> str:
    """A certificate's serial as WeChat Pay writes it: upper-case hex."""
    return f"{x509.load_pem_x509_certificate(Path(path).read_bytes()).serial_number:X}"


def rsa_sign(key: rsa.RSAPrivateKey, message: str) -> str:
    return base64.b64encode(key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()


def rsa_verify(key: rsa.RSAPublicKey, message: str, signature: str) -> bool:
    try:
        key.verify(
            base64.b64decode(signature, validate=True), message.encode(), padding.PKCS1v15(), hashes.SHA256()
        )
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def nonce_str() -> str:
    return secrets.token_hex(16).upper()


def request_message(method: str, url_path: str, timestamp: str, nonce: str, body: str) -> str:
    return f"{method}\n{url_path}\n{timestamp}\n{nonce}\n{body}\n"


def authorization(
    method: str,
    url_path: str,
    body: str,
    *,
    mchid: str,
    serial_no: str,
    key: rsa.RSAPrivateKey,
    timestamp: int | None = None,
    nonce: str | None = None,
) -> str:
    """The Authorization header of a request to WeChat Pay (url_path includes the query string)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    n = nonce or nonce_str()
    sig = rsa_sign(key, request_message(method, url_path, ts, n, body))
    return (
        f'{SCHEMA} mchid="{mchid}",nonce_str="{n}",signature="{sig}",timestamp="{ts}",serial_no="{serial_no}"'
    )


def parse_authorization(header: str) -> dict[str, str]:
    """The fields of an Authorization header; SignatureError if it is not WECHATPAY2-SHA256-RSA2048."""
    schema, _, rest = header.strip().partition(" ")
    if schema != SCHEMA:
        raise SignatureError("authorization schema is not " + SCHEMA)
    fields = dict(_AUTH_FIELD.findall(rest))
    missing = {"mchid", "nonce_str", "signature", "timestamp", "serial_no"} - fields.keys()
    if missing:
        raise SignatureError(f"authorization lacks {', '.join(sorted(missing))}")
    return fields


def check_timestamp(timestamp: str, now: float | None = None) -> None:
    try:
        ts = int(timestamp)
    except ValueError:
        raise SignatureError("timestamp is not a number") from None
    if abs((time.time() if now is None else now) - ts) > TIMESTAMP_SKEW_S:
        raise SignatureError("timestamp is more than 5 minutes off")


def signed_headers(
    body: str, *, serial: str, key: rsa.RSAPrivateKey, timestamp: int | None = None
) -> dict[str, str]:
    """The Wechatpay-* headers the platform puts on a response or a notification."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    n = nonce_str()
    return {
        "Wechatpay-Timestamp": ts,
        "Wechatpay-Nonce": n,
        "Wechatpay-Serial": serial,
        "Wechatpay-Signature": rsa_sign(key, f"{ts}\n{n}\n{body}\n"),
        "Wechatpay-Signature-Type": SCHEMA,
    }


def verify_platform(
    headers: Mapping[str, str], body: str, keys: Mapping[str, rsa.RSAPublicKey], *, now: float | None = None
) -> str:
    """Verify a response's or notification's Wechatpay-* signature against the platform key its serial names;
    returns the serial. SignatureError when a header is missing, the serial unknown, the timestamp stale or the
    signature wrong."""
    h = {k.lower(): v for k, v in headers.items()}
    sig, ts, nonce, serial = (h.get(f"wechatpay-{n}") for n in ("signature", "timestamp", "nonce", "serial"))
    if not (sig and ts and nonce and serial):
        raise SignatureError("Wechatpay-Signature, -Timestamp, -Nonce or -Serial header is missing")
    if h.get("wechatpay-signature-type", SCHEMA) != SCHEMA:
        raise SignatureError("signature type is not " + SCHEMA)
    key = keys.get(serial) or keys.get(serial.upper())
    if key is None:
        raise SignatureError(f"no platform key or certificate with serial {serial[:40]!r}")
    check_timestamp(ts, now)
    if not rsa_verify(key, f"{ts}\n{nonce}\n{body}\n", sig):
        raise SignatureError("signature does not verify")
    return serial


def aes_gcm_encrypt(
    apiv3_key: bytes, plaintext: str, associated_data: str, nonce: str | None = None
) -> dict[str, str]:
    """A notification's `resource`: AEAD_AES_256_GCM with a 12-character nonce, ciphertext in base64."""
    n = nonce or secrets.token_hex(6)
    ct = AESGCM(apiv3_key).encrypt(n.encode(), plaintext.encode(), associated_data.encode())
    return {
        "algorithm": "AEAD_AES_256_GCM",
        "ciphertext": base64.b64encode(ct).decode(),
        "associated_data": associated_data,
        "nonce": n,
    }


def aes_gcm_decrypt(apiv3_key: bytes, resource: Mapping[str, object]) -> str:
    if resource.get("algorithm") != "AEAD_AES_256_GCM":
        raise SignatureError("resource algorithm is not AEAD_AES_256_GCM")
    try:
        nonce = str(resource["nonce"]).encode()
        ct = base64.b64decode(str(resource["ciphertext"]), validate=True)
        ad = str(resource.get("associated_data") or "").encode()
        return AESGCM(apiv3_key).decrypt(nonce, ct, ad).decode()
    except (KeyError, InvalidTag, binascii.Error, ValueError, UnicodeDecodeError):
        raise SignatureError("resource does not decrypt under the APIv3 key") from None
