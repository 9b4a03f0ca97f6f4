"""Receipts already issued must keep verifying: the key and signature under a given secret are pinned."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from zhifu.bills import receipts
from zhifu.core.config import get_settings

SIG = "s771FSNvB84SceqHIrpTa3dXRg6cmtvpPrF7RRKDFwSBZP60bgSUW7Vka_zRcBNLNW_ybXz7SdODCVIc_Ym0Dw"


@pytest.fixture
def body(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("ZHIFU_SECRET_KEY", "receipt-pin-secret-0123456789abcdef")
    get_settings.cache_clear()
    try:
        yield receipts.canonical({"receipt_no": "R1", "amount_fen": 12345, "biller_name": "县水务"})
    finally:
        get_settings.cache_clear()


def test_signature_is_pinned_and_verifies(body: str) -> None:
    assert receipts.sign(body) == SIG
    assert receipts.verify(body, SIG)


def test_altered_or_malformed_does_not_verify(body: str) -> None:
    assert not receipts.verify(body + "x", SIG)
    assert not receipts.verify(body, SIG[:-2])
    assert not receipts.verify(body, "!!bad")


def test_public_key_is_the_receipts_key(body: str) -> None:
    pem = receipts.public_key_pem()
    assert pem.startswith("-----BEGIN PUBLIC KEY-----")
    assert "MCowBQYDK2VwAyEA" in pem
