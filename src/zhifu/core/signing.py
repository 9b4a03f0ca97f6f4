"""Ed25519 keys derived from the platform secret, one per purpose (a label and a key id), and the unpadded
url-safe base64 the signatures travel in. A holder of the public key can verify but never sign."""

from __future__ import annotations

import base64
import functools

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from zhifu.core.config import get_settings


@functools.lru_cache(maxsize=16)
def _derived(secret: str, label: bytes, key_id: str) -> Ed25519PrivateKey:
    seed = HKDF(algorithm=hashes.SHA256(), length=32, salt=label, info=key_id.encode()).derive(
        secret.encode()
    )
    return Ed25519PrivateKey.from_private_bytes(seed)


def private_key(label: bytes, key_id: str) -> Ed25519PrivateKey:
    """The key for this purpose under the platform secret: the same secret, label and id always give the same
    key; another label or id, an unrelated one."""
    return _derived(get_settings().secret_key, label, key_id)


def public_key_pem(label: bytes, key_id: str) -> str:
    return (
        private_key(label, key_id)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def b64url(raw: bytes) -> str:
    """Url-safe base64 without padding (fits a QR code and a URL)."""
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def unb64url(text: str) -> bytes:
    """The bytes of `b64url`'s text; ValueError when it is not base64."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def verifies(key: Ed25519PublicKey, signature: str, message: bytes) -> bool:
    """Whether `signature` (b64url) is the key's signature over `message`; a malformed one does not verify."""
    try:
        key.verify(unb64url(signature), message)
    except (InvalidSignature, ValueError):
        return False
    return True
