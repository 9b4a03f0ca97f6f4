"""`zhifu bills import BILLER FILE`, `zhifu bills show BILLER ACCOUNT`, `zhifu bills payment-file BILLER --date D`,
`zhifu bills settle BILLER --date D`, `zhifu bills returns BILLER FILE --date D`, `zhifu bills figures`."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import typer

from zhifu.bills.importer import FILE_BYTES_MAX, BillFileRefused
from zhifu.cli import console, database, date_option, fail, working
from zhifu.core.errors import ZhifuError
from zhifu.core.money import format_fen

T = TypeVar("T")

NAME = "bills"
app = typer.Typer(
    help="Public-service payments (公共事业缴费): bill files, presentment, payment files, settlement."
)


def _date(text: str) -> dt.date:
    return date_option(text)


def _read(path: Path) -> bytes:
    if not path.is_file():
        fail(f"FILE: {path} does not exist")
    if path.stat().st_size > FILE_BYTES_MAX:
        fail(f"FILE: {path} is over {FILE_BYTES_MAX // 1024 // 1024} MB; split it by period or town")
    return path.read_bytes()


def _call(fn: Callable[[], T]) -> T:
    """The service's answer, or the command ends saying why (each fault of a refused file on its line)."""
    try:
        return fn()
    except BillFileRefused as exc:
        for f in exc.faults:
            console.print(f"  {f.text()}")
        fail(f"{exc.total} fault(s); nothing was imported")
        raise
    except ZhifuError as exc:
        fail(f"{exc.param + ': ' if exc.param else ''}{exc.message}")
        raise


@app.command("import")
def import_(biller_id: str, file: Path) -> None:
    """Import a bill file (CSV in UTF-8 or GBK, or XLSX): all of it, or nothing with every faulty line named."""
    from zhifu.bills import service

    data = _read(file)
    db = database()
    with working(f"导入账单 / importing {file.name}"):
        out = _call(lambda: db.run(lambda c: service.import_bills(c, biller_id, data, filename=file.name)))
    console.print(
        f"已导入 {out['accepted']} 张账单 / imported {out['accepted']} bills, "
        f"{format_fen(out['total_fen'])}, {out['encoding']}, import {out['id']}"
    )


@app.command("show")
def show(biller_id: str, account_no: str) -> None:
    """What a payer sees for an account number."""
    from zhifu.bills import service

    db = database()
    with db.read() as c:
        out = _call(lambda: service.present(c, biller_id, account_no))
    for b in out["bills"]:
        console.print(
            f"{b['period']}  {b['bill_no']}  {format_fen(b['outstanding_fen'])}  due {b['due_date']}  "
            f"{b['status']}"
        )
    if not out["bills"]:
        console.print("没有待缴账单 / nothing to pay")


@app.command("payment-file")
def payment_file(
    biller_id: str,
    date: str = typer.Option(..., "--date"),
    fmt: str = typer.Option("csv", "--format", help="csv or fixed (GBK fixed width)"),
    out: Path = typer.Option(Path("."), "--out"),
) -> None:
    """Write the biller's daily payment file."""
    from zhifu.bills import service

    db = database()
    with db.read() as c:
        data, name = _call(lambda: service.payment_file(c, biller_id, _date(date), fmt))
    (out / name).write_bytes(data)
    console.print(str(out / name))


@app.command("settle")
def settle(biller_id: str, date: str = typer.Option(..., "--date")) -> None:
    """Settle a business date to the biller."""
    from zhifu.bills import service

    db = database()
    s = _call(lambda: db.run(lambda c: service.settle(c, biller_id, _date(date))))
    console.print(
        f"{s['biller_id']} {s['business_date']}: {s['payments']} payments, {format_fen(s['amount_fen'])}"
    )


@app.command("returns")
def returns(biller_id: str, file: Path, date: str = typer.Option(..., "--date")) -> None:
    """Reconcile the biller's return file for a date; differences become cases."""
    from zhifu.bills import service

    data = _read(file)
    db = database()
    out = _call(lambda: db.run(lambda c: service.import_return_file(c, biller_id, _date(date), data)))
    console.print(json.dumps(out, default=str, ensure_ascii=False))


@app.command("figures")
def figures() -> None:
    """Public-service payments by category, town and channel."""
    from zhifu.bills import service

    db = database()
    with db.read() as c:
        console.print_json(json.dumps(service.public_service_figures(c), default=str, ensure_ascii=False))


@app.command("expire")
def expire() -> None:
    """Mark bills past their due date and the biller's grace days as expired, fixing their late fee (the
    background worker does this once a day; run it by hand after changing a biller's grace days)."""
    from zhifu.bills import expiry

    db = database()
    total = fee = waiting = 0
    while True:
        out = _call(lambda: db.run(lambda c: expiry.expire_bills(c)))
        total, fee, waiting = total + out["expired"], fee + out["late_fee_fen"], out["waiting"]
        if out["expired"] < expiry.BATCH:
            break
    console.print(
        f"已过期 {total} 张账单，滞纳金 {format_fen(fee)} / expired {total} bills, late fees {format_fen(fee)}"
        + (
            f"；{waiting} 张有支付进行中，下次再处理 / {waiting} wait for a payment in progress"
            if waiting
            else ""
        )
    )
