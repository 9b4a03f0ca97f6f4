"""What fuzzing and probing found, on both backends: the body limit holds for chunked bodies and before
authentication; NUL characters are a 400; malformed JSON, invalid UTF-8 and unknown routes answer the error
object; every operation in the OpenAPI document lists its error responses."""

from __future__ import annotations

import json
from collections.abc import Iterator

from zhifu.api.app import BODY_BYTES_MAX, ERROR_STATUSES


def _is_error(r, status: int, code: str) -> None:  # type: ignore[no-untyped-def]
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"type", "code", "message", "param"}, body
    assert body["error"]["code"] == code, body


def _chunks(total: int) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        yield b" " * 4096
        sent += 4096


def test_body_limit_holds_for_chunked_bodies_before_authentication(platform) -> None:  # type: ignore[no-untyped-def]
    r = platform.client.post(
        "/v1/payments", content=_chunks(BODY_BYTES_MAX + 8192), headers={"Content-Type": "application/json"}
    )  # no key: still a 413, not a 401
    _is_error(r, 413, "body_too_large")
    r = platform.client.post("/v1/payments", content=b"x" * (BODY_BYTES_MAX + 1))
    _is_error(r, 413, "body_too_large")
    mid, mh = platform.merchant()
    small = json.dumps({"amount_fen": 100, "merchant_order_no": "chunk-1", "channel": "wechat"}).encode()
    r = platform.client.post(
        "/v1/payments",
        content=iter([small[:10], small[10:]]),
        headers={**mh, "Content-Type": "application/json"},
    )
    assert r.status_code == 200, r.text  # a chunked body under the limit is read as usual


def test_nul_characters_are_a_400_and_change_nothing(platform) -> None:  # type: ignore[no-untyped-def]
    mid, mh = platform.merchant()
    r = platform.client.post(
        "/v1/payments",
        json={
            "amount_fen": 100,
            "merchant_order_no": "nul\u0000x",
            "channel": "wechat",
            "description": "豆浆",
        },
        headers=mh,
    )
    _is_error(r, 400, "nul_character")
    r = platform.client.post(
        "/v1/payments",
        content=b'{"amount_fen":100,"merchant_order_no":"a\x00","channel":"wechat"}',
        headers={**mh, "Content-Type": "application/json"},
    )
    assert r.status_code == 400
    r = platform.client.get("/v1/payments?merchant_order_no=a%00b", headers=mh)
    _is_error(r, 400, "nul_character")
    ok = platform.client.post(
        "/v1/payments",
        json={
            "amount_fen": 100,
            "merchant_order_no": "slash",
            "channel": "wechat",
            "description": "a\\u0000 is text",
        },
        headers=mh,
    )
    assert ok.status_code == 200, ok.text  # a backslash followed by u0000 is not a NUL
    listed = platform.client.get("/v1/payments", headers=mh).json()["data"]
    assert [p["merchant_order_no"] for p in listed] == ["slash"]


def test_malformed_bodies_and_unknown_routes_answer_the_error_object(platform) -> None:  # type: ignore[no-untyped-def]
    mid, mh = platform.merchant()
    headers = {**mh, "Content-Type": "application/json"}
    _is_error(
        platform.client.post("/v1/payments", content=b'{"amount_fen": 1', headers=headers),
        400,
        "invalid_json",
    )
    r = platform.client.post("/v1/payments", content=b'{"merchant_order_no": "\xff\xfe"}', headers=headers)
    _is_error(r, 400, "invalid_utf8")
    _is_error(platform.client.post("/v1/payments", content=b"[" * 5000, headers=headers), 400, "invalid_json")
    _is_error(platform.client.get("/v1/no-such-thing", headers=mh), 404, "route_missing")
    _is_error(platform.client.get("/nothing/here"), 404, "route_missing")
    _is_error(platform.client.delete("/v1/payments", headers=mh), 405, "method_not_allowed")


def test_openapi_lists_error_responses_with_the_error_schema(platform) -> None:  # type: ignore[no-untyped-def]
    doc = platform.client.get("/openapi.json").json()
    assert doc["components"]["schemas"]["Error"]["required"] == ["error"]
    ops = [op for ops in doc["paths"].values() for op in ops.values() if isinstance(op, dict)]
    assert len(ops) >= 20
    for op in ops:
        for status in ERROR_STATUSES:
            assert op["responses"][status]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/Error"
            }, (op.get("operationId"), status)
