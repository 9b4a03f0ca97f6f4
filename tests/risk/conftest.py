"""Merchants and payments for the risk tests, on both backends; the limit and rule caches start empty."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pytest

from tests.factories import application
from zhifu.db import Database
from zhifu.incentives import PayerHint
from zhifu.merchants import MerchantApplication
from zhifu.merchants import service as merchants
from zhifu.payments import CreatePayment, create_payment, ensure_platform_accounts
from zhifu.risk import limits, service

AT = dt.datetime(2022, 6, 15, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai
_orders = itertools.count(1)


@pytest.fixture(autouse=True)
def _fresh_caches() -> Any:
    limits.forget_cache()
    service.forget_ruleset()
    service.reset_monitor()
    service.forget_lists()
    yield
    limits.forget_cache()
    service.forget_ruleset()
    service.reset_monitor()
    service.forget_lists()


def make_merchant(db: Database, **overrides: Any) -> str:
    doc = application(**overrides)
    with db.tx() as c:
        ensure_platform_accounts(c)
        mid = merchants.apply(c, MerchantApplication(**doc))["id"]
        merchants.review(c, mid, "approve")
    return mid


def micro(**more: Any) -> dict[str, Any]:
    return {
        "type": "micro",
        "credit_code": None,
        "legal_name": "王五",
        "legal_person_name": "王五",
        "settle_account_name": "王五",
        "short_name": "王五水果摊",
        **more,
    }


def pay(
    db: Database,
    mid: str,
    amount_fen: int,
    *,
    payer: str | None = "p1",
    flow: str = "static_code",
    channel: str = "unionpay_qr",
    at: dt.datetime = AT,
    scene: str | None = None,
) -> dict[str, Any]:
    req = CreatePayment(
        amount_fen=amount_fen,
        merchant_order_no=f"r{next(_orders)}",
        channel=channel,
        payer=PayerHint(id=payer) if payer else None,
        metadata={"scene": scene} if scene else None,
    )
    return db.run(lambda c: create_payment(c, mid, req, at=at, flow=flow))
