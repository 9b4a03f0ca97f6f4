"""商户身份 / A merchant's routes get a MerchantPrincipal: its merchant id is always there; an operator's key is
refused before any service is called."""

from __future__ import annotations

import pydantic
import pytest

from zhifu.merchants import MerchantPrincipal, Principal, as_merchant


def test_as_merchant_keeps_the_merchant_and_refuses_the_rest() -> None:
    p = as_merchant(Principal(key_id="key_1", role="merchant", merchant_id="mch_1"))
    assert isinstance(p, MerchantPrincipal) and isinstance(p, Principal)
    assert (p.key_id, p.role, p.merchant_id) == ("key_1", "merchant", "mch_1")
    assert as_merchant(Principal(key_id="key_2", role="operator", merchant_id=None)) is None
    assert as_merchant(Principal(key_id="key_3", role="merchant", merchant_id=None)) is None
    with pytest.raises(pydantic.ValidationError):
        p.merchant_id = "mch_2"  # frozen: a request's principal never changes merchant
    with pytest.raises(pydantic.ValidationError):
        MerchantPrincipal(key_id="key_4", merchant_id=None)  # type: ignore[arg-type]


def test_merchant_routes_refuse_an_operator_key_and_serve_the_merchant(platform) -> None:  # type: ignore[no-untyped-def]
    mid, mh = platform.merchant()
    body = {"amount_fen": 1_000, "merchant_order_no": "p-1", "channel": "wechat"}
    r = platform.client.post("/v1/payments", json=body, headers=platform.op)
    assert r.status_code == 403
    assert r.json()["error"]["param"] == "authorization"
    assert "merchant's key" in r.json()["error"]["message"]
    assert (
        platform.client.get("/v1/payments", headers=platform.op).json()["error"]["param"] == "authorization"
    )
    made = platform.client.post("/v1/payments", json=body, headers=mh)
    assert made.status_code == 200 and made.json()["merchant_id"] == mid
    balance = platform.client.get("/v1/balance", headers=mh).json()
    assert balance["object"] == "balance" and balance["merchant_id"] == mid
