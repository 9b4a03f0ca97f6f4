"""`zhifu settle --date D`, `zhifu settle import-result FILE`, `zhifu settle show --date D` and
`zhifu statement MERCHANT_ID --month YYYY-MM`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from zhifu.cli import console, database, date_option, fail, working
from zhifu.core.errors import ZhifuError
from zhifu.core.money import format_fen

NAME = "settle"
app = typer.Typer(help="Settlement (结算): pay merchants for a business date, apply the bank's result file.")


def _date(text: str, option: str = "--date") -> dt.date:
    return date_option(text, option)


def _call(fn: Callable[..., Any]) -> Any:
    try:
        return fn()
    except ZhifuError as exc:
        fail(
            exc.message
            if exc.param and exc.param in exc.message
            else f"{exc.param + ': ' if exc.param else ''}{exc.message}"
        )


def _print_batch(b: dict[str, Any]) -> None:
    t = Table(title=f"结算批次 {b['batch_no']}  业务日期 {b['business_date']}")
    for col in ("", "count", "amount"):
        t.add_column(col)
    t.add_row("merchants", str(b["merchant_count"]), "")
    t.add_row("payouts (划款)", str(b["payout_count"]), format_fen(b["payout_fen"]))
    t.add_row("held (frozen)", str(b["held_count"]), format_fen(b["held_fen"]))
    t.add_row("carried forward", str(b["carried_count"]), format_fen(b["carried_fen"]))
    console.print(t)
    for kind, path in (b.get("files") or {}).items():
        console.print(f"  {kind}: {path}")


def _run_date(date: str, out_dir: Path | None, min_payout_fen: int | None) -> None:
    from zhifu.settlement.service import run_settlement

    day = _date(date)
    db = database()
    with working(f"结算 {day} / settling {day}"):
        b = _call(lambda: run_settlement(db, day, out_dir=out_dir, min_payout_fen=min_payout_fen))
    console.print("settled" if b["created"] else "already settled; files checked")
    _print_batch(b)


@app.callback(invoke_without_command=True)
def settle(
    ctx: typer.Context,
    date: str = typer.Option(None, "--date", help="The business date to settle, YYYY-MM-DD."),
    out_dir: Path = typer.Option(None, "--out-dir", help="Where payout files go (ZHIFU_SETTLEMENT_DIR)."),
    min_payout_fen: int = typer.Option(
        None, "--min-payout-fen", help="Smaller nets are carried (ZHIFU_SETTLEMENT_MIN_PAYOUT_FEN)."
    ),
) -> None:
    """Settle a business date: `zhifu settle --date 2021-10-08`."""
    if ctx.invoked_subcommand is not None:
        if date is not None:
            fail(
                "--date goes with `zhifu settle --date D` or `zhifu settle run --date D`, not with a subcommand"
            )
        return
    if date is None:
        console.print(ctx.get_help())
        raise typer.Exit(0)
    _run_date(date, out_dir, min_payout_fen)


@app.command("run")
def run(
    date: str = typer.Option(..., "--date", help="The business date to settle, YYYY-MM-DD."),
    out_dir: Path = typer.Option(None, "--out-dir"),
    min_payout_fen: int = typer.Option(None),
) -> None:
    """The same as `zhifu settle --date D`."""
    _run_date(date, out_dir, min_payout_fen)


@app.command("import-result")
def import_result(
    file: Path = typer.Argument(..., help="The bank's payout result file (CSV, TOTAL line)."),
) -> None:
    """Mark each payout paid or failed from the bank's result file; failed ones are paid again next run."""
    from zhifu.settlement.service import import_result as do_import

    try:
        data = file.read_bytes()
    except OSError as exc:
        fail(f"{file}: {exc.strerror}")
        return
    db = database()
    with working(f"导入银行回盘 / importing {file.name}"):
        r = _call(lambda: do_import(db, data, filename=file.name))
    if r["duplicate"]:
        console.print(f"{file.name}: already imported; nothing changed")
        return
    console.print(
        f"batch {r['batch_no']}: {r['paid']} paid, {r['failed']} failed (back to the merchants' "
        f"balances for the next run), {r['unchanged']} already applied"
    )


@app.command("show")
def show(date: str = typer.Option(..., "--date", help="Business date, YYYY-MM-DD.")) -> None:
    """Print a date's settlement batch."""
    from zhifu.settlement.service import get_batch

    day = _date(date)
    db = database()
    b = _call(lambda: db.run(lambda c: get_batch(c, day)))
    _print_batch(b)
    for s in b["lines_by_status"]:
        console.print(
            f"  {s['status']:<10} {s['reason'] or '':<16} {s['count']:>7}  {format_fen(s['carried_fen'])}"
        )


def statement(
    merchant_id: str = typer.Argument(..., help="The merchant's id, mch_…"),
    month: str = typer.Option(None, "--month", help="YYYY-MM"),
    date: str = typer.Option(None, "--date", help="One business day, YYYY-MM-DD."),
    fmt: str = typer.Option("xlsx", "--format", help="csv or xlsx"),
    out: Path = typer.Option(None, "--out", help="File to write; default <merchant>-<period>.<format>."),
) -> None:
    """A merchant's statement (对账单) for a month or a day, as CSV or Excel: `zhifu statement mch_… --month 2021-10`."""
    from zhifu.settlement.statements import statement as build
    from zhifu.settlement.statements import to_csv, to_xlsx

    if fmt not in ("csv", "xlsx"):
        fail(f"--format: {fmt!r} is not csv or xlsx")
    db = database()
    doc = _call(lambda: db.run(lambda c: build(c, merchant_id, month=month, day=date)))
    data = to_csv(doc) if fmt == "csv" else to_xlsx(doc)
    target = out or Path(f"{merchant_id}-{doc['period']}.{fmt}")
    target.write_bytes(data)
    t = doc["totals"]
    console.print(
        f"{doc['merchant_name']} {doc['period']}: {len(doc['lines'])} lines, net "
        f"{format_fen(t['net_fen'])}; written to {target}"
    )


COMMANDS = {"statement": statement}  # mounted beside `settle` as `zhifu statement`
