"""`zhifu admin …`: bootstrap an operator key (and, with the console, users)."""

from __future__ import annotations

import typer

from zhifu.cli import console, database

NAME = "admin"
app = typer.Typer(no_args_is_help=True, help="Bootstrap keys and users.")


@app.command("create-key")
def create_key(label: str = typer.Option("operator", help="A name to recognise the key by.")) -> None:
    """Create an operator API key (for merchant review); the secret is printed once."""
    from zhifu.merchants import create_key as _create
    from zhifu.payments import ensure_platform_accounts

    db = database()
    with db.tx() as conn:
        ensure_platform_accounts(conn)
        key, secret = _create(conn, merchant_id=None, role="operator", label=label)
    console.print(f"operator key {key['id']} created. Secret (shown once):")
    print(secret)
