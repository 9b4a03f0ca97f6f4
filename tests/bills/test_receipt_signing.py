"""Receipts already issued must keep verifying: the key and signature under a given secret are pinned."""

from __future__ import annotations

import pytest

from zhifu.bills import receipts

SIG = "x8rG5SeWSlQt7vrIuDaQJgIYpcw3-ikX-pxg-kr_KxXKxUlbFmGAYVxIPhEWSZopOHxlTclXABL9U0aDodUCAg"


@pytest.fixture
def body(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("ZHIFU_SECRET_KEY", "t7-check-secret")
    return receipts.canonical({"receipt_no": "R1", "amount_fen": 12345, "biller_name": "县水务"})


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
