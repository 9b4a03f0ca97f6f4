"""Signatures on documents the office issues (turnover evidence): Ed25519 over canonical JSON, with a key derived
from the platform secret under its own label, so a lender holding the published public key can check a copy."""

from __future__ import annotations

import base64
import functools
import json
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from zhifu.core.config import get_settings

KEY_ID: Final = "evidence-ed25519-1"


@functools.lru_cache(maxsize=4)
def _private(secret: str) -> Ed25519PrivateKey:
    seed = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"zhifu-office-evidence", info=KEY_ID.encode()
    ).derive(secret.encode())
    return Ed25519PrivateKey.from_private_bytes(seed)


def canonical(body: dict[str, Any]) -> str:
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


def sign(body: dict[str, Any]) -> str:
    sig = _private(get_settings().secret_key).sign(canonical(body).encode())
    return base64.urlsafe_b64encode(sig).decode().rstrip("=")


def verify(body: dict[str, Any], signature: str) -> bool:
    key = _private(get_settings().secret_key).public_key()
    try:
        key.verify(
            base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)), canonical(body).encode()
        )
    except (InvalidSignature, ValueError):
        return False
    return True


def public_key_pem() -> str:
    return (
        _private(get_settings().secret_key)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
