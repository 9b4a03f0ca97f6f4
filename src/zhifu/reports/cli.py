"""`zhifu report monthly --month 2022-06 --format xlsx|pdf`: the leadership group's monthly report in Chinese."""

from __future__ import annotations

from pathlib import Path

import typer

from zhifu.cli import console, database, fail

NAME = "report"
app = typer.Typer(no_args_is_help=True, help="Reports for the leadership group.")


@app.command("monthly")
def monthly(
    month: str = typer.Option(..., "--month", help="The calendar month, YYYY-MM."),
    fmt: str = typer.Option("xlsx", "--format", help="xlsx or pdf."),
    out: Path = typer.Option(None, "--out", help="Where to write (default zhifu-report-MONTH.FORMAT)."),
) -> None:
    """The month against the targets, by town and institution, with charts."""
    from zhifu.core.errors import ZhifuError
    from zhifu.kpi.report import render

    try:
        with database().read() as conn:
            data = render(conn, month, fmt)
    except ZhifuError as exc:
        fail(f"{exc.param or 'input'}: {exc.message}")
        return
    path = out or Path(f"zhifu-report-{month}.{fmt}")
    path.write_bytes(data)
    console.print(f"wrote {path} ({len(data):,} bytes)")
