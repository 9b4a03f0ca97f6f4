"""Typed ledger errors; each leaves the book untouched."""

from zhifu.core.errors import ConflictError, InvalidRequest, NotFound, UnprocessableError


class LedgerError(InvalidRequest):
    code = "ledger_error"


class UnbalancedEntry(LedgerError):
    code = "unbalanced_entry"


class InvalidLegAmount(LedgerError):
    code = "invalid_amount"


class CurrencyMismatch(LedgerError):
    code = "currency_mismatch"


class UnknownAccount(NotFound):
    code = "unknown_account"


class AccountClosed(LedgerError):
    code = "account_closed"


class Overdraft(LedgerError):
    code = "insufficient_balance"
    http_status = 402


class HoldNotPending(ConflictError):
    code = "hold_not_pending"


class HoldExpired(ConflictError):
    code = "hold_expired"


class HoldExceeded(LedgerError):
    code = "hold_exceeded"


class IdempotencyConflict(UnprocessableError):
    code = "idempotency_key_reused"
