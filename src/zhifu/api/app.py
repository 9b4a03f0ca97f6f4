"""The FastAPI application factory: routers, the error shape, the body limit, and background work."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.middleware.base import BaseHTTPMiddleware

from zhifu.core.config import get_settings
from zhifu.core.errors import ZhifuError
from zhifu.db import Database

BODY_MAX_BYTES = 64 * 1024  # no API request needs more; uploads have their own routes and limits
UPLOAD_BYTES_MAX = 17 * 1024 * 1024  # billers' bill and return files (16 MB, zhifu.bills.importer) with their form
UPLOAD_PATH_ENDS = ("/bills", "/returns",  # /v1/billers/{id}/bills|returns and /console/biller/bills|returns
                    "/complain")  # the public complaint form with its evidence (5 files of 2 MB, zhifu.complaints)


def _error(status: int, code: str, message: str, param: str | None = None,
           type_: str = "invalid_request_error") -> JSONResponse:
    return JSONResponse({"error": {"type": type_, "code": code, "message": message, "param": param}},
                        status_code=status)


class BodyLimit(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next):  # type: ignore[no-untyped-def]
        length = request.headers.get("content-length")
        limit = UPLOAD_BYTES_MAX if request.url.path.endswith(UPLOAD_PATH_ENDS) else BODY_MAX_BYTES
        if length is not None and (not length.isdigit() or int(length) > limit):
            return _error(413, "body_too_large", f"request body is over {limit} bytes")
        return await call_next(request)


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

    app = FastAPI(title="Zhifu 智付 API", version="1", docs_url="/docs", openapi_url="/openapi.json",
                  lifespan=lifespan,
                  description="One API for every payment method of a county's acquiring bank. Amounts are integer "
                              "fen; errors are `{\"error\": {type, code, message, param}}`.")
    app.state.db = database
    app.state.settings = settings
    app.add_middleware(BodyLimit)
    from zhifu.audit import RequestScope  # names who is acting in the audit log's entries

    app.add_middleware(RequestScope)

    @app.exception_handler(ZhifuError)
    async def _zhifu_error(_req: Request, exc: ZhifuError) -> JSONResponse:
        return JSONResponse({"error": exc.to_dict()}, status_code=exc.http_status)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_req: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {}
        loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path", "header")]
        kind = first.get("type", "")
        if kind == "json_invalid":
            return _error(400, "invalid_json", "the body is not valid JSON")
        if kind == "extra_forbidden":
            return _error(400, "unknown_parameter", f"unknown parameter {'.'.join(loc)}", ".".join(loc))
        if kind == "missing":
            return _error(400, "parameter_missing", f"missing parameter {'.'.join(loc)}", ".".join(loc) or None)
        msg = str(first.get("msg", "invalid")).removeprefix("Value error, ")
        return _error(400, "parameter_invalid", f"{'.'.join(loc) or 'request'}: {msg}", ".".join(loc) or None)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, Any]:
        from zhifu.calendar import status as calendar_status

        with database.read() as conn:
            cal = calendar_status(conn)
        return {"status": "ok", "calendar": cal.to_dict(), "warnings": [w for w in (cal.warning,) if w]}

    from zhifu.plugins import modules

    for mod in modules("routes"):  # each capability's zhifu.<cap>.routes.router
        if getattr(mod, "SIMULATOR_ONLY", False) and not settings.simulator:
            continue  # the simulated payer's routes exist only when the simulator is switched on
        app.include_router(mod.router)
    return app
