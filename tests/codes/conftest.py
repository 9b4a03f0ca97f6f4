"""Merchants with codes on a fresh database, and helpers to pay them through the cashier's service."""

from __future__ import annotations

from typing import Any

import pytest

from tests.factories import application
from zhifu.codes.config import codes_settings
from zhifu.db import Database
from zhifu.merchants import MerchantApplication
from zhifu.merchants import service as merchants
from zhifu.payments import ensure_platform_accounts


def make_merchant(db: Database, **overrides: Any) -> str:
    """Apply and approve a merchant; returns its id."""
    doc = application(**overrides)
    with db.tx() as c:
        ensure_platform_accounts(c)
        mid = merchants.apply(c, MerchantApplication(**doc))["id"]
        merchants.review(c, mid, "approve")
    return mid


def micro_application() -> dict[str, Any]:
    return {
        "type": "micro",
        "credit_code": None,
        "legal_name": "王五",
        "legal_person_name": "王五",
        "settle_account_name": "王五",
        "short_name": "王五水果摊",
    }


@pytest.fixture(autouse=True)
def _fresh_code_settings() -> Any:
    codes_settings.cache_clear()
    yield
    codes_settings.cache_clear()
