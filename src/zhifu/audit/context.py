"""Who is acting: the console user or API key of the current request, a name set by a command, or the system.

A service function deep in a use case (a merchant review, a fee change) records an audit entry without being
handed the actor: the request's ASGI scope is kept in a context variable by `RequestScope`, and the actor is
read from it only when an entry is recorded.
"""

from __future__ import annotations

import contextlib
import getpass
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from sqlalchemy import Connection

_scope: ContextVar[dict[str, Any] | None] = ContextVar("zhifu_audit_scope", default=None)
_acting: ContextVar[tuple[str, str] | None] = ContextVar("zhifu_audit_acting", default=None)


class RequestScope:
    """ASGI middleware: keeps the request's scope where `current_actor` can read it."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        token = _scope.set(scope)
        try:
            await self.app(scope, receive, send)
        finally:
            _scope.reset(token)


EXPORTED_KEY = "zhifu.audit.exported"  # set in a request's scope once its route recorded its own export entry


def mark_exported() -> None:
    """The current request's download is in the log already (the download middleware adds no second entry)."""
    scope = _scope.get()
    if scope is not None:
        scope[EXPORTED_KEY] = True


@contextlib.contextmanager
def in_scope(scope: dict[str, Any]) -> Iterator[None]:
    """Act as the request whose scope this is (a middleware's work after the response, in another thread)."""
    token = _scope.set(scope)
    try:
        yield
    finally:
        _scope.reset(token)


@contextlib.contextmanager
def acting(actor: str, role: str) -> Iterator[None]:
    """Name the actor for what runs inside (commands, the simulator, background jobs)."""
    token = _acting.set((actor[:64], role[:16]))
    try:
        yield
    finally:
        _acting.reset(token)


def current_actor(conn: Connection) -> tuple[str, str]:
    named = _acting.get()
    if named is not None:
        return named
    scope = _scope.get()
    if scope is not None:
        auth = (scope.get("state") or {}).get("console_auth")
        if auth is not None:
            user = auth[0]
            return f"{user.username}"[:64], str(user.role)[:16]
        api = (scope.get("state") or {}).get("api_auth")
        if api is not None:  # the key the API authenticated this request with (zhifu.api.deps.principal)
            return api[0][:64], api[1][:16]
        if dict(scope.get("headers") or []).get(b"authorization"):
            return "api:unknown", "api"  # a key the API refused or never asked for; named no further
        return "anonymous", "public"
    try:
        who = getpass.getuser()
    except Exception:  # no user name in a container without a passwd entry
        who = "unknown"
    return f"local:{who}"[:64], "system"
