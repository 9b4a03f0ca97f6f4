"""The county `zhifu demo` shows: a fresh SQLite file, a simulated year of Yiyuan, its logins, campaigns and
showcase shop, then live traffic and the back office closing the history's days. Serving it (the building page,
the app and its background workers) is the entry point's part, in `zhifu.demo_serve`."""

from __future__ import annotations

import datetime as dt
import os
import secrets
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
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


@dataclass
class DemoPlan:
    """What a demo run builds: the simulation's parameters, the county as the demo shapes it, the fresh
    database's URL and the fake rails' folder."""

    params: Any
    county: Any
    url: str
    rails_folder: Path
    today: dt.date


def plan(db_file: str, *, port: int, days: int, scale: float, seed: int) -> DemoPlan:
    """Check the ports, shape the county, and make the database afresh (migrated, empty)."""
    from zhifu.db.migrate import upgrade
    from zhifu.sim import SimParams, check_params
    from zhifu.sim.coherence import demo_profile

    check_ports(port)
    today = dt.datetime.now(SHANGHAI).date()
    params = SimParams(DEMO_PROFILE, today - dt.timedelta(days=days), days, seed, scale)
    county = demo_profile(check_params(params), params.start, today - dt.timedelta(days=1), scale)
    url, rails_folder = _fresh(db_file, port)
    upgrade(url)
    return DemoPlan(params, county, url, rails_folder, today)


@dataclass
class BuiltCounty:
    """The county once built: its database, the console logins, the operator's API key, the campaigns, the
    showcase shop, and what live traffic and the back office go on from."""

    db: Any
    logins: list[tuple[str, str, str]]
    op_secret: str
    campaigns: list[dict[str, Any]]
    shop: Any
    daily: float  # payments the history's model expects today
    consumers: int | None
    apps: bytes | None
    history_days: list[dt.date]


def build_county(plan: DemoPlan, rails: Any, *, console: Console, step: Callable[[str], None]) -> BuiltCounty:
    """Everything the demo shows: a simulated year, the logins, campaigns, complaints, bills, transit, office,
    rural finance, personal-data traces and codes, and the regulator's figures; `step` names each stage."""
    from zhifu.db import Database
    from zhifu.merchants import create_key, list_merchants
    from zhifu.sim.bills import demo_life as demo_bill_life
    from zhifu.sim.cli import print_result
    from zhifu.sim.coherence import expected_today, issue_static_codes
    from zhifu.sim.engine import Simulation
    from zhifu.sim.risk import risk_hook

    params, county, url, today = plan.params, plan.county, plan.url, plan.today
    seed, days = params.seed, params.days
    step("模拟一年的交易 / simulating the county's year of payments")
    history = Database(url)
    try:
        sim = Simulation(history, params, county, [risk_hook(history, seed, days)])  # labelled fraud actors
        sim.rail_store = rails.store  # the rails keep their side of the simulated year
        print_result(sim.run(progress=True, console=console))
        active_weight = sim.cum[-1] if sim.cum else 0.0
        consumers = len(sim.world.consumers) if sim.world is not None else None
        shop = showcase(sim.world)
        apps = bytes(sim.world.consumers.app) if sim.world is not None else None  # as the year left them
    finally:
        history.dispose()
    db = Database(url)
    try:
        analyze(
            db
        )  # the back office's queries pick the day's index, not the channel's: ~3x the days a minute
        daily = expected_today(active_weight, days, today)
        with db.tx() as conn:
            _, op_secret = create_key(conn, merchant_id=None, role="operator", label="demo")
            rows, _ = list_merchants(conn, status="active", limit=1)
        shop_id = shop.merchant_id if shop is not None else rows[0]["id"] if rows else None
        logins = _users(db, shop_id)
        campaigns = demo_campaigns(db, county, today)
        from zhifu.sim.complaints import demo_complaints

        logins += demo_complaints(db, today, seed)  # complaints about the history's payments, two handlers
        logins += demo_bill_life(
            db, county, today, seed, payers=consumers
        )  # billers, a month of bills, households paying them
        from zhifu.sim.transit import demo_transit

        logins += demo_transit(
            db, county, today, seed, payers=consumers
        )  # buses with caps, school passes, a scenic holiday rush
        from zhifu.sim.office import demo_office

        logins += demo_office(db, county, today, seed)  # the office: items, 会商, training, circles, credit
        from zhifu.sim.rural import demo_rural

        logins += demo_rural(
            db, county, today, seed, payers=consumers
        )  # harvest cards, e-accounts, payouts, points, agri shop
        from zhifu.sim.privacy import demo_privacy

        seen = demo_privacy(db, shop_id)
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

        step("汇总监管看板数据 / rolling up the regulator's figures")
        refresh_db(db)  # the dashboard's figures are there the moment the console opens
        with db.tx() as conn:
            ensure_platform_accounts(conn)
    except BaseException:
        db.dispose()
        raise
    history_days = [params.start + dt.timedelta(days=i) for i in range(days)]
    return BuiltCounty(db, logins, op_secret, campaigns, shop, daily, consumers, apps, history_days)


def start_traffic(
    base: str, built: BuiltCounty, *, tps: float, seed: int, stop: threading.Event, console: Console
) -> threading.Thread:
    """Live payments against the served platform: `tps` a second, or (0) the county's rhythm at the hour."""
    import httpx

    from zhifu.sim.coherence import live_rate
    from zhifu.sim.live import run_live

    def traffic() -> None:
        if stop.is_set():
            return
        with httpx.Client(base_url=base, timeout=10) as client:
            try:
                if tps > 0:
                    run_live(
                        client,
                        built.op_secret,
                        tps=tps,
                        seed=seed,
                        stop=stop,
                        payers=built.consumers,
                        apps=built.apps,
                    )
                else:
                    run_live(
                        client,
                        built.op_secret,
                        tps=1.0,
                        seed=seed,
                        stop=stop,
                        payers=built.consumers,
                        apps=built.apps,
                        rate_at=lambda: live_rate(built.daily, dt.datetime.now(SHANGHAI)),
                    )
            except Exception as exc:  # the demo keeps serving even if traffic cannot start
                console.print(f"[yellow]live traffic stopped:[/yellow] {exc}")

    thread = threading.Thread(target=traffic, name="zhifu-live", daemon=True)
    thread.start()
    return thread


def start_back_office(
    built: BuiltCounty, rails: Any, *, today: dt.date, seed: int, stop: threading.Event, console: Console
) -> threading.Thread:
    """The history's days reconciled and settled in order behind the server, then each day as it ends."""
    from zhifu.sim.coherence import close_days

    def back_office() -> None:
        try:
            days = built.history_days
            done = close_days(built.db, days, rail_store=rails.store, seed=seed, stop=stop)
            console.print(
                f"  back office:  {done['days']} days reconciled and settled "
                f"({done['statements']} statements, {done['planted']} with planted discrepancies)"
            )
            closed = days[-1] if days else today - dt.timedelta(days=1)
            while not stop.wait(60):  # then each day as it ends, while the demo runs
                yesterday = dt.datetime.now(SHANGHAI).date() - dt.timedelta(days=1)
                if yesterday > closed:
                    close_days(built.db, [yesterday], rail_store=rails.store, seed=seed, stop=stop)
                    closed = yesterday
        except Exception as exc:  # the demo keeps serving even if the back office cannot finish
            console.print(f"[yellow]back office stopped:[/yellow] {exc}")

    thread = threading.Thread(target=back_office, name="zhifu-back-office", daemon=True)
    thread.start()
    return thread
