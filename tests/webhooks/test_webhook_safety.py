"""Webhook endpoints refuse private, loopback and link-local addresses unless the operator allows them, and one
slow or dead endpoint never delays another merchant's deliveries."""

from __future__ import annotations

import http.server
import threading
import time

import pytest

from zhifu.core.config import get_settings
from zhifu.webhooks import dispatch_due
from zhifu.webhooks.service import check_address


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://10.0.0.5/hook",
        "http://192.168.1.1/",
        "http://172.16.3.4/",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[fe80::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0/",
        "http://100.64.0.1/",
        "http://api.localhost/",
    ],
)
def test_private_addresses_are_refused(platform, url: str) -> None:  # type: ignore[no-untyped-def]
    mid, mh = platform.merchant()
    r = platform.client.post("/v1/webhook_endpoints", json={"url": url, "events": ["*"]}, headers=mh)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "url_not_allowed" and r.json()["error"]["param"] == "url"


def test_public_addresses_and_the_operator_switch(platform, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    mid, mh = platform.merchant()
    ok = platform.client.post(
        "/v1/webhook_endpoints",
        json={"url": "https://203.0.113.9/hook".replace("203.0.113.9", "8.8.8.8"), "events": ["*"]},
        headers=mh,
    )
    assert ok.status_code == 200, ok.text
    monkeypatch.setenv("ZHIFU_WEBHOOK_ALLOW_PRIVATE", "1")
    get_settings.cache_clear()
    try:
        r = platform.client.post(
            "/v1/webhook_endpoints", json={"url": "http://127.0.0.1:9/h", "events": ["*"]}, headers=mh
        )
        assert r.status_code == 200
        check_address("http://10.1.1.1/", resolve=True)
    finally:
        get_settings.cache_clear()


def test_a_name_resolving_to_a_private_address_is_not_delivered_to(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    from zhifu.webhooks.service import AddressNotAllowed

    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: [(2, 1, 6, "", ("10.0.0.7", 0))])
    check_address("https://shop.example/hook", resolve=False)  # not resolved when the endpoint is made
    with pytest.raises(AddressNotAllowed):
        check_address("https://shop.example/hook", resolve=True)  # resolved before each delivery


class _Server:
    def __init__(self, delay_s: float) -> None:
        self.hits: list[float] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(delay_s)
                outer.hits.append(time.monotonic())
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_slow_endpoint_never_delays_another_merchant(
    platform,
    fixed_clock,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ZHIFU_WEBHOOK_ALLOW_PRIVATE", "1")
    get_settings.cache_clear()
    slow, fast = _Server(delay_s=1.5), _Server(delay_s=0.0)
    try:
        heads = []
        for server in (slow, fast):
            mid, mh = platform.merchant()
            platform.client.post(
                "/v1/webhook_endpoints", json={"url": server.url, "events": ["*"]}, headers=mh
            )
            heads.append(mh)
        for mh in heads:
            for i in range(3):
                p = platform.client.post(
                    "/v1/payments",
                    json={"amount_fen": 100 + i, "merchant_order_no": f"o{i}", "channel": "wechat"},
                    headers=mh,
                ).json()
                platform.client.post(f"/sim/payments/{p['id']}/pay", json={})
        start = time.monotonic()
        stats = dispatch_due(platform.db, wait=False)
        assert stats is not None
        deadline = start + 1.0
        while len(fast.hits) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(fast.hits) == 3, "the fast endpoint waited for the slow one"
        assert fast.hits[-1] - start < 1.0 and slow.hits == []  # the slow one is still on its first
        assert dispatch_due(platform.db) == {
            "delivered": 0,
            "retry": 0,
            "failed": 0,
        }  # busy: not claimed twice
        while len(slow.hits) < 3 and time.monotonic() < start + 10:
            time.sleep(0.05)
        assert len(slow.hits) == 3  # its own deliveries in order, one at a time
        assert all(b - a >= 1.4 for a, b in zip(slow.hits, slow.hits[1:], strict=False))
    finally:
        slow.stop()
        fast.stop()
        get_settings.cache_clear()
