"""The FastAPI application factory: routers, the error shape, the body limit, and background work."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from zhifu.core import asgi
from zhifu.core.config import get_settings
from zhifu.core.errors import ZhifuError
from zhifu.db import Database

# matched first, in this order: most requests are theirs (payments, the rails' notifications, the simulated payer)
HOT_ROUTERS = ("zhifu.payments.routes", "zhifu.channels.routes", "zhifu.railsim.routes")
BODY_BYTES_MAX = 64 * 1024  # no API request needs more; uploads have their own routes and limits
UPLOAD_BYTES_MAX = (
    17 * 1024 * 1024
)  # billers' bill and return files (16 MB, zhifu.bills.importer) with their form
UPLOAD_PATH_ENDS = (
    "/bills",
    "/returns",  # /v1/billers/{id}/bills|returns and /console/biller/bills|returns
    "/complain",  # the public complaint form with its evidence (5 files of 2 MB, zhifu.complaints)
    "/statement-upload",
    "/payout-results",
    "/nontax-codes",  # a finance bureau's file of payment codes: /v1/billers/{id}/nontax-codes
    "/code-file",  # and its console form
)  # the operator's rail statement and bank result files


def _error(
    status: int, code: str, message: str, param: str | None = None, type_: str = "invalid_request_error"
) -> JSONResponse:
    return JSONResponse(
        {"error": {"type": type_, "code": code, "message": message, "param": param}}, status_code=status
    )


_ESCAPED_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")  # \u0000 in JSON, not a literal backslash before it
_NUL_MESSAGE = "文本中不能含 NUL 字符 / text may not contain a NUL character (\\u0000)"


class BodyLimit:
    """Reads the whole body, bounded, before any route, dependency or authentication sees the request: a declared
    Content-Length over the limit and a chunked body that grows past it are both a 413. A NUL character in the
    path, the query, a JSON or a form body is a 400 on both backends (PostgreSQL text cannot hold it)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        if "\x00" in path or b"%00" in scope.get("query_string", b"") or b"%00" in scope.get("raw_path", b""):
            await _error(400, "nul_character", _NUL_MESSAGE)(scope, receive, send)
            return
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        limit = UPLOAD_BYTES_MAX if path.endswith(UPLOAD_PATH_ENDS) else BODY_BYTES_MAX
        length = headers.get(b"content-length")
        too_large = _error(413, "body_too_large", f"request body is over {limit} bytes")
        if length is not None and (not length.isdigit() or int(length) > limit):
            await too_large(scope, receive, send)
            return
        try:
            body = await asgi.read_body(receive, limit)
        except asgi.BodyTooLarge:
            await too_large(scope, receive, send)
            return
        if body is None:
            return
        kind = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if kind.endswith(b"json"):
            try:
                body.decode("utf-8")
            except UnicodeDecodeError:
                await _error(400, "invalid_utf8", "请求体不是 UTF-8 / the body is not valid UTF-8")(
                    scope, receive, send
                )
                return
        if (kind.endswith(b"json") and (b"\x00" in body or _ESCAPED_NUL.search(body))) or (
            kind == b"application/x-www-form-urlencoded" and b"%00" in body
        ):
            await _error(400, "nul_character", _NUL_MESSAGE)(scope, receive, send)
            return
        await self.app(scope, asgi.replaying(body, receive), send)


def create_app(db: Database | None = None, *, background: bool = False) -> FastAPI:
    settings = get_settings()
    database = db or Database(settings.database_url)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from zhifu.payments import ensure_platform_accounts
        from zhifu.workers import Workers

        with database.tx() as conn:
            ensure_platform_accounts(conn)
        workers = Workers(database) if background else None
        if workers:
            workers.start()
        try:
            yield
        finally:
            if workers:
                workers.stop()

    app = FastAPI(
        title="Zhifu 智付 API",
        version="1",
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
        lifespan=lifespan,
        description="One API for every payment method of a county's acquiring bank. Amounts are integer "
        'fen; errors are `{"error": {type, code, message, param}}`.',
    )
    app.state.db = database
    app.state.settings = settings
    from zhifu.privacy import scrub
    from zhifu.privacy.c3 import RefuseC3  # C3 data (CVV2, track data, PINs, passwords) is refused unread

    scrub.install()  # ID, card and mobile numbers in any log line are written masked

    app.add_middleware(RefuseC3)
    app.add_middleware(BodyLimit)
    from zhifu.audit import RequestScope  # names who is acting in the audit log's entries
    from zhifu.audit.downloads import DownloadAudit  # every file downloaded is in the audit log

    app.add_middleware(DownloadAudit)

    app.add_middleware(RequestScope)
    from zhifu.api.language import ErrorLanguage  # an error's message in the language the request asks for

    app.add_middleware(ErrorLanguage)

    @app.exception_handler(ZhifuError)
    async def _zhifu_error(_req: Request, exc: ZhifuError) -> JSONResponse:
        return JSONResponse({"error": exc.to_dict()}, status_code=exc.http_status)

    def _browser_page(req: Request, code: str, status: int) -> Response | None:
        """A person's browser gets a page in its language, not JSON; API clients keep the error object."""
        if req.url.path.startswith(("/v1/", "/sim/", "/openapi")) or "text/html" not in req.headers.get(
            "accept", ""
        ):
            return None
        from zhifu.console.routes import error_page

        return error_page(req, code, status)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(req: Request, exc: StarletteHTTPException) -> Response:
        page = _browser_page(req, "not_found" if exc.status_code == 404 else "bad_request", exc.status_code)
        if page is not None and exc.status_code in (404, 405):
            return page
        if exc.status_code == 404:
            return _error(404, "route_missing", f"没有这个地址 / no route {req.method} {req.url.path}")
        if exc.status_code == 405:
            return _error(405, "method_not_allowed", f"{req.method} is not allowed on {req.url.path}")
        if exc.status_code == 400:  # the framework could not parse the body (UTF-8 is checked before: JSON)
            return _error(
                400, "invalid_json", f"请求体不是合法 JSON / the body is not valid JSON ({exc.detail})"
            )
        return _error(exc.status_code, f"http_{exc.status_code}", str(exc.detail))

    @app.exception_handler(ValidationError)
    async def _model_error(_req: Request, exc: ValidationError) -> JSONResponse:
        # a model a service builds from the request's fields (a biller's merchant application) refused one of them
        first = exc.errors()[0] if exc.errors() else {}
        loc = ".".join(str(p) for p in first.get("loc", ()))
        msg = str(first.get("msg", "invalid")).removeprefix("Value error, ")
        return _error(400, "parameter_invalid", f"{loc or 'request'}: {msg}", loc or None)

    @app.exception_handler(Exception)
    async def _server_error(_req: Request, exc: Exception) -> Response:
        page = _browser_page(_req, "server_error", 500)
        if page is not None:
            return page
        return _error(
            500, "internal_error", "内部错误，请稍后重试 / internal error; retry later", type_="api_error"
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_req: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {}
        loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path", "header")]
        kind = first.get("type", "")
        if kind == "json_invalid":
            return _error(400, "invalid_json", "the body is not valid JSON")
        if kind in ("string_unicode", "unicode_error") or "utf-8" in str(first.get("msg", "")).lower():
            return _error(400, "invalid_utf8", "the body is not valid UTF-8")
        if kind == "extra_forbidden":
            return _error(400, "unknown_parameter", f"unknown parameter {'.'.join(loc)}", ".".join(loc))
        if kind == "missing":
            return _error(
                400, "parameter_missing", f"missing parameter {'.'.join(loc)}", ".".join(loc) or None
            )
        msg = str(first.get("msg", "invalid")).removeprefix("Value error, ")
        return _error(400, "parameter_invalid", f"{'.'.join(loc) or 'request'}: {msg}", ".".join(loc) or None)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, Any]:
        from zhifu.calendar import status as calendar_status

        with database.read() as conn:
            cal = calendar_status(conn)
        return {"status": "ok", "calendar": cal.to_dict(), "warnings": [w for w in (cal.warning,) if w]}

    from zhifu.plugins import load_events, modules

    load_events()  # the payment path's subscribers (bills' receipts), before the first request
    # each capability's zhifu.<cap>.routes.router; the payment API's first: a request is matched against the routes
    # in order, and there are hundreds (no route of another router overlaps these: tests/api/test_route_order.py)
    hot = {name: i for i, name in enumerate(HOT_ROUTERS)}
    for mod in sorted(modules("routes"), key=lambda m: hot.get(m.__name__, len(hot))):
        if getattr(mod, "SIMULATOR_ONLY", False) and not settings.simulator:
            continue  # the simulated payer's routes exist only when the simulator is switched on
        app.include_router(mod.router)
    from zhifu.api.docs import (
        router as docs_router,  # /docs and /redoc from vendored files: they work offline
    )

    app.include_router(docs_router)
    _document_errors(app)
    return app


# What any route may answer besides its success, all with the one error shape (see _error).
ERROR_STATUSES = {
    "400": "Bad request: a parameter is missing or invalid, the body is not JSON or not UTF-8, or a "
    "text holds a NUL character",
    "401": "No valid API key",
    "403": "The key may not do this",
    "404": "No such object, or no such route",
    "409": "Conflicts with the object's state",
    "413": "The body is over the limit",
    "422": "The Idempotency-Key was used with another body",
}


def _document_errors(app: FastAPI) -> None:
    """Every operation in the OpenAPI document lists the error responses with the error object's schema."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        doc = build()
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        schemas["Error"] = {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["type", "code", "message", "param"],
                    "properties": {
                        "type": {"type": "string"},
                        "code": {"type": "string"},
                        "message": {"type": "string"},
                        "param": {"type": ["string", "null"]},
                    },
                }
            },
        }
        ref = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        for ops in doc.get("paths", {}).values():
            for op in ops.values():
                if not isinstance(op, dict) or "responses" not in op:
                    continue
                for status, text in ERROR_STATUSES.items():
                    op["responses"][status] = {"description": text, **ref}
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
