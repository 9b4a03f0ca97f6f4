"""The acquirer's double-entry book: accounts, balanced entries, two-phase holds and verification."""

from zhifu.ledger import keys
from zhifu.ledger.errors import (
    AccountClosed,
    CurrencyMismatch,
    HoldExceeded,
    HoldExpired,
    HoldNotPending,
    IdempotencyConflict,
    InvalidLegAmount,
    LedgerError,
    Overdraft,
    UnbalancedEntry,
    UnknownAccount,
)
from zhifu.ledger.models import AccountType, Balance, EntryRequest, Leg, cr, dr
from zhifu.ledger.service import (
    Hold,
    PostedEntry,
    Violation,
    balance_as_of,
    close_account,
    expire_holds,
    get_balance,
    get_hold,
    history,
    hold,
    open_account,
    open_accounts,
    post_entries,
    post_entry,
    post_hold,
    transfer,
    verify,
    void_hold,
)

__all__ = [
    "keys",
    "AccountClosed", "AccountType", "Balance", "CurrencyMismatch", "EntryRequest", "Hold", "HoldExceeded",
    "HoldExpired", "HoldNotPending", "IdempotencyConflict", "InvalidLegAmount", "Leg", "LedgerError", "Overdraft",
    "PostedEntry", "UnbalancedEntry", "UnknownAccount", "Violation", "balance_as_of", "close_account", "cr", "dr",
    "expire_holds", "get_balance", "get_hold", "history", "hold", "open_account", "open_accounts", "post_entries",
    "post_entry", "post_hold", "transfer", "verify", "void_hold",
]
