"""Personal financial information (JR/T 0171 C2: ID numbers, phones, account numbers): encrypted at rest
with SM4-GCM, shown masked. C3 data (PINs, CVV, passwords) is never stored."""

from __future__ import annotations

import base64
import functools
import os

from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from zhifu.core.config import get_settings
from zhifu.reference import mask_account, mask_id, mask_phone

_VERSION = "s4g1"
__all__ = ["decrypt", "encrypt", "blind_index", "mask_account", "mask_id", "mask_phone"]


@functools.lru_cache(maxsize=4)
def _keys(secret: str) -> tuple[bytes, bytes]:
    material = HKDF(algorithm=hashes.SM3(), length=32, salt=b"zhifu-privacy", info=b"sm4-gcm+sm3-hmac").derive(
        secret.encode())
    return material[:16], material[16:]


def encrypt(plaintext: str) -> str:
    """Encrypt a C2 field; the result is text safe to store."""
    key, _ = _keys(get_settings().secret_key)
    nonce = os.urandom(12)
    enc = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
    ct = enc.update(plaintext.encode()) + enc.finalize()
    return f"{_VERSION}:{base64.b64encode(nonce + ct + enc.tag).decode()}"


def decrypt(token: str) -> str:
    version, _, body = token.partition(":")
    if version != _VERSION:
        raise ValueError("unknown ciphertext version")
    raw = base64.b64decode(body)
    key, _ = _keys(get_settings().secret_key)
    nonce, ct, tag = raw[:12], raw[12:-16], raw[-16:]
    dec = Cipher(algorithms.SM4(key), modes.GCM(nonce, tag)).decryptor()
    return (dec.update(ct) + dec.finalize()).decode()


def blind_index(value: str) -> str:
    """A keyed SM3 digest for exact-match lookups without decrypting."""
    _, key = _keys(get_settings().secret_key)
    h = hmac.HMAC(key, hashes.SM3())
    h.update(value.encode())
    return h.finalize().hex()[:32]
