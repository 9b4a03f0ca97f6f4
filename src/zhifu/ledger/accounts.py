"""账户名称 / The names of the acquirer's book accounts, built in one place.

Like the idempotency keys (`zhifu.ledger.keys`), an account's code names what it holds (`merchant_payable:mch_…`,
`channel_receivable:unionpay_qr`); the capabilities that own the balances open the accounts, and every builder of
legs (`zhifu.ledger.movements`) names them from here. Changing a shape here renames accounts that already hold
money: never change one.
"""

from __future__ import annotations

FEE_INCOME = "fee_income"  # income: the merchants' fees
CHANNEL_COST = "channel_cost"  # expense: what the rails keep of each payment (issuer and network fees)
BANK = "bank"  # asset: the acquirer's own bank account
SETTLEMENT_IN_TRANSIT = "settlement_in_transit"  # liability: payouts sent to the bank, not yet confirmed
SUSPENSE = "suspense"  # liability: reconciliation differences until resolved
CAMPAIGN_SHORTFALL = (
    "campaign_shortfall"  # expense: a discount its budget could no longer cover (late success)
)
RISK_FROZEN = "risk_frozen"  # liability: a merchant's payable held by a risk case's freeze
RURAL_CARD_CLEARING = (
    "rural_card_clearing"  # due from the bank's core for money moved to or from Class I cards
)
RURAL_COMMISSION = "rural_commission_expense"  # expense: what service points earn for each withdrawal or bill
RURAL_BILLS_PAYABLE = "rural_bills_payable"  # liability: bills paid in cash at service points, owed onward
RURAL_PAYOUTS_IN_TRANSIT = (
    "rural_payouts_in_transit"  # liability: a harvest batch taken from the buyer, not paid
)
MERCHANT_PAYABLE_PREFIX = "merchant_payable:"
CHANNEL_RECEIVABLE_PREFIX = "channel_receivable:"


def merchant_payable(merchant_id: str) -> str:
    """What the acquirer owes a merchant (liability)."""
    return f"{MERCHANT_PAYABLE_PREFIX}{merchant_id}"


def channel_receivable(channel: str) -> str:
    """What a rail owes the acquirer for the payments it collected (asset)."""
    return f"{CHANNEL_RECEIVABLE_PREFIX}{channel}"


def biller_payable(biller_id: str) -> str:
    """What the acquirer owes a biller (a utility, a bureau) for the bills paid to it (liability)."""
    return f"biller_payable:{biller_id}"


def campaign_budget(campaign_id: str) -> str:
    """A campaign's budget (liability, never overdrawn)."""
    return f"campaign_budget:{campaign_id}"


def campaign_clearing(campaign_id: str) -> str:
    """Where a campaign's instant discounts pass between its budget and the merchant (liability)."""
    return f"campaign_clearing:{campaign_id}"


def campaign_funder(funder: str) -> str:
    """What a campaign's funder has committed and not yet transferred (asset)."""
    return f"campaign_funder:{funder}"


def incentive_payable(acquirer_id: str) -> str:
    """Cost refunds and subsidies the programme owes an acquirer (liability)."""
    return f"incentive_payable:{acquirer_id}"


def eaccount(account_id: str) -> str:
    """A farmer's Class II/III e-account at the county bank (liability)."""
    return f"eaccount:{account_id}"


def rural_buyer_funds(merchant_id: str) -> str:
    """What a produce buyer has funded for harvest payouts (liability)."""
    return f"rural_buyer_funds:{merchant_id}"
