"""`zhifu transit operators`, `zhifu transit charge [--through D] [--operator ID]`, `zhifu transit validators ID`,
`zhifu transit taps FILE --operator ID --validator V` (a validator's JSON batch carried on a USB stick),
`zhifu transit figures [--start D --end D]`."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import typer

from zhifu.cli import console, database, date_option, fail
from zhifu.core.errors import ZhifuError
from zhifu.core.money import format_fen

NAME = "transit"
app = typer.Typer(
    help="Bus, school-bus and scenic payments (公交、校车、景区): charge runs, validators, taps, figures."
)
BATCH_FILE_BYTES_MAX = 20 * 1024 * 1024  # a validator's whole offline week fits


def _date(text: str | None, option: str) -> dt.date | None:
    return None if text is None else date_option(text, option)


def _merchant(db, operator_id: str) -> str:  # type: ignore[no-untyped-def]
    from zhifu.transit import service

    with db.read() as c:
        try:
            return service.get_operator(c, operator_id)["merchant_id"]
        except ZhifuError as exc:
            fail(f"--operator: {exc.message}")
            raise


@app.command("operators")
def operators() -> None:
    """List transit operators and scenic areas."""
    from zhifu.transit import service

    db = database()
    with db.read() as c:
        for o in service.list_operators(c):
            caps = "/".join(format_fen(x) if x else "—" for x in (o["daily_cap_fen"], o["monthly_cap_fen"]))
            console.print(f"{o['id']:<20} {o['kind']:<10} {o['merchant_id']}  caps {caps}  {o['name']}")


@app.command("charge")
def charge(
    through: str | None = typer.Option(None, help="last day of travel to charge (default yesterday)"),
    operator: str | None = typer.Option(None, help="one operator's id (default all)"),
) -> None:
    """Charge riders' capped fares as payments of the operators' merchants."""
    from zhifu.transit import service

    db = database()
    mid = _merchant(db, operator) if operator else None
    day = _date(through, "--through")
    if day is not None and day >= service.local_day(dt.datetime.now(dt.UTC)):
        fail("--through: only a day that has ended can be charged")
    stats = service.charge_due(db, merchant_id=mid, through=day)
    console.print(
        f"{stats['charges']} charge(s): {stats['succeeded']} succeeded, {stats['failed']} declined "
        f"(riders denied until paid), {stats['pending']} pending; collected {format_fen(stats['amount_fen'])}"
    )


@app.command("validators")
def validators(operator: str = typer.Argument(..., help="operator id")) -> None:
    """Validator health: last sync, deny-list staleness, taps waiting on the device."""
    from zhifu.transit import service

    db = database()
    mid = _merchant(db, operator)
    with db.read() as c:
        for v in service.validator_health(c, mid):
            flag = "STALE" if v["deny_stale"] else "fresh"
            console.print(
                f"{v['id']:<12} line {v['line_id'] or '—':<8} sync {v['last_sync_at'] or 'never'} ({flag}) "
                f"pending {v['pending_taps']} uploaded {v['taps_uploaded']}{'  QUIET' if v['quiet'] else ''}"
            )


@app.command("taps")
def taps(
    file: Path = typer.Argument(..., help="a JSON batch: {validator_time, pending_after, taps: [...]}"),
    operator: str = typer.Option(...),
    validator: str = typer.Option(...),
) -> None:
    """Upload a validator's batch read off the device (for validators that never get a network)."""
    from pydantic import ValidationError

    from zhifu.transit import service

    if not file.is_file():
        fail(f"FILE: {file} does not exist")
    if file.stat().st_size > BATCH_FILE_BYTES_MAX:
        fail(f"FILE: {file} is over {BATCH_FILE_BYTES_MAX // 1024 // 1024} MB; upload it in parts")
    try:
        batch = service.TapBatch.model_validate(json.loads(file.read_text("utf-8")))
    except (ValueError, ValidationError) as exc:
        if isinstance(exc, ValidationError):
            err = exc.errors()[0]
            fail(f"FILE: {'.'.join(str(x) for x in err['loc'])}: {err['msg']}")
        fail(f"FILE: not a JSON batch ({exc})")
        raise
    db = database()
    mid = _merchant(db, operator)
    try:
        out = db.run(lambda c: service.upload_taps(c, mid, validator, batch))
    except ZhifuError as exc:
        fail(f"{exc.param + ': ' if exc.param else ''}{exc.message}")
        raise
    console.print(
        f"stored {out['stored']}, already had {out['already']}, refused {len(out['refused'])}, "
        f"parked {len(out['parked'])}"
    )
    for r in out["refused"] + out["parked"]:
        console.print(f"  tap {r['id']}: {r['reason']}")


@app.command("figures")
def figures(start: str | None = typer.Option(None), end: str | None = typer.Option(None)) -> None:
    """Transit and scenic payments by kind, channel and town."""
    from zhifu.transit import service

    today = service.local_day(dt.datetime.now(dt.UTC))
    lo = _date(start, "--start") or today.replace(day=1)
    hi = _date(end, "--end") or today
    db = database()
    with db.read() as c:
        doc = service.kpi_transit_usage(c, lo, hi)
    console.print(
        f"{lo} – {hi}: {doc['count']} payments, {format_fen(doc['amount_fen'])}; riders {doc['riders']}, "
        f"journeys {doc['journeys']}"
    )
    for dim in ("by_kind", "by_channel", "by_town"):
        for k, v in sorted(doc[dim].items()):
            console.print(f"  {dim[3:]:<8} {k or '—':<14} {v['count']:>7} {format_fen(v['amount_fen']):>14}")
