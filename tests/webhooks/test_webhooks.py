"""Signed webhooks from the outbox: a receiver that is down for a while gets every event once it is up."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import socket
import threading

import pytest

from zhifu.core.config import get_settings
from zhifu.webhooks import RETRY_SCHEDULE_S, dispatch_due


@pytest.fixture(autouse=True)
def local_receivers(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """These receivers listen on 127.0.0.1, which the platform refuses unless the operator allows it."""
    monkeypatch.setenv("ZHIFU_WEBHOOK_ALLOW_PRIVATE", "1")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def verify(secret: str, header: str, body: bytes) -> bool:  # the five-line verifier of docs/api.md
    parts = dict(p.split("=", 1) for p in header.split(","))
    expected = hmac.new(secret.encode(), f"{parts['t']}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])


class Receiver:
    def __init__(self, port: int, secret: str) -> None:
        self.got: list[dict] = []
        self.bad_signatures = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if verify(secret, self.headers["Zhifu-Signature"], body):
                    outer.got.append(json.loads(body))
                else:
                    outer.bad_signatures += 1
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_down_then_up_receives_every_event_signed(platform, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    mid, mh = platform.merchant()
    port = _free_port()
    ep = platform.client.post(
        "/v1/webhook_endpoints",
        json={"url": f"http://127.0.0.1:{port}/hook", "events": ["payment.succeeded", "refund.succeeded"]},
        headers=mh,
    ).json()
    assert ep["secret"].startswith("whsec_")
    assert "secret" not in platform.client.get("/v1/webhook_endpoints", headers=mh).json()["data"][0]
    ids = []
    for i in range(3):
        p = platform.client.post(
            "/v1/payments",
            json={"amount_fen": 100 + i, "merchant_order_no": f"w{i}", "auth_code": "6212345678901234561"},
            headers=mh,
        ).json()
        assert p["status"] == "succeeded"
        ids.append(p["id"])
    stats = dispatch_due(platform.db)  # nobody listening yet
    assert stats == {"delivered": 0, "retry": 3, "failed": 0}
    fixed_clock.advance(seconds=RETRY_SCHEDULE_S[0] + 1)
    assert dispatch_due(platform.db)["retry"] == 3
    receiver = Receiver(port, ep["secret"])
    try:
        assert dispatch_due(platform.db)["delivered"] == 0  # not due yet: the second retry waits 5 minutes
        fixed_clock.advance(seconds=RETRY_SCHEDULE_S[1] + 1)
        assert dispatch_due(platform.db) == {"delivered": 3, "retry": 0, "failed": 0}
        assert dispatch_due(platform.db) == {"delivered": 0, "retry": 0, "failed": 0}
    finally:
        receiver.stop()
    assert receiver.bad_signatures == 0
    assert sorted(e["data"]["object"]["id"] for e in receiver.got) == sorted(ids)
    assert len({e["id"] for e in receiver.got}) == 3 and all(
        e["type"] == "payment.succeeded" for e in receiver.got
    )


def test_gives_up_after_about_a_day_and_other_merchants_never_see_it(platform, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    mid, mh = platform.merchant()
    other, oh = platform.merchant()
    port = _free_port()
    platform.client.post(
        "/v1/webhook_endpoints", json={"url": f"http://127.0.0.1:{port}/", "events": ["*"]}, headers=mh
    )
    platform.client.post(
        "/v1/payments",
        json={"amount_fen": 100, "merchant_order_no": "g1", "auth_code": "6212345678901234561"},
        headers=mh,
    )
    total = 0
    for wait in (0, *RETRY_SCHEDULE_S):
        fixed_clock.advance(seconds=wait + 1)
        total += wait
        out = dispatch_due(platform.db)
    assert out == {"delivered": 0, "retry": 0, "failed": 1}
    assert 18 * 3600 < total < 30 * 3600
    assert platform.client.get("/v1/events", headers=oh).json()["data"] == []
    assert platform.client.get("/v1/webhook_endpoints", headers=oh).json()["data"] == []


def test_endpoint_bad_input(platform) -> None:  # type: ignore[no-untyped-def]
    mid, mh = platform.merchant()
    for body, param in (
        ({"url": "ftp://x", "events": ["*"]}, "url"),
        ({"url": "https://x.example/h", "events": []}, "events"),
        ({"url": "https://x.example/h", "events": ["payment.bogus"]}, "events"),
        ({"url": "https://x.example/h", "events": ["*"], "extra": 1}, "extra"),
    ):
        r = platform.client.post("/v1/webhook_endpoints", json=body, headers=mh)
        assert r.status_code == 400 and r.json()["error"]["param"] == param, r.text
    assert platform.client.get("/v1/webhook_endpoints", headers=mh).json()["data"] == []
    gone = platform.client.delete("/v1/webhook_endpoints/whe_nope", headers=mh)
    assert gone.status_code == 404
