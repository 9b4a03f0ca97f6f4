"""Payments and refunds through every channel, with their ledger entries and events."""

from zhifu.payments.models import OPEN_STATUSES, PaymentStatus, payments, refunds
from zhifu.payments.service import (
    PLATFORM_ACCOUNTS,
    CreatePayment,
    CreateRefund,
    apply_channel_result,
    close_payment,
    create_payment,
    create_refund,
    ensure_platform_accounts,
    expire_due,
    get_payment,
    get_refund,
    handle_notification,
    list_payments,
    list_refunds,
    merchant_balance,
    public,
    receivable_account,
    record_rail_answer,
    request_close,
    sweep_processing,
    sweep_refunds,
)

__all__ = [
    "OPEN_STATUSES", "PLATFORM_ACCOUNTS", "CreatePayment", "CreateRefund", "PaymentStatus", "apply_channel_result", "close_payment",
    "create_payment", "create_refund", "ensure_platform_accounts", "expire_due", "get_payment", "get_refund",
    "handle_notification", "list_payments", "list_refunds", "merchant_balance", "payments", "public",
    "receivable_account", "record_rail_answer", "refunds", "request_close", "sweep_processing", "sweep_refunds",
]
