"""A fake UnionPay gateway in a real uvicorn server on a free port, and our connector pointed at it."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from zhifu.channels.http import RailHttp
from zhifu.channels.unionpay import RAILS, connector
from zhifu.railsim import server as server_mod
from zhifu.railsim import unionpay as fake_unionpay
from zhifu.railsim.store import Behaviour

FACTS = {f.name: f for f in RAILS}
TIMEOUT_S = 0.6
HANG_S = 1.0


class Receiver:
    """Our notify endpoint: each posted notification is parsed by the connector of its rail (by URL)."""

    def __init__(self) -> None:
        self.connectors: dict[str, Any] = {}
        self.received: list[tuple[str, bytes, dict[str, str]]] = []
        self.parsed: list[Any] = []
        self.refused: list[str] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        rail = request.url.path.rsplit("/", 1)[-1]
        body = request.read()
        self.received.append((rail, body, dict(request.headers)))
        conn = self.connectors[rail]
        try:
            self.parsed.append(conn.parse_notification(body, dict(request.headers)))
            ack = conn.notification_ack(True)
        except Exception as exc:  # the receiver answers the rail as our server would
            self.refused.append(str(exc))
            ack = conn.notification_ack(False)
        return httpx.Response(ack.status_code, content=ack.body, headers={"Content-Type": ack.media_type})


@pytest.fixture(scope="module")
def rails(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Receiver]]:
    folder: Path = tmp_path_factory.mktemp("fake-unionpay")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    receiver = Receiver()
    original = server_mod._families
    server_mod._families = lambda: [fake_unionpay]  # this family alone; the others are tested on their own
    try:
        sim = server_mod.FakeRails(
            folder,
            f"http://127.0.0.1:{port}",
            behaviour=Behaviour(hang_s=HANG_S),
            deliver=httpx.Client(transport=httpx.MockTransport(receiver.handle)),
        )
    finally:
        server_mod._families = original
    server = uvicorn.Server(uvicorn.Config(sim.app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the fake rails did not start"
        time.sleep(0.02)
    yield sim, receiver
    server.should_exit = True
    thread.join(timeout=5)
    sim.stop()


@pytest.fixture(scope="module")
def make_conn(rails: tuple[Any, Receiver]) -> Callable[..., Any]:
    sim, receiver = rails

    def make(
        name: str = "unionpay_qr",
        *,
        transport: httpx.BaseTransport | None = None,
        config: dict[str, Any] | None = None,
    ) -> Any:
        cfg = {
            **sim.client_config["unionpay"],
            "notify_url_base": "http://our-platform.test",
            **(config or {}),
        }
        http = RailHttp(name, cfg["base_url"], timeout_s=TIMEOUT_S, transport=transport)
        conn = connector(FACTS[name], cfg, http)
        if transport is None:
            receiver.connectors[name] = conn
        return conn

    return make
