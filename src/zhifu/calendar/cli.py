"""`zhifu calendar import FILE.csv`, `zhifu calendar settle-date DATE --cycle T+1`, `zhifu calendar show`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer
from rich.table import Table

from zhifu.cli import console, database, fail
from zhifu.core.errors import ZhifuError

NAME = "calendar"
app = typer.Typer(
    no_args_is_help=True,
    help="Working-day calendar (工作日历): holidays and make-up working days that settlement counts.",
)


@app.command("import")
def import_file(
    path: Path = typer.Argument(..., help="CSV with header date,type,name (type: holiday|workday)."),
) -> None:
    """Import the State Council's holiday notice for one or several years; each year in the file is replaced whole.
    A bad line refuses the whole file, naming the line."""
    from zhifu.calendar.service import import_csv

    if not path.is_file():
        fail(f"{path}: no such file")
    data = path.read_bytes()
    try:
        r = database().run(lambda c: import_csv(c, data, filename=path.name))
    except ZhifuError as exc:
        fail(f"{path.name}: {exc.message}")
        return
    console.print(
        f"imported {', '.join(map(str, r['years']))}: {r['holidays']} holidays, {r['workdays']} make-up "
        f"working days"
        + (f" (replaced {', '.join(map(str, r['replaced_years']))})" if r["replaced_years"] else "")
    )


@app.command("settle-date")
def settle_date_cmd(
    date: str = typer.Argument(..., help="The business date, e.g. 2026-12-31."),
    cycle: str = typer.Option("T+1", "--cycle", help="T+n (working days) or D+n (calendar days)."),
) -> None:
    """Print the settlement date of a business date on this calendar (ISO, on the last line)."""
    from zhifu.calendar.service import load
    from zhifu.settlement.calendar import settle_date

    try:
        day = dt.date.fromisoformat(date)
    except ValueError:
        fail(f"DATE: {date!r} is not a date like 2026-12-31")
        return
    try:
        with database().tx() as conn:
            s = settle_date(day, cycle, load(conn))
    except ZhifuError as exc:
        fail(f"{exc.param or 'date'}: {exc.message}")
        return
    if s.advanced:
        console.print("advanced: paid before the network's T+1 funds arrive (垫资)")
    print(s.date.isoformat())


@app.command("show")
def show() -> None:
    """The covered years, where each came from, and how far the calendar reaches."""
    from zhifu.calendar.service import status, year_summary

    with database().tx() as conn:
        st = status(conn)
        years = year_summary(conn)
    t = Table(title=f"工作日历 / working-day calendar: {st.years}")
    for col in ("year", "holidays", "make-up working days", "source"):
        t.add_column(col)
    for y in years:
        t.add_row(str(y["year"]), str(y["holidays"]), str(y["workdays"]), y["source"])
    console.print(t)
    console.print(
        f"last day: {st.last_day or '—'} ({st.days_left if st.days_left is not None else '—'} days left)"
    )
    if st.warning:
        console.print(f"[yellow]{st.warning}[/yellow]")
