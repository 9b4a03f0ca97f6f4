"""Campaigns at payment time, on both backends: the seed's rule, instant discounts held and released, refunds'
clawbacks, versions, caps and abuse flags, reports and payouts; the ledger verifies after every scenario."""

from __future__ import annotations

import pytest

from tests.incentives.helpers import discount_campaign, seed_rule
from zhifu import ledger
from zhifu.fees import channel_cost
from zhifu.incentives import service as incentives


def _verify(platform) -> None:  # type: ignore[no-untyped-def]
    with platform.db.tx() as c:
        assert ledger.verify(c) == []


def _campaign(platform, doc) -> str:  # type: ignore[no-untyped-def]
    r = platform.client.post("/v1/campaigns", json=doc, headers=platform.op)
    assert r.status_code == 200, r.text
    return r.json()["id"]


def _pay(platform, mh, order: str, amount_fen: int, channel: str = "unionpay_qr", **extra):  # type: ignore[no-untyped-def]
    r = platform.client.post(
        "/v1/payments",
        json={"amount_fen": amount_fen, "merchant_order_no": order, "channel": channel, **extra},
        headers=mh,
    )
    assert r.status_code == 200, r.text
    return r.json()


def _sim(
    platform,
    pid: str,
    issuer: str | None = "yiyuan_rcb",
    card_type: str = "debit",
    payer: str = "u1",
    outcome: str = "success",
):  # type: ignore[no-untyped-def]
    r = platform.client.post(
        f"/sim/payments/{pid}/pay",
        json={"outcome": outcome, "payer": {"id": payer, "issuer": issuer, "card_type": card_type}},
    )
    assert r.status_code == 200, r.text
    return r.json()


def _balance(platform, account: str) -> int:  # type: ignore[no-untyped-def]
    with platform.db.tx() as c:
        return ledger.get_balance(c, account).posted_fen


def _budget(platform, cid: str) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    doc = platform.client.get(f"/v1/campaigns/{cid}", headers=platform.op).json()
    return doc["remaining_fen"], doc["reserved_fen"]


def test_seed_rule_under_500_yuan(platform, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    mid, mh = platform.merchant()
    other, oh = platform.merchant()
    cid = _campaign(platform, seed_rule(merchant_ids=[mid]))
    cost = channel_cost(49_999, "unionpay_qr", "debit").total_fen
    subsidy = 100  # 0.2 % of 499.99 yuan, half-up

    ok = _sim(platform, _pay(platform, mh, "s1", 49_999)["id"])
    assert ok["status"] == "succeeded" and ok["fee_fen"] == 0  # fee waived
    at_500 = _sim(platform, _pay(platform, mh, "s2", 50_000)["id"])
    assert at_500["fee_fen"] == 190  # not eligible: the usual 0.38 %
    wechat = _sim(platform, _pay(platform, mh, "s3", 49_999, channel="wechat")["id"], card_type="debit")
    assert wechat["fee_fen"] == 190
    other_bank = _sim(platform, _pay(platform, mh, "s4", 49_999)["id"], issuer="icbc")
    assert other_bank["fee_fen"] == 190
    not_designated = _sim(platform, _pay(platform, oh, "s5", 49_999)["id"])
    assert not_designated["fee_fen"] == 190

    assert _balance(platform, "incentive_payable:yiyuan_rcb") == cost + subsidy
    assert _budget(platform, cid) == (1_000_000 - cost - subsidy, 0)
    rep = platform.client.get(f"/v1/campaigns/{cid}/report", headers=platform.op).json()
    assert {r["key"]: r["spent_fen"] for r in rep["by_kind"]} == {
        "cost_refund": cost,
        "subsidy": subsidy,
        "fee_waiver": 0,
    }
    assert rep["spent_fen"] == cost + subsidy and rep["payers_reached"] == 1
    assert [r["key"] for r in rep["by_merchant"]] == [mid] and [r["key"] for r in rep["by_town"]] == [
        "370323002"
    ]
    assert rep["by_day"] == [{"key": "2022-06-15", "spent_fen": cost + subsidy, "payments": 1}]
    # the settlement run pays the accruals out to the acquirer
    with platform.db.tx() as c:
        assert incentives.pay_out_accruals(c) == [{"acquirer_id": "yiyuan_rcb", "amount_fen": cost + subsidy}]
        assert incentives.pay_out_accruals(c) == []
    assert _balance(platform, "incentive_payable:yiyuan_rcb") == 0
    eff = platform.client.get(f"/v1/campaigns/{cid}/effect?days=30", headers=platform.op).json()
    assert eff["campaign_merchants"]["merchants"] == 1 and eff["other_merchants"]["merchants"] == 1
    assert eff["campaign_merchants"]["after_per_merchant_day"] == round(4 / 30, 3)
    _verify(platform)


def test_instant_discount_held_posted_and_released(platform, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    mid, mh = platform.merchant()
    cid = _campaign(platform, discount_campaign())
    p = _pay(platform, mh, "d1", 10_000, payer={"id": "u1"})
    assert (p["amount_fen"], p["discount_fen"], p["payable_fen"]) == (10_000, 100, 9_900)
    assert _budget(platform, cid) == (99_900, 100)  # reserved by a hold
    done = _sim(platform, p["id"])
    assert done["status"] == "succeeded" and done["discount_fen"] == 100
    assert _budget(platform, cid) == (99_900, 0)
    assert _balance(platform, f"merchant_payable:{mid}") == 10_000 - 38  # the merchant gets the full price

    failed = _pay(platform, mh, "d2", 10_000, payer={"id": "u2"})
    assert _budget(platform, cid) == (99_800, 100)
    assert _sim(platform, failed["id"], outcome="decline_insufficient_funds")["status"] == "failed"
    assert _budget(platform, cid) == (99_900, 0)

    closed = _pay(platform, mh, "d3", 10_000, payer={"id": "u3"})
    r = platform.client.post(f"/v1/payments/{closed['id']}/close", headers=mh)
    assert r.json()["status"] == "closed"
    assert _budget(platform, cid) == (99_900, 0)

    from zhifu.workers import run_once

    expiring = _pay(platform, mh, "d4", 10_000, payer={"id": "u4"}, expires_in_s=60)
    assert _budget(platform, cid) == (99_800, 100)
    fixed_clock.advance(seconds=120)
    run_once(platform.db)
    assert platform.client.get(f"/v1/payments/{expiring['id']}", headers=mh).json()["status"] == "expired"
    assert _budget(platform, cid) == (99_900, 0)
    _verify(platform)


def test_refunds_claw_back_in_proportion(platform, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    mid, mh = platform.merchant()
    cid = _campaign(
        platform, discount_campaign(discount={"probability_ppm": 1_000_000, "min_fen": 333, "max_fen": 333})
    )
    p = _pay(platform, mh, "r1", 10_000, payer={"id": "u1"})
    _sim(platform, p["id"])
    assert _budget(platform, cid) == (100_000 - 333, 0)
    for amount in (3_333, 1, 3_333, 3_333):
        r = platform.client.post(f"/v1/payments/{p['id']}/refunds", json={"amount_fen": amount}, headers=mh)
        assert r.status_code == 200, r.text
        from tests.rails_support import pump as pump_notifications

        pump_notifications(platform.db)
    got = platform.client.get(f"/v1/payments/{p['id']}", headers=mh).json()
    assert got["refunded_fen"] == 10_000
    assert _budget(platform, cid) == (100_000, 0)  # every fen of the discount came back
    assert _balance(platform, f"merchant_payable:{mid}") == 0
    _verify(platform)


def test_too_small_refund_after_a_large_discount(platform, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    mid, mh = platform.merchant()
    _campaign(
        platform, discount_campaign(discount={"probability_ppm": 1_000_000, "min_fen": 900, "max_fen": 900})
    )
    p = _pay(platform, mh, "r1", 1_000, payer={"id": "u1"})
    _sim(platform, p["id"])
    r = platform.client.post(f"/v1/payments/{p['id']}/refunds", json={"amount_fen": 1}, headers=mh)
    assert r.status_code == 400 and r.json()["error"]["code"] == "refund_too_small"
    assert platform.client.get(f"/v1/payments/{p['id']}", headers=mh).json()["refunded_fen"] == 0
    _verify(platform)


def test_payments_keep_the_version_they_were_priced_with(platform, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    mid, mh = platform.merchant()
    doc = discount_campaign()
    doc["rules"].update(subsidy_ppm=2_000)
    cid = _campaign(platform, doc)
    first = _pay(platform, mh, "v1", 10_000, payer={"id": "u1"})
    fixed_clock.advance(seconds=1)
    new = {
        **doc["rules"],
        "subsidy_ppm": 5_000,
        "discount": {"probability_ppm": 1_000_000, "min_fen": 200, "max_fen": 200},
    }
    assert (
        platform.client.post(f"/v1/campaigns/{cid}/versions", json=new, headers=platform.op).json()["version"]
        == 2
    )
    fixed_clock.advance(seconds=1)
    second = _pay(platform, mh, "v2", 10_000, payer={"id": "u2"})
    assert first["discount_fen"] == 100 and second["discount_fen"] == 200
    _sim(platform, first["id"], payer="u1")
    _sim(platform, second["id"], payer="u2")
    with platform.db.tx() as c:
        from sqlalchemy import select

        from zhifu.incentives.models import campaign_awards
        from zhifu.payments import payments

        refs = {r.id: r.campaign_ref for r in c.execute(select(payments.c.id, payments.c.campaign_ref))}
        subs = {(a.payment_id, a.kind): (a.version, a.amount_fen) for a in c.execute(select(campaign_awards))}
    assert refs == {first["id"]: f"{cid}:v1", second["id"]: f"{cid}:v2"}
    assert subs[(first["id"], "subsidy")] == (1, 20) and subs[(second["id"], "subsidy")] == (2, 50)
    _verify(platform)


def test_budget_and_caps_give_what_is_left_and_flag_splitting(platform, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    mid, mh = platform.merchant()
    cid = _campaign(
        platform, discount_campaign(budget_fen=1_000, per_payer_day_fen=250, per_payer_day_count=5)
    )
    got = [_pay(platform, mh, f"c{i}", 5_000, payer={"id": "splitter"})["discount_fen"] for i in range(4)]
    assert got == [100, 100, 50, 0]  # the payer's day cap of 250, the last fen of it given
    flags = platform.client.get(f"/v1/campaigns/flags?campaign_id={cid}", headers=platform.op).json()["data"]
    assert {f["kind"] for f in flags} == {"split_purchase", "cap_reached"}
    assert all(f["payer_key"] == "splitter" and f["merchant_id"] == mid for f in flags)
    assert _pay(platform, mh, "anon", 5_000)["discount_fen"] == 0  # a per-payer cap needs a known payer
    others = [_pay(platform, mh, f"o{i}", 5_000, payer={"id": f"p{i}"})["discount_fen"] for i in range(9)]
    assert others == [100] * 7 + [50, 0]  # the budget of 1,000: exactly what was left is given
    assert _budget(platform, cid) == (0, 1_000)
    fixed_clock.advance(days=1)  # a new day: the payer's cap starts again, but the budget is spent
    assert _pay(platform, mh, "next", 5_000, payer={"id": "splitter"})["discount_fen"] == 0
    _verify(platform)


def test_merchant_day_cap_and_new_payers_only(platform, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    mid, mh = platform.merchant()
    _campaign(platform, discount_campaign(per_merchant_day_fen=150, new_payers_only=True))
    first = _pay(platform, mh, "n1", 5_000, payer={"id": "new1"})
    assert first["discount_fen"] == 100
    _sim(platform, first["id"], payer="new1")
    assert _pay(platform, mh, "n2", 5_000, payer={"id": "new1"})["discount_fen"] == 0  # no longer new
    assert _pay(platform, mh, "n3", 5_000, payer={"id": "new2"})["discount_fen"] == 50  # merchant's day cap
    assert _pay(platform, mh, "n4", 5_000, payer={"id": "new3"})["discount_fen"] == 0
    _verify(platform)


def test_payer_hint_is_validated(platform) -> None:  # type: ignore[no-untyped-def]
    mid, mh = platform.merchant()
    r = platform.client.post(
        "/v1/payments",
        json={
            "amount_fen": 100,
            "merchant_order_no": "h1",
            "channel": "unionpay_qr",
            "payer": {"card_type": "gold"},
        },
        headers=mh,
    )
    assert r.status_code == 400 and r.json()["error"]["param"] == "payer.card_type"


@pytest.mark.parametrize("issuer", ["yiyuan_rcb"])
def test_pay_code_with_discount_succeeds_at_once(platform, fixed_clock, issuer: str) -> None:  # type: ignore[no-untyped-def]
    mid, mh = platform.merchant()
    cid = _campaign(
        platform, seed_rule(discount={"probability_ppm": 1_000_000, "min_fen": 50, "max_fen": 50})
    )
    p = platform.client.post(
        "/v1/payments",
        json={
            "amount_fen": 10_000,
            "merchant_order_no": "pc1",
            "auth_code": "6212345678901234561",
            "payer": {"id": "u1", "issuer": issuer},
        },
        headers=mh,
    ).json()
    assert (p["status"], p["discount_fen"], p["payable_fen"], p["fee_fen"]) == ("succeeded", 50, 9_950, 0)
    assert _budget(platform, cid)[1] == 0
    _verify(platform)


def test_paused_and_ended_campaigns_give_nothing(platform, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    mid, mh = platform.merchant()
    cid = _campaign(platform, discount_campaign())
    platform.client.post(f"/v1/campaigns/{cid}/pause", headers=platform.op)
    assert _pay(platform, mh, "p1", 5_000, payer={"id": "u1"})["discount_fen"] == 0
    platform.client.post(f"/v1/campaigns/{cid}/resume", headers=platform.op)
    held = _pay(platform, mh, "p2", 5_000, payer={"id": "u1"})
    assert held["discount_fen"] == 100
    ended = platform.client.post(f"/v1/campaigns/{cid}/end", headers=platform.op).json()
    assert ended["remaining_fen"] == 0 and ended["reserved_fen"] == 100  # the pending hold stays reserved
    assert _pay(platform, mh, "p3", 5_000, payer={"id": "u2"})["discount_fen"] == 0
    assert _sim(platform, held["id"])["status"] == "succeeded"  # a discount already given is honoured
    assert _balance(platform, f"merchant_payable:{mid}") == 5_000 - 19
    _verify(platform)


def test_late_success_after_the_hold_lapsed_is_still_honoured(platform, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    from zhifu.workers import run_once

    mid, mh = platform.merchant()
    cid = _campaign(platform, discount_campaign(budget_fen=100))
    p = _pay(platform, mh, "late", 10_000, payer={"id": "u1"}, expires_in_s=60)
    assert p["discount_fen"] == 100
    r = platform.client.post(f"/sim/payments/{p['id']}/pay", json={"outcome": "timeout"})  # paid, notice lost
    assert r.status_code == 200 and r.json()["status"] == "created"  # we have not heard yet
    fixed_clock.advance(days=2)
    with platform.db.tx() as c:
        ledger.expire_holds(c)  # the hold lapses first: its 100 fen are free again
    taker = _pay(platform, mh, "taker", 10_000, payer={"id": "u2"})
    assert taker["discount_fen"] == 100  # and another payment takes them
    run_once(platform.db)  # the sweeper finds the rail paid the first one
    got = platform.client.get(f"/v1/payments/{p['id']}", headers=mh).json()
    assert got["status"] == "succeeded" and got["discount_fen"] == 100
    assert (
        _balance(platform, f"merchant_payable:{mid}") == 10_000 - 38
    )  # the merchant still gets the full price
    assert (
        _balance(platform, "campaign_shortfall") == 100
    )  # the budget could not cover it: the acquirer's cost
    assert _budget(platform, cid) == (0, 100)
    _verify(platform)


def test_refunds_take_back_cost_refund_and_subsidy_even_after_payout(platform, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    from tests.rails_support import pump as pump_notifications
    from zhifu.fees import refund_fee_share

    mid, mh = platform.merchant()
    cid = _campaign(platform, seed_rule(merchant_ids=[mid]))
    cost = channel_cost(49_999, "unionpay_qr", "debit").total_fen
    accrued = cost + 100  # cost refunded + 0.2 % subsidy
    p = _pay(platform, mh, "a1", 49_999)
    _sim(platform, p["id"])
    assert _balance(platform, "incentive_payable:yiyuan_rcb") == accrued

    def refund(amount: int) -> None:
        r = platform.client.post(f"/v1/payments/{p['id']}/refunds", json={"amount_fen": amount}, headers=mh)
        assert r.status_code == 200, r.text
        pump_notifications(platform.db)

    refund(16_666)  # a third: a third of each accrual comes back to the budget
    first = refund_fee_share(cost, 49_999, 0, 16_666) + refund_fee_share(100, 49_999, 0, 16_666)
    assert 0 < first < accrued
    assert _budget(platform, cid) == (1_000_000 - accrued + first, 0)
    assert _balance(platform, "incentive_payable:yiyuan_rcb") == accrued - first
    with platform.db.tx() as c:  # the settlement run pays out what is still owed
        assert incentives.pay_out_accruals(c) == [
            {"acquirer_id": "yiyuan_rcb", "amount_fen": accrued - first}
        ]
    refund(33_333)  # the rest: every fen of the accruals is back, the acquirer now owes what it was paid
    assert _budget(platform, cid) == (1_000_000, 0)
    assert _balance(platform, "incentive_payable:yiyuan_rcb") == -(accrued - first)
    with platform.db.tx() as c:
        assert incentives.pay_out_accruals(c) == []  # nothing owed: the next payout is net of the debt
    rep = platform.client.get(f"/v1/campaigns/{cid}/report", headers=platform.op).json()
    assert rep["spent_fen"] == 0
    assert {r["key"]: r["spent_fen"] for r in rep["by_kind"]} == {
        "cost_refund": 0,
        "subsidy": 0,
        "fee_waiver": 0,
    }
    _verify(platform)
