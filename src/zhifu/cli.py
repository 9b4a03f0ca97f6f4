"""The `zhifu` command: one Typer app; each capability mounts its commands here."""

from __future__ import annotations

import contextlib
import datetime as dt
import sys
from collections.abc import Callable, Iterator
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from zhifu.core.config import get_settings
from zhifu.core.dates import date_or_none, option_error
from zhifu.core.errors import ZhifuError
from zhifu.core.money import format_fen

app = typer.Typer(no_args_is_help=True, help="Zhifu (智付) — the county smart-payment platform.")
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
ledger_app = typer.Typer(no_args_is_help=True, help="The acquirer's book.")
app.add_typer(db_app, name="db")
app.add_typer(ledger_app, name="ledger")
console = Console(soft_wrap=not sys.stdout.isatty())  # piped output keeps ids and paths on one line
err_console = Console(stderr=True, soft_wrap=not sys.stderr.isatty())


# Commands that make their database or need none; every other command first checks there is a Zhifu schema.
@app.callback()
def _global_options(
    ctx: typer.Context,
    db: str = typer.Option(
        None,
        "--db",
        envvar="ZHIFU_DATABASE_URL",
        show_envvar=True,
        help="The database: a URL or a SQLite file path (the demo's is zhifu-demo.db).",
    ),
    quiet: bool = typer.Option(
        False,
        "--quiet",
        "-q",
        help="不显示进度条 / no progress bars (none are shown when not on a terminal).",
    ),
) -> None:
    """Zhifu (智付) — the county smart-payment platform."""
    import os

    from zhifu.db.presence import url_of

    global QUIET
    QUIET = quiet
    if db:
        os.environ["ZHIFU_DATABASE_URL"] = url_of(db)
        get_settings.cache_clear()


def database():  # type: ignore[no-untyped-def]
    """The database a command works on; a missing or empty one is one line naming it, not a traceback (asked
    here, so commands that need no database — pay codes, new secrets, the fake rails — never ask)."""
    from zhifu.db import Database
    from zhifu.db.presence import schema_problem

    problem = schema_problem(get_settings().database_url)
    if problem:
        fail(problem, 2)
    return Database(get_settings().database_url)


QUIET = False  # --quiet: no progress bars


@contextlib.contextmanager
def working(label: str, *, total: int | None = None) -> Iterator[Callable[..., None]]:
    """A Rich progress bar on stderr while a long command works (kpi rebuild, ledger verify, settlement,
    reconciliation, imports): `label` bilingual, a bar (moving by the yielded callback's `advance`, `completed` or
    `total`, or pulsing when the work has no count) and the time so far. Nothing is drawn with --quiet or when
    stderr is not a terminal, so pipes, logs and cron mail get only the result."""
    if QUIET or not err_console.is_terminal:
        yield lambda **_: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    columns: list[Any] = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn()]
    columns += [MofNCompleteColumn()] if total is not None else []
    with Progress(*columns, TimeElapsedColumn(), console=err_console, transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda **kw: bar.update(task, **kw)


def fail(message: str, code: int = 1) -> None:
    err_console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


def date_option(text: str, option: str = "--date") -> dt.date:
    """A command's date option: the date, or the error naming the option and the value (exit 1, nothing done)."""
    day = date_or_none(text)
    if day is None:
        fail(option_error(text, option))
        raise AssertionError  # fail() exits
    return day


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head")) -> None:
    """Apply migrations to ZHIFU_DATABASE_URL."""
    from zhifu.db.migrate import upgrade

    upgrade(get_settings().database_url, revision)
    console.print(f"database at revision {revision}")


@db_app.command("revision")
def db_revision(message: str = typer.Option(..., "-m", help="What the migration does.")) -> None:
    """Write the next numbered migration from the difference between the code's tables and the head schema."""
    import tempfile

    from alembic import command

    from zhifu.db.migrate import _HERE, alembic_config, upgrade

    versions = sorted(p.name for p in (_HERE / "migrations" / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))
    rev = f"{int(versions[-1][:4]) + 1:04d}" if versions else "0001"
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/head.db"
        upgrade(url)
        command.revision(alembic_config(url), message=message, autogenerate=True, rev_id=rev)


@ledger_app.command("verify")
def ledger_verify() -> None:
    """Recompute every balance from its postings; exit 1 and name each violation if any."""
    from zhifu.ledger import verify

    db = database()
    with (
        working("核对账簿 / verifying the ledger"),
        db.read() as conn,  # a read snapshot: payments go on while it runs (on SQLite it takes no write lock)
    ):
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
        with db.read() as conn:
            b = get_balance(conn, account)
    except ZhifuError as exc:
        fail(exc.message)
        return
    t = Table(title=account)
    for col in ("type", "posted", "pending debits", "pending credits", "available"):
        t.add_column(col)
    t.add_row(
        b.type.value,
        format_fen(b.posted_fen),
        format_fen(b.pending_debits_fen),
        format_fen(b.pending_credits_fen),
        format_fen(b.available_fen),
    )
    console.print(t)


@app.command("serve")
def serve(
    host: str = typer.Option(None),
    port: int = typer.Option(None),
    workers: int = typer.Option(1, "--workers", help="Web processes (more than one needs PostgreSQL)."),
    background: bool = typer.Option(
        None,
        "--background/--no-background",
        help="Run background work in this process (default: with one process; "
        "with several, `zhifu worker` does it).",
    ),
) -> None:
    """Run the web process: API, cashier, console and background workers."""
    from zhifu import serving
    from zhifu.core.config import check_secret_for_serving

    try:
        check_secret_for_serving()
        from zhifu.privacy import check_keys

        with database().read() as conn:
            check_keys(conn)  # the secret opens this database's field keys
    except ZhifuError as exc:
        fail(exc.message)
    s = get_settings()
    if not 1 <= workers <= serving.WORKERS_MAX:
        fail(f"--workers: {workers} is not between 1 and {serving.WORKERS_MAX}")
    if workers > 1 and s.database_url.startswith("sqlite"):
        fail("--workers: several web processes need PostgreSQL (SQLite has one writer: run one process)")
    with_background = workers == 1 if background is None else background
    app_ref = "zhifu.serving:web_app_with_background" if with_background else "zhifu.serving:web_app"
    serving.run(app_ref, factory=True, host=host or s.host, port=port or s.port, workers=workers)


DEMO_SCALE = 0.005  # a county of about 2,750 people: a year of history builds in under a minute


@app.command("demo")
def demo(
    db_file: str = typer.Option("zhifu-demo.db", help="The demo's SQLite file; it is made afresh."),
    port: int = typer.Option(8000),
    days: int = typer.Option(365, help="Days of history before today."),
    scale: float = typer.Option(DEMO_SCALE, help="The county's size relative to Yiyuan."),
    tps: float = typer.Option(
        0.0,
        help="Live payments a second once the server runs; 0 follows the "
        "county's own rhythm at the live hour (the history's model).",
    ),
    seed: int = typer.Option(7),
) -> None:
    """Start afresh on SQLite: the Yiyuan county with a year of history, then the server with live traffic."""
    from zhifu.demo_serve import run_demo

    try:
        run_demo(db_file, port=port, days=days, scale=scale, tps=tps, seed=seed, console=console)
    except ZhifuError as exc:
        fail(f"{exc.param or 'input'}: {exc.message}")


def _mount_capabilities() -> None:
    """Mount each capability's `zhifu.<cap>.cli.app` under its NAME (default: the package name)."""
    from zhifu.plugins import load_events, modules

    load_events()  # every command that takes payments has the payment path's subscribers
    for mod in modules("cli"):
        sub = getattr(mod, "app", None)
        if sub is not None:
            app.add_typer(sub, name=getattr(mod, "NAME", mod.__name__.split(".")[1]))
        for name, command in getattr(
            mod, "COMMANDS", {}
        ).items():  # further top-level commands of the capability
            app.command(name)(command)
        for name, group in getattr(mod, "GROUPS", {}).items():  # further command groups of the capability
            app.add_typer(group, name=name)


_mount_capabilities()


def main() -> None:  # pragma: no cover - console entry for `python -m zhifu`
    try:
        app()
    except ZhifuError as exc:
        err_console.print(f"[red]error:[/red] {exc.message}")
        sys.exit(2)
