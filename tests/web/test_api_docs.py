"""/docs and /redoc load only vendored files from this server: the API reference works offline."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from zhifu.api.app import create_app
from zhifu.db import Database


def test_docs_and_redoc_are_served_from_vendored_files(tmp_path) -> None:  # type: ignore[no-untyped-def]
    client = TestClient(create_app(Database(f"sqlite:///{tmp_path}/d.db")))
    for path, script in (("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")):
        page = client.get(path)
        assert page.status_code == 200
        refs = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert refs and all(r.startswith("/static/") for r in refs), refs
        assert f"/static/vendor/{script}" in refs
        assert "<script>" not in page.text  # no inline script: the page works under a strict CSP
        for ref in refs:
            got = client.get(ref)
            assert got.status_code == 200 and len(got.content) > 100, ref
    assert client.get("/openapi.json").json()["info"]["title"].startswith("Zhifu")
