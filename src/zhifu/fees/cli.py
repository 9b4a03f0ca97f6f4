"""`zhifu fees …`: the operator's fee plan — rules, waivers, merchant classes — and quotes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import typer
from pydantic import ValidationError
from rich.table import Table

from zhifu.cli import console, database, date_option, fail
from zhifu.core.errors import ZhifuError
from zhifu.core.money import format_fen, parse_yuan

NAME = "fees"
app = typer.Typer(
    no_args_is_help=True, help="Fee plans (费率): rules by channel × card type × merchant class."
)


def _call(fn: Callable[..., Any]) -> Any:
    try:
        return database().run(fn)
    except ZhifuError as exc:
        fail(f"{exc.param + ': ' if exc.param else ''}{exc.message}")


def _date(text: str | None, option: str) -> dt.date | None:
    if text is None:
        return None
    return _required_date(text, option)


def _required_date(text: str, option: str) -> dt.date:
    return date_option(text, option)


@app.command("add-rule")
def add_rule(
    rate_ppm: int = typer.Option(..., help="Parts per million: 3800 is 0.38 %."),
    effective_from: str = typer.Option(..., "--from", help="First business date, YYYY-MM-DD."),
    effective_to: str = typer.Option(None, "--to", help="First business date no longer covered."),
    channel: str = typer.Option("*"),
    card_type: str = typer.Option("*"),
    merchant_class: str = typer.Option("*", "--class"),
    min_fen: int = typer.Option(0, help="Minimum fee per payment, fen."),
    cap_fen: int = typer.Option(None, help="Maximum fee per payment, fen."),
    note: str = typer.Option(""),
) -> None:
    """Add a fee rule."""
    from zhifu.fees.service import RuleIn, create_rule

    try:
        req = RuleIn(
            channel=channel,
            card_type=card_type,
            merchant_class=merchant_class,
            rate_ppm=rate_ppm,
            min_fen=min_fen,
            cap_fen=cap_fen,
            effective_from=_required_date(effective_from, "--from"),
            effective_to=_date(effective_to, "--to"),
            note=note,
        )
    except ValidationError as exc:
        e = exc.errors()[0]
        fail(f"--{'.'.join(str(p) for p in e['loc']).replace('_', '-')}: {e['msg']}")
        return
    r = _call(lambda c: create_rule(c, req))
    console.print(
        f"rule {r['id']}: {r['channel']}/{r['card_type']}/{r['merchant_class']} {r['rate_ppm']} ppm "
        f"from {r['effective_from']}"
    )


@app.command("list")
def list_(on: str = typer.Option(None, help="Only rules in force on this business date.")) -> None:
    """List fee rules."""
    from zhifu.fees.service import list_rules

    rows = _call(lambda c: list_rules(c, on=_date(on, "--on")))
    t = Table()
    for col in ("id", "channel", "card", "class", "ppm", "min", "cap", "from", "to"):
        t.add_column(col)
    for r in rows:
        t.add_row(
            r["id"],
            r["channel"],
            r["card_type"],
            r["merchant_class"],
            str(r["rate_ppm"]),
            format_fen(r["min_fen"]),
            format_fen(r["cap_fen"]) if r["cap_fen"] is not None else "",
            r["effective_from"],
            r["effective_to"] or "",
        )
    console.print(t)


@app.command("waive")
def waive(
    merchant_id: str,
    effective_from: str = typer.Option(..., "--from"),
    effective_to: str = typer.Option(None, "--to"),
    channel: str = typer.Option("*"),
    campaign: str = typer.Option(None),
    reason: str = typer.Option(""),
) -> None:
    """Set a merchant's fee to 0 for business dates [from, to)."""
    from zhifu.fees.service import WaiverIn, create_waiver

    req = WaiverIn(
        channel=channel,
        effective_from=_required_date(effective_from, "--from"),
        effective_to=_date(effective_to, "--to"),
        campaign_ref=campaign,
        reason=reason,
    )
    w = _call(lambda c: create_waiver(c, merchant_id, req))
    console.print(
        f"waiver {w['id']} for {merchant_id} from {w['effective_from']} to {w['effective_to'] or '—'}"
    )


@app.command("class")
def set_class(merchant_id: str, merchant_class: str) -> None:
    """Put a merchant in a fee class."""
    from zhifu.fees.service import set_merchant_class

    cls = _call(lambda c: set_merchant_class(c, merchant_id, merchant_class))
    console.print(f"{merchant_id} is in fee class {cls}")


@app.command("quote")
def quote(
    merchant_id: str,
    channel: str = typer.Option(...),
    card_type: str = typer.Option("debit"),
    amount: str = typer.Option(..., help="Yuan, e.g. 100.00"),
    on: str = typer.Option(None),
) -> None:
    """Fee, channel cost and the acquirer's margin of a would-be payment."""
    from zhifu.core import clock
    from zhifu.core.business_day import business_date
    from zhifu.fees.service import quote as do_quote

    try:
        fen = parse_yuan(amount, param="--amount")
    except ZhifuError as exc:
        fail(exc.message)
        return
    day = _date(on, "--on") or business_date(clock.now())
    q = _call(lambda c: do_quote(c, merchant_id, channel, card_type, fen, day))
    console.print(
        f"fee {format_fen(q['fee_fen'])} ({q['rate_ppm']} ppm, class {q['merchant_class']}), cost "
        f"{format_fen(q['cost_fen'])}, margin {format_fen(q['margin_fen'])}"
    )
