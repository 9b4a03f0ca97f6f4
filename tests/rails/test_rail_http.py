"""铁路 HTTP 客户端 / The rails' HTTP client over a real socket (the pooled path every configured rail uses):
one send per call and never a retry, timeouts as RailTimeout, a refused connection and a 5xx as RailError, an
oversized answer refused and its connection dropped, kept-alive connections reused, gzip answers decoded."""

from __future__ import annotations

import gzip
import logging
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from zhifu.channels import http as rail_http
from zhifu.channels.base import RailError, RailTimeout
from zhifu.channels.http import RailHttp


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Any

    def log_message(self, *_a: Any) -> None:
        pass

    def _answer(self, status: int, body: bytes, extra: dict[str, str] | None = None) -> None:
        head = f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n"
        for k, v in (extra or {}).items():
            head += f"{k}: {v}\r\n"
        self.wfile.write(head.encode() + b"\r\n" + body)
        self.wfile.flush()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        srv = self.server
        with srv.lock:
            srv.seen.append((self.path, body, self.client_address[1]))
        if self.path == "/drop":  # the rail reads the request and closes without a word
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if self.path == "/slow":
            time.sleep(0.6)
        if self.path == "/wait":
            time.sleep(0.3)
        if self.path == "/big":
            self._answer(200, b"x" * (rail_http.RESPONSE_BYTES_MAX + 10))
            return
        if self.path == "/oops":
            self._answer(502, b"bad gateway")
            return
        if self.path == "/gzip":
            self._answer(200, gzip.compress(b"respCode=00"), {"Content-Encoding": "gzip", "X-Sign": "s"})
            return
        self._answer(200, b"echo=" + body, {"X-Rail-Serial": "PUB_KEY_01"})


@pytest.fixture()
def server() -> Iterator[Any]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    srv.seen = []
    srv.lock = threading.Lock()
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


def _client(srv: Any, timeout_s: float = 2.0) -> RailHttp:
    return RailHttp("unionpay_qr", f"http://127.0.0.1:{srv.server_address[1]}", timeout_s=timeout_s)


def test_an_answer_reads_like_httpx_and_the_connection_is_kept(server: Any) -> None:
    http = _client(server)
    assert http.pool is not None and http.client is None  # a configured rail goes through the pool
    first = http.request("POST", "/ok", content=b"a=1", headers={"Content-Type": "x"})
    second = http.request("POST", "/ok", content="b=2")
    assert (first.status_code, first.content) == (200, b"echo=a=1")
    assert second.content == b"echo=b=2"
    assert first.headers["x-rail-serial"] == "PUB_KEY_01"  # names are case-insensitive, as on httpx
    assert dict((k.lower(), v) for k, v in first.headers.items())["x-rail-serial"] == "PUB_KEY_01"
    assert server.seen[0][2] == server.seen[1][2]  # the same client port: one kept-alive connection
    gz = http.request("POST", "/gzip", content=b"")
    assert gz.content == b"respCode=00"
    http.close()


def test_a_dropped_call_is_sent_once_and_is_a_rail_error(server: Any) -> None:
    http = _client(server)
    http.request("POST", "/ok", content=b"warm")  # a kept-alive connection exists, as under load
    with pytest.raises(RailError) as exc:
        http.request("POST", "/drop", content=b"pay=1")
    assert not isinstance(exc.value, RailTimeout)
    assert [p for p, _, _ in server.seen].count("/drop") == 1  # never a second send: it could pay twice


def test_no_answer_in_time_is_a_timeout_and_sent_once(server: Any) -> None:
    http = _client(server, timeout_s=0.2)
    t0 = time.monotonic()
    with pytest.raises(RailTimeout):
        http.request("POST", "/slow", content=b"pay=2")
    assert time.monotonic() - t0 < 0.55
    time.sleep(0.5)
    assert [p for p, _, _ in server.seen].count("/slow") == 1


def test_a_5xx_and_a_closed_port_are_rail_errors(server: Any) -> None:
    http = _client(server)
    with pytest.raises(RailError, match="HTTP 502"):
        http.request("POST", "/oops", content=b"")
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there
    with pytest.raises(RailError) as exc:
        RailHttp("unionpay_qr", f"http://127.0.0.1:{port}").request("POST", "/ok", content=b"")
    assert not isinstance(exc.value, RailTimeout)


def test_an_oversized_answer_is_refused_and_its_connection_dropped(server: Any) -> None:
    http = _client(server)
    with pytest.raises(RailError, match="too large"):
        http.request("POST", "/big", content=b"")
    ok = http.request("POST", "/ok", content=b"after")  # the next call is not fed the rest of the big body
    assert ok.content == b"echo=after"
    assert server.seen[-1][2] != server.seen[-2][2]  # on a new connection


def test_as_many_calls_at_once_as_request_threads_keep_their_connections(server: Any, caplog: Any) -> None:
    """A web process runs up to 40 request threads: that many calls at once are all kept alive afterwards, with
    no "pool is full" warning and no connection thrown away."""
    http = _client(server)
    caplog.set_level(logging.WARNING, logger="urllib3")
    errors: list[BaseException] = []

    def call(i: int) -> None:
        try:
            assert http.request("POST", "/wait", content=f"n={i}".encode()).content == f"echo=n={i}".encode()
        except BaseException as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert not [r for r in caplog.records if "pool is full" in r.getMessage()]
    assert http.pool is not None
    pool = http.pool.connection_from_url(http.base_url)
    assert pool.pool is not None and pool.pool.qsize() >= 40  # every connection went back to the pool
