"""`zhifu demo` served: the port answers at once with a "building" page while `zhifu.sim.demo` builds the county,
then the platform itself takes over with its background workers, live traffic and the back office; Ctrl-C stops
all of it, and the next run starts afresh."""

from __future__ import annotations

import datetime as dt
import html
import threading
import time
from typing import Any

from rich.console import Console

from zhifu.core.clock import SHANGHAI

BUILDING_PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><meta http-equiv="refresh" content="3">
<title>正在生成县域数据… · Zhifu 智付</title><link rel="stylesheet" href="/static/zhifu.css"></head>
<body><main class="page"><section class="card"><h1>正在生成县域数据…</h1><p>Building the county's data…</p>
<p data-step>{step}</p><p>已用时 {elapsed} 秒 / {elapsed} s so far. 本页每 3 秒刷新 / this page reloads every 3 s.</p>
{failed}</section></main></body></html>"""


class BuildingSwitch:
    """The demo's ASGI app: a "building" page (503 with Retry-After) until the platform is built, then the platform
    itself. It answers within seconds of `make demo`, however long the history takes on a busy machine."""

    def __init__(self) -> None:
        self.inner: Any = None
        self.workers: Any = None
        self.step = "准备数据库 / preparing the database"
        self.failed: str | None = None
        self.started = time.monotonic()

    def at(self, step: str) -> None:
        self.step = step

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":  # the platform's background work is started by the builder
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if self.inner is not None:
            await self.inner(scope, receive, send)
            return
        if scope["type"] != "http":
            return
        if scope["path"].startswith("/static/"):
            from starlette.staticfiles import StaticFiles

            from zhifu.web.templating import STATIC_DIR

            await StaticFiles(directory=STATIC_DIR)(
                {**scope, "path": scope["path"][len("/static") :], "root_path": ""}, receive, send
            )
            return
        failed = (
            f'<p class="alert alert--bad">生成失败 / the build failed: {html.escape(self.failed)}</p>'
            if self.failed
            else ""
        )
        body = BUILDING_PAGE.format(
            step=html.escape(self.step), elapsed=int(time.monotonic() - self.started), failed=failed
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 503,
                "headers": [
                    (b"content-type", b"text/html; charset=utf-8"),
                    (b"retry-after", b"3"),
                    (b"cache-control", b"no-store"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def stop(self) -> None:
        if self.workers is not None:
            self.workers.stop()


def _announce(console: Console, demo: Any, built: Any, *, base: str, port: int, tps: float) -> None:
    from zhifu.sim.coherence import live_rate

    days = demo.params.days
    console.print(f"[bold]Zhifu 智付[/bold] demo: {demo.county.name} · {days} days of history · {demo.url}")
    console.print(f"  console:      {base}/login")
    console.print(f"  API docs:     {base}/docs")
    console.print(
        f"  fake rails:   http://127.0.0.1:{port + 1} (WeChat Pay v3, Alipay OpenAPI, UnionPay "
        f"gateway; keys in {demo.rails_folder})"
    )
    for role, username, password in built.logins:
        console.print(f"  {role + ' login:':<16} {username} / {password}")
    if not built.logins:
        console.print("  (console users are not available in this build: use the operator key)")
    shop = built.shop
    if shop is not None:
        console.print(
            f"  showcase:     {shop.name}（{shop.merchant_id}）— {days} 天的收款、收款码、对账单与每日结算 / "
            f"{days} days of takings, its static code, statements and daily settlements: the merchant login"
        )
    console.print(f"  operator key: {built.op_secret}")
    for c in built.campaigns:
        console.print(f"  campaign:     {c['name']} ({c['id']})")
    if tps > 0:
        console.print(
            f"  live traffic: {tps:g} payments a second. Ctrl-C stops everything; running it "
            f"again starts afresh."
        )
    else:
        console.print(
            f"  live traffic: the county's rhythm, about {built.daily:,.0f} payments today by the history's "
            f"model (now {live_rate(built.daily, dt.datetime.now(SHANGHAI)) * 3600:,.0f} an hour). Ctrl-C "
            f"stops everything; running it again starts afresh."
        )
    console.print("  back office:  the history is being reconciled and settled day by day behind the server")


def run_demo(
    db_file: str, *, port: int, days: int, scale: float, tps: float, seed: int, console: Console
) -> None:
    import uvicorn

    from zhifu.api.app import create_app
    from zhifu.sim import demo as county_demo
    from zhifu.workers import Workers

    demo = county_demo.plan(db_file, port=port, days=days, scale=scale, seed=seed)
    rails, rails_server, rails_thread = county_demo.start_fake_rails(demo.rails_folder, port + 1)
    base = f"http://127.0.0.1:{port}"
    switch = BuildingSwitch()
    server = uvicorn.Server(uvicorn.Config(switch, host="127.0.0.1", port=port, log_level="warning"))
    stop = threading.Event()
    console.print(
        f"[bold]Zhifu 智付[/bold] demo answers now at {base}/login — 正在生成县域数据… / building the county's "
        f"data; the page says when it is ready"
    )
    db: Any = None

    def build() -> None:
        """Everything the demo shows, built while the server already answers; then the real app takes over."""
        nonlocal db
        try:
            built = county_demo.build_county(demo, rails, console=console, step=switch.at)
            db = built.db
            switch.workers = Workers(db)
            switch.workers.start()
            switch.inner = create_app(db)  # from here every request reaches the platform
            _announce(console, demo, built, base=base, port=port, tps=tps)
            county_demo.start_traffic(base, built, tps=tps, seed=seed, stop=stop, console=console)
            county_demo.start_back_office(
                built, rails, today=demo.today, seed=seed, stop=stop, console=console
            )
        except Exception as exc:  # shown on the page and here; the server keeps answering
            switch.failed = f"{type(exc).__name__}: {exc}"
            console.print(f"[red]the demo could not be built:[/red] {switch.failed}")

    builder = threading.Thread(target=build, name="zhifu-demo-build", daemon=True)
    builder.start()
    try:
        server.run()
    finally:
        stop.set()
        switch.stop()
        rails_server.should_exit = True
        rails_thread.join(timeout=5)
        rails.stop()
        if db is not None:
            db.dispose()
