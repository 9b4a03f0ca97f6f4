"""A fake WeChat Pay on a real uvicorn server on a free loopback port, notifications captured instead of posted,
and our connector built from the rails.json it wrote."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from zhifu.channels import wechat
from zhifu.channels.http import RailHttp
from zhifu.railsim.server import FakeRails
from zhifu.railsim.store import Behaviour

TIMEOUT_S = 0.5  # our connector's timeout in these tests
HANG_S = 0.9  # how long a pay code ending in 9 keeps it waiting
NOTIFY_BASE = "http://127.0.0.1:8000"  # our server's public URL (the registry fills it from the settings)


class Captured:
    """The notifications the fake rail posts, answered 204 like our notify route."""

    def __init__(self) -> None:
        self.items: list[tuple[str, bytes, dict[str, str]]] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.items.append((str(request.url), request.content, dict(request.headers)))
        return httpx.Response(204)

    def wait_after(self, seen: int, timeout_s: float = 3.0) -> tuple[bytes, dict[str, str]]:
        """The first notification posted after `seen` had arrived (the notifier polls every 50 ms)."""
        deadline = time.monotonic() + timeout_s
        while len(self.items) <= seen:
            assert time.monotonic() < deadline, "no notification arrived"
            time.sleep(0.02)
        _, body, headers = self.items[seen]
        return body, headers


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def captured() -> Captured:
    return Captured()


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory, captured: Captured) -> Iterator[FakeRails]:
    port = _free_port()
    folder: Path = tmp_path_factory.mktemp("fake_rails")
    rails = FakeRails(
        folder,
        f"http://127.0.0.1:{port}",
        behaviour=Behaviour(hang_s=HANG_S),
        deliver=httpx.Client(transport=httpx.MockTransport(captured.handler)),
    )
    server = uvicorn.Server(
        uvicorn.Config(rails.app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the fake rails did not start"
        time.sleep(0.02)
    rails.start()
    try:
        yield rails
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        rails.stop()


@pytest.fixture(scope="module")
def conn(sim: FakeRails) -> Iterator[wechat.connector]:  # type: ignore[valid-type]
    cfg = {**sim.client_config["wechat"], "notify_url_base": NOTIFY_BASE}
    http = RailHttp("wechat", cfg["base_url"], timeout_s=TIMEOUT_S)
    c = wechat.connector(wechat.RAILS[0], cfg, http)
    yield c
    http.close()
