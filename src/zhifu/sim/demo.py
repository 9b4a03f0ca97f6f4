"""`zhifu demo`: a fresh SQLite file, a simulated year of Yiyuan, then the server with its background workers
and live traffic; Ctrl-C stops all of it, and the next run starts afresh."""

from __future__ import annotations

import datetime as dt
import os
import secrets
import threading
from pathlib import Path
from typing import Any

from rich.console import Console

from zhifu.core.clock import SHANGHAI
from zhifu.core.config import get_settings

DEMO_PROFILE = "yiyuan"


def _fresh(db_file: str) -> str:
    for suffix in ("", "-wal", "-shm"):
        Path(db_file + suffix).unlink(missing_ok=True)
    url = f"sqlite:///{Path(db_file).resolve()}"
    os.environ["ZHIFU_DATABASE_URL"] = url
    os.environ["ZHIFU_COUNTY_PROFILE"] = DEMO_PROFILE
    get_settings.cache_clear()
    return url


def _users(db: Any, merchant_id: str | None) -> list[tuple[str, str, str]]:
    """Console logins for each role, when the console offers users; otherwise none."""
    try:
        from zhifu.console import create_user
    except ImportError:
        return []
    out = []
    wanted = [("regulator", "regulator", {}), ("operator", "operator", {"institution_id": "yiyuan_rcb"})]
    if merchant_id:
        wanted.append(("merchant", "merchant", {"merchant_id": merchant_id}))
    with db.tx() as conn:
        for username, role, extra in wanted:
            password = secrets.token_urlsafe(9)
            create_user(conn, username, role, password, display_name=f"演示 {role}", **extra)
            out.append((role, username, password))
    return out


def run_demo(db_file: str, *, port: int, days: int, scale: float, tps: float, seed: int, console: Console) -> None:
    import httpx
    import uvicorn

    from zhifu.api.app import create_app
    from zhifu.db import Database
    from zhifu.db.migrate import upgrade
    from zhifu.merchants import create_key, list_merchants
    from zhifu.sim import SimParams, check_params
    from zhifu.sim.cli import print_result
    from zhifu.sim.engine import Simulation
    from zhifu.sim.live import run_live

    today = dt.datetime.now(SHANGHAI).date()
    params = SimParams(DEMO_PROFILE, today - dt.timedelta(days=days), days, seed, scale)
    county = check_params(params)
    url = _fresh(db_file)
    upgrade(url)
    history = Database(url)
    try:
        print_result(Simulation(history, params, county).run(progress=True, console=console))
    finally:
        history.dispose()
    db = Database(url)
    with db.tx() as conn:
        _, op_secret = create_key(conn, merchant_id=None, role="operator", label="demo")
        rows, _ = list_merchants(conn, status="active", limit=1)
    logins = _users(db, rows[0]["id"] if rows else None)
    base = f"http://127.0.0.1:{port}"
    console.print(f"[bold]Zhifu 智付[/bold] demo: {county.name} · {days} days of history · {url}")
    console.print(f"  console:      {base}/login")
    console.print(f"  API docs:     {base}/docs")
    for role, username, password in logins:
        console.print(f"  {role + ' login:':<17}{username} / {password}")
    if not logins:
        console.print("  (console users are not available in this build: use the operator key)")
    console.print(f"  operator key: {op_secret}")
    console.print(f"  live traffic: {tps:g} payments a second. Ctrl-C stops everything; running it again starts afresh.")

    server = uvicorn.Server(uvicorn.Config(create_app(db, background=True), host="127.0.0.1", port=port,
                                           log_level="warning"))
    stop = threading.Event()

    def traffic() -> None:
        while not server.started and not stop.wait(0.2):
            pass
        if stop.is_set():
            return
        with httpx.Client(base_url=base, timeout=10) as client:
            try:
                run_live(client, op_secret, tps=tps, seed=seed, stop=stop)
            except Exception as exc:  # the demo keeps serving even if traffic cannot start
                console.print(f"[yellow]live traffic stopped:[/yellow] {exc}")

    thread = threading.Thread(target=traffic, name="zhifu-live", daemon=True)
    thread.start()
    try:
        server.run()
    finally:
        stop.set()
        thread.join(timeout=5)
        db.dispose()
