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


privacy_app = typer.Typer(
    no_args_is_help=True,
    help="Personal data (个人信息): retention classes and the purge of what is past them.",
)
GROUPS = {"privacy": privacy_app}


def _needed_from(conn) -> object:  # type: ignore[no-untyped-def]
    """The first business date settlement or reconciliation still needs: the day after the last settled one, or
    the oldest date with a reconciliation case not yet resolved, whichever is earlier (nothing settled: all)."""
    import datetime as dt

    from zhifu.recon import service as recon
    from zhifu.settlement import service as settlement

    last = settlement.last_settled_date(conn)
    needed = last + dt.timedelta(days=1) if last is not None else dt.date.min
    for status in ("open", "proposed"):
        for case in recon.list_cases(conn, status=status, limit=10_000):
            needed = min(needed, dt.date.fromisoformat(case["business_date"]))
    return needed


@privacy_app.command("purge")
def purge_cmd(
    apply: bool = typer.Option(
        False, "--apply/--dry-run", help="Delete (--apply) or only count (the default)."
    ),
    as_of: str = typer.Option(
        "", "--as-of", help="Judge ages as of this date (YYYY-MM-DD, Beijing); default now."
    ),
) -> None:
    """Delete rows past their retention class (transactions 5 years, marketing data 90 days after its campaign,
    sessions 30 days, idempotency answers 1 year); transactions settlement or reconciliation still needs are
    held back. Each table's purge is an audit entry. --dry-run (the default) only counts."""
    import datetime as dt

    from zhifu.core import clock
    from zhifu.core.clock import SHANGHAI
    from zhifu.privacy.retention import plan, purge

    when = clock.now()
    if as_of:
        try:
            day = dt.date.fromisoformat(as_of)
        except ValueError:
            fail(f"--as-of: {as_of!r} is not a date; write it as YYYY-MM-DD / 日期格式应为 YYYY-MM-DD")
            return
        when = dt.datetime.combine(day, dt.time(), SHANGHAI).astimezone(dt.UTC)
    db = database()
    try:
        with db.read() as conn:
            needed = _needed_from(conn)
            lines = plan(conn, as_of=when, needed_from=needed)  # type: ignore[arg-type]
        if apply:
            with Progress(
                TextColumn("清理 / purging {task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
            ) as bar:
                task = bar.add_task("", total=max(1, sum(x.due - x.held for x in lines)))
                lines = purge(
                    db,
                    as_of=when,
                    needed_from=needed,  # type: ignore[arg-type]
                    progress=lambda table, done, total: bar.update(
                        task, description=table, completed=done, total=total
                    ),
                )
    except ZhifuError as exc:
        fail(exc.message)
        return
    t = Table(title="保存期限清理 / retention purge" + ("" if apply else " (dry run / 仅统计)"))
    for col in ("table", "class", "older than", "due", "held back", "purged"):
        t.add_column(col)
    for x in lines:
        t.add_row(x.table, x.klass, x.cutoff, str(x.due), str(x.held), str(x.purged) if apply else "-")
    console.print(t)
    held = sum(x.held for x in lines)
    if held:
        console.print(
            f"{held} row(s) held back: settlement or reconciliation needs business dates from {needed} "
            f"/ {held} 行因结算或对账仍需要而保留"
        )
    if apply:
        console.print(
            f"purged {sum(x.purged for x in lines)} row(s) / 已清理 {sum(x.purged for x in lines)} 行"
        )


@privacy_app.command("fields")
def fields_cmd(
    missing: bool = typer.Option(
        False, "--missing", help="Only rows for columns not yet classified (to review)."
    ),
) -> None:
    """The field classification (JR/T 0171: C2, C1, or N not personal) of every stored column, as CSV; with
    --missing, suggested rows for new columns to review and append to src/zhifu/privacy/fields.csv."""
    import csv
    import sys

    from zhifu.privacy.classification import missing_rows, registry

    w = csv.writer(sys.stdout, lineterminator="\n")
    if missing:
        w.writerows(missing_rows())
        return
    w.writerow(["table", "column", "class", "treatment", "note"])
    for f in registry().values():
        w.writerow([f.table, f.column, f.klass, f.treatment, f.note])
