"""The ledger's idempotency keys keep the shapes entries were booked under: a changed shape would book twice."""

from __future__ import annotations

import datetime as dt

from zhifu.ledger import keys


def test_key_shapes_are_stable() -> None:
    assert keys.payment_success("pay_1") == "pay:pay_1:success"
    assert keys.refund_success("re_1") == "refund:re_1:success"
    assert keys.settlement_payout(dt.date(2026, 3, 1), "mch_1") == "settle:2026-03-01:mch_1"
    assert keys.settlement_result("returned", "po_1") == "settle:returned:po_1"
    assert keys.bill_success("pay_2") == "bill:pay_2:success"
    assert keys.bill_refund("pay_2") == "bill:pay_2:refund"
    assert keys.biller_settlement("blr_1", dt.date(2026, 3, 1)) == "bsettle:blr_1:2026-03-01"
    assert keys.campaign_funding("cmp_1", 500, 100) == "cmp:cmp_1:fund:500:100"
    assert keys.campaign_return("cmp_1") == "cmp:cmp_1:return"
    assert keys.campaign_discount("pay_3") == "cmp:pay_3:discount"
    assert keys.campaign_late_discount("pay_3") == "cmp:pay_3:discount:late"
    assert keys.campaign_accrual("pay_3", "cmp_1") == "cmp:pay_3:accrual:cmp_1"
    assert keys.campaign_clawback("re_3", "cmp_1", "subsidy") == "cmp:re_3:clawback:cmp_1:subsidy"
    assert keys.incentive_payout("bank_a", dt.date(2026, 3, 1)) == "incentive_payout:bank_a:2026-03-01"
    assert keys.recon_adjustment("case_1", "credit_merchant") == "recon:case_1:credit_merchant"
    assert keys.risk_freeze("rc_1") == "risk:rc_1:freeze"
    assert keys.rural_funding("mch_1", "ref-9") == "rural:fund:mch_1:ref-9"
    assert keys.rural_payout_batch("mch_1", "rpb_1") == "rural:batch:mch_1:rpb_1"
    assert keys.rural_payout_line("mch_1", "rpb_1", 7, 2) == "rural:payout:mch_1:rpb_1:7:2"
    assert keys.rural_payout_return("mch_1", "rpb_1", 7) == "rural:return:mch_1:rpb_1:7"
    assert keys.rural_eaccount("deposit", "ea_1", "ref-9") == "rural:deposit:ea_1:ref-9"
    assert keys.rural_service_point("spt_1") == "rural:point:spt_1"


def test_settlement_prefixes_tell_trading_and_payouts_apart() -> None:
    trading = [keys.payment_success("pay_1"), keys.refund_success("re_1")]
    payouts = [keys.settlement_payout(dt.date(2026, 3, 1), "mch_1"), keys.settlement_result("paid", "po_1")]
    others = [
        keys.bill_success("pay_2"),
        keys.campaign_accrual("pay_3", "cmp_1"),
        keys.recon_adjustment("c", "a"),
    ]
    assert all(k.startswith(keys.TRADING_PREFIXES) for k in trading)
    assert all(
        k.startswith(keys.SETTLEMENT_PREFIX) and not k.startswith(keys.TRADING_PREFIXES) for k in payouts
    )
    assert not any(k.startswith((*keys.TRADING_PREFIXES, keys.SETTLEMENT_PREFIX)) for k in others)
