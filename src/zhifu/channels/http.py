"""The one HTTP client every connector uses: named timeouts, errors mapped to RailError and RailTimeout, and logs
that never carry a secret (signatures, keys and tokens are cut from what is logged)."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

import httpx

from zhifu.channels.base import RAIL_CONNECT_TIMEOUT_S, RAIL_TIMEOUT_S, RailError, RailTimeout

log = logging.getLogger("zhifu.channels")
RESPONSE_BYTES_MAX = 8 * 1024 * 1024  # an answer (or a statement file) bigger than this is not a rail's
_SECRET = re.compile(r"(signature|sign|authorization|certId|serial|key)=([^&\s,\"]+)", re.I)


def redact(text: str) -> str:
    return _SECRET.sub(lambda m: f"{m.group(1)}=***", text)


class RailHttp:
    """A connector's HTTP client to one rail's base URL. `transport` lets tests (and an in-process fake rail)
    answer without a socket."""

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
        self.client = client or httpx.Client(
            base_url=self.base_url,
            transport=transport,
            timeout=httpx.Timeout(timeout_s, connect=min(RAIL_CONNECT_TIMEOUT_S, timeout_s)),
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        content: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> httpx.Response:
        """One call; a timeout is RailTimeout (the outcome is unknown), a refused connection or a 5xx RailError."""
        url = path if path.startswith("http") else f"{self.base_url}{path}"
        try:
            r = self.client.request(method, url, content=content, headers=headers, params=params)
        except httpx.TimeoutException as exc:
            log.warning("%s %s %s timed out", self.rail, method, redact(path))
            raise RailTimeout(self.rail, f"no answer to {method} {redact(path)} in time") from exc
        except httpx.HTTPError as exc:
            log.warning("%s %s %s failed: %s", self.rail, method, redact(path), type(exc).__name__)
            raise RailError(self.rail, f"{method} {redact(path)}: {type(exc).__name__}") from exc
        if len(r.content) > RESPONSE_BYTES_MAX:
            raise RailError(self.rail, f"answer of {len(r.content)} bytes is too large")
        if r.status_code >= 500:
            log.warning("%s %s %s answered %s", self.rail, method, redact(path), r.status_code)
            raise RailError(self.rail, f"{method} {redact(path)} answered HTTP {r.status_code}")
        return r

    def close(self) -> None:
        self.client.close()
