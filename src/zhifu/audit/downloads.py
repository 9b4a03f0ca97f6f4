"""下载审计 / Every file a person takes away is in the audit log: a response that is a download (it names a file in
Content-Disposition, or it is a CSV, a workbook, a PDF or a zip) is recorded as `export.download` with who asked,
the address, the file's name, size and SHA-256, once the last byte is sent — unless the route recorded its own
`export.*` entry for it (`audit.exported`), which says more.

One middleware instead of a call in every download route: a route added later cannot forget it.
"""

from __future__ import annotations

import hashlib
from typing import Any, Final

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from zhifu.audit import context

FILE_TYPES: Final = (
    "text/csv",
    "application/pdf",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.ms-excel",
    "application/zip",
    "application/octet-stream",
)
NOT_DATA_PREFIXES: Final = ("/static/", "/fonts/", "/docs", "/redoc", "/openapi")  # the site's own files
FILENAME_CHARS_MAX: Final = 64


def _filename(disposition: str) -> str:
    for part in disposition.split(";"):
        key, _, value = part.strip().partition("=")
        if key.lower() in ("filename", "filename*"):
            return value.strip().strip('"').removeprefix("UTF-8''")[:FILENAME_CHARS_MAX]
    return ""


class DownloadAudit:
    """ASGI middleware (inside `RequestScope`, so the entry names the console user or the API key)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path", "").startswith(NOT_DATA_PREFIXES):
            await self.app(scope, receive, send)
            return
        seen: dict[str, Any] = {"file": None, "status": 0, "bytes": 0, "sha": hashlib.sha256()}

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = {
                    k.decode("latin-1").lower(): v.decode("latin-1") for k, v in message.get("headers", [])
                }
                kind = headers.get("content-type", "").split(";")[0].strip().lower()
                disposition = headers.get("content-disposition", "")
                seen["status"] = message["status"]
                if disposition or kind in FILE_TYPES:
                    seen["file"] = {"content_type": kind, "filename": _filename(disposition)}
            elif message["type"] == "http.response.body" and seen["file"] is not None:
                body = message.get("body", b"")
                seen["sha"].update(body)
                seen["bytes"] += len(body)
            await send(message)

        await self.app(scope, receive, watch)
        if seen["file"] is None or not 200 <= seen["status"] < 300 or scope.get(context.EXPORTED_KEY):
            return
        db = getattr(getattr(scope.get("app"), "state", None), "db", None)
        if db is None:
            return
        details = {
            **seen["file"],
            "path": scope.get("path", "")[:200],
            "bytes": seen["bytes"],
            "sha256": seen["sha"].hexdigest(),
        }
        await run_in_threadpool(_record, db, scope, details)


def _record(db: Any, scope: Scope, details: dict[str, Any]) -> None:
    from zhifu.audit.service import record

    auth = (scope.get("state") or {}).get("console_auth")
    merchant_id = getattr(auth[0], "merchant_id", None) if auth else None
    object_id = details["filename"] or details["path"].rstrip("/").rsplit("/", 1)[-1] or "download"
    with context.in_scope(scope):
        db.run(
            lambda c: record(
                c, None, "export.download", "export", object_id[:64], details, merchant_id=merchant_id
            )
        )
