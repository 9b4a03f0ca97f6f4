"""投诉 in the simulated county: consumers complain about real payments of the simulated history (double
charges, failed payments with money taken, slow refunds), about a merchant refusing 云闪付, about fees; handlers
acknowledge, refund through maker-checker, extend, decide, and some let the clock run out, so the workbench, the
regulator's page and the dashboard's 投诉按时办结率 are alive in `make demo`. Deterministic from the seed."""

from __future__ import annotations

import datetime as dt
import random
import secrets
from typing import Any

from zhifu.core import clock
from zhifu.core.clock import SHANGHAI
from zhifu.core.money import fen_to_yuan_str

COMPLAINTS_PER_DAY = 1.2  # a county of 550,000 people sends a complaint or two a day about payments
HISTORY_DAYS = 40
MAKERS = ("desk-zhang", "desk-li")  # two handlers: one proposes refunds, the other approves


def _day_payments(conn: Any, day: dt.date, status: str) -> list[dict[str, Any]]:
    from zhifu.payments import list_payments

    start = dt.datetime.combine(day, dt.time(), SHANGHAI)
    rows, _ = list_payments(
        conn, None, status=status, created_gte=start, created_lt=start + dt.timedelta(days=1), limit=50
    )
    return rows


def _phone(rng: random.Random) -> str:
    return f"1{rng.choice('3578')}{rng.randrange(10**9):09d}"


def _life(
    db: Any,
    cid: str,
    filed: dt.datetime,
    now: dt.datetime,
    rng: random.Random,
    payment: dict[str, Any] | None,
) -> str:
    """Work one complaint as a handler would; returns how it ended."""
    from zhifu import complaints as svc

    ack_at = filed + dt.timedelta(hours=rng.uniform(1, 30))
    if ack_at > now:
        return "waiting"
    fate = rng.random()
    if fate < 0.08:
        return "left"  # nobody picked it up: the sweep flags it and escalates it when the clock runs out
    db.run(lambda c: svc.respond(c, cid, "您的投诉已受理，我们正在核实。", actor=MAKERS[0], at=ack_at))
    decide_at = ack_at + dt.timedelta(days=rng.uniform(0.5, 13))
    if fate < 0.16:
        decide_at += dt.timedelta(days=rng.uniform(4, 10))  # late: decided after its deadline
    if rng.random() < 0.1 and decide_at < now:
        db.run(
            lambda c: svc.extend(
                c, cid, 15, "需向发卡行调取交易记录", actor=MAKERS[0], at=ack_at + dt.timedelta(hours=2)
            )
        )
    if decide_at > now:
        return "in_hand"
    if payment is not None and payment["status"] == "succeeded" and rng.random() < 0.6:
        left = payment["amount_fen"] - payment["refunded_fen"]
        if left > 0:
            db.run(
                lambda c: svc.propose_refund(
                    c,
                    cid,
                    payment["id"],
                    left,
                    actor=MAKERS[0],
                    note="核实属实",
                    at=decide_at - dt.timedelta(hours=3),
                )
            )
            db.run(
                lambda c: svc.approve_refund(c, cid, 1, actor=MAKERS[1], at=decide_at - dt.timedelta(hours=1))
            )
            db.run(
                lambda c: svc.decide(
                    c,
                    cid,
                    "monetary_relief",
                    f"经核实，已退回 {fen_to_yuan_str(left)} 元。",
                    actor=MAKERS[1],
                    at=decide_at,
                )
            )
            return "refunded"
    db.run(
        lambda c: svc.decide(
            c, cid, "explanation", "经核实，交易正常，已向您说明情况。", actor=MAKERS[1], at=decide_at
        )
    )
    return "explained"


def demo_complaints(
    db: Any, today: dt.date, seed: int, *, now: dt.datetime | None = None, login: bool = True
) -> list[tuple[str, str, str]]:
    """File and work the last weeks' complaints on the simulated history; returns the complaints desk's login
    (role, username, password) for the demo's banner."""
    from zhifu import complaints as svc
    from zhifu.complaints import MemorySender, set_sender
    from zhifu.console import create_user
    from zhifu.core.errors import ZhifuError
    from zhifu.merchants import list_merchants

    rng = random.Random(seed * 7919 + 22)
    now = now or clock.now()
    ended: dict[str, int] = {}
    with db.read() as conn:
        shops, _ = list_merchants(conn, status="active", limit=50)
    for back in range(HISTORY_DAYS, 0, -1):
        day = today - dt.timedelta(days=back)
        for _ in range(int(COMPLAINTS_PER_DAY) + (rng.random() < COMPLAINTS_PER_DAY % 1)):
            filed = dt.datetime.combine(day, dt.time(8), SHANGHAI) + dt.timedelta(
                minutes=rng.randrange(13 * 60)
            )
            kind = rng.choices(
                [
                    "double_charge",
                    "payment_failed_money_taken",
                    "refund_not_received",
                    "merchant_refuses_smart_pay",
                    "fees",
                    "discount_not_given",
                ],
                [4, 3, 2, 2, 1, 1],
            )[0]
            with db.read() as conn:
                pool = _day_payments(
                    conn, day, "failed" if kind == "payment_failed_money_taken" else "succeeded"
                )
            payment = (
                rng.choice(pool) if pool and kind not in ("merchant_refuses_smart_pay", "fees") else None
            )
            req = svc.FileComplaint(
                phone=_phone(rng),
                category=kind,
                narrative={
                    "double_charge": "同一笔消费被扣了两次款。",
                    "payment_failed_money_taken": "页面显示支付失败，但银行卡已扣款。",
                    "refund_not_received": "商户说已退款，一周了还没到账。",
                    "fees": "商户说刷卡要加收手续费。",
                    "merchant_refuses_smart_pay": "店里只收现金和微信，拒收云闪付。",
                    "discount_not_given": "活动说随机立减，但没有减。",
                }[kind],
                narrative_consent=rng.random() < 0.4,
                payment_id=payment["id"] if payment else None,
                merchant_id=None if payment else (rng.choice(shops)["id"] if shops else None),
            )
            source = rng.choice(["public_page", "public_page", "phone", "merchant_portal"])
            try:
                doc = db.run(
                    lambda c, r=req, s=source, t=filed: svc.file_complaint(c, r, source=s, actor="sim", at=t)
                )
            except ZhifuError:
                continue  # e.g. a complaint about a shop with none to name: the person gives up
            if doc["linked_to_existing"]:
                continue
            try:
                how = _life(db, doc["id"], filed, now, rng, payment)
            except ZhifuError:
                how = "stuck"
            ended[how] = ended.get(how, 0) + 1
    db.run(lambda c: svc.sweep(c))  # reminders, missed acknowledgements, escalation of what ran out
    quiet = MemorySender()  # the history's texts count as sent; the live server prints only new ones
    old = set_sender(quiet)
    try:
        while svc.deliver_messages(db)["sent"]:
            pass
    finally:
        set_sender(old)
    if not login:
        return []
    password = secrets.token_urlsafe(9)
    with db.tx() as conn:
        create_user(conn, "complaints", "complaints", password, display_name="演示 投诉处理")
    return [("complaints", "complaints", password)]
