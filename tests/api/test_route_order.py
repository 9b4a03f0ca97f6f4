"""The payment API's routers are matched before every other (zhifu.api.app.HOT_ROUTERS); that changes nothing only
while no route of another router answers the same method and path as one of theirs, which this checks."""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator
from typing import Any

from starlette.routing import compile_path

from zhifu.api.app import HOT_ROUTERS, create_app
from zhifu.db import Database


def _leaves(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, set[str], Any]]:
    for r in routes:
        inner = getattr(r, "original_router", None)
        if inner is not None:
            context = getattr(r, "include_context", None)
            yield from _leaves(inner.routes, prefix + (getattr(context, "prefix", "") or ""))
        elif getattr(r, "path", None) is not None:
            yield prefix + r.path, set(getattr(r, "methods", None) or ()), r


def test_hot_routers_overlap_no_other_route(tmp_path) -> None:  # type: ignore[no-untyped-def]
    db = Database(f"sqlite:///{tmp_path}/routes.db")
    try:
        app = create_app(db)
    finally:
        db.dispose()
    hot_endpoints = set()
    hot: list[tuple[str, set[str], re.Pattern[str]]] = []
    for name in HOT_ROUTERS:
        for path, methods, r in _leaves(importlib.import_module(name).router.routes):
            hot.append((path, methods, compile_path(path)[0]))
            hot_endpoints.add(getattr(r, "endpoint", None))
    assert any(p == "/v1/payments" and "POST" in m for p, m, _ in hot)
    others = [
        leaf for leaf in _leaves(app.router.routes) if getattr(leaf[2], "endpoint", None) not in hot_endpoints
    ]
    assert len(others) > 100  # the whole app was walked
    clashes = []
    for path, methods, _ in others:
        sample = re.sub(r"\{[^}]+\}", "x_1", path)  # a value every path parameter accepts
        for hot_path, hot_methods, rx in hot:
            if rx.match(sample) and methods & hot_methods:
                clashes.append(f"{sorted(methods)} {path} would be answered by {hot_path}")
    assert clashes == []


def test_payment_routes_come_first(tmp_path) -> None:  # type: ignore[no-untyped-def]
    db = Database(f"sqlite:///{tmp_path}/routes.db")
    try:
        app = create_app(db)
    finally:
        db.dispose()
    first = next(
        i for i, r in enumerate(app.router.routes) if getattr(r, "original_router", None) is not None
    )
    payments_router = importlib.import_module("zhifu.payments.routes").router
    assert app.router.routes[first].original_router is payments_router
