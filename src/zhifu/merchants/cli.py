"""`zhifu merchant …`: onboarding and review from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from pydantic import ValidationError
from rich.table import Table

from zhifu.cli import console, database, fail
from zhifu.core.errors import ZhifuError

NAME = "merchant"
app = typer.Typer(no_args_is_help=True, help="Merchants: apply, review, keys.")


def _run(fn):  # type: ignore[no-untyped-def]
    try:
        return database().run(fn)
    except ZhifuError as exc:
        fail(f"{exc.param + ': ' if exc.param else ''}{exc.message}")


@app.command("create")
def create(
    file: Path = typer.Argument(..., help="A JSON file with the application's fields (see docs/api.md)."),
) -> None:
    """Submit a merchant application from a JSON file."""
    from zhifu.merchants import MerchantApplication, apply

    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        fail(f"{file}: {exc}")
        return
    try:
        application = MerchantApplication.model_validate(doc)
    except ValidationError as exc:
        e = exc.errors()[0]
        fail(f"{file}: field {'.'.join(str(p) for p in e['loc'])}: {e['msg']}")
        return
    m = _run(lambda c: apply(c, application))
    console.print(f"merchant {m['id']} submitted, status {m['status']}")
    print(m["id"])


@app.command("list")
def list_(status: str = typer.Option(None), limit: int = typer.Option(20)) -> None:
    """List merchants, newest first."""
    from zhifu.merchants import list_merchants

    rows, more = _run(lambda c: list_merchants(c, status=status, limit=limit))
    t = Table()
    for col in ("id", "status", "short name", "type", "town", "mcc"):
        t.add_column(col)
    for m in rows:
        t.add_row(m["id"], m["status"], m["short_name"], m["type"], m["town_code"], m["mcc"])
    console.print(t)
    if more:
        console.print("… more; use --limit")


@app.command("show")
def show(merchant_id: str) -> None:
    """Show a merchant (personal data masked)."""
    from zhifu.merchants import get_merchant
    from zhifu.webhooks import to_json

    print(to_json(_run(lambda c: get_merchant(c, merchant_id))))


def _review(merchant_id: str, action: str, reason: str | None) -> None:
    from zhifu.merchants import review

    m = _run(lambda c: review(c, merchant_id, action, reason=reason))
    console.print(f"merchant {m['id']} is now {m['status']}")


@app.command("approve")
def approve(merchant_id: str) -> None:
    """Approve an application: the merchant becomes active."""
    _review(merchant_id, "approve", None)


@app.command("reject")
def reject(
    merchant_id: str, reason: str = typer.Option(..., "--reason", help="Why; the applicant sees it.")
) -> None:
    """Reject an application with a reason."""
    _review(merchant_id, "reject", reason)


@app.command("request-changes")
def request_changes(merchant_id: str, reason: str = typer.Option(..., "--reason")) -> None:
    """Send an application back for changes."""
    _review(merchant_id, "request_changes", reason)


@app.command("keys")
def keys(
    merchant_id: str,
    create: bool = typer.Option(False, "--create", help="Issue a new key."),
    revoke: str = typer.Option(None, "--revoke", help="Revoke this key id."),
) -> None:
    """List a merchant's API keys, issue one (secret printed once) or revoke one."""
    from zhifu.merchants import create_key, list_keys, revoke_key

    if create:
        key, secret = _run(lambda c: create_key(c, merchant_id=merchant_id))
        console.print(f"key {key['id']} created. Secret (shown once):")
        print(secret)
        return
    if revoke:
        _run(lambda c: revoke_key(c, revoke, merchant_id=merchant_id))
        console.print(f"key {revoke} revoked")
        return
    t = Table()
    for col in ("id", "hint", "status", "created"):
        t.add_column(col)
    for k in _run(lambda c: list_keys(c, merchant_id)):
        t.add_row(k["id"], k["hint"], k["status"], str(k["created_at"]))
    console.print(t)
