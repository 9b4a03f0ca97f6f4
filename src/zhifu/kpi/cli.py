"""`zhifu kpi …`: rebuild or refresh the dashboard's rollups, and file issuers' submissions from a CSV."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from zhifu.cli import console, database, fail, working

NAME = "kpi"
app = typer.Typer(no_args_is_help=True, help="The regulator's dashboard: rollups and issuers' submissions.")


@app.command("rebuild")
def rebuild_cmd() -> None:
    """Recompute every rollup from the payments and refunds."""
    from zhifu.kpi.rollup import rebuild_db

    t0 = time.perf_counter()
    with working("重算监管看板汇总 / rebuilding the rollups"):
        out = rebuild_db(database())
    console.print(f"rollups rebuilt: {out['days']} business days in {time.perf_counter() - t0:.1f} s")


@app.command("refresh")
def refresh_cmd() -> None:
    """Bring the rollups up to date with payments and refunds committed since the last run."""
    from zhifu.kpi.rollup import refresh_db

    t0 = time.perf_counter()
    with working("更新监管看板汇总 / refreshing the rollups"):
        out = refresh_db(database())
    console.print(
        f"rollups refreshed: {out['days']} business days recomputed in {time.perf_counter() - t0:.1f} s"
    )


@app.command("submit")
def submit_cmd(
    file: Path = typer.Argument(..., help="CSV: institution,town_code,month,cards_issued,app_users[,note]"),
    correction: bool = typer.Option(False, "--correction", help="Record new versions of periods on file."),
    by: str = typer.Option("cli", "--by", help="Who submits (recorded with each row)."),
) -> None:
    """File issuers' monthly figures; any bad line refuses the whole file and names the line and field."""
    from zhifu.core.errors import ZhifuError
    from zhifu.kpi.service import parse_csv, submit

    try:
        rows, lines = parse_csv(file.read_bytes())
        with database().tx() as conn:
            done = submit(conn, rows, source="csv", submitted_by=by, correction=correction, lines=lines)
    except OSError as exc:
        fail(f"file: {exc.strerror}: {file}")
        return
    except ZhifuError as exc:
        fail(f"{file.name}: {exc.message}")
        return
    console.print(f"{len(done)} submission(s) recorded")
