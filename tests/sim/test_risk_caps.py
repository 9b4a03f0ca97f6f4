"""The risk actors keep a micro merchant within its caps the way the batch counts them: in time order, a declined
payment refused over the cap too, so the actors' payments never make the batch refuse a day."""

from __future__ import annotations

import datetime as dt
import random
import types

from tests.factories import application
from zhifu.core.clock import SHANGHAI, FixedClock
from zhifu.core.config import get_settings
from zhifu.db import Database
from zhifu.merchants import MerchantApplication, apply, review
from zhifu.payments import ensure_platform_accounts
from zhifu.payments.batch import PaymentSpec, record_payments
from zhifu.sim.risk import Actor, RiskActors

DAY = dt.date(2022, 6, 15)


def _spec(mid: str, order: str, amount: int, hour: float, outcome: str = "success") -> PaymentSpec:
    at = (dt.datetime.combine(DAY, dt.time(), SHANGHAI) + dt.timedelta(hours=hour)).astimezone(dt.UTC)
    return PaymentSpec(
        mid, order, amount, "wechat", "dynamic_code", at, at + dt.timedelta(seconds=9), f"p-{order}", None, "wallet",
        outcome,
    )  # fmt: skip


def test_actor_payments_at_night_never_push_an_honest_decline_over_the_cap(
    db: Database, fixed_clock: FixedClock
) -> None:
    daily_cap = get_settings().micro_daily_cap_fen
    assert daily_cap == 1_000_000
    with db.tx() as c:
        ensure_platform_accounts(c)
        m = apply(
            c,
            MerchantApplication(**application(type="micro", credit_code=None, mcc="5499")),
            at=fixed_clock.now(),
        )
        review(c, m["id"], "approve", at=fixed_clock.now())
    mid = m["id"]
    # the shop's own takings: 945,000 fen of successes by 18:00, then a payer declined for 40,000 at 19:30
    honest = [_spec(mid, f"S{i:03d}", 45_000, 10 + i / 3) for i in range(21)]
    honest.append(_spec(mid, "S999", 40_000, 19.5, "decline_insufficient_funds"))
    # a 跑分 actor's top-ups in the small hours, before any of them
    actor = [_spec(mid, f"R{i:03d}", 5_000, 0.2 + i / 3) for i in range(11)]
    hook = RiskActors(None, 7, 30)
    hook.planned = True
    hook.actors = [Actor("paofen", 0, mid)]
    day = types.SimpleNamespace(index=5, date=DAY, active=[], world=None, rng=random.Random(1))

    kept = sorted(hook.review(day, honest + actor), key=lambda s: s.created_at)

    # every honest payment stays; of the actor's, only what leaves room for the 19:30 decline before the cap
    assert [s.merchant_order_no for s in kept if s.merchant_order_no.startswith("S")] == [
        s.merchant_order_no for s in honest
    ]
    assert [s.merchant_order_no for s in kept if s.merchant_order_no.startswith("R")] == [
        "R000",
        "R001",
        "R002",
    ]
    assert hook.month_used[mid] == ((2022, 6), 945_000 + 15_000)
    with db.tx() as c:  # the platform's own check, in the order the simulator records them, accepts the day
        done = record_payments(c, kept, rng=random.Random(3))
    assert sum(r.amount_fen for r in done if r.status == "succeeded") == 960_000
