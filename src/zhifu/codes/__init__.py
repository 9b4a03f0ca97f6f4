"""Payment codes and the cashier: one static code per merchant or store for every app, dynamic codes per payment."""

from zhifu.codes.models import CodeKind, CodeStatus, cashier_payments, payment_codes
from zhifu.codes.paycode import generate_paycode
from zhifu.codes.service import (
    APP_CHANNELS,
    APPS,
    CashierPage,
    CodeUnavailable,
    PageToken,
    app_channel,
    cashier_payment,
    code_id_from_scan,
    code_url,
    confirm_payment,
    create_dynamic,
    detect_app,
    get_code,
    issue_static,
    list_codes,
    new_page_token,
    open_code,
    page_started,
    payer_spent_today,
    resolve,
    revoke,
    scan_and_pay,
    start_payment,
    static_code_for,
)

__all__ = [
    "APPS", "APP_CHANNELS", "CashierPage", "CodeKind", "CodeStatus", "CodeUnavailable", "PageToken",
    "app_channel", "cashier_payment", "cashier_payments", "code_id_from_scan", "code_url", "confirm_payment",
    "create_dynamic", "detect_app", "generate_paycode", "get_code", "issue_static", "list_codes",
    "new_page_token", "open_code", "page_started", "payer_spent_today", "payment_codes", "resolve", "revoke",
    "scan_and_pay", "start_payment", "static_code_for",
]
