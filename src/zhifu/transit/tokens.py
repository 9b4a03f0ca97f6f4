"""Signed credentials a gate can check without a network: the platform's transit QR (a rider's token) and the
scenic e-ticket, both Ed25519 signatures by a key derived from the platform secret. A validator holds only the
public key, so it can verify but never mint.

Formats (ASCII, fit a QR code):
  ride QR   ZR1.<rider_id>.<issued_s>.<expires_s>.<sig>
  e-ticket  ZT1.<merchant_id>.<ticket_id>.<slot_id>.<yyyymmdd>.<people>.<sig>
where <sig> is the unpadded url-safe base64 of the signature over everything before the last dot."""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from zhifu.core import signing

KEY_ID = "transit-ed25519-1"
RIDE_PREFIX = "ZR1"
TICKET_PREFIX = "ZT1"
CREDENTIAL_CHARS_MAX = 200  # a longer string is no credential of ours: refused before any parsing


LABEL = b"zhifu-transit"  # the key's derivation label under the platform secret


def public_key() -> Ed25519PublicKey:
    return signing.private_key(LABEL, KEY_ID).public_key()


def public_key_raw() -> str:
    """The public key as validators receive it on sync: 32 raw bytes, url-safe base64."""
    raw = public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return signing.b64url(raw)


def load_public_key(text: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(signing.unb64url(text))


def _sign(body: str) -> str:
    return f"{body}.{signing.b64url(signing.private_key(LABEL, KEY_ID).sign(body.encode()))}"


def verify(key: Ed25519PublicKey, text: str) -> list[str] | None:
    """The signed fields of a credential, or None when it is forged, altered or malformed."""
    if len(text) > CREDENTIAL_CHARS_MAX or not text.isascii():
        return None
    body, _, sig = text.rpartition(".")
    if not body or not sig:
        return None
    return body.split(".") if signing.verifies(key, sig, body.encode()) else None


def ride_token(rider_id: str, issued_s: int, expires_s: int) -> str:
    assert issued_s < expires_s and "." not in rider_id, (rider_id, issued_s, expires_s)
    return _sign(f"{RIDE_PREFIX}.{rider_id}.{issued_s}.{expires_s}")


def ticket_code(merchant_id: str, ticket_id: str, slot_id: str, day: str, people: int) -> str:
    assert people > 0 and len(day) == 8, (people, day)
    return _sign(f"{TICKET_PREFIX}.{merchant_id}.{ticket_id}.{slot_id}.{day}.{people}")


def paycode_rider(code: str) -> str:
    """A pay code's rider id: the same code is the same rider on every validator, and the id reveals no code."""
    return "pc_" + hashlib.sha256(f"zhifu-transit:{code}".encode()).hexdigest()[:24]
