"""Builders for valid test data, and a client wired to a fresh platform."""

from __future__ import annotations

import random
from typing import Any

from fastapi.testclient import TestClient

from zhifu.api.app import create_app
from zhifu.db import Database
from zhifu.merchants import service as merchants
from zhifu.payments import ensure_platform_accounts
from zhifu.reference import generate_credit_code, generate_resident_id

_rng = random.Random(42)


def application(**overrides: Any) -> dict[str, Any]:
    """A valid individual-business application in 南麻街道; override any field."""
    doc = {
        "type": "individual_business",
        "legal_name": "沂源县南麻张记早餐店",
        "short_name": "张记早餐",
        "credit_code": generate_credit_code(_rng),
        "legal_person_name": "张三",
        "legal_person_id": generate_resident_id(_rng),
        "phone": "13800138000",
        "mcc": "5812",
        "town_code": "370323002",
        "address": "南麻街道振兴路 8 号",
        "settle_bank": "沂源农商银行",
        "settle_account_no": "6231000012345678",
        "settle_account_name": "张三",
        "acquirer_id": "yiyuan_rcb",
    }
    doc.update(overrides)
    return {k: v for k, v in doc.items() if v is not None}


class Platform:
    """A test platform: an app on a database, an operator key, and helpers to onboard merchants."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.app = create_app(db)
        self.client = TestClient(self.app)
        self.client.__enter__()
        from tests.rails_support import FORWARD

        FORWARD.client = self.client  # the fake rails' notifications reach this app
        with db.tx() as c:
            ensure_platform_accounts(c)
            _, self.operator_secret = merchants.create_key(c, merchant_id=None, role="operator")
        self.op = {"Authorization": f"Bearer {self.operator_secret}"}

    def close(self) -> None:
        from tests.rails_support import FORWARD

        if FORWARD.client is self.client:
            FORWARD.client = None
        self.client.__exit__(None, None, None)

    def merchant(self, **overrides: Any) -> tuple[str, dict[str, str]]:
        """Apply, approve and key a merchant; returns its id and auth headers."""
        r = self.client.post("/v1/merchants", json=application(**overrides), headers=self.op)
        assert r.status_code == 200, r.text
        mid = r.json()["id"]
        r = self.client.post(f"/v1/merchants/{mid}/approve", headers=self.op)
        assert r.json()["status"] == "active", r.text
        r = self.client.post(f"/v1/merchants/{mid}/keys", headers=self.op)
        return mid, {"Authorization": f"Bearer {r.json()['secret']}"}
