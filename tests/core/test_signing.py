"""Ed25519 keys derived from the platform secret: one per label and key id, stable, and signatures in unpadded
url-safe base64 that verify only for the message and key they were made for."""

from __future__ import annotations

import pytest

from zhifu.core import signing
from zhifu.core.config import get_settings


def test_keys_are_stable_per_purpose_and_signatures_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZHIFU_SECRET_KEY", "s" * 40)
    get_settings.cache_clear()
    try:
        a = signing.public_key_pem(b"zhifu-a", "k1")
        assert a == signing.public_key_pem(b"zhifu-a", "k1")
        assert a != signing.public_key_pem(b"zhifu-b", "k1") != signing.public_key_pem(b"zhifu-a", "k2")
        key = signing.private_key(b"zhifu-a", "k1")
        sig = signing.b64url(key.sign(b"message"))
        assert "=" not in sig and signing.unb64url(sig) == key.sign(b"message")
        assert signing.verifies(key.public_key(), sig, b"message")
        assert not signing.verifies(key.public_key(), sig, b"messagE")
        assert not signing.verifies(signing.private_key(b"zhifu-b", "k1").public_key(), sig, b"message")
        assert not signing.verifies(key.public_key(), "not base64!", b"message")
        monkeypatch.setenv("ZHIFU_SECRET_KEY", "t" * 40)
        get_settings.cache_clear()
        assert signing.public_key_pem(b"zhifu-a", "k1") != a  # another secret, another key
    finally:
        get_settings.cache_clear()
