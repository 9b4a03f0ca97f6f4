"""The API's reference pages, /docs (Swagger UI) and /redoc (ReDoc), from vendored files: they work offline.

The pages load their scripts from /static/vendor/ and start them from /static/api-docs.js (no inline script), so
the same Content-Security-Policy as the console's holds here.
"""

from __future__ import annotations

from typing import Final

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)

_HEAD: Final = (
    '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1">'
    "<title>Zhifu 智付 API · {title}</title>{extra}</head><body>{body}"
    '<script src="/static/vendor/{script}"></script><script src="/static/api-docs.js"></script>'
    "</body></html>"
)


@router.get("/docs")
def swagger_ui() -> HTMLResponse:
    return HTMLResponse(
        _HEAD.format(
            title="Swagger UI",
            extra='<link rel="stylesheet" href="/static/vendor/swagger-ui.css">',
            body='<div id="swagger-ui" data-openapi="/openapi.json"></div>',
            script="swagger-ui-bundle.js",
        )
    )


@router.get("/redoc")
def redoc() -> HTMLResponse:
    return HTMLResponse(
        _HEAD.format(
            title="ReDoc",
            extra="",
            body='<div id="redoc" data-openapi="/openapi.json"></div>',
            script="redoc.standalone.js",
        )
    )
