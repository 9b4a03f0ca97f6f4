"""Carries the fake rails' notifications to the app of the test that is running."""

from __future__ import annotations

import httpx
from fastapi.testclient import TestClient


class _ForwardToApp(httpx.BaseTransport):
    """Carries the fake rails' notifications to the app of the test that is running (no socket needed)."""

    client: TestClient | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.client is None:
            return httpx.Response(503, text="no app")
        r = self.client.request(request.method, request.url.path, content=request.read(),
                                headers=dict(request.headers))
        return httpx.Response(r.status_code, content=r.content, headers=r.headers)


FORWARD = _ForwardToApp()
