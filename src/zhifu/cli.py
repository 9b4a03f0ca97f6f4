"""The `zhifu` command: one Typer app; each capability mounts its commands here."""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.table import Table

from zhifu.core.config import get_settings
from zhifu.core.errors import ZhifuError
from zhifu.core.money import format_fen

app = typer.Typer(no_args_is_help=True, help="Zhifu (智付) — the county smart-payment platform.")
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
ledger_app = typer.Typer(no_args_is_help=True, help="The acquirer's book.")
app.add_typer(db_app, name="db")
app.add_typer(ledger_app, name="ledger")
console = Console()
err_console = Console(stderr=True)


def database():  # type: ignore[no-untyped-def]
    from zhifu.db import Database

    return Database(get_settings().database_url)


def fail(message: str, code: int = 1) -> None:
    err_console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head")) -> None:
    """Apply migrations to ZHIFU_DATABASE_URL."""
    from zhifu.db.migrate import upgrade

    upgrade(get_settings().database_url, revision)
    console.print(f"database at revision {revision}")


@ledger_app.command("verify")
def ledger_verify() -> None:
    """Recompute every balance from its postings; exit 1 and name each violation if any."""
    from zhifu.ledger import verify

    db = database()
    with db.tx() as conn:
        violations = verify(conn)
    if violations:
        for v in violations:
            err_console.print(f"[red]violation[/red] {v}")
        err_console.print(f"{len(violations)} violation(s)")
        raise typer.Exit(1)
    console.print("ledger verified: every entry balances and every stored balance matches its postings")


@ledger_app.command("balance")
def ledger_balance(account: str) -> None:
    """Print an account's posted and pending balance."""
    from zhifu.ledger import get_balance

    db = database()
    try:
        with db.tx() as conn:
            b = get_balance(conn, account)
    except ZhifuError as exc:
        fail(exc.message)
        return
    t = Table(title=account)
    for col in ("type", "posted", "pending debits", "pending credits", "available"):
        t.add_column(col)
    t.add_row(b.type.value, format_fen(b.posted_fen), format_fen(b.pending_debits_fen),
              format_fen(b.pending_credits_fen), format_fen(b.available_fen))
    console.print(t)


@app.command("serve")
def serve(host: str = typer.Option(None), port: int = typer.Option(None)) -> None:
    """Run the web process: API, cashier, console and background workers."""
    import uvicorn

    from zhifu.api.app import create_app

    s = get_settings()
    uvicorn.run(create_app(), host=host or s.host, port=port or s.port, log_level="info")


def main() -> None:  # pragma: no cover - console entry for `python -m zhifu`
    try:
        app()
    except ZhifuError as exc:
        err_console.print(f"[red]error:[/red] {exc.message}")
        sys.exit(2)
