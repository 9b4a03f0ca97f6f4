"""资金变动的分录 / The legs of each money movement, built in one place.

Pure functions: figures in, legs out, no database. Each returns the legs of one journal entry and checks that
they balance before anyone posts them (`UnbalancedEntry`, `InvalidLegAmount`), so a wrong figure fails where
the entry is built, with the movement's name, not later in the ledger. The one-by-one payment path, the
simulator's batch path, incentives and settlement all build their entries here; the keys that name the entries
are in `zhifu.ledger.keys`, the accounts in `zhifu.ledger.accounts`.

A fee has no entry of its own: it is booked inside the payment's success entry (CR fee_income) and given back
inside the refund's (DR fee_income), so `payment_success` and `refund_success` carry it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from zhifu.ledger import accounts as acc
from zhifu.ledger.errors import InvalidLegAmount, UnbalancedEntry
from zhifu.ledger.models import Leg, cr, dr

PayoutOutcome = Literal["paid", "failed"]  # the bank result file's two answers
EaccountDirection = Literal["in", "out"]  # money into a farmer's e-account or out of it
PointKind = Literal["withdraw", "bill"]  # what a rural service point does for a card holder


def balanced(movement: str, legs: Sequence[Leg]) -> tuple[Leg, ...]:
    """The legs, once they are at least two, each a positive integer of fen, and debits equal credits."""
    debits = credits = 0
    for leg in legs:  # one pass: every payment of the simulator's history comes through here
        amount = leg.amount_fen
        if type(amount) is not int or amount <= 0:  # a bool or a float is no amount of fen
            raise InvalidLegAmount(
                f"{movement}: leg {leg.side} {leg.account} must be a positive integer of fen, got {amount!r}",
                param="amount_fen",
            )
        if leg.side == "D":
            debits += amount
        else:
            credits += amount
    if len(legs) < 2 or debits != credits:
        raise UnbalancedEntry(
            f"{movement} does not balance: debits {debits} fen, credits {credits} fen in {len(legs)} legs",
            param="legs",
        )
    return tuple(legs)


def payment_success(
    *,
    channel: str,
    merchant_id: str,
    amount_fen: int,
    fee_fen: int,
    cost_fen: int,
    discount_fen: int = 0,
    discount_from: str | None = None,
) -> tuple[Leg, ...]:
    """A payment succeeded: the rail owes what the payer paid net of its cost, the merchant is owed the amount
    net of the fee, the fee is income; an instant discount comes from its campaign's clearing account.

    DR channel_receivable (amount − discount − cost), DR channel_cost (cost), DR clearing (discount);
    CR merchant_payable (amount − fee), CR fee_income (fee)."""
    if discount_fen and discount_from is None:
        raise UnbalancedEntry(
            f"payment success: a discount of {discount_fen} fen needs the account it comes from",
            param="discount_from",
        )
    paid_fen = amount_fen - discount_fen
    legs = []
    if paid_fen - cost_fen:
        legs.append(dr(acc.channel_receivable(channel), paid_fen - cost_fen))
    legs.append(cr(acc.merchant_payable(merchant_id), amount_fen - fee_fen))
    if cost_fen:
        legs.append(dr(acc.CHANNEL_COST, cost_fen))
    if fee_fen:
        legs.append(cr(acc.FEE_INCOME, fee_fen))
    if discount_fen and discount_from is not None:
        legs.append(dr(discount_from, discount_fen))
    return balanced("payment success", legs)


def refund_success(
    *,
    channel: str,
    merchant_id: str,
    amount_fen: int,
    fee_back_fen: int,
    to_payer_fen: int,
    clawback_to: str | None = None,
    clawback_fen: int = 0,
) -> tuple[Leg, ...]:
    """A refund succeeded: the rail returns `to_payer_fen` to the payer, the discount's share goes back to its
    campaign's budget, the merchant gives back the amount net of the fee share, the fee share leaves income.
    The payer's part and the campaign's share together are the refund's amount.

    CR channel_receivable (to payer), CR campaign budget (clawback); DR merchant_payable (amount − fee back),
    DR fee_income (fee back)."""
    legs = [cr(acc.channel_receivable(channel), to_payer_fen)]
    if clawback_fen:
        if clawback_to is None:
            raise UnbalancedEntry(
                f"refund success: a clawback of {clawback_fen} fen needs the budget it returns to",
                param="clawback_to",
            )
        legs.append(cr(clawback_to, clawback_fen))
    if amount_fen - fee_back_fen:
        legs.append(dr(acc.merchant_payable(merchant_id), amount_fen - fee_back_fen))
    if fee_back_fen:
        legs.append(dr(acc.FEE_INCOME, fee_back_fen))
    return balanced("refund success", legs)


def bill_payment(
    *, biller_id: str, merchant_id: str, biller_fen: int, from_merchant_fen: int
) -> tuple[Leg, ...]:
    """A bill paid through its biller's merchant moves to the biller's payable. The merchant's payable gives what
    the payment left it (net of the merchant fee plan); the biller is owed the bill net of its own terms; the
    difference is fee income (more than the plan took) or given back by the acquirer (less).

    CR biller_payable (biller), DR merchant_payable (from merchant); CR or DR fee_income (the difference)."""
    legs = [cr(acc.biller_payable(biller_id), biller_fen)]
    if from_merchant_fen:
        legs.append(dr(acc.merchant_payable(merchant_id), from_merchant_fen))
    fee_delta = from_merchant_fen - biller_fen
    if fee_delta > 0:
        legs.append(cr(acc.FEE_INCOME, fee_delta))
    elif fee_delta < 0:
        legs.append(dr(acc.FEE_INCOME, -fee_delta))
    return balanced("bill payment", legs)


def biller_settlement(*, biller_id: str, amount_fen: int) -> tuple[Leg, ...]:
    """A biller's day is paid out: DR biller_payable, CR settlement_in_transit."""
    return balanced(
        "biller settlement",
        [dr(acc.biller_payable(biller_id), amount_fen), cr(acc.SETTLEMENT_IN_TRANSIT, amount_fen)],
    )


def campaign_funding(*, campaign_id: str, funder: str, amount_fen: int) -> tuple[Leg, ...]:
    """A funder commits money to a campaign: DR what the funder owes, CR the campaign's budget."""
    return balanced(
        "campaign funding",
        [dr(acc.campaign_funder(funder), amount_fen), cr(acc.campaign_budget(campaign_id), amount_fen)],
    )


def campaign_discount_hold(*, campaign_id: str, amount_fen: int) -> tuple[Leg, ...]:
    """An instant discount is reserved (posted as a hold until its payment succeeds or lapses): DR the campaign's
    budget, CR the campaign's clearing account."""
    return balanced(
        "campaign discount hold",
        [
            dr(acc.campaign_budget(campaign_id), amount_fen),
            cr(acc.campaign_clearing(campaign_id), amount_fen),
        ],
    )


def campaign_award(*, campaign_id: str, acquirer_id: str, amount_fen: int) -> tuple[Leg, ...]:
    """A payment earns a cost refund and subsidy under a campaign, owed to the merchant's acquirer: DR the
    campaign's budget, CR incentive_payable."""
    return balanced(
        "campaign award",
        [
            dr(acc.campaign_budget(campaign_id), amount_fen),
            cr(acc.incentive_payable(acquirer_id), amount_fen),
        ],
    )


def campaign_award_clawback(*, campaign_id: str, acquirer_id: str, amount_fen: int) -> tuple[Leg, ...]:
    """A refund takes back part of an award: the reverse of `campaign_award`."""
    return balanced(
        "campaign award clawback",
        [
            dr(acc.incentive_payable(acquirer_id), amount_fen),
            cr(acc.campaign_budget(campaign_id), amount_fen),
        ],
    )


def campaign_late_discount(*, campaign_id: str, discount_fen: int, from_budget_fen: int) -> tuple[Leg, ...]:
    """A discount whose hold lapsed before its payment succeeded: the clearing account is filled from what is left
    of the budget, and what the budget can no longer cover is the acquirer's expense.

    CR campaign clearing (discount); DR campaign budget (what it still holds), DR campaign_shortfall (the rest)."""
    legs = [cr(acc.campaign_clearing(campaign_id), discount_fen)]
    if from_budget_fen:
        legs.append(dr(acc.campaign_budget(campaign_id), from_budget_fen))
    if discount_fen - from_budget_fen:
        legs.append(dr(acc.CAMPAIGN_SHORTFALL, discount_fen - from_budget_fen))
    return balanced("campaign late discount", legs)


def campaign_return(*, campaign_id: str, funder: str, amount_fen: int) -> tuple[Leg, ...]:
    """What is left of an ended campaign's budget goes back to its funder: DR the budget, CR the funder."""
    return balanced(
        "campaign return",
        [dr(acc.campaign_budget(campaign_id), amount_fen), cr(acc.campaign_funder(funder), amount_fen)],
    )


def incentive_payout(*, acquirer_id: str, amount_fen: int) -> tuple[Leg, ...]:
    """The programme pays an acquirer the cost refunds and subsidies it accrued, with the settlement run: DR
    incentive_payable, CR settlement_in_transit."""
    return balanced(
        "incentive payout",
        [dr(acc.incentive_payable(acquirer_id), amount_fen), cr(acc.SETTLEMENT_IN_TRANSIT, amount_fen)],
    )


def settlement_payout(*, merchant_id: str, amount_fen: int) -> tuple[Leg, ...]:
    """A merchant's payout leaves for the bank: DR merchant_payable, CR settlement_in_transit."""
    return balanced(
        "settlement payout",
        [dr(acc.merchant_payable(merchant_id), amount_fen), cr(acc.SETTLEMENT_IN_TRANSIT, amount_fen)],
    )


def settlement_result(*, outcome: PayoutOutcome, merchant_id: str, amount_fen: int) -> tuple[Leg, ...]:
    """The bank's answer to a payout: paid (DR settlement_in_transit, CR bank) or failed (DR
    settlement_in_transit, CR merchant_payable: the merchant is owed it again)."""
    back_to = acc.BANK if outcome == "paid" else acc.merchant_payable(merchant_id)
    return balanced(
        f"settlement {outcome}", [dr(acc.SETTLEMENT_IN_TRANSIT, amount_fen), cr(back_to, amount_fen)]
    )


def reversal(movement: str, legs: Sequence[Leg]) -> tuple[Leg, ...]:
    """The legs that undo a movement's: every leg on the other side."""
    return balanced(
        f"reversal of {movement}",
        [Leg(leg.account, "C" if leg.side == "D" else "D", leg.amount_fen, leg.currency) for leg in legs],
    )


def unexplained(*, channel: str, diff_fen: int) -> tuple[Leg, ...]:
    """A difference with a rail parked in suspense until explained: the rail owes more than we booked (diff > 0:
    DR channel_receivable, CR suspense) or less (DR suspense, CR channel_receivable)."""
    rec = acc.channel_receivable(channel)
    if diff_fen > 0:
        return balanced("suspense", [dr(rec, diff_fen), cr(acc.SUSPENSE, diff_fen)])
    return balanced("suspense", [dr(acc.SUSPENSE, -diff_fen), cr(rec, -diff_fen)])


def channel_cost_difference(*, channel: str, diff_fen: int) -> tuple[Leg, ...]:
    """The rail kept more of a payment than the cost we booked (diff > 0: DR channel_cost, CR
    channel_receivable) or less (DR channel_receivable, CR channel_cost); the acquirer bears it."""
    rec = acc.channel_receivable(channel)
    if diff_fen > 0:
        return balanced("channel cost difference", [dr(acc.CHANNEL_COST, diff_fen), cr(rec, diff_fen)])
    return balanced("channel cost difference", [dr(rec, -diff_fen), cr(acc.CHANNEL_COST, -diff_fen)])


def risk_freeze(*, merchant_id: str, amount_fen: int) -> tuple[Leg, ...]:
    """A risk case freezes what a merchant is owed (posted as a hold until released): DR merchant_payable, CR
    risk_frozen."""
    return balanced(
        "risk freeze",
        [dr(acc.merchant_payable(merchant_id), amount_fen), cr(acc.RISK_FROZEN, amount_fen)],
    )


def eaccount_movement(
    *, direction: EaccountDirection, account_id: str, counter: str, amount_fen: int
) -> tuple[Leg, ...]:
    """Money leaves a farmer's e-account (out: DR the e-account, CR the counter account — a bound card's clearing,
    a merchant's payable) or arrives in it (in: DR the counter account, CR the e-account)."""
    own = acc.eaccount(account_id)
    if direction == "out":
        return balanced("e-account out", [dr(own, amount_fen), cr(counter, amount_fen)])
    return balanced("e-account in", [dr(counter, amount_fen), cr(own, amount_fen)])


def service_point(
    *, kind: PointKind, merchant_id: str, amount_fen: int, commission_fen: int
) -> tuple[Leg, ...]:
    """A rural service point hands out cash for a card (withdraw) or takes a bill in cash (bill): the bank's core
    owes the amount, the point's merchant is owed the cash it gave (or the biller the bill), and the point earns
    its commission.

    DR rural_card_clearing (amount), CR merchant_payable (withdraw) or rural_bills_payable (bill);
    DR rural_commission_expense, CR merchant_payable (commission)."""
    agent = acc.merchant_payable(merchant_id)
    legs = [
        dr(acc.RURAL_CARD_CLEARING, amount_fen),
        cr(agent if kind == "withdraw" else acc.RURAL_BILLS_PAYABLE, amount_fen),
    ]
    if commission_fen:
        legs += [dr(acc.RURAL_COMMISSION, commission_fen), cr(agent, commission_fen)]
    return balanced(f"service point {kind}", legs)


def rural_buyer_funding(*, merchant_id: str, amount_fen: int) -> tuple[Leg, ...]:
    """A produce buyer tops up its funded account from its bank: DR rural_card_clearing, CR the buyer's funds."""
    return balanced(
        "rural buyer funding",
        [dr(acc.RURAL_CARD_CLEARING, amount_fen), cr(acc.rural_buyer_funds(merchant_id), amount_fen)],
    )


def rural_payout_batch(*, merchant_id: str, amount_fen: int) -> tuple[Leg, ...]:
    """A harvest payout batch is taken whole from the buyer's funds: DR the buyer's funds, CR
    rural_payouts_in_transit."""
    return balanced(
        "rural payout batch",
        [dr(acc.rural_buyer_funds(merchant_id), amount_fen), cr(acc.RURAL_PAYOUTS_IN_TRANSIT, amount_fen)],
    )


def rural_card_payout(*, amount_fen: int) -> tuple[Leg, ...]:
    """One line of a batch paid to a farmer's card: DR rural_payouts_in_transit, CR rural_card_clearing."""
    return balanced(
        "rural card payout",
        [dr(acc.RURAL_PAYOUTS_IN_TRANSIT, amount_fen), cr(acc.RURAL_CARD_CLEARING, amount_fen)],
    )


def rural_payout_return(*, merchant_id: str, amount_fen: int) -> tuple[Leg, ...]:
    """A failed line's money goes back to the buyer: DR rural_payouts_in_transit, CR the buyer's funds."""
    return balanced(
        "rural payout return",
        [dr(acc.RURAL_PAYOUTS_IN_TRANSIT, amount_fen), cr(acc.rural_buyer_funds(merchant_id), amount_fen)],
    )
