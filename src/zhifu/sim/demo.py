"""`zhifu demo`: a fresh SQLite file, a simulated year of Yiyuan, then the server with its background workers
and live traffic; Ctrl-C stops all of it, and the next run starts afresh."""

from __future__ import annotations

import datetime as dt
import os
import secrets
import shutil
import threading
from pathlib import Path
from typing import Any

from rich.console import Console

from zhifu.core.clock import SHANGHAI
from zhifu.core.config import get_settings

DEMO_PROFILE = "yiyuan"


def check_ports(port: int) -> None:
    """The server's port and the fake rails' (the next one) must be free before a minute goes into building."""
    import socket

    from zhifu.core.errors import InvalidRequest

    for p in (port, port + 1):
        try:
            socket.create_server(("127.0.0.1", p)).close()
        except OSError as exc:
            raise InvalidRequest(
                f"端口 {p} 已被占用 / port {p} is in use ({exc.strerror}); choose another with "
                f"--port (make demo PORT=8010)",
                param="port",
            ) from exc


def _fresh(db_file: str, port: int) -> tuple[str, Path]:
    """A fresh database file and a fresh folder for the fake rails beside it; the simulator switched on."""
    for suffix in ("", "-wal", "-shm"):
        Path(db_file + suffix).unlink(missing_ok=True)
    rails = Path(db_file).resolve().with_suffix(".rails")
    shutil.rmtree(rails, ignore_errors=True)
    shutil.rmtree(rails.with_suffix(".payouts"), ignore_errors=True)
    url = f"sqlite:///{Path(db_file).resolve()}"
    os.environ["ZHIFU_DATABASE_URL"] = url
    os.environ["ZHIFU_COUNTY_PROFILE"] = DEMO_PROFILE
    os.environ["ZHIFU_SIMULATOR"] = "1"  # simulated rails and payer, on the simulator's built-in secret
    os.environ["ZHIFU_RAILS_CONFIG"] = str(rails / "rails.json")
    os.environ["ZHIFU_PUBLIC_BASE_URL"] = f"http://127.0.0.1:{port}"
    os.environ["ZHIFU_SETTLEMENT_SCHEDULED"] = (
        "0"  # the demo's back office closes each day in order (sim.coherence)
    )
    os.environ["ZHIFU_SETTLEMENT_DIR"] = str(rails.with_suffix(".payouts"))
    get_settings.cache_clear()
    return url, rails


def start_fake_rails(folder: Path, port: int) -> tuple[Any, Any, threading.Thread]:
    """The fake rails on their own port, in a thread of this process: our connectors reach them over HTTP."""
    import uvicorn

    from zhifu import channels
    from zhifu.railsim.server import FakeRails

    sim = FakeRails(folder, f"http://127.0.0.1:{port}")
    sim.start()
    server = uvicorn.Server(
        uvicorn.Config(sim.app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, name="zhifu-fake-rails", daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        threading.Event().wait(0.05)
    channels.configure(None)  # read the rails.json the fake rails just wrote
    return sim, server, thread


def analyze(db: Any) -> None:
    """The query planner's statistics for a SQLite file just filled with a year of history: without them SQLite
    reads a rail-day's payments through the channel's index, every payment of the channel, for each query of the
    back office's reconciliation (PostgreSQL's autovacuum gathers its own)."""
    if db.dialect == "sqlite":
        with db.tx() as conn:
            conn.exec_driver_sql("ANALYZE")


def showcase(world: Any) -> Any:
    """The demo's showcase shop: the busiest registered shop that was on the programme from the first day of
    history, so its merchant login has a year of takings, statements and daily settlements to show."""
    if world is None:
        return None
    first = [b for b in world.businesses if b.merchant_id and b.join_day <= 0 and b.credit_code is not None]
    return max(first, key=lambda b: (b.size, b.merchant_id), default=None)


def _users(db: Any, merchant_id: str | None) -> list[tuple[str, str, str]]:
    """Console logins for each role."""
    from zhifu.console import create_user

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


def demo_campaigns(db: Any, county: Any, today: dt.date) -> list[dict[str, Any]]:
    """The programme's two usual campaigns, running from today for a quarter, so the live traffic is priced by
    them and the incentive pages and the subsidy figures move: a 云闪付 instant discount under 500 yuan in the
    pilot towns, funded by the county's finance bureau, and fee waiver plus the acquirer's channel cost refunded
    for the county's rural-bank cards, funded by the leading acquirer."""
    from zhifu.incentives import CreateCampaign, Discount, Rules, create_campaign

    start = dt.datetime.combine(today, dt.time(), SHANGHAI)
    window = {"starts_at": start, "ends_at": start + dt.timedelta(days=91)}
    lead = next((i.id for i in county.institutions if "acquirer" in i.roles), None)
    wanted = [
        CreateCampaign(
            name="云闪付 乡村振兴 随机立减",
            funder="county_finance",
            budget_fen=20_000_000,
            rules=Rules(
                **window,
                channels=["unionpay_qr"],
                towns=list(county.pilot_towns),
                amount_below_fen=50_000,
                discount=Discount(probability_ppm=300_000, min_fen=50, max_fen=500),
                per_payer_day_count=2,
            ),
        )
    ]
    if lead is not None:
        wanted.append(
            CreateCampaign(
                name="农商行卡 手续费减免 与 通道成本补贴",
                funder=lead,
                budget_fen=5_000_000,
                rules=Rules(
                    **window,
                    county_rural_issuers=True,
                    fee_waiver=True,
                    cost_refund=True,
                    per_merchant_day_fen=2_000,
                ),
            )
        )
    with db.tx() as conn:
        return [create_campaign(conn, c) for c in wanted]


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
        import time

        self.inner: Any = None
        self.workers: Any = None
        self.step = "准备数据库 / preparing the database"
        self.failed: str | None = None
        self.started = time.monotonic()

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
        import html
        import time

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


def run_demo(
    db_file: str, *, port: int, days: int, scale: float, tps: float, seed: int, console: Console
) -> None:
    import httpx
    import uvicorn

    from zhifu.api.app import create_app
    from zhifu.db import Database
    from zhifu.db.migrate import upgrade
    from zhifu.merchants import create_key, list_merchants
    from zhifu.sim import SimParams, check_params
    from zhifu.sim.bills import demo_life as demo_bill_life
    from zhifu.sim.cli import print_result
    from zhifu.sim.engine import Simulation
    from zhifu.sim.live import run_live
    from zhifu.sim.risk import risk_hook

    check_ports(port)
    today = dt.datetime.now(SHANGHAI).date()
    params = SimParams(DEMO_PROFILE, today - dt.timedelta(days=days), days, seed, scale)
    from zhifu.sim.coherence import demo_profile

    county = demo_profile(check_params(params), params.start, today - dt.timedelta(days=1), scale)
    url, rails_folder = _fresh(db_file, port)
    upgrade(url)
    rails, rails_server, rails_thread = start_fake_rails(rails_folder, port + 1)
    base = f"http://127.0.0.1:{port}"
    switch = BuildingSwitch()
    server = uvicorn.Server(uvicorn.Config(switch, host="127.0.0.1", port=port, log_level="warning"))
    stop = threading.Event()
    console.print(
        f"[bold]Zhifu 智付[/bold] demo answers now at {base}/login — 正在生成县域数据… / building the county's "
        f"data; the page says when it is ready"
    )

    def build() -> None:
        """Everything the demo shows, built while the server already answers; then the real app takes over."""
        nonlocal db
        try:
            switch.step = "模拟一年的交易 / simulating the county's year of payments"
            history = Database(url)
            try:
                sim = Simulation(
                    history, params, county, [risk_hook(history, seed, days)]
                )  # labelled fraud actors
                sim.rail_store = rails.store  # the rails keep their side of the simulated year
                print_result(sim.run(progress=True, console=console))
                active_weight = sim.cum[-1] if sim.cum else 0.0
                consumers = len(sim.world.consumers) if sim.world is not None else None
                shop = showcase(sim.world)
                apps = (
                    bytes(sim.world.consumers.app) if sim.world is not None else None
                )  # as the year left them
            finally:
                history.dispose()
            db = Database(url)
            analyze(
                db
            )  # the back office's queries pick the day's index, not the channel's: ~3x the days a minute
            from zhifu.sim.coherence import close_days, expected_today, issue_static_codes, live_rate

            daily = expected_today(active_weight, days, today)
            with db.tx() as conn:
                _, op_secret = create_key(conn, merchant_id=None, role="operator", label="demo")
                rows, _ = list_merchants(conn, status="active", limit=1)
            logins = _users(db, shop.merchant_id if shop is not None else rows[0]["id"] if rows else None)
            campaigns = demo_campaigns(db, county, today)
            from zhifu.sim.complaints import demo_complaints

            logins += demo_complaints(
                db, today, seed
            )  # complaints about the history's payments, two handlers
            logins += demo_bill_life(
                db, county, today, seed, payers=consumers
            )  # billers, a month of bills, households paying them
            from zhifu.sim.transit import demo_transit

            logins += demo_transit(
                db, county, today, seed, payers=consumers
            )  # buses with caps, school passes, a scenic holiday rush
            from zhifu.sim.office import demo_office

            logins += demo_office(
                db, county, today, seed
            )  # the office: items, 会商, training, circles, credit
            from zhifu.sim.rural import demo_rural

            logins += demo_rural(
                db, county, today, seed, payers=consumers
            )  # harvest cards, e-accounts, payouts, points, agri shop
            from zhifu.sim.privacy import demo_privacy

            seen = demo_privacy(db, shop.merchant_id if shop is not None else rows[0]["id"] if rows else None)
            console.print(
                f"  personal data: {seen['read_in_full']} read in full and {seen['refused_logins']} refused login "
                f"in the audit log; {seen['past_retention']} rows past their retention class (zhifu privacy purge)"
            )
            from zhifu.sim.subjects import demo_subject_requests, summary

            logins += demo_subject_requests(db)  # corrections and a deletion under maker-checker
            console.print(f"  data-subject requests: {summary(db)} (operator2 decides the waiting one)")
            console.print(f"  static codes: {issue_static_codes(db)} merchants have their code")  # every one,
            # the billers', the bus company's and the office's shops included
            from zhifu.kpi import refresh_db
            from zhifu.payments import ensure_platform_accounts
            from zhifu.workers import Workers

            switch.step = "汇总监管看板数据 / rolling up the regulator's figures"
            refresh_db(db)  # the dashboard's figures are there the moment the console opens

            with db.tx() as conn:
                ensure_platform_accounts(conn)
            switch.workers = Workers(db)
            switch.workers.start()
            switch.inner = create_app(db)  # from here every request reaches the platform
            console.print(f"[bold]Zhifu 智付[/bold] demo: {county.name} · {days} days of history · {url}")
            console.print(f"  console:      {base}/login")
            console.print(f"  API docs:     {base}/docs")
            console.print(
                f"  fake rails:   http://127.0.0.1:{port + 1} (WeChat Pay v3, Alipay OpenAPI, UnionPay "
                f"gateway; keys in {rails_folder})"
            )
            for role, username, password in logins:
                console.print(f"  {role + ' login:':<16} {username} / {password}")
            if not logins:
                console.print("  (console users are not available in this build: use the operator key)")
            if shop is not None:
                console.print(
                    f"  showcase:     {shop.name}（{shop.merchant_id}）— {days} 天的收款、收款码、对账单与每日结算 / "
                    f"{days} days of takings, its static code, statements and daily settlements: the merchant login"
                )
            console.print(f"  operator key: {op_secret}")
            for c in campaigns:
                console.print(f"  campaign:     {c['name']} ({c['id']})")
            if tps > 0:
                console.print(
                    f"  live traffic: {tps:g} payments a second. Ctrl-C stops everything; running it "
                    f"again starts afresh."
                )
            else:
                console.print(
                    f"  live traffic: the county's rhythm, about {daily:,.0f} payments today by the history's "
                    f"model (now {live_rate(daily, dt.datetime.now(SHANGHAI)) * 3600:,.0f} an hour). Ctrl-C "
                    f"stops everything; running it again starts afresh."
                )
            console.print(
                "  back office:  the history is being reconciled and settled day by day behind the server"
            )

            def traffic() -> None:
                if stop.is_set():
                    return
                with httpx.Client(base_url=base, timeout=10) as client:
                    try:
                        if tps > 0:
                            run_live(
                                client, op_secret, tps=tps, seed=seed, stop=stop, payers=consumers, apps=apps
                            )
                        else:
                            run_live(
                                client,
                                op_secret,
                                tps=1.0,
                                seed=seed,
                                stop=stop,
                                payers=consumers,
                                apps=apps,
                                rate_at=lambda: live_rate(daily, dt.datetime.now(SHANGHAI)),
                            )
                    except Exception as exc:  # the demo keeps serving even if traffic cannot start
                        console.print(f"[yellow]live traffic stopped:[/yellow] {exc}")

            threading.Thread(target=traffic, name="zhifu-live", daemon=True).start()
            history_days = [params.start + dt.timedelta(days=i) for i in range(days)]

            def back_office() -> None:
                try:
                    done = close_days(db, history_days, rail_store=rails.store, seed=seed, stop=stop)
                    console.print(
                        f"  back office:  {done['days']} days reconciled and settled "
                        f"({done['statements']} statements, {done['planted']} with planted discrepancies)"
                    )
                    closed = history_days[-1] if history_days else today - dt.timedelta(days=1)
                    while not stop.wait(60):  # then each day as it ends, while the demo runs
                        yesterday = dt.datetime.now(SHANGHAI).date() - dt.timedelta(days=1)
                        if yesterday > closed:
                            close_days(db, [yesterday], rail_store=rails.store, seed=seed, stop=stop)
                            closed = yesterday
                except Exception as exc:  # the demo keeps serving even if the back office cannot finish
                    console.print(f"[yellow]back office stopped:[/yellow] {exc}")

            office = threading.Thread(target=back_office, name="zhifu-back-office", daemon=True)
            office.start()
        except Exception as exc:  # shown on the page and here; the server keeps answering
            switch.failed = f"{type(exc).__name__}: {exc}"
            console.print(f"[red]the demo could not be built:[/red] {switch.failed}")

    db: Any = None
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
