"""资金变动分录 / The pure builders of each money movement's legs: they balance, and a wrong figure fails where the
entry is built."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zhifu.core.money import ppm_of
from zhifu.fees import refund_fee_share
from zhifu.ledger import accounts, movements
from zhifu.ledger.errors import InvalidLegAmount, UnbalancedEntry
from zhifu.ledger.models import Leg, cr, dr


def _net(legs: tuple[Leg, ...]) -> dict[str, int]:
    """Each account's debit − credit."""
    out: dict[str, int] = {}
    for leg in legs:
        out[leg.account] = out.get(leg.account, 0) + (leg.amount_fen if leg.side == "D" else -leg.amount_fen)
    return out


def test_payment_success_books_fee_cost_and_discount() -> None:
    legs = movements.payment_success(
        channel="unionpay_qr",
        merchant_id="mch_1",
        amount_fen=10_000,
        fee_fen=38,
        cost_fen=20,
        discount_fen=500,
        discount_from=accounts.campaign_clearing("cmp_1"),
    )
    assert legs == (
        dr("channel_receivable:unionpay_qr", 9_480),
        cr("merchant_payable:mch_1", 9_962),
        dr("channel_cost", 20),
        cr("fee_income", 38),
        dr("campaign_clearing:cmp_1", 500),
    )


def test_payment_success_whose_cost_takes_all_has_no_receivable() -> None:
    legs = movements.payment_success(channel="wechat", merchant_id="m", amount_fen=5, fee_fen=0, cost_fen=5)
    assert legs == (cr("merchant_payable:m", 5), dr("channel_cost", 5))


def test_refund_success_returns_discount_share_to_its_budget() -> None:
    legs = movements.refund_success(
        channel="alipay",
        merchant_id="mch_1",
        amount_fen=1_000,
        fee_back_fen=4,
        to_payer_fen=950,
        clawback_to=accounts.campaign_budget("cmp_1"),
        clawback_fen=50,
    )
    assert legs == (
        cr("channel_receivable:alipay", 950),
        cr("campaign_budget:cmp_1", 50),
        dr("merchant_payable:mch_1", 996),
        dr("fee_income", 4),
    )


def test_refund_whose_parts_do_not_make_its_amount_is_refused() -> None:
    with pytest.raises(
        UnbalancedEntry, match=r"refund success does not balance: debits 1000 fen, credits 990"
    ):
        movements.refund_success(
            channel="alipay", merchant_id="m", amount_fen=1_000, fee_back_fen=0, to_payer_fen=990
        )


def test_discount_without_its_account_is_refused() -> None:
    with pytest.raises(UnbalancedEntry, match="needs the account it comes from"):
        movements.payment_success(
            channel="alipay", merchant_id="m", amount_fen=1_000, fee_fen=0, cost_fen=0, discount_fen=10
        )


def test_fee_above_the_amount_is_refused_where_built() -> None:
    with pytest.raises(InvalidLegAmount, match="payment success: leg C merchant_payable:m"):
        movements.payment_success(channel="alipay", merchant_id="m", amount_fen=100, fee_fen=101, cost_fen=0)


@pytest.mark.parametrize("amount", [0, -5, 1.5, True])
def test_settlement_payout_needs_positive_integer_fen(amount: object) -> None:
    with pytest.raises(InvalidLegAmount, match="settlement payout"):
        movements.settlement_payout(merchant_id="m", amount_fen=amount)  # type: ignore[arg-type]


def test_settlement_result_paid_goes_to_bank_failed_back_to_merchant() -> None:
    assert movements.settlement_result(outcome="paid", merchant_id="m", amount_fen=7) == (
        dr("settlement_in_transit", 7),
        cr("bank", 7),
    )
    assert movements.settlement_result(outcome="failed", merchant_id="m", amount_fen=7) == (
        dr("settlement_in_transit", 7),
        cr("merchant_payable:m", 7),
    )


def test_campaign_award_and_its_clawback_cancel() -> None:
    award = movements.campaign_award(campaign_id="c", acquirer_id="bank_a", amount_fen=30)
    back = movements.campaign_award_clawback(campaign_id="c", acquirer_id="bank_a", amount_fen=30)
    net = _net(award)
    for account, v in _net(back).items():
        net[account] += v
    assert net == {"campaign_budget:c": 0, "incentive_payable:bank_a": 0}
    assert movements.campaign_funding(campaign_id="c", funder="county_finance", amount_fen=9) == (
        dr("campaign_funder:county_finance", 9),
        cr("campaign_budget:c", 9),
    )


def test_balanced_refuses_a_single_leg() -> None:
    with pytest.raises(UnbalancedEntry, match="in 1 legs"):
        movements.balanced("x", [dr("bank", 1)])


@st.composite
def _payment_and_refunds(draw: st.DrawFn) -> tuple[int, int, int, int, list[int]]:
    amount = draw(st.integers(1, 10**10))
    fee = ppm_of(amount, draw(st.integers(0, 60_000)))
    discount = draw(st.integers(0, amount - 1))
    cost = draw(st.integers(0, amount - discount))
    refunds, left = [], amount
    for _ in range(draw(st.integers(0, 4))):
        if left == 0:
            break
        part = draw(st.integers(1, left))
        refunds.append(part)
        left -= part
    return amount, fee, discount, cost, refunds


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_payment_and_refunds(), st.sampled_from(["unionpay_qr", "wechat", "alipay"]))
def test_a_payment_and_its_refunds_always_balance_and_undo_the_merchant(
    case: tuple[int, int, int, int, list[int]], channel: str
) -> None:
    """Any payment (fee, cost, discount) balances; its refunds, each with its fee and discount shares, balance
    too, and once all of it is refunded the merchant and fee income are back where they started."""
    amount, fee, discount, cost, parts = case
    if fee >= amount:  # a fee never takes all of a payment
        return
    clearing, budget = accounts.campaign_clearing("c"), accounts.campaign_budget("c")
    legs = movements.payment_success(
        channel=channel,
        merchant_id="m",
        amount_fen=amount,
        fee_fen=fee,
        cost_fen=cost,
        discount_fen=discount,
        discount_from=clearing if discount else None,
    )
    assert all(leg.amount_fen > 0 for leg in legs)
    net = _net(legs)
    refunded = fee_back_total = 0
    for part in parts:
        fee_back = refund_fee_share(fee, amount, refunded, part)
        share = refund_fee_share(discount, amount, refunded, part)
        if part - share <= 0:  # the service refuses a refund that returns nothing to the payer
            return
        refunded += part
        fee_back_total += fee_back
        for account, v in _net(
            movements.refund_success(
                channel=channel,
                merchant_id="m",
                amount_fen=part,
                fee_back_fen=fee_back,
                to_payer_fen=part - share,
                clawback_to=budget if share else None,
                clawback_fen=share,
            )
        ).items():
            net[account] = net.get(account, 0) + v
    assert sum(net.values()) == 0
    if refunded == amount:
        assert net.get(accounts.merchant_payable("m"), 0) == 0
        assert net.get(accounts.FEE_INCOME, 0) == 0
        assert fee_back_total == fee


def test_reconciliation_movements_and_reversal() -> None:
    assert movements.unexplained(channel="wechat", diff_fen=30) == (
        dr("channel_receivable:wechat", 30),
        cr("suspense", 30),
    )
    assert movements.unexplained(channel="wechat", diff_fen=-30) == (
        dr("suspense", 30),
        cr("channel_receivable:wechat", 30),
    )
    assert movements.channel_cost_difference(channel="alipay", diff_fen=2) == (
        dr("channel_cost", 2),
        cr("channel_receivable:alipay", 2),
    )
    assert movements.channel_cost_difference(channel="alipay", diff_fen=-2) == (
        dr("channel_receivable:alipay", 2),
        cr("channel_cost", 2),
    )
    with pytest.raises(InvalidLegAmount, match="suspense"):
        movements.unexplained(channel="wechat", diff_fen=0)
    paid = movements.payment_success(channel="nfc", merchant_id="m", amount_fen=100, fee_fen=1, cost_fen=2)
    undone = movements.reversal("payment success", paid)
    assert {leg.account for leg in undone} == {leg.account for leg in paid}
    net = _net(paid)
    for account, v in _net(undone).items():
        net[account] += v
    assert set(net.values()) == {0}


def test_campaign_late_discount_takes_what_the_budget_has_and_books_the_rest_as_shortfall() -> None:
    assert movements.campaign_late_discount(campaign_id="c", discount_fen=300, from_budget_fen=120) == (
        cr("campaign_clearing:c", 300),
        dr("campaign_budget:c", 120),
        dr("campaign_shortfall", 180),
    )
    assert movements.campaign_late_discount(campaign_id="c", discount_fen=300, from_budget_fen=300) == (
        cr("campaign_clearing:c", 300),
        dr("campaign_budget:c", 300),
    )
    with pytest.raises(InvalidLegAmount, match="campaign late discount"):
        movements.campaign_late_discount(campaign_id="c", discount_fen=300, from_budget_fen=400)


def test_campaign_return_and_incentive_payout() -> None:
    assert movements.campaign_return(campaign_id="c", funder="county_finance", amount_fen=5) == (
        dr("campaign_budget:c", 5),
        cr("campaign_funder:county_finance", 5),
    )
    assert movements.incentive_payout(acquirer_id="bank_a", amount_fen=8) == (
        dr("incentive_payable:bank_a", 8),
        cr("settlement_in_transit", 8),
    )


@pytest.mark.parametrize(
    ("biller_fen", "from_merchant_fen", "fee_leg"),
    [(9_990, 9_962, dr("fee_income", 28)), (9_950, 9_962, cr("fee_income", 12)), (9_962, 9_962, None)],
)
def test_bill_payment_settles_the_fee_difference_and_its_refund_reverses_it(
    biller_fen: int, from_merchant_fen: int, fee_leg: Leg | None
) -> None:
    legs = movements.bill_payment(
        biller_id="water", merchant_id="m", biller_fen=biller_fen, from_merchant_fen=from_merchant_fen
    )
    assert legs[:2] == (cr("biller_payable:water", biller_fen), dr("merchant_payable:m", from_merchant_fen))
    assert legs[2:] == ((fee_leg,) if fee_leg else ())
    back = movements.reversal("bill payment", legs)
    assert back[0] == dr("biller_payable:water", biller_fen)
    assert movements.biller_settlement(biller_id="water", amount_fen=5) == (
        dr("biller_payable:water", 5),
        cr("settlement_in_transit", 5),
    )


def test_risk_freeze_holds_the_merchant_payable() -> None:
    assert movements.risk_freeze(merchant_id="m", amount_fen=700) == (
        dr("merchant_payable:m", 700),
        cr("risk_frozen", 700),
    )
    with pytest.raises(InvalidLegAmount, match="risk freeze"):
        movements.risk_freeze(merchant_id="m", amount_fen=0)


def test_eaccount_movement_out_and_in() -> None:
    assert movements.eaccount_movement(
        direction="out", account_id="ea_1", counter="rural_card_clearing", amount_fen=50
    ) == (dr("eaccount:ea_1", 50), cr("rural_card_clearing", 50))
    assert movements.eaccount_movement(
        direction="in", account_id="ea_1", counter="merchant_payable:m", amount_fen=50
    ) == (dr("merchant_payable:m", 50), cr("eaccount:ea_1", 50))
    with pytest.raises(InvalidLegAmount, match="e-account out"):
        movements.eaccount_movement(direction="out", account_id="ea_1", counter="x", amount_fen=-1)


def test_service_point_pays_the_point_its_cash_and_commission() -> None:
    assert movements.service_point(
        kind="withdraw", merchant_id="m", amount_fen=10_000, commission_fen=30
    ) == (
        dr("rural_card_clearing", 10_000),
        cr("merchant_payable:m", 10_000),
        dr("rural_commission_expense", 30),
        cr("merchant_payable:m", 30),
    )
    assert movements.service_point(kind="bill", merchant_id="m", amount_fen=8_000, commission_fen=0) == (
        dr("rural_card_clearing", 8_000),
        cr("rural_bills_payable", 8_000),
    )
    with pytest.raises(InvalidLegAmount, match="service point withdraw"):
        movements.service_point(kind="withdraw", merchant_id="m", amount_fen=10_000, commission_fen=-5)


def test_rural_buyer_funds_through_a_payout_batch() -> None:
    assert movements.rural_buyer_funding(merchant_id="b", amount_fen=900) == (
        dr("rural_card_clearing", 900),
        cr("rural_buyer_funds:b", 900),
    )
    assert movements.rural_payout_batch(merchant_id="b", amount_fen=900) == (
        dr("rural_buyer_funds:b", 900),
        cr("rural_payouts_in_transit", 900),
    )
    assert movements.rural_card_payout(amount_fen=600) == (
        dr("rural_payouts_in_transit", 600),
        cr("rural_card_clearing", 600),
    )
    assert movements.rural_payout_return(merchant_id="b", amount_fen=300) == (
        dr("rural_payouts_in_transit", 300),
        cr("rural_buyer_funds:b", 300),
    )
    with pytest.raises(InvalidLegAmount, match="rural payout batch"):
        movements.rural_payout_batch(merchant_id="b", amount_fen=1.5)  # type: ignore[arg-type]


def test_campaign_discount_hold_reserves_the_budget_for_the_clearing_account() -> None:
    assert movements.campaign_discount_hold(campaign_id="c", amount_fen=120) == (
        dr("campaign_budget:c", 120),
        cr("campaign_clearing:c", 120),
    )
    with pytest.raises(InvalidLegAmount, match="campaign discount hold"):
        movements.campaign_discount_hold(campaign_id="c", amount_fen=-1)
