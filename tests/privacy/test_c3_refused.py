"""C3 data is never stored: the platform refuses a card verification code, track data, a PIN, a password or biometric
data — documented or not, nested, in a form or a query — with a 400 naming the field, and nothing is created
and nothing of it reaches a table or the log. No field the API documents looks like C3 data."""

from __future__ import annotations

import logging

import pytest

from tests.factories import application
from zhifu.api.app import create_app
from zhifu.db import Database
from zhifu.privacy.c3 import find_c3, kind_of_name
from zhifu.privacy.scan import scan_tables

C3_NAMES = {
    "cvv2": "card_verification_code",
    "cardCvn2": "card_verification_code",
    "CVC": "card_verification_code",
    "card_security_code": "card_verification_code",
    "track_2": "track_data",
    "track2Data": "track_data",
    "magstripe": "track_data",
    "pin": "pin",
    "PIN_block": "pin",
    "pay_password": "password",
    "paymentPassword": "password",
    "支付密码": "password",
    "face_image": "biometric",
    "fingerprint_template": "biometric",
    "人脸照片": "biometric",
}
FINE_NAMES = [
    "amount_fen",
    "merchant_order_no",
    "auth_code",
    "description",
    "tracking_no",
    "spinner",
    "shipping_address",
    "pinyin_name",
    "phone",
    "settle_account_no",
    "legal_person_id",
    "code_url",
]


@pytest.mark.parametrize("name", sorted(C3_NAMES))
def test_c3_names_are_recognised(name: str) -> None:
    assert kind_of_name(name) == C3_NAMES[name]


@pytest.mark.parametrize("name", FINE_NAMES)
def test_ordinary_names_are_not(name: str) -> None:
    assert kind_of_name(name) is None


def test_nested_fields_and_track_shaped_values_are_found() -> None:
    assert find_c3({"payer": {"card": {"no": "6228", "cvn2": "123"}}}) == (
        "payer.card.cvn2",
        "card_verification_code",
    )
    assert find_c3({"lines": [{"x": 1}, {"memo": ";6228480402564890018=25121010000000000?"}]}) == (
        "lines.1.memo",
        "track_data",
    )
    assert find_c3({"amount_fen": 100, "auth_code": "6212345678901234561"}) is None


def test_no_documented_field_looks_like_c3() -> None:
    doc = create_app(Database("sqlite://")).openapi()
    names: set[str] = set()

    def walk(s: object, depth: int = 0) -> None:
        if depth > 12 or not isinstance(s, dict):
            return
        for k, v in (s.get("properties") or {}).items():
            names.add(k)
            walk(v, depth + 1)
        for key in ("items", "additionalProperties"):
            walk(s.get(key), depth + 1)
        for key in ("anyOf", "allOf", "oneOf"):
            for x in s.get(key) or []:
                walk(x, depth + 1)

    for schema in doc["components"]["schemas"].values():
        walk(schema)
    for ops in doc["paths"].values():
        for op in ops.values():
            if isinstance(op, dict):
                names.update(p["name"] for p in op.get("parameters", []))
    assert len(names) > 100
    assert {n: kind_of_name(n) for n in names if kind_of_name(n)} == {}


def test_the_api_refuses_c3_and_keeps_nothing(platform, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG)
    c, op = platform.client, platform.op
    cvv = "739"
    pin = "904417"
    track = "6228480402564890018=25121010000000000"
    cases = [
        ({**application(), "card_cvv2": cvv}, "card_cvv2", "json"),
        ({**application(), "extra": {"payer": {"payPassword": pin}}}, "extra.payer.payPassword", "json"),
        ({**application(), "address": track}, "address", "json"),
    ]
    for body, param, _ in cases:
        r = c.post("/v1/merchants", json=body, headers=op)
        assert r.status_code == 400, r.text
        err = r.json()["error"]
        assert (err["code"], err["param"], err["type"]) == ("c3_data_refused", param, "invalid_request_error")
        assert "C3" in err["message"] and param in err["message"]
    r = c.get("/v1/merchants", params={"pin": pin}, headers=op)
    assert r.status_code == 400 and r.json()["error"]["param"] == "pin"
    r = c.post("/v1/consents", data={"subject": "x", "track2": track}, headers=op)
    assert r.status_code == 400 and r.json()["error"]["param"] == "track2"
    # outside the API too: a console form and a public page's query; the login form keeps its password field
    r = c.post("/console/merchant/refunds", data={"csrf_token": "x", "card_pin": pin})
    assert r.status_code == 400 and r.json()["error"]["param"] == "card_pin"
    r = c.get("/pay/water", params={"cvn2": "123"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "c3_data_refused"
    assert c.post("/login", data={"username": "nobody", "password": "x" * 12}).status_code != 400
    assert c.get("/v1/merchants", headers=op).json()["data"] == []  # nothing was created
    with platform.db.read() as conn:
        assert scan_tables(conn, [pin, track, "6228480402564890018"]) == []
    served = "\n".join(
        r.getMessage() for r in caplog.records if not r.name.startswith("httpx")
    )  # not the client's
    assert pin not in served and track not in served
    # the same application without the C3 field goes through
    r = c.post("/v1/merchants", json=application(), headers=op)
    assert r.status_code == 200, r.text
