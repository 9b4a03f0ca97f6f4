"""`zhifu code …`: issue, list and revoke payment codes, create dynamic codes, print simulated pay codes."""

from __future__ import annotations

import json
import random
from typing import NoReturn

import typer

from zhifu.codes import service
from zhifu.codes.paycode import LAST_DIGITS, PAYCODE_SHAPES, generate_paycode
from zhifu.core.errors import ZhifuError
from zhifu.core.money import parse_yuan
from zhifu.webhooks import to_json

NAME = "code"
app = typer.Typer(
    no_args_is_help=True, help="Payment codes (码牌 and dynamic codes) and simulated pay codes."
)


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def _db():  # type: ignore[no-untyped-def]
    from zhifu.cli import database

    return database()


def _print(doc: object) -> None:
    typer.echo(json.dumps(json.loads(to_json(doc)), ensure_ascii=False, indent=2))


@app.command("paycode")
def paycode(
    channel: str = typer.Option("unionpay_qr", help=f"One of {', '.join(PAYCODE_SHAPES)}."),
    outcome: str = typer.Option("success", help=f"What the simulated rail does: {', '.join(LAST_DIGITS)}."),
    seed: int | None = typer.Option(None, help="Make the code reproducible."),
) -> None:
    """Print a consumer pay code (付款码) that the channel's simulator accepts."""
    try:
        typer.echo(generate_paycode(channel, outcome=outcome, rng=random.Random(seed)))
    except ZhifuError as exc:
        _fail(f"--{exc.param}: {exc.message}")


@app.command("issue")
def issue(
    merchant_id: str,
    store_id: str | None = typer.Option(None, "--store", help="A store's own code."),
    replace: bool = typer.Option(False, help="Revoke the active code and issue a new one."),
) -> None:
    """Issue the static code of a merchant or store (prints the existing one if it has one)."""
    try:
        _print(_db().run(lambda c: service.issue_static(c, merchant_id, store_id=store_id, replace=replace)))
    except ZhifuError as exc:
        _fail(exc.message)


@app.command("dynamic")
def dynamic(
    merchant_id: str,
    amount: str = typer.Option(..., help="Yuan, e.g. 12.50."),
    expires_in_s: int | None = typer.Option(None, help="Seconds until the code expires."),
    description: str = typer.Option("", help="What the payer sees."),
) -> None:
    """Create a dynamic code for one payment."""
    try:
        amount_fen = parse_yuan(amount, param="amount")
        _print(
            _db().run(
                lambda c: service.create_dynamic(
                    c, merchant_id, amount_fen, expires_in_s=expires_in_s, description=description
                )
            )
        )
    except ZhifuError as exc:
        _fail(exc.message)


@app.command("revoke")
def revoke(code_id: str, reason: str = typer.Option(..., help="Why (kept with the code).")) -> None:
    """Stop a code from taking payments."""
    try:
        _print(_db().run(lambda c: service.revoke(c, code_id, reason=reason)))
    except ZhifuError as exc:
        _fail(exc.message)


@app.command("list")
def list_codes(merchant_id: str) -> None:
    """A merchant's codes, newest first."""
    try:
        with _db().tx() as c:
            rows = service.list_codes(c, merchant_id)
    except ZhifuError as exc:
        _fail(exc.message)
    for r in rows:
        typer.echo(f"{r['id']}\t{r['kind']}\t{r['status']}\t{r['url']}")
