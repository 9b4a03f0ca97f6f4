"""The merchant's announcement stream: one server-sent event per payment received, resumable."""

from __future__ import annotations

import json
import socket
import threading
import time

import httpx
import uvicorn

from zhifu.webhooks.routes import announcement


def test_announcement_text() -> None:
    assert announcement({"channel": "unionpay_qr", "amount_fen": 1234}) == "云闪付收款 12.34 元"
    assert announcement({"channel": "wechat", "amount_fen": 5}) == "微信支付收款 0.05 元"


def _serve(app):  # type: ignore[no-untyped-def]
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    t = threading.Thread(target=server.run, daemon=True)
    t.start()
    for _ in range(100):
        if server.started:
            break
        time.sleep(0.05)
    return server, t, f"http://127.0.0.1:{port}"


def _events(lines, n: int) -> list[dict]:  # type: ignore[no-untyped-def]
    out = []
    for line in lines:
        if line.startswith("data: "):
            out.append(json.loads(line[6:]))
            if len(out) == n:
                break
    return out


def test_stream_announces_each_payment_and_resumes(platform) -> None:  # type: ignore[no-untyped-def]
    mid, mh = platform.merchant()
    other, oh = platform.merchant()
    old = platform.client.post(
        "/v1/payments",
        json={"amount_fen": 1, "merchant_order_no": "before", "auth_code": "6212345678901234561"},
        headers=mh,
    ).json()
    server, thread, base = _serve(platform.app)
    try:
        with httpx.Client(base_url=base, timeout=10) as client:
            with client.stream("GET", "/v1/stream", headers=mh) as resp:
                assert resp.headers["content-type"].startswith("text/event-stream")
                lines = resp.iter_lines()
                next(lines)  # ": connected" — the stream starts after what already happened
                platform.client.post(
                    "/v1/payments",
                    json={"amount_fen": 99, "merchant_order_no": "x", "auth_code": "6212345678901234561"},
                    headers=oh,
                )
                p1 = platform.client.post(
                    "/v1/payments",
                    json={"amount_fen": 1234, "merchant_order_no": "a", "auth_code": "6212345678901234561"},
                    headers=mh,
                ).json()
                p2 = platform.client.post(
                    "/v1/payments",
                    json={"amount_fen": 500, "merchant_order_no": "b", "auth_code": "134567890123456781"},
                    headers=mh,
                ).json()
                got = _events(lines, 2)
            # each success is announced once; two rail answers recorded under load may land in either order
            texts = {g["payment_id"]: g["text"] for g in got}
            assert len(got) == 2 and texts == {
                p1["id"]: "云闪付收款 12.34 元",
                p2["id"]: "微信支付收款 5.00 元",
            }
            assert old["id"] not in {g["payment_id"] for g in got}
            with client.stream(
                "GET", "/v1/stream", headers={**mh, "Last-Event-ID": got[0]["event_id"]}
            ) as resp:
                again = _events(resp.iter_lines(), 1)
            assert again[0]["payment_id"] == p2["id"]
            assert client.get("/v1/stream").status_code == 401
    finally:
        server.should_exit = True
        thread.join(timeout=10)
