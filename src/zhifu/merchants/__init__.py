"""Merchants: onboarding and review, stores, terminals and API keys."""

from zhifu.merchants.models import MerchantStatus, api_keys, merchants
from zhifu.merchants.service import (
    MerchantApplication,
    Principal,
    add_store,
    add_terminal,
    apply,
    authenticate,
    county,
    create_key,
    get_merchant,
    list_keys,
    list_merchants,
    merchant_row,
    payable_account,
    resubmit,
    review,
    revoke_key,
    roll_key,
    set_frozen,
    validate_application,
)

__all__ = [
    "MerchantApplication", "MerchantStatus", "Principal", "add_store", "add_terminal", "api_keys", "apply",
    "authenticate", "county", "create_key", "get_merchant", "list_keys", "list_merchants", "merchant_row",
    "merchants", "payable_account", "resubmit", "review", "revoke_key", "roll_key", "set_frozen",
    "validate_application",
]
