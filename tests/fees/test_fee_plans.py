"""Fee plans in the database on both backends: the rule of the business date, classes, waivers, the channel's
cost booked beside the fee, and the operator's API refusing rules that would tie or break the 557 caps."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from tests.settlement.helpers import balance, merchant, pay, sh, verify
from zhifu.core.clock import FixedClock
from zhifu.db import Database
from zhifu.fees import FeeRule, channel_cost, compute_fee, refund_fee_share
from zhifu.fees.service import RuleIn, WaiverIn, create_rule, create_waiver, quote, set_merchant_class
from zhifu.payments import ensure_platform_accounts, payments


def _payment(db: Database, pid: str) -> dict:
    with db.tx() as c:
        return dict(c.execute(select(payments).where(payments.c.id == pid)).one()._mapping)


def test_rule_of_the_business_date_class_and_waiver(db: Database, fixed_clock: FixedClock) -> None:
    with db.tx() as c:
        ensure_platform_accounts(c)
    a, b = merchant(db, 1), merchant(db, 2)
    with db.tx() as c:
        create_rule(c, RuleIn(rate_ppm=6_000, min_fen=10, cap_fen=2_000, effective_from=dt.date(2021, 1, 1)))
        create_rule(
            c,
            RuleIn(
                channel="unionpay_qr",
                card_type="debit",
                merchant_class="public_service",
                rate_ppm=1_000,
                effective_from=dt.date(2021, 1, 1),
            ),
        )
        create_rule(c, RuleIn(rate_ppm=5_000, effective_from=dt.date(2022, 1, 1), note="new year"))
        set_merchant_class(c, b, "public_service")
        create_waiver(
            c,
            a,
            WaiverIn(
                effective_from=dt.date(2022, 2, 1), effective_to=dt.date(2022, 2, 2), campaign_ref="spring"
            ),
        )
    # 23:00 on New Year's Eve is already business date 2022-01-01: the new rule applies
    p1 = pay(db, fixed_clock, a, 10_000, sh(2021, 12, 31, 22, 59, 59))
    p2 = pay(db, fixed_clock, a, 10_000, sh(2021, 12, 31, 23, 0, 0))
    p3 = pay(db, fixed_clock, a, 1_000_000, sh(2021, 12, 30, 10))  # capped
    p4 = pay(db, fixed_clock, a, 100, sh(2021, 12, 30, 10))  # minimum
    p5 = pay(db, fixed_clock, b, 10_000, sh(2022, 1, 5, 10))  # b's class rule is more specific
    p6 = pay(db, fixed_clock, a, 10_000, sh(2022, 2, 1, 10))  # waived
    fees = [_payment(db, p)["fee_fen"] for p in (p1, p2, p3, p4, p5, p6)]
    assert fees == [60, 50, 2_000, 10, 10, 0]
    # the acquirer's cost is kept on the payment and booked as an expense; the receivable is net of it
    cost = channel_cost(10_000, "unionpay_qr", "debit").total_fen
    assert _payment(db, p6)["cost_fen"] == cost == 38
    assert balance(db, "channel_cost") == sum(_payment(db, p)["cost_fen"] for p in (p1, p2, p3, p4, p5, p6))
    total = 10_000 * 4 + 1_000_000 + 100
    assert balance(db, "channel_receivable:unionpay_qr") == total - balance(db, "channel_cost")
    verify(db)
    with db.tx() as c:
        q = quote(c, a, "unionpay_qr", "debit", 10_000, dt.date(2022, 3, 1))
    assert (q["fee_fen"], q["cost_fen"], q["margin_fen"]) == (50, 38, 12)


def test_operator_api_for_fee_rules(platform) -> None:  # type: ignore[no-untyped-def]
    mid, _ = platform.merchant()
    body = {"channel": "wechat", "card_type": "wallet", "rate_ppm": 2_500, "effective_from": "2021-06-01"}
    r = platform.client.post("/v1/fee_rules", json=body, headers=platform.op)
    assert r.status_code == 200 and r.json()["id"].startswith("fee_") and r.json()["rate_ppm"] == 2_500
    again = platform.client.post("/v1/fee_rules", json=body | {"rate_ppm": 2_000}, headers=platform.op)
    assert again.status_code == 409 and again.json()["error"]["code"] == "fee_rule_exists"
    bad = platform.client.post("/v1/fee_rules", json=body | {"card_type": "cash"}, headers=platform.op)
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "card_type"
    bad = platform.client.post(
        "/v1/fee_rules",
        json=body | {"min_fen": 50, "cap_fen": 10, "effective_from": "2021-07-01"},
        headers=platform.op,
    )
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "cap_fen"
    over = platform.client.put(
        "/v1/channel_costs",
        json={
            "channel": "unionpay_qr",
            "card_type": "debit",
            "issuer_rate_ppm": 3_600,
            "issuer_cap_fen": 1_300,
            "network_rate_ppm": 325,
            "network_cap_fen": 325,
        },
        headers=platform.op,
    )
    assert over.status_code == 400 and "557" in over.json()["error"]["message"]
    q = platform.client.get(
        "/v1/fee_quote",
        params={
            "merchant_id": mid,
            "channel": "wechat",
            "card_type": "wallet",
            "amount_fen": 10_000,
            "on": "2021-06-02",
        },
        headers=platform.op,
    )
    assert q.json()["fee_fen"] == 25 and q.json()["cost_fen"] == 20
    missing = platform.client.get(
        "/v1/fee_quote",
        params={"merchant_id": "mch_nope", "channel": "wechat", "card_type": "wallet", "amount_fen": 1},
        headers=platform.op,
    )
    assert missing.status_code == 404


@given(
    amount=st.integers(1, 10**9),
    rate=st.integers(0, 1_000_000),
    min_fen=st.integers(0, 500),
    cap_extra=st.none() | st.integers(0, 10**5),
    cuts=st.lists(st.floats(0.01, 0.99), max_size=8),
)
def test_plan_fees_are_returned_exactly_by_any_refunds(
    amount: int, rate: int, min_fen: int, cap_extra: int | None, cuts: list[float]
) -> None:
    rule = FeeRule("*", "*", "*", rate, min_fen, None if cap_extra is None else min_fen + cap_extra)
    fee = compute_fee(amount, rule)
    points = sorted({0, amount, *(int(amount * c) for c in cuts)})
    returned = refunded = 0
    for lo, hi in zip(points, points[1:], strict=False):
        returned += refund_fee_share(fee, amount, refunded, hi - lo)
        refunded += hi - lo
        assert 0 <= fee - returned <= fee  # what is kept never goes negative
    assert refunded == amount and returned == fee
