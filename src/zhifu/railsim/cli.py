"""`zhifu sim`: the fake rails (a simulator) — serve them, plant discrepancies in a statement."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer

from zhifu.cli import console, fail
from zhifu.codes.cli import paycode

NAME = "sim"
app = typer.Typer(no_args_is_help=True, help="模拟器 / the simulator: fake rails and the payer's side.")
app.command("paycode")(paycode)  # `zhifu sim paycode --channel unionpay_qr`


@app.command("rails")
def rails(
    port: int = typer.Option(8100, "--port", help="Port on 127.0.0.1 to serve the fake rails on."),
    folder: Path = typer.Option(Path(".zhifu-rails"), "--dir", help="Their keys, rails.json and store."),
    notify_delay_ms: int = typer.Option(0, "--notify-delay-ms", help="Delay before each notification."),
    decline_rate_ppm: int = typer.Option(0, "--decline-ppm", help="Payers declined, per million."),
    lost_ppm: int = typer.Option(0, "--lost-notification-ppm", help="Notifications lost, per million."),
) -> None:
    """Serve WeChat Pay v3, Alipay OpenAPI and the UnionPay gateway as fake rails; point ZHIFU_RAILS_CONFIG at
    DIR/rails.json and start the platform with ZHIFU_SIMULATOR=1."""
    from zhifu.railsim.server import FakeRails, serve
    from zhifu.railsim.store import Behaviour

    if not 0 < port < 65536:
        fail(f"--port: {port} is not a port")
    for name, v in (("--decline-ppm", decline_rate_ppm), ("--lost-notification-ppm", lost_ppm)):
        if not 0 <= v <= 1_000_000:
            fail(f"{name}: {v} is not between 0 and 1,000,000")

    def ready(sim: FakeRails) -> None:
        console.print(f"fake rails on http://127.0.0.1:{port}; connector configuration in {sim.rails_file}")

    serve(
        folder,
        "127.0.0.1",
        port,
        ready=ready,
        behaviour=Behaviour(
            notify_delay_ms=notify_delay_ms, decline_rate_ppm=decline_rate_ppm, lost_notification_ppm=lost_ppm
        ),
    )


@app.command("inject")
def inject(
    channel: str = typer.Option(..., "--channel"),
    date: str = typer.Option(..., "--date"),
    spec: str = typer.Option(..., "--inject", help="Discrepancies, e.g. amount_mismatch=2,duplicate=1."),
    seed: int = typer.Option(1, "--seed"),
) -> None:
    """Plant discrepancies in the fake rail's statement of a date (the next download carries them)."""
    import httpx

    from zhifu.channels.registry import rail_config
    from zhifu.core.errors import ZhifuError
    from zhifu.recon.statements import parse_inject

    try:
        kinds = parse_inject(spec)
        day = dt.date.fromisoformat(date)
        url = rail_config().get("simulator_url")
    except (ValueError, ZhifuError) as exc:
        fail(f"--inject/--date: {exc}")
        return
    if not url:
        fail("the configured rails are not the simulator's")
    r = httpx.post(
        f"{url}/_sim/statements/{channel}/{day}/inject", json={"spec": kinds, "seed": seed}, timeout=10
    )
    if r.status_code != 200:
        fail(f"the fake rails refused: HTTP {r.status_code} {r.text[:200]}")
    console.print(f"{channel} {day}: {kinds}")
