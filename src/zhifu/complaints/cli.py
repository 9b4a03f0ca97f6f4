"""`zhifu complaints …`: run the clocks, import 12363 referrals, print the figures, export, set the rules."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer

from zhifu.cli import console, database, date_option, fail
from zhifu.core.errors import ZhifuError

NAME = "complaints"
app = typer.Typer(
    no_args_is_help=True, help="Complaints (投诉): clocks, 12363 referrals, figures, export, rules."
)


def _date(text: str, option: str) -> dt.date:
    return date_option(text, option)


def _run(fn):  # type: ignore[no-untyped-def]
    try:
        return database().run(fn)
    except ZhifuError as exc:
        fail(f"{exc.param + ': ' if exc.param and exc.param not in exc.message else ''}{exc.message}")


@app.command("sweep")
def sweep() -> None:
    """Remind before decisions fall due, flag missed acknowledgements, escalate breaches, send pending texts."""
    from zhifu.complaints import service

    out = _run(lambda c: service.sweep(c))
    sent = service.deliver_messages(database())
    console.print(
        f"reminded {out['reminded']}, acknowledgements overdue {out['ack_overdue']}, "
        f"escalated {out['escalated']}, texts sent {sent['sent']}, failed {sent['failed']}"
    )


@app.command("import-12363")
def import_12363(
    file: Path = typer.Argument(
        ..., help="CSV: ref_no,received_at,phone,category,narrative[,payment_id,merchant_id]"
    ),
    by: str = typer.Option("pboc", "--by", help="Who imports (recorded on each complaint)."),
) -> None:
    """Log the PBOC office's referrals; a bad line is named and nothing is kept."""
    from zhifu.complaints import service

    if not file.is_file():
        fail(f"{file}: no such file")
    done = _run(lambda c: service.import_referrals(c, file.read_bytes(), actor=by))
    console.print(f"{len(done)} referrals logged")
    for d in done:
        console.print(
            f"  {d['id']}  {d['external_ref']}  {d['category']}  → {d['assignee_org']}  "
            f"acknowledge by {d['ack_due']}, decide by {d['decide_due']}"
        )


@app.command("stats")
def stats(start: str = typer.Option(..., "--start"), end: str = typer.Option(..., "--end")) -> None:
    """Counts and timeliness of complaints received start..end (Beijing dates)."""
    from zhifu.complaints import service

    s, e = _date(start, "--start"), _date(end, "--end")
    doc = _run(lambda c: service.stats(c, s, e))
    t = doc["timeliness"]
    pct = "—" if t["timely_ppm"] is None else f"{t['timely_ppm'] / 10_000:.1f}%"
    console.print(
        f"received {t['received']}, decided {t['decided']}, on time {t['timely']} ({pct}), "
        f"overdue {t['overdue']}, open {t['open']}, escalated {t['escalated']}"
    )
    for r in doc["by_category"]:
        console.print(f"  {r['label']}: {r['count']}")


@app.command("export")
def export(
    start: str = typer.Option(..., "--start"),
    end: str = typer.Option(..., "--end"),
    out: Path = typer.Option(..., "--out"),
) -> None:
    """The CFPB-style CSV (narratives only with consent)."""
    from zhifu.complaints import service

    s, e = _date(start, "--start"), _date(end, "--end")
    out.write_bytes(_run(lambda c: service.export_csv(c, s, e)))
    console.print(f"written {out}")


@app.command("rules")
def rules(
    ack_working_days: int | None = typer.Option(None, "--ack-working-days"),
    decide_days: int | None = typer.Option(None, "--decide-days"),
    decide_basis: str | None = typer.Option(None, "--decide-basis", help="calendar or working"),
    extend_days_max: int | None = typer.Option(None, "--extend-days-max"),
    remind_working_days: int | None = typer.Option(None, "--remind-working-days"),
    by: str = typer.Option("operator", "--by"),
) -> None:
    """Show the rules, or change them for complaints received from now on."""
    from zhifu.complaints import service

    changes = {
        k: v
        for k, v in {
            "ack_working_days": ack_working_days,
            "decide_days": decide_days,
            "decide_basis": decide_basis,
            "extend_days_max": extend_days_max,
            "remind_working_days": remind_working_days,
        }.items()
        if v is not None
    }
    got = _run(lambda c: service.set_rules(c, by, **changes) if changes else service.get_rules(c))
    console.print(got)
