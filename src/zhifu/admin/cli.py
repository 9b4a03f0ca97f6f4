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


@app.command("create-user")
def create_user(
    username: str = typer.Argument(..., help="Login name: 3–64 lower-case letters, digits, '.', '_' or '-'."),
    role: str = typer.Option(..., "--role", help="regulator, operator, merchant, biller or complaints."),
    merchant: str | None = typer.Option(
        None, "--merchant", help="The merchant a merchant user belongs to (mch_…)."
    ),
    institution: str | None = typer.Option(None, "--institution", help="The acquirer an operator works for."),
    biller: str | None = typer.Option(None, "--biller", help="The biller a biller user belongs to."),
    name: str = typer.Option("", "--name", help="The name shown in the console."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from standard input."
    ),
) -> None:
    """Create a console user; without --password-stdin the password is asked for twice."""
    import sys

    from zhifu.cli import fail
    from zhifu.console import create_user as _create
    from zhifu.core.errors import ZhifuError

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        with database().tx() as conn:
            user = _create(
                conn,
                username,
                role,
                password,
                merchant_id=merchant,
                institution_id=institution,
                biller_id=biller,
                display_name=name,
            )
    except ZhifuError as exc:
        fail(f"{exc.param or 'input'}: {exc.message}")
        return
    console.print(f"user {user.username} ({user.role}) created: {user.id}")
