"""A rail's statement file for a business date, fetched through its connector (or uploaded by an operator) and
imported; and reconciliation run with the rails' own answers asked before the reconciling transaction."""

from __future__ import annotations

import datetime as dt
from typing import Any

from zhifu.channels import ChannelResult, RailError, facts, get_channel
from zhifu.core.errors import InvalidRequest
from zhifu.db import Database
from zhifu.recon.formats.inject import KINDS

RAIL_ANSWERS_MAX = 1_000  # payments asked about before one reconciliation; more is a wrong file


def parse_inject(spec: str) -> dict[str, int]:
    """`kind=n,kind=n` into counts; unknown kinds and bad counts are refused naming the kind."""
    out: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        kind, sep, count = part.partition("=")
        if kind not in KINDS:
            raise InvalidRequest(
                f"unknown discrepancy kind {kind!r}; one of {', '.join(KINDS)}", param="inject"
            )
        if not sep or not count.isdigit() or int(count) < 1:
            raise InvalidRequest(f"{kind}: the count must be a positive whole number", param="inject")
        out[kind] = out.get(kind, 0) + int(count)
    return out


def fetch_statement(db: Database, channel: str, business_date: dt.date, *, by: str = "") -> dict[str, Any]:
    """Download the rail's statement of a business date through its connector, then import it strictly (a file of
    another rail or another day is refused whole; the same file twice is recorded once)."""
    from zhifu.recon.service import import_statement

    facts(channel)
    try:
        data = get_channel(channel).fetch_statement(business_date)
    except RailError as exc:
        raise InvalidRequest(
            f"渠道对账单下载失败 / the {channel} statement of {business_date} could not be "
            f"downloaded: {exc.reason}",
            param="channel",
            code="statement_unavailable",
        ) from exc
    return db.run(
        lambda c: import_statement(
            c, channel, business_date, data, filename=f"{channel}-{business_date.isoformat()}.download", by=by
        )
    )


def reconcile(
    db: Database,
    business_date: dt.date,
    *,
    channel: str | None = None,
    pending_days: int | None = None,
    by: str = "",
) -> list[dict[str, Any]]:
    """Reconcile every channel with a file for the date (or one). Lines the rail shows paid that we do not are asked
    about at the rail first, outside the transaction; the run then records and resolves them."""
    from zhifu.recon.service import paid_at_rail_only, run

    with db.read() as c:
        ask = paid_at_rail_only(c, business_date, channel=channel)
    answers: dict[str, ChannelResult] = {}
    for pid, ch, mid in ask[:RAIL_ANSWERS_MAX]:
        try:
            answers[pid] = get_channel(ch).query(pid, merchant_id=mid)
        except RailError:
            continue  # unanswered: the line stays a case for a person
    return db.run(
        lambda c: run(c, business_date, channel=channel, pending_days=pending_days, by=by, answers=answers)
    )
