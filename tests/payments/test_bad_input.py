"""Every bad request gets a clear 4xx with the error object, and nothing is written."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from zhifu.payments import payments, refunds
from zhifu.webhooks.models import events


def _counts(platform) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    with platform.db.tx() as c:
        return tuple(
            c.execute(select(func.count()).select_from(t)).scalar_one() for t in (payments, refunds, events)
        )


BASE = {"amount_fen": 1000, "merchant_order_no": "b1", "channel": "unionpay_qr"}
CASES = [
    ("negative", {**BASE, "amount_fen": -5}, 400, "amount_fen"),
    ("zero", {**BASE, "amount_fen": 0}, 400, "amount_fen"),
    ("fractional", {**BASE, "amount_fen": 10.5}, 400, "amount_fen"),
    ("string amount", {**BASE, "amount_fen": "1000"}, 400, "amount_fen"),
    ("over maximum", {**BASE, "amount_fen": 100_000_001}, 400, "amount_fen"),
    ("other currency", {**BASE, "currency": "USD"}, 400, "currency"),
    ("unknown field", {**BASE, "colour": "red"}, 400, "colour"),
    (
        "bad auth code",
        {"amount_fen": 1000, "merchant_order_no": "b1", "auth_code": "9912345678901234567"},
        400,
        "auth_code",
    ),
    ("both channel and code", {**BASE, "auth_code": "6212345678901234561"}, 400, None),
    ("unknown channel", {**BASE, "channel": "bitcoin"}, 400, "channel"),
    ("bad order no", {**BASE, "merchant_order_no": "no spaces!"}, 400, "merchant_order_no"),
    ("too much metadata", {**BASE, "metadata": {f"k{i}": "v" for i in range(21)}}, 400, "metadata"),
    ("expiry too short", {**BASE, "expires_in_s": 5}, 400, "expires_in_s"),
]


@pytest.mark.parametrize(("name", "body", "status", "param"), CASES, ids=[c[0] for c in CASES])
def test_bad_payment_requests(platform, name, body, status, param) -> None:  # type: ignore[no-untyped-def]
    mid, mh = platform.merchant()
    r = platform.client.post("/v1/payments", json=body, headers=mh)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["type"] == "invalid_request_error" and err["message"]
    if param:
        assert err["param"] == param
    assert _counts(platform) == (0, 0, 0)


def test_malformed_json_huge_body_and_auth(platform) -> None:  # type: ignore[no-untyped-def]
    mid, mh = platform.merchant()
    r = platform.client.post(
        "/v1/payments", content=b"{not json", headers={**mh, "Content-Type": "application/json"}
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"
    big = b'{"amount_fen": 1, "description": "' + b"x" * 1_000_000 + b'"}'
    r = platform.client.post("/v1/payments", content=big, headers={**mh, "Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"
    r = platform.client.post("/v1/payments", json=BASE)
    assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
    r = platform.client.post("/v1/payments", json=BASE, headers={"Authorization": "Bearer sk_" + "x" * 40})
    assert r.status_code == 401
    r = platform.client.post("/v1/payments", json=BASE, headers=platform.op)  # an operator is not a merchant
    assert r.status_code == 403
    assert _counts(platform) == (0, 0, 0)


def test_other_merchants_payment_is_not_found(platform) -> None:  # type: ignore[no-untyped-def]
    a, ah = platform.merchant()
    b, bh = platform.merchant()
    p = platform.client.post(
        "/v1/payments",
        json={**BASE, "auth_code": None, "channel": None, **{"auth_code": "6212345678901234561"}},
        headers=ah,
    ).json()
    for method, path in (
        ("get", f"/v1/payments/{p['id']}"),
        ("post", f"/v1/payments/{p['id']}/close"),
        ("post", f"/v1/payments/{p['id']}/refunds"),
        ("get", f"/v1/payments/{p['id']}/refunds"),
    ):
        r = getattr(platform.client, method)(path, headers=bh)
        assert r.status_code == 404 and r.json()["error"]["code"] == "resource_missing"
        assert p["id"] in r.json()["error"]["message"] and "amount" not in r.text
    assert platform.client.get("/v1/payments", headers=bh).json()["data"] == []


def test_refund_bad_input(platform) -> None:  # type: ignore[no-untyped-def]
    mid, mh = platform.merchant()
    unpaid = platform.client.post("/v1/payments", json=BASE, headers=mh).json()
    r = platform.client.post(f"/v1/payments/{unpaid['id']}/refunds", json={"amount_fen": 1}, headers=mh)
    assert r.status_code == 409 and r.json()["error"]["code"] == "payment_not_refundable"
    paid = platform.client.post(
        "/v1/payments",
        json={"amount_fen": 500, "merchant_order_no": "b2", "auth_code": "6212345678901234561"},
        headers=mh,
    ).json()
    for amount, code in ((501, "refund_exceeds_payment"), (0, "invalid_amount"), (-1, "invalid_amount")):
        r = platform.client.post(
            f"/v1/payments/{paid['id']}/refunds", json={"amount_fen": amount}, headers=mh
        )
        assert r.status_code == 400 and r.json()["error"]["code"] == code, r.text
    assert _counts(platform)[1] == 0


def test_duplicate_order_number(platform) -> None:  # type: ignore[no-untyped-def]
    mid, mh = platform.merchant()
    first = platform.client.post("/v1/payments", json=BASE, headers=mh)
    assert first.status_code == 200
    retry = platform.client.post(
        "/v1/payments", json=BASE, headers=mh
    )  # the same create again: the same payment
    assert retry.status_code == 200 and retry.json()["id"] == first.json()["id"]
    r = platform.client.post("/v1/payments", json={**BASE, "amount_fen": BASE["amount_fen"] + 1}, headers=mh)
    assert r.status_code == 409 and r.json()["error"]["param"] == "merchant_order_no"
