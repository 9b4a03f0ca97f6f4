"""Signatures on documents the office issues (turnover evidence): Ed25519 over canonical JSON, with a key derived
from the platform secret under its own label, so a lender holding the published public key can check a copy."""

from __future__ import annotations

import json
from typing import Any, Final

from zhifu.core import signing

KEY_ID: Final = "evidence-ed25519-1"


LABEL: Final = b"zhifu-office-evidence"  # the key's derivation label under the platform secret


def canonical(body: dict[str, Any]) -> str:
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


def sign(body: dict[str, Any]) -> str:
    return signing.b64url(signing.private_key(LABEL, KEY_ID).sign(canonical(body).encode()))


def verify(body: dict[str, Any], signature: str) -> bool:
    return signing.verifies(
        signing.private_key(LABEL, KEY_ID).public_key(), signature, canonical(body).encode()
    )


def public_key_pem() -> str:
    return signing.public_key_pem(LABEL, KEY_ID)
