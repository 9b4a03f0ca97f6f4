"""`zhifu recon …`: produce, import and reconcile statement files, work exception cases, print and export reports."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from zhifu.cli import console, database, date_option, fail, working
from zhifu.core.errors import ZhifuError
from zhifu.core.money import format_fen

NAME = "recon"
app = typer.Typer(no_args_is_help=True, help="Reconciliation (对账) against every channel's statement.")


def _date(text: str) -> dt.date:
    return date_option(text)


def _run(fn):
    try:
        return database().run(fn)
    except ZhifuError as exc:
        fail(
            exc.message
            if exc.param and exc.param in exc.message
            else f"{exc.param + ': ' if exc.param else ''}{exc.message}"
        )


@app.command("fetch")
def fetch(
    channel: str = typer.Option(..., "--channel", help="The rail whose statement to download."),
    date: str = typer.Option(..., "--date", help="Business date, YYYY-MM-DD."),
    by: str = typer.Option("", "--by", help="Who fetches it."),
) -> None:
    """Download a rail's statement of a date through its connector and import it strictly."""
    from zhifu.recon.statements import fetch_statement

    day = _date(date)
    try:
        with working(f"下载 {channel} {day} 对账单 / fetching the statement"):
            got = fetch_statement(database(), channel, day, by=by)
    except ZhifuError as exc:
        fail(f"{exc.param + ': ' if exc.param else ''}{exc.message}")
        return
    state = "already imported" if got["duplicate"] else "imported"
    console.print(
        f"{state} {got['line_count']} {channel} lines for {day}, net {format_fen(got['amount_fen'])}, "
        f"sha256 {got['sha256'][:12]}…"
    )


def _read(file: Path) -> bytes:
    """The file's bytes, or the command fails naming the file and why."""
    try:
        return file.read_bytes()
    except OSError as exc:
        fail(f"{file}: {exc.strerror}")
        raise


@app.command("import")
def import_(
    file: Path = typer.Argument(..., help="The statement file as received."),
    channel: str = typer.Option(..., "--channel"),
    date: str = typer.Option(..., "--date"),
    by: str = typer.Option("", "--by", help="Who imports it (user or operator key id)."),
) -> None:
    """Import a channel's statement strictly; a malformed file is refused whole, the same file twice is skipped."""
    from zhifu.recon.service import import_statement

    day = _date(date)
    data = _read(file)
    with working(f"导入对账单 / importing {file.name}"):
        got = _run(lambda c: import_statement(c, channel, day, data, filename=file.name, by=by))
    if got["duplicate"]:
        console.print(
            f"{file.name} was already imported on {got['imported_at']:%Y-%m-%d %H:%M} (sha256 "
            f"{got['sha256'][:12]}…): not imported again"
        )
        return
    console.print(
        f"imported {got['line_count']} {channel} lines for {day}, net {format_fen(got['amount_fen'])}, "
        f"sha256 {got['sha256'][:12]}…"
    )


@app.command("import-payouts")
def import_payouts(
    file: Path = typer.Argument(..., help="The bank's payout result file."),
    date: str = typer.Option(..., "--date"),
    by: str = typer.Option("", "--by"),
) -> None:
    """Import the bank's payout result file (checked against its TOTAL line) and match it to our payouts."""
    from zhifu.recon.service import import_payout_results, payout_table, reconcile_payouts

    day = _date(date)
    data = _read(file)
    with working(f"导入代付回盘 / importing {file.name}"):
        got = _run(lambda c: import_payout_results(c, day, data, filename=file.name, by=by))
    console.print(
        ("already imported: " if got["duplicate"] else "imported ") + f"{got['line_count']} payout lines"
    )
    if payout_table() is None:
        console.print("settlement payouts are not available yet: the lines are stored for matching later")
        return
    res = _run(lambda c: reconcile_payouts(c, day))
    console.print(", ".join(f"{k} {v}" for k, v in sorted(res["classes"].items())))


def _print_batch(b: dict[str, Any]) -> None:
    t = Table(
        title=f"{b['channel']} {b['business_date']} · {b['id']}"
        + (" (already reconciled)" if b.get("rerun") else "")
    )
    for col in ("class 类别", "lines 笔数", "amount 金额", "ours 我方", "amount 金额", "open", "resolved"):
        t.add_column(col)
    by_kind = b["cases"]["by_kind"]
    for cls in sorted(set(b["lines"]) | set(b["items"])):
        line = b["lines"].get(cls, {"count": 0, "amount_fen": 0})
        item = b["items"].get(cls, {"count": 0, "amount_fen": 0})
        k = by_kind.get(cls, {})
        t.add_row(
            cls,
            str(line["count"]),
            format_fen(line["amount_fen"]),
            str(item["count"]),
            format_fen(item["amount_fen"]),
            str(k.get("open", 0) + k.get("proposed", 0)),
            str(k.get("resolved", 0)),
        )
    console.print(t)
    console.print(
        f"auto-resolved by channel query {b['auto_resolved']}, ledger discrepancies "
        f"{b['ledger_discrepancies']}, cases open {b['cases']['open'] + b['cases']['proposed']}, "
        f"resolved {b['cases']['resolved']}"
    )


@app.command("run")
def run(
    date: str = typer.Option(..., "--date"),
    channel: str = typer.Option(None, "--channel"),
    pending_days: int = typer.Option(
        None,
        "--pending-days",
        help="Days a payment the channel has not booked waits (default ZHIFU_RECON_PENDING_DAYS, 1).",
    ),
    by: str = typer.Option("", "--by"),
) -> None:
    """Reconcile the date's imported files: payments ↔ file ↔ ledger. Re-running changes nothing."""
    from zhifu.recon.statements import reconcile

    day = _date(date)
    try:
        with working(f"对账 {day} / reconciling {day}"):
            got = reconcile(database(), day, channel=channel, pending_days=pending_days, by=by)
    except ZhifuError as exc:
        fail(f"{exc.param + ': ' if exc.param else ''}{exc.message}")
        return
    if not got:
        console.print(f"no statement imported for {day}")
    for b in got:
        _print_batch(b)


@app.command("report")
def report(
    date: str = typer.Option(None, "--date"),
    channel: str = typer.Option(None, "--channel"),
    csv: Path = typer.Option(None, "--csv", help="Also write the report as CSV here."),
    xlsx: Path = typer.Option(None, "--xlsx", help="Also write the report and its cases as Excel here."),
) -> None:
    """Per channel per day: matched, each discrepancy kind, cases open and resolved."""
    from zhifu.recon import service

    day = _date(date) if date else None

    def go(c):
        rows = service.report_rows(c, business_date=day, channel=channel)
        return rows, service.list_cases(c, business_date=day, channel=channel, limit=10_000)

    rows, case_rows = _run(go)
    t = Table(title=f"对账报告 reconciliation report {day or ''}")
    for col in ("date", "channel", "side", "class", "count", "amount", "open", "proposed", "resolved"):
        t.add_column(col)
    for r in rows:
        t.add_row(
            r["business_date"],
            r["channel"],
            r["side"],
            r["class"],
            str(r["count"]),
            format_fen(r["amount_fen"]),
            str(r["open"]),
            str(r["proposed"]),
            str(r["resolved"]),
        )
    console.print(t)
    if csv:
        csv.write_bytes(service.report_csv(rows))
        console.print(f"CSV written to {csv}")
    if xlsx:
        xlsx.write_bytes(service.report_xlsx(rows, case_rows))
        console.print(f"Excel written to {xlsx}")


@app.command("cases")
def cases(
    status: str = typer.Option(None, "--status", help="open | proposed | resolved"),
    date: str = typer.Option(None, "--date"),
    channel: str = typer.Option(None, "--channel"),
) -> None:
    """List exception cases with their suggested action."""
    from zhifu.recon.service import list_cases

    day = _date(date) if date else None
    t = Table()
    for col in ("id", "date", "channel", "kind", "item / line", "difference", "suggested", "status"):
        t.add_column(col)
    for c in _run(lambda conn: list_cases(conn, status=status, business_date=day, channel=channel)):
        t.add_row(
            c["id"],
            c["business_date"],
            c["channel"],
            c["kind"],
            f"{c['item_id'] or ''} / {c['line_no'] or ''}",
            format_fen(c["diff_fen"] or c["fee_diff_fen"]),
            c["suggested_action"],
            c["status"],
        )
    console.print(t)


@app.command("propose")
def propose(
    case_id: str,
    action: str = typer.Option(..., "--action"),
    by: str = typer.Option(..., "--by"),
    note: str = typer.Option("", "--note"),
) -> None:
    """The maker proposes a resolution (refund_payer, credit_merchant, write_off_suspense, accept_channel_record)."""
    from zhifu.recon.service import propose as do

    c = _run(lambda conn: do(conn, case_id, action, by, note=note))
    console.print(
        f"case {c['id']}: {c['action']} proposed by {c['proposed_by']}; a second person must approve"
    )


@app.command("approve")
def approve(
    case_id: str, by: str = typer.Option(..., "--by"), note: str = typer.Option("", "--note")
) -> None:
    """The checker (not the maker) approves: the ledger adjustment is posted."""
    from zhifu.recon.service import approve as do

    c = _run(lambda conn: do(conn, case_id, by, note=note))
    console.print(
        f"case {c['id']} resolved ({c['action']}), approved by {c['approved_by']}"
        + (f", entry {c['entry_key']}" if c["entry_key"] else "")
    )


@app.command("reject")
def reject(case_id: str, by: str = typer.Option(..., "--by"), note: str = typer.Option("", "--note")) -> None:
    """The checker sends the proposal back; the case is open again."""
    from zhifu.recon.service import reject as do

    c = _run(lambda conn: do(conn, case_id, by, note=note))
    console.print(f"case {c['id']} is open again")
