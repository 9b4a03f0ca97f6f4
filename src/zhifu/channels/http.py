"""The one HTTP client every connector uses: named timeouts, errors mapped to RailError and RailTimeout, and logs
that never carry a secret (signatures, keys and tokens are cut from what is logged).

A rail is reached through a urllib3 connection pool: it costs about a third of httpx's CPU a call (0.19 against
0.51 ms on one machine), and the rail call is on every payment's path. A request is never retried by the pool:
a repeated POST could be a second payment. Tests and an in-process fake rail pass an httpx transport (or client)
instead, and then the call goes through httpx, which answers without a socket."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import urlencode

import httpx
import urllib3

from zhifu.channels.base import RAIL_CONNECT_TIMEOUT_S, RAIL_TIMEOUT_S, RailError, RailTimeout

log = logging.getLogger("zhifu.channels")
RESPONSE_BYTES_MAX = 8 * 1024 * 1024  # an answer (or a statement file) bigger than this is not a rail's
# kept-alive connections to one rail's host: more than the web process's 40 request threads, so a connection is
# not opened and closed (with a "pool is full" warning) under load; a call beyond them opens and closes its own
POOL_CONNECTIONS = 64
_SECRET = re.compile(r"(signature|sign|authorization|certId|serial|key)=([^&\s,\"]+)", re.I)


def redact(text: str) -> str:
    return _SECRET.sub(lambda m: f"{m.group(1)}=***", text)


class RailResponse(Protocol):
    """What a connector reads of a rail's answer (an httpx.Response, or a pooled call's _Answer)."""

    @property
    def status_code(self) -> int: ...

    @property
    def content(self) -> bytes: ...

    @property
    def headers(self) -> Mapping[str, str]: ...


class _Answer:
    __slots__ = ("content", "headers", "status_code")

    def __init__(self, status_code: int, content: bytes, headers: Mapping[str, str]) -> None:
        self.status_code = status_code
        self.content = content
        self.headers = headers  # urllib3's HTTPHeaderDict: names are case-insensitive


class RailHttp:
    """A connector's HTTP client to one rail's base URL. `transport` (or `client`) lets tests and an in-process
    fake rail answer without a socket, through httpx."""

    def __init__(
        self,
        rail: str,
        base_url: str,
        *,
        timeout_s: float = RAIL_TIMEOUT_S,
        transport: httpx.BaseTransport | None = None,
        client: httpx.Client | None = None,
    ) -> None:
        self.rail = rail
        self.base_url = base_url.rstrip("/")
        connect_s = min(RAIL_CONNECT_TIMEOUT_S, timeout_s)
        self.client: httpx.Client | None = None
        self.pool: urllib3.PoolManager | None = None
        if client is not None or transport is not None:
            self.client = client or httpx.Client(
                base_url=self.base_url,
                transport=transport,
                timeout=httpx.Timeout(timeout_s, connect=connect_s),
            )
        else:
            self.pool = urllib3.PoolManager(
                num_pools=4,
                maxsize=POOL_CONNECTIONS,
                block=False,
                retries=False,  # never a second send: the rail may have acted on the first
                timeout=urllib3.Timeout(connect=connect_s, read=timeout_s),
            )

    def request(
        self,
        method: str,
        path: str,
        *,
        content: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> RailResponse:
        """One call; a timeout is RailTimeout (the outcome is unknown), a refused connection or a 5xx RailError."""
        url = path if path.startswith("http") else f"{self.base_url}{path}"
        if params:
            url += ("&" if "?" in url else "?") + urlencode(params)
        try:
            r = self._send(method, url, content, headers)
        except (httpx.HTTPError, urllib3.exceptions.HTTPError, OSError) as exc:
            # a refused connection sent nothing, though urllib3 files it under its connect timeouts
            timed_out = isinstance(exc, (httpx.TimeoutException, urllib3.exceptions.TimeoutError)) and not (
                isinstance(exc, urllib3.exceptions.NewConnectionError)
            )
            if timed_out:
                log.warning("%s %s %s timed out", self.rail, method, redact(path))
                raise RailTimeout(self.rail, f"no answer to {method} {redact(path)} in time") from exc
            log.warning("%s %s %s failed: %s", self.rail, method, redact(path), type(exc).__name__)
            raise RailError(self.rail, f"{method} {redact(path)}: {type(exc).__name__}") from exc
        if len(r.content) > RESPONSE_BYTES_MAX:
            raise RailError(self.rail, f"answer of {len(r.content)} bytes is too large")
        if r.status_code >= 500:
            log.warning("%s %s %s answered %s", self.rail, method, redact(path), r.status_code)
            raise RailError(self.rail, f"{method} {redact(path)} answered HTTP {r.status_code}")
        return r

    def _send(
        self, method: str, url: str, content: bytes | str | None, headers: Mapping[str, str] | None
    ) -> RailResponse:
        if self.client is not None:
            return self.client.request(method, url, content=content, headers=headers)
        assert self.pool is not None
        body = content.encode() if isinstance(content, str) else content
        resp = self.pool.request(method, url, body=body, headers=dict(headers or {}), preload_content=False)
        kept = False  # whether the whole answer was read, so that its connection can serve again
        try:
            data = resp.read(RESPONSE_BYTES_MAX + 1, decode_content=True)
            kept = len(data) <= RESPONSE_BYTES_MAX
        finally:
            if kept:
                resp.release_conn()
            else:
                resp.close()  # an answer too large (or broken) is not read to its end; its connection is dropped
        return _Answer(resp.status, data, resp.headers)

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
        if self.pool is not None:
            self.pool.clear()
