"""Building blocks for settlement tests: merchants, payments and refunds at chosen moments, bank result files."""

from __future__ import annotations

import datetime as dt
import itertools

from sqlalchemy import select, update

from tests.factories import application
from tests.rails_support import pump as pump_notifications
from zhifu import ledger
from zhifu.core.clock import SHANGHAI, FixedClock
from zhifu.db import Database
from zhifu.merchants import MerchantApplication, apply, review
from zhifu.merchants.models import merchants
from zhifu.payments import (
    CreatePayment,
    CreateRefund,
    create_payment,
    create_refund,
)
from zhifu.railsim.payer import Payer, sim_pay
from zhifu.recon.formats import PayoutResult, write_payout_results
from zhifu.settlement.models import settlement_payouts

_orders = itertools.count(1)


def sh(y: int, mo: int, d: int, h: int = 12, mi: int = 0, s: int = 0) -> dt.datetime:
    """A moment in Beijing time."""
    return dt.datetime(y, mo, d, h, mi, s, tzinfo=SHANGHAI)


def merchant(db: Database, n: int, *, cycle: str = "T+1", at: dt.datetime | None = None) -> str:
    at = at or sh(2021, 1, 4)
    with db.tx() as c:
        m = apply(c, MerchantApplication(**application(legal_name=f"沂源县南麻结算测试店{n}")), at=at)
        review(c, m["id"], "approve", at=at)
        c.execute(update(merchants).where(merchants.c.id == m["id"]).values(settlement_cycle=cycle))
    return m["id"]


def pay(
    db: Database,
    clock: FixedClock,
    mid: str,
    amount_fen: int,
    at: dt.datetime,
    *,
    channel: str = "unionpay_qr",
    card_type: str = "debit",
) -> str:
    clock.set(at)
    with db.tx() as c:
        p = create_payment(
            c,
            mid,
            CreatePayment(amount_fen=amount_fen, merchant_order_no=f"s{next(_orders)}", channel=channel),
        )
    done = sim_pay(db, p["id"], outcome="success", payer=Payer("u1", None, card_type))
    assert done["status"] == "succeeded", done
    return p["id"]


def refund(
    db: Database, clock: FixedClock, mid: str, payment_id: str, amount_fen: int, at: dt.datetime
) -> None:
    clock.set(at)
    with db.tx() as c:
        create_refund(c, mid, payment_id, CreateRefund(amount_fen=amount_fen))
    pump_notifications(db, at=at)


def balance(db: Database, account: str) -> int:
    with db.tx() as c:
        return ledger.get_balance(c, account).posted_fen


def verify(db: Database) -> None:
    with db.tx() as c:
        assert ledger.verify(c) == []


def result_file(db: Database, batch_no: str, failed: frozenset[str] = frozenset()) -> bytes:
    """The bank's answer for a batch: every payout paid except the merchants in `failed`."""
    with db.tx() as c:
        rows = c.execute(
            select(settlement_payouts)
            .where(settlement_payouts.c.batch_no == batch_no)
            .order_by(settlement_payouts.c.id)
        ).all()
    return write_payout_results(
        [
            PayoutResult(
                batch_no,
                r.id,
                r.merchant_id,
                "6231000012345678",
                r.account_name,
                r.amount_fen,
                "failed" if r.merchant_id in failed else "paid",
                "账户已销户" if r.merchant_id in failed else "",
            )
            for r in rows
        ]
    )
