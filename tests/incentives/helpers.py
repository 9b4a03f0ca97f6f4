"""Campaign documents for the tests: the seed's rule and a random instant discount."""

from __future__ import annotations

import copy
from typing import Any

WINDOW = {"starts_at": "2022-06-01T00:00:00+08:00", "ends_at": "2022-12-31T00:00:00+08:00"}


def seed_rule(**rules: Any) -> dict[str, Any]:
    """The seed's pilot: 云闪付 with a county rural bank card, under 500 yuan, cost refunded + 0.2 % subsidy, fee
    waived."""
    doc = {
        "name": "云闪付农商行卡 500 元以下补贴",
        "funder": "government",
        "budget_fen": 1_000_000,
        "rules": {
            **WINDOW,
            "channels": ["unionpay_qr"],
            "county_rural_issuers": True,
            "amount_below_fen": 50_000,
            "cost_refund": True,
            "subsidy_ppm": 2_000,
            "fee_waiver": True,
        },
    }
    doc["rules"].update(rules)
    return copy.deepcopy(doc)


def discount_campaign(budget_fen: int = 100_000, **rules: Any) -> dict[str, Any]:
    doc = {
        "name": "随机立减",
        "funder": "yiyuan_rcb",
        "budget_fen": budget_fen,
        "seed": "fixed-seed",
        "rules": {**WINDOW, "discount": {"probability_ppm": 1_000_000, "min_fen": 100, "max_fen": 100}},
    }
    doc["rules"].update(rules)
    return copy.deepcopy(doc)
