"""`zhifu rural figures [--start D --end D]`, `zhifu rural purchases FILE --buyer MCH` (a scale's CSV, refused
whole naming line and field), `zhifu rural pay --buyer MCH` (pay every unpaid purchase in one batch),
`zhifu rural statement --buyer MCH --batch ID` (the buyer's CSV), `zhifu rural cards FILE --issuer ID`."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import typer

from zhifu.cli import console, database, fail
from zhifu.core.errors import ZhifuError

NAME = "rural"
app = typer.Typer(
    help="Rural finance (农村金融): e-accounts, purchase payouts, harvest cards, service points."
)
FILE_BYTES_MAX = 64 * 1024 * 1024  # a county's harvest season of scale tickets fits


def _read(path: Path) -> bytes:
    if not path.exists() or path.stat().st_size > FILE_BYTES_MAX:
        fail(f"FILE: {path} is missing or larger than {FILE_BYTES_MAX} bytes")
    return path.read_bytes()


@app.command("figures")
def figures(start: str | None = typer.Option(None), end: str | None = typer.Option(None)) -> None:
    """The dashboard's rural figures as JSON (this month by default)."""
    from zhifu.core import clock
    from zhifu.rural.service import kpi_rural

    today = clock.now().astimezone(clock.SHANGHAI).date()
    try:
        lo = dt.date.fromisoformat(start) if start else today.replace(day=1)
        hi = dt.date.fromisoformat(end) if end else today
    except ValueError:
        fail("--start/--end: a date like 2022-06-15")
        raise
    with database().read() as c:
        console.print_json(json.dumps(kpi_rural(c, lo, hi), default=str, ensure_ascii=False))


@app.command("purchases")
def purchases(file: Path, buyer: str = typer.Option(..., "--buyer")) -> None:
    from zhifu.rural import payouts

    data = _read(file)
    try:
        n = database().run(lambda c: payouts.import_purchases(c, buyer, data))
    except ZhifuError as exc:
        fail(f"{exc.param}: {exc.message}")
        raise
    console.print(f"imported {n} purchases")


@app.command("pay")
def pay(buyer: str = typer.Option(..., "--buyer")) -> None:
    from zhifu.rural import payouts

    try:
        b = database().run(lambda c: payouts.pay_batch(c, buyer))
    except ZhifuError as exc:
        fail(f"{exc.param}: {exc.message}")
        raise
    console.print_json(json.dumps(b, default=str, ensure_ascii=False))


@app.command("statement")
def statement(buyer: str = typer.Option(..., "--buyer"), batch: str = typer.Option(..., "--batch")) -> None:
    from zhifu.rural import payouts

    with database().read() as c:
        try:
            payouts.batch(c, buyer, batch)
        except ZhifuError as exc:
            fail(f"{exc.param}: {exc.message}")
            raise
        typer.echo(payouts.buyer_statement_csv(c, buyer, batch), nl=False)


@app.command("cards")
def cards(file: Path, issuer: str = typer.Option(..., "--issuer")) -> None:
    from zhifu.rural import harvest

    data = _read(file)
    try:
        n = database().run(lambda c: harvest.import_cards(c, issuer, data))
    except ZhifuError as exc:
        fail(f"{exc.param}: {exc.message}")
        raise
    console.print(f"registered {n} harvest cards")
