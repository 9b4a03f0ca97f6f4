"""`zhifu backup FILE` and `zhifu restore FILE`: top-level commands."""

from __future__ import annotations

from pathlib import Path

import typer

from zhifu.cli import console, fail
from zhifu.core.config import get_settings
from zhifu.core.errors import ZhifuError


def _report(verb: str, r) -> None:  # type: ignore[no-untyped-def]
    console.print(f"{verb} {r.path}: {r.bytes:,} bytes, sha256 {r.sha256}, {r.seconds:.1f} s")
    if r.revision:
        console.print(f"  schema revision {r.revision}")
    if r.counts:
        console.print("  " + ", ".join(f"{k} {v:,}" for k, v in r.counts.items()))
    if r.violations:
        for v in r.violations[:20]:
            console.print(f"[red]violation[/red] {v}")
        fail(f"{len(r.violations)} violation(s): the copy is not good")
    elif r.counts or r.revision:
        console.print(
            "  ledger verified on the copy: every entry balances and every balance matches its postings"
        )


def backup_cmd(
    file: Path = typer.Argument(..., help="Where to write the backup (SQLite file or pg_dump archive)."),
    force: bool = typer.Option(False, "--force", help="Overwrite FILE if it exists."),
) -> None:
    """Back up ZHIFU_DATABASE_URL while it runs: SQLite's online backup API, or pg_dump; the copy is verified."""
    from zhifu.backup.service import backup

    try:
        r = backup(get_settings().database_url, file, force=force)
    except ZhifuError as exc:
        fail(exc.message)
        return
    _report("backed up to", r)


def restore_cmd(
    file: Path = typer.Argument(..., help="A file written by `zhifu backup`."),
    force: bool = typer.Option(False, "--force", help="Replace an existing database."),
) -> None:
    """Restore a backup into ZHIFU_DATABASE_URL and run the ledger's verify on the restored copy."""
    from zhifu.backup.service import restore

    try:
        r = restore(file, get_settings().database_url, force=force)
    except ZhifuError as exc:
        fail(exc.message)
        return
    _report("restored", r)


COMMANDS = {"backup": backup_cmd, "restore": restore_cmd}
