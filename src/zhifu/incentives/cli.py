"""`zhifu campaign …`: create, fund, re-rule, pause/resume/end campaigns and read their reports."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError
from rich.table import Table

from zhifu.cli import console, database, fail
from zhifu.core.money import format_fen

NAME = "campaign"
app = typer.Typer(
    no_args_is_help=True, help="Incentive campaigns (营销活动): subsidies and random instant discounts."
)


def _run(fn: Callable[[Any], Any]) -> Any:
    from zhifu.core.errors import ZhifuError

    try:
        return database().run(fn)
    except ZhifuError as exc:
        fail(f"{exc.param or 'campaign'}: {exc.message}")


def _load(path: Path, model: Any) -> Any:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        fail(f"{path}: {exc}")
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        e = exc.errors()[0]
        fail(f"{path}: {'.'.join(str(p) for p in e['loc'])}: {e['msg']}")


def _show(doc: dict[str, Any]) -> None:
    console.print(
        f"{doc['id']}  {doc['name']}  ({doc['status']}) v{doc['version']}  funder {doc['funder']}  "
        f"funded {format_fen(doc['funded_fen'])}  remaining {format_fen(doc['remaining_fen'])}"
    )


@app.command("create")
def create(
    file: Path = typer.Argument(..., help="A JSON file: name, funder, budget_fen, seed, rules."),
) -> None:
    """Validate and create a campaign; its budget is funded at once. Prints the id last."""
    from zhifu.incentives.service import CreateCampaign, create_campaign

    req = _load(file, CreateCampaign)
    doc = _run(lambda c: create_campaign(c, req))
    _show(doc)
    console.print(doc["id"])


@app.command("rules")
def rules(campaign_id: str, file: Path = typer.Argument(..., help="A JSON file with the new rules.")) -> None:
    """Change a campaign's rules: writes the next version."""
    from zhifu.incentives.rules import Rules
    from zhifu.incentives.service import change_rules

    r = _load(file, Rules)
    _show(_run(lambda c: change_rules(c, campaign_id, r)))


@app.command("fund")
def fund(campaign_id: str, amount_fen: int) -> None:
    """Add to a campaign's budget."""
    from zhifu.incentives.service import fund_campaign

    _show(_run(lambda c: fund_campaign(c, campaign_id, amount_fen)))


@app.command("pause")
def pause(campaign_id: str) -> None:
    from zhifu.incentives.service import set_status

    _show(_run(lambda c: set_status(c, campaign_id, "pause")))


@app.command("resume")
def resume(campaign_id: str) -> None:
    from zhifu.incentives.service import set_status

    _show(_run(lambda c: set_status(c, campaign_id, "resume")))


@app.command("end")
def end(campaign_id: str) -> None:
    """End a campaign; what is left of its budget goes back to the funder."""
    from zhifu.incentives.service import set_status

    _show(_run(lambda c: set_status(c, campaign_id, "end")))


@app.command("notices")
def notices(
    campaign_id: str,
    file: Path = typer.Argument(..., help="Payers' phones, one a line (blank lines skipped)."),
) -> None:
    """Send the campaign's offer to payers who gave a live marketing consent (营销需同意); the rest are refused
    and the refusals logged. A bad phone names its line and sends nothing."""
    from zhifu.consent import campaign_notices, subject_key
    from zhifu.core.errors import ZhifuError

    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"{file}: {exc}")
    phones: list[str] = []
    for n, line in enumerate(lines, start=1):
        phone = line.strip()
        if not phone:
            continue
        try:
            subject_key("payer", phone=phone)
        except ZhifuError as exc:
            fail(f"{file}: line {n}: phone: {exc.message}")
        phones.append(phone)
    if not phones:
        fail(f"{file}: phone: 文件中没有手机号 / no phones in the file")
    try:
        doc = campaign_notices(database(), campaign_id, phones)
    except ZhifuError as exc:
        fail(f"{exc.param or 'campaign'}: {exc.message}")
    console.print(
        f"{campaign_id}  已发送 sent {doc['sent']}  未同意拒绝 refused (no consent) {doc['refused_no_consent']}"
        f"  付款人 payers {doc['payers']}"
    )


@app.command("list")
def list_(status: str = typer.Option(None)) -> None:
    from zhifu.incentives.service import list_campaigns

    rows, _ = _run(lambda c: list_campaigns(c, status=status, limit=100))
    for doc in rows:
        _show(doc)


@app.command("report")
def report(campaign_id: str) -> None:
    """Spend per benefit, day, town and merchant; remaining budget; payers reached; flags."""
    from zhifu.incentives.service import report as build

    r = _run(lambda c: build(c, campaign_id))
    console.print(
        f"{r['name']}  funded {format_fen(r['funded_fen'])}  spent {format_fen(r['spent_fen'])}  "
        f"remaining {format_fen(r['remaining_fen'])}  reserved {format_fen(r['reserved_fen'])}  "
        f"payers {r['payers_reached']}  flags {r['flags']}"
    )
    for title in ("by_kind", "by_day", "by_town", "by_merchant"):
        t = Table(title, "spent", "payments", title=title)
        for row in r[title]:
            t.add_row(str(row["key"]), format_fen(row["spent_fen"]), str(row["payments"]))
        console.print(t)


@app.command("flags")
def flags(campaign_id: str = typer.Option(None)) -> None:
    """Payers flagged for the risk monitor (split purchases, caps reached)."""
    from zhifu.incentives.service import list_flags

    for f in _run(lambda c: list_flags(c, campaign_id, limit=100)):
        console.print(
            f"{f['day']}  {f['kind']}  payer {f['payer_key']}  merchant {f['merchant_id']}  "
            f"{f['payments']} payments  {f['detail']}"
        )


@app.command("payout")
def payout() -> None:
    """Pay out accrued cost refunds and subsidies to the acquirers (the settlement run calls this too)."""
    from zhifu.incentives.service import pay_out_accruals

    for row in _run(lambda c: pay_out_accruals(c)):
        console.print(f"{row['acquirer_id']}  {format_fen(row['amount_fen'])}")
