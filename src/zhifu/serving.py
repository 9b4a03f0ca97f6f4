"""How the web process is served (one place, so `zhifu serve` and the benchmark's echo ceiling are served alike):
uvicorn with one or N worker processes."""

from __future__ import annotations

from typing import Any

import uvicorn

WORKERS_MAX = 64  # web processes per machine; past this a cell wants a second machine, not more processes
LOG_LEVEL = "info"  # uvicorn's own log, with one access line per request


def options(*, host: str, port: int, workers: int = 1, access_log: bool = True) -> dict[str, Any]:
    """The uvicorn settings every Zhifu web process runs with."""
    if not 1 <= workers <= WORKERS_MAX:
        raise ValueError(f"workers must be between 1 and {WORKERS_MAX}")
    return {
        "host": host,
        "port": port,
        "workers": workers,
        "log_level": LOG_LEVEL,
        "access_log": access_log,
        "timeout_graceful_shutdown": 10,
    }


def run(
    app: Any, *, host: str, port: int, workers: int = 1, factory: bool = False, access_log: bool = True
) -> None:
    """Serve `app` (an ASGI app, or an import string, which more than one worker needs) until stopped."""
    uvicorn.run(app, factory=factory, **options(host=host, port=port, workers=workers, access_log=access_log))


def web_app() -> Any:
    """The app of one web process among several (`zhifu serve --workers N`): API, cashier and console, with no
    background work (that is `zhifu worker`'s)."""
    from zhifu.api.app import create_app

    return create_app(background=False)


def web_app_with_background() -> Any:
    """The app of the one embedded web process: background work runs in its threads."""
    from zhifu.api.app import create_app

    return create_app(background=True)
