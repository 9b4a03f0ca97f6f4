"""账务幂等键 / The idempotency keys of the ledger's entries and holds, built in one place.

A key names the business event an entry books (`pay:{payment_id}:success`), so a retry finds the entry already
posted. Readers find entries by these keys too: settlement tells trading (payments, refunds) and its own payouts
apart from everything else by their prefixes, reconciliation and complaints look an event's entry up by its key.
Changing a shape here changes the keys of new entries only: old entries keep theirs, so never change one.
"""

from __future__ import annotations

import datetime as dt

PAYMENT_PREFIX = "pay:"  # a payment's success
REFUND_PREFIX = "refund:"  # a refund's success
SETTLEMENT_PREFIX = "settle:"  # every entry settlement posts: payouts and the bank's results
TRADING_PREFIXES = (
    PAYMENT_PREFIX,
    REFUND_PREFIX,
)  # what settlement sums from the payments and refunds tables


def payment_success(payment_id: str) -> str:
    """The entry of a succeeded payment: DR the channel's receivable, CR the merchant's payable and the fee."""
    return f"{PAYMENT_PREFIX}{payment_id}:success"


def refund_success(refund_id: str) -> str:
    """The entry of a succeeded refund, reversing its payment's in proportion."""
    return f"{REFUND_PREFIX}{refund_id}:success"


def settlement_payout(business_date: dt.date, merchant_id: str) -> str:
    """A merchant's payout for a business date: DR its payable, CR settlement in transit."""
    return f"{SETTLEMENT_PREFIX}{business_date.isoformat()}:{merchant_id}"


def settlement_result(status: str, payout_id: str) -> str:
    """The bank's answer to a payout (paid or returned)."""
    return f"{SETTLEMENT_PREFIX}{status}:{payout_id}"


def bill_success(payment_id: str) -> str:
    """A bill payment's entry (the biller's payable instead of a merchant's)."""
    return f"bill:{payment_id}:success"


def bill_refund(payment_id: str) -> str:
    return f"bill:{payment_id}:refund"


def biller_settlement(biller_id: str, business_date: dt.date) -> str:
    return f"bsettle:{biller_id}:{business_date.isoformat()}"


def campaign_funding(campaign_id: str, funded_fen: int, amount_fen: int) -> str:
    """A top-up of a campaign's budget; the funded total before it makes each top-up its own entry."""
    return f"cmp:{campaign_id}:fund:{funded_fen}:{amount_fen}"


def campaign_return(campaign_id: str) -> str:
    """What is left of an ended campaign's budget, back to its funder."""
    return f"cmp:{campaign_id}:return"


def campaign_discount(payment_id: str) -> str:
    """The hold of an instant discount on a payment."""
    return f"cmp:{payment_id}:discount"


def campaign_late_discount(payment_id: str) -> str:
    """An instant discount booked after its payment succeeded without the hold."""
    return f"cmp:{payment_id}:discount:late"


def campaign_accrual(payment_id: str, campaign_id: str) -> str:
    """A subsidy a payment earns under a campaign."""
    return f"cmp:{payment_id}:accrual:{campaign_id}"


def campaign_clawback(refund_id: str, campaign_id: str, kind: str) -> str:
    """What a refund takes back of an award."""
    return f"cmp:{refund_id}:clawback:{campaign_id}:{kind}"


def incentive_payout(acquirer_id: str, day: dt.date) -> str:
    """What the programme pays an acquirer for its accrued cost refunds and subsidies, once per Beijing day."""
    return f"incentive_payout:{acquirer_id}:{day.isoformat()}"


def recon_adjustment(case_id: str, action: str) -> str:
    """A reconciliation case's resolution."""
    return f"recon:{case_id}:{action}"


def risk_freeze(case_id: str) -> str:
    """The hold that freezes a merchant's payable while a risk case is open."""
    return f"risk:{case_id}:freeze"


RURAL_PREFIX = "rural:"  # rural finance: buyers' funds, purchase payouts, e-accounts, service points


def rural_funding(merchant_id: str, reference: str) -> str:
    """A purchase buyer's top-up of its funds, by the buyer's own reference."""
    return f"{RURAL_PREFIX}fund:{merchant_id}:{reference}"


def rural_payout_batch(merchant_id: str, batch_id: str) -> str:
    """A buyer's payout batch moved from its funds to payouts in transit."""
    return f"{RURAL_PREFIX}batch:{merchant_id}:{batch_id}"


def rural_payout_line(merchant_id: str, batch_id: str, line_no: int, attempt: int) -> str:
    """One farmer's line of a batch, paid to a card on its `attempt`-th try."""
    return f"{RURAL_PREFIX}payout:{merchant_id}:{batch_id}:{line_no}:{attempt}"


def rural_payout_return(merchant_id: str, batch_id: str, line_no: int) -> str:
    """A line handed back to the buyer's funds."""
    return f"{RURAL_PREFIX}return:{merchant_id}:{batch_id}:{line_no}"


def rural_eaccount(kind: str, account_id: str, reference: str) -> str:
    """A movement of a farmer's e-account (`kind`: deposit, payment, …), by the caller's reference."""
    return f"{RURAL_PREFIX}{kind}:{account_id}:{reference}"


def rural_service_point(txn_id: str) -> str:
    """A service point's cash withdrawal or deposit for a farmer."""
    return f"{RURAL_PREFIX}point:{txn_id}"
