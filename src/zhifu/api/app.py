"""The FastAPI application factory."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from zhifu.core.config import get_settings
from zhifu.core.errors import ZhifuError
from zhifu.db import Database


def create_app(db: Database | None = None) -> FastAPI:
    settings = get_settings()
    app = FastAPI(title="Zhifu 智付 API", version="1", docs_url="/docs", openapi_url="/openapi.json")
    app.state.db = db or Database(settings.database_url)
    app.state.settings = settings

    @app.exception_handler(ZhifuError)
    async def _zhifu_error(_req: Request, exc: ZhifuError) -> JSONResponse:
        return JSONResponse({"error": exc.to_dict()}, status_code=exc.http_status)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_req: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
        return JSONResponse({"error": {"type": "invalid_request_error", "code": "parameter_invalid",
                                       "message": f"{'.'.join(loc) or 'request'}: {first.get('msg', 'invalid')}",
                                       "param": ".".join(loc) or None}}, status_code=400)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
