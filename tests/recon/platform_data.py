"""A channel-day of real payments and refunds through the service layer, so the ledger and the rail's book are real."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from typing import Any

from sqlalchemy import func, select

from zhifu.channels import facts
from zhifu.core.clock import SHANGHAI, FixedClock
from zhifu.db import Database
from zhifu.ledger.models import entries
from zhifu.payments import CreatePayment, CreateRefund, create_payment, create_refund, sweep_refunds
from zhifu.railsim.payer import Payer, sim_pay
from zhifu.recon import models

D = dt.date(2022, 6, 15)
_orders = itertools.count(1)


@dataclasses.dataclass
class Day:
    merchant_id: str
    paid: list[str]
    unpaid: list[str]
    refunds: list[str]


def at_local(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), SHANGHAI)


def build_day(
    db: Database,
    clock: FixedClock,
    merchant_id: str,
    *,
    channel: str = "unionpay_qr",
    day: dt.date = D,
    paid: int = 12,
    unpaid: int = 3,
    refunds: int = 2,
) -> Day:
    """`paid` succeeded payments from 11:00 Beijing a minute apart, `unpaid` dynamic codes left unpaid, and
    `refunds` partial refunds of the first payments, all delivered."""
    clock.set(at_local(day, 11))
    card = facts(channel).card_types[0]
    out = Day(merchant_id, [], [], [])
    for i in range(paid + unpaid):
        clock.advance(minutes=1)
        req = CreatePayment(
            amount_fen=1_000 + 37 * i, merchant_order_no=f"rc{next(_orders)}", channel=channel
        )
        p = db.run(lambda c, r=req: create_payment(c, merchant_id, r))
        if i < paid:
            got = sim_pay(db, p["id"], outcome="success", payer=Payer(card_type=card))
            assert got["status"] == "succeeded"
            out.paid.append(p["id"])
        else:
            out.unpaid.append(p["id"])
    for pid in out.paid[:refunds]:
        clock.advance(minutes=1)
        r = db.run(lambda c, p=pid: create_refund(c, merchant_id, p, CreateRefund(amount_fen=300)))
        out.refunds.append(r["id"])
    sweep_refunds(db, older_than_s=0)  # the rail's answer, asked at once
    return out


def stored_classes(db: Database, batch_id: str) -> tuple[dict[int, str], dict[str, str]]:
    with db.tx() as c:
        lines = dict(
            c.execute(
                select(models.line_results.c.line_no, models.line_results.c.recon_class).where(
                    models.line_results.c.batch_id == batch_id
                )
            ).all()
        )
        items = dict(
            c.execute(
                select(models.item_results.c.item_id, models.item_results.c.recon_class).where(
                    models.item_results.c.batch_id == batch_id
                )
            ).all()
        )
    return lines, items


def table_counts(db: Database) -> dict[str, Any]:
    tables = [
        models.statement_files,
        models.statement_lines,
        models.batches,
        models.line_results,
        models.item_results,
        models.pending,
        models.cases,
        models.case_events,
        entries,
    ]
    with db.tx() as c:
        return {t.name: c.execute(select(func.count()).select_from(t)).scalar_one() for t in tables}
