"""Personal financial information (JR/T 0171 C2: ID numbers, names, phones, account numbers): encrypted at rest
with SM4-GCM under a versioned key ring, shown masked. C3 data (PINs, CVV, passwords) is never stored."""

from __future__ import annotations

from zhifu.privacy.keys import (
    FieldKeyError,
    KeyRing,
    blind_index,
    check_keys,
    decrypt,
    encrypt,
    keyring,
    version_of,
)
from zhifu.reference import mask_account, mask_id, mask_phone

__all__ = [
    "FieldKeyError",
    "KeyRing",
    "blind_index",
    "check_keys",
    "decrypt",
    "encrypt",
    "keyring",
    "mask_account",
    "mask_id",
    "mask_name",
    "mask_phone",
    "version_of",
]


def mask_name(name: str) -> str:
    """A person's name keeps its last character: 张三 → *三, 欧阳娜娜 → ***娜 (as the console shows names)."""
    name = name.strip()
    return name if len(name) <= 1 else "*" * (len(name) - 1) + name[-1]
