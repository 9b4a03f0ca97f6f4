"""`zhifu keys rotate`, `zhifu keys status`, `zhifu keys new-secret` and `zhifu keys scan`."""

from __future__ import annotations

import secrets
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from zhifu.cli import console, database, fail
from zhifu.core.errors import ZhifuError

NAME = "keys"
app = typer.Typer(
    no_args_is_help=True, help="Field-encryption keys (字段加密密钥): rotate, status, a new secret."
)
SECRET_BYTES = 32


@app.command("new-secret")
def new_secret() -> None:
    """Print a fresh random secret key for ZHIFU_SECRET_KEY or ZHIFU_SECRET_KEY_FILE."""
    print(secrets.token_urlsafe(SECRET_BYTES))


@app.command("status")
def key_status() -> None:
    """Each key version, its status and how many stored values name it."""
    from zhifu.privacy.rotation import status

    try:
        with database().tx() as conn:
            rows = status(conn)
    except ZhifuError as exc:
        fail(exc.message)
        return
    t = Table(title="字段加密密钥 / field keys")
    for col in ("version", "status", "values", "created", "retired"):
        t.add_column(col)
    for r in rows:
        t.add_row(
            f"v{r['version']}",
            r["status"],
            str(r["uses"]),
            str(r["created_at"] or ""),
            str(r["retired_at"] or ""),
        )
    console.print(t)


@app.command("rotate")
def rotate_cmd(
    batch: int = typer.Option(500, "--batch", min=1, max=10_000, help="Rows per transaction."),
) -> None:
    """Make a new field key and re-encrypt every encrypted field onto it, online, in small transactions; each old
    key is retired (erased) once nothing uses it."""
    from zhifu.privacy.rotation import rotate

    db = database()
    try:
        with Progress(
            TextColumn("re-encrypting"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as bar:
            task = bar.add_task("rows", total=None)
            r = rotate(
                db, rows_max=batch, progress=lambda done, total: bar.update(task, completed=done, total=total)
            )
    except ZhifuError as exc:
        fail(exc.message)
        return
    console.print(
        f"active key v{r.version}; {r.rows} rows re-encrypted in {r.passes} pass(es); retired: "
        f"{', '.join(f'v{v}' for v in r.retired) or 'none'}"
    )
    if r.still_used:
        fail(
            "still in use, not retired: "
            + ", ".join(f"v{v} ({n} values)" for v, n in r.still_used.items())
            + " — run it again"
        )


@app.command("scan")
def scan_cmd(
    values: list[str] = typer.Argument(
        ..., help="Known personal values (ID numbers, phones, account numbers) to look for."
    ),
    files: list[Path] = typer.Option(
        [], "--file", help="A log file or a database file to read as bytes too (repeatable)."
    ),
) -> None:
    """Look for personal values in plaintext in every text column of the database and in the given files; exits
    1 and names each place (never the value) when one is found."""
    from zhifu.privacy.scan import scan_files, scan_tables

    try:
        with database().read() as conn:
            hits = scan_tables(conn, values)
        hits += scan_files(files, values)
    except ValueError as exc:
        fail(f"values: {exc}")
        return
    for h in hits:
        console.print(f"明文 / plaintext {h.value_masked} in {h.where}")
    if hits:
        fail(f"{len(hits)} plaintext hit(s) / 发现 {len(hits)} 处明文")
    console.print(f"0 hits for {len(values)} value(s) in the database and {len(files)} file(s) / 未发现明文")
