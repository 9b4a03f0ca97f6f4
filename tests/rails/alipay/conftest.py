"""A fake Alipay in a real HTTP server on a free loopback port, and our connector pointed at it."""

from __future__ import annotations

import dataclasses
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any
from unittest import mock

import httpx
import pytest
import uvicorn

from zhifu.channels import alipay
from zhifu.channels.alipay.connector import AlipayConnector
from zhifu.channels.http import RailHttp
from zhifu.railsim import alipay as fake_alipay
from zhifu.railsim import server as server_mod
from zhifu.railsim.server import FakeRails
from zhifu.railsim.store import Behaviour

FACTS = alipay.RAILS[0]
RECEIVER = "http://receiver.test"  # our notify URL base in these tests: deliveries are captured, not sent
TIMEOUT_S = 0.5
HANG_S = 1.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclasses.dataclass
class Delivered:
    """The notifications the fake rail posted, and what our side answered."""

    posts: list[tuple[str, bytes, dict[str, str]]] = dataclasses.field(default_factory=list)
    answer: httpx.Response | None = None

    def last_for(self, out_trade_no: str) -> tuple[str, bytes, dict[str, str]]:
        for url, body, headers in reversed(self.posts):
            if out_trade_no.encode() in body:
                return url, body, headers
        raise AssertionError(f"no notification for {out_trade_no}")


@pytest.fixture(scope="package")
def delivered() -> Delivered:
    return Delivered()


@pytest.fixture(scope="package")
def sim(tmp_path_factory: pytest.TempPathFactory, delivered: Delivered) -> Iterator[FakeRails]:
    def receive(request: httpx.Request) -> httpx.Response:
        delivered.posts.append((str(request.url), request.content, dict(request.headers)))
        return httpx.Response(200, text="success")

    port = _free_port()
    # only this family's routes: the test stands on its own whatever state the other families are in
    with mock.patch.object(server_mod, "_families", lambda: [fake_alipay]):
        rails = FakeRails(
            tmp_path_factory.mktemp("fake_rails"),
            f"http://127.0.0.1:{port}",
            behaviour=Behaviour(hang_s=HANG_S),
            deliver=httpx.Client(transport=httpx.MockTransport(receive)),
        )
    server = uvicorn.Server(
        uvicorn.Config(rails.app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, name="fake-alipay", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the fake rails did not start")
        time.sleep(0.02)
    try:
        yield rails
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        rails.stop()


@pytest.fixture(scope="package")
def config(sim: FakeRails) -> dict[str, Any]:
    return dict(sim.client_config["alipay"], notify_url_base=RECEIVER)


@pytest.fixture(scope="package")
def conn(config: dict[str, Any]) -> Iterator[AlipayConnector]:
    c = alipay.connector(FACTS, config, RailHttp("alipay", config["base_url"], timeout_s=TIMEOUT_S))
    assert isinstance(c, AlipayConnector)
    yield c
    c.http.close()
