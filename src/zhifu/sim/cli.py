"""`zhifu simulate`: build a county's payment history, or drive a running server live."""

from __future__ import annotations

import datetime as dt

import typer
from rich.table import Table

from zhifu.cli import console, fail
from zhifu.core.config import get_settings

NAME = "simulate"
app = typer.Typer(help="Simulate a county: history through the services, or live traffic over HTTP.")


@app.callback(invoke_without_command=True)
def simulate(
    profile: str = typer.Option(
        "yiyuan", "--profile", help="A packaged profile (yiyuan, demo_small) or a YAML path."
    ),
    start: str = typer.Option("2021-01-01", "--from", help="First simulated day (YYYY-MM-DD, Beijing time)."),
    days: int = typer.Option(365, "--days", help="How many days to simulate (1–3660)."),
    seed: int = typer.Option(7, "--seed", help="The same seed gives the same county and the same totals."),
    scale: float = typer.Option(
        1.0, "--scale", help="People and businesses relative to the profile, in (0, 10]."
    ),
    live: bool = typer.Option(False, "--live", help="Drive a running server over HTTP instead."),
    tps: float = typer.Option(20.0, "--tps", help="Live mode: payments a second."),
    url: str = typer.Option(None, "--url", help="Live mode: the server (default ZHIFU_PUBLIC_BASE_URL)."),
    operator_key: str = typer.Option(
        None,
        "--operator-key",
        envvar="ZHIFU_OPERATOR_KEY",
        help="Live mode: an operator API key (or ZHIFU_OPERATOR_KEY).",
    ),
    duration: float = typer.Option(None, "--duration", help="Live mode: stop after this many seconds."),
) -> None:
    """History (default) or live traffic; bad input is refused before anything is written."""
    from zhifu.core.errors import ZhifuError

    try:
        if live:
            _live(url or get_settings().public_base_url, operator_key, tps, seed, duration)
        else:
            _history(profile, start, days, seed, scale)
    except ZhifuError as exc:
        fail(f"{exc.param or 'input'}: {exc.message}")


def _parse_day(text: str) -> dt.date:
    from zhifu.core.errors import InvalidRequest

    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InvalidRequest(f"--from must be a date like 2021-01-01, got {text!r}", param="from") from None


def _history(profile: str, start: str, days: int, seed: int, scale: float) -> None:
    from zhifu.db import Database
    from zhifu.db.migrate import upgrade
    from zhifu.sim import SimParams, check_params
    from zhifu.sim.engine import Simulation

    params = SimParams(profile, _parse_day(start), days, seed, scale)
    county = check_params(params)  # every check before the database is touched
    url = get_settings().database_url
    upgrade(url)
    db = Database(url)
    try:
        result = Simulation(db, params, county).run(progress=True, console=console)
    finally:
        db.dispose()
    print_result(result)


def print_result(result) -> None:  # type: ignore[no-untyped-def]
    from zhifu.core.money import format_fen

    t = Table(title=f"{result.profile}: {result.days} days", show_header=False)
    rows = [
        ("registered businesses", f"{result.registered_businesses:,}"),
        ("merchants", f"{result.merchants:,}"),
        ("consumers", f"{result.consumers:,}"),
        ("payments", f"{result.payments:,}"),
        ("succeeded", f"{result.succeeded:,} ({format_fen(result.amount_fen)})"),
        ("fees", format_fen(result.fee_fen)),
        ("refunds", f"{result.refunds:,} ({format_fen(result.refunded_fen)})"),
        ("by channel", ", ".join(f"{k} {v:,}" for k, v in sorted(result.by_channel.items()))),
        (
            "time",
            f"{result.elapsed_s:.1f} s; payments {result.payments / max(result.payments_s, 1e-9):,.0f}/s",
        ),
    ]
    for k, v in rows:
        t.add_row(k, v)
    console.print(t)


def _live(url: str, operator_key: str | None, tps: float, seed: int, duration: float | None) -> None:
    import httpx

    from zhifu.core.errors import InvalidRequest
    from zhifu.sim.live import run_live

    if not operator_key:
        raise InvalidRequest("live mode needs --operator-key (or ZHIFU_OPERATOR_KEY)", param="operator_key")
    console.print(f"live traffic to {url} at {tps:g}/s; Ctrl-C stops")
    with httpx.Client(base_url=url, timeout=10) as client:
        try:
            stats = run_live(client, operator_key, tps=tps, seed=seed, duration_s=duration)
        except KeyboardInterrupt:
            return
        except httpx.HTTPError as exc:
            raise InvalidRequest(f"cannot reach {url}: {exc}", param="url") from None
    console.print(
        f"created {stats.created}, succeeded {stats.succeeded}, failed {stats.failed}, errors {stats.errors}"
    )
