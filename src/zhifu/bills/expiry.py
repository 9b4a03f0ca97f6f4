"""账单过期 / Bill expiry: an unpaid or partly paid bill past its due date and the biller's grace days becomes
`expired`. Its late fee, where the bill has a rule, is fixed at expiry on what was left unpaid (the daily ppm
from the due date to the last day of grace); no payment is taken on it afterwards, online or at the counter:
the biller settles it with the payer in its own hall. A bill with a payment still in progress waits for the
next pass, so a payment is never cut off mid-way."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, and_, select, update

from zhifu.bills.models import BillStatus, billers, bills
from zhifu.core import clock
from zhifu.core.clock import SHANGHAI
from zhifu.core.errors import ConflictError
from zhifu.core.money import ppm_of

OPEN = (BillStatus.UNPAID.value, BillStatus.PARTIALLY_PAID.value)
BATCH = 1_000


def last_payable_day(due_date: dt.date, grace_days: int) -> dt.date:
    return due_date + dt.timedelta(days=grace_days)


def late_fee_at_expiry(bill: Any, grace_days: int) -> int:
    """The late fee a bill carries when it expires: its daily ppm over the grace days on what is left."""
    if not bill.late_fee_ppm_per_day or grace_days <= 0:
        return 0
    left = (
        bill.amount_due_fen + bill.late_fee_fen - bill.credit_applied_fen - bill.paid_fen - bill.reserved_fen
    )
    return ppm_of(max(0, left), bill.late_fee_ppm_per_day * grace_days)


def refuse_if_expired(b: Any, bill: Any, at: dt.datetime) -> None:
    """A bill past its last payable day cannot be paid, even before the expiry pass has marked it."""
    last = last_payable_day(bill.due_date, b.grace_days)
    if at.astimezone(SHANGHAI).date() > last:
        raise ConflictError(
            f"账单 {bill.bill_no} 已过缴费期限（到期日 {bill.due_date}，宽限至 {last}），请到{b.name}营业厅办理 / "
            f"bill {bill.bill_no} expired: due {bill.due_date}, payable until {last}; settle it at the biller",
            param="bill_id",
            code="bill_expired",
        )


def expire_bills(conn: Connection, *, at: dt.datetime | None = None, limit: int = BATCH) -> dict[str, Any]:
    """Mark open bills past due date + grace as expired, fixing their late fee; at most `limit` a call."""
    at = at or clock.now()
    today = at.astimezone(SHANGHAI).date()
    expired = late_total = waiting = 0
    for b in conn.execute(select(billers).where(billers.c.adhoc.is_(False)).order_by(billers.c.id)).all():
        cutoff = today - dt.timedelta(
            days=b.grace_days
        )  # due before or on this day: past the last payable day
        rows = conn.execute(
            select(bills)
            .where(
                and_(
                    bills.c.merchant_id == b.merchant_id,
                    bills.c.status.in_(OPEN),
                    bills.c.due_date < cutoff,
                )
            )
            .order_by(bills.c.due_date, bills.c.id)
            .limit(limit - expired)
        ).all()
        for r in rows:
            if r.open_payments:
                waiting += 1
                continue
            fee = late_fee_at_expiry(r, b.grace_days)
            res = conn.execute(
                update(bills)
                .where(
                    and_(
                        bills.c.merchant_id == r.merchant_id,
                        bills.c.id == r.id,
                        bills.c.status.in_(OPEN),
                        bills.c.open_payments == 0,
                        bills.c.paid_fen == r.paid_fen,
                    )
                )
                .values(status=BillStatus.EXPIRED.value, late_fee_fen=r.late_fee_fen + fee, updated_at=at)
            )
            if res.rowcount == 1:
                expired += 1
                late_total += fee
        if expired >= limit:
            break
    return {
        "object": "bill_expiry",
        "date": today,
        "expired": expired,
        "late_fee_fen": late_total,
        "waiting": waiting,
    }


_last_day: dict[int, dt.date] = {}


def expire_daily(db: Any) -> int:
    """The background step: one full pass per business day per database (bills expire by the day)."""
    today = clock.now().astimezone(SHANGHAI).date()
    if _last_day.get(id(db)) == today:
        return 0
    total = 0
    while True:
        out = db.run(lambda c: expire_bills(c))
        total += out["expired"]
        if out["expired"] < BATCH:
            break
    _last_day[id(db)] = today
    return total
