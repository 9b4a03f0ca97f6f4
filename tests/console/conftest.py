"""A small world for console tests: three merchants under two acquirers, a payment, and a user per role."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from zhifu.console import service
from zhifu.db import Database
from zhifu.merchants import service as merchants

PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Real argon2id, with parameters small enough for a fast suite (production keeps the library's)."""
    monkeypatch.setattr(service, "hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "page has no CSRF field"
    return found.group(1)


@dataclass
class Browser:
    """A logged-in client and its session's CSRF token."""

    client: TestClient
    csrf: str = ""

    def get(self, url: str, **kw):  # type: ignore[no-untyped-def]
        return self.client.get(url, follow_redirects=False, **kw)

    def post(self, url: str, data: dict | None = None, **kw):  # type: ignore[no-untyped-def]
        body = {"csrf_token": self.csrf, **(data or {})}
        return self.client.post(url, data=body, follow_redirects=False, **kw)


@dataclass
class World:
    platform: object
    db: Database
    mch_a: str  # yiyuan_rcb, active, has a paid payment, a key, a webhook endpoint
    mch_b: str  # psbc, active
    pending_a: str  # yiyuan_rcb, waiting for review
    pending_b: str  # psbc, waiting for review
    pay_a: str
    pay_b: str
    key_a: str
    endpoint_a: str
    refund_a: str
    headers_a: dict[str, str]
    headers_b: dict[str, str]
    users: dict[str, str] = field(default_factory=dict)  # role-ish name -> username

    def login(self, username: str, password: str = PASSWORD) -> Browser:
        client = TestClient(self.platform.app)  # type: ignore[attr-defined]
        page = client.get("/login")
        r = client.post(
            "/login",
            data={"username": username, "password": password, "csrf_token": csrf_of(page.text)},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        home = client.get(r.headers["location"])
        assert home.status_code == 200, home.text
        return Browser(client, csrf_of(home.text))

    def anonymous(self) -> Browser:
        return Browser(TestClient(self.platform.app))  # type: ignore[attr-defined]


def _pay(platform, headers: dict[str, str], order: str, amount_fen: int = 1250) -> str:  # type: ignore[no-untyped-def]
    r = platform.client.post(
        "/v1/payments",
        json={
            "amount_fen": amount_fen,
            "merchant_order_no": order,
            "channel": "wechat",
            "description": "豆浆油条",
        },
        headers=headers,
    )
    assert r.status_code == 200, r.text
    pid = r.json()["id"]
    assert platform.client.post(f"/sim/payments/{pid}/pay", json={}).json()["status"] == "succeeded"
    return pid


@pytest.fixture
def world(platform) -> Iterator[World]:  # type: ignore[no-untyped-def]
    from tests.factories import application

    mch_a, headers_a = platform.merchant(short_name="张记早餐")
    mch_b, headers_b = platform.merchant(
        short_name="邮储小店", acquirer_id="psbc", settle_account_name="张三"
    )
    pend = []
    for acquirer in ("yiyuan_rcb", "psbc"):
        r = platform.client.post(
            "/v1/merchants",
            json=application(acquirer_id=acquirer, short_name="待审小店"),
            headers=platform.op,
        )
        pend.append(r.json()["id"])
    pay_a = _pay(platform, headers_a, "A-0001")
    pay_b = _pay(platform, headers_b, "B-0001", 3300)
    refund_a = platform.client.post(
        f"/v1/payments/{pay_a}/refunds", json={"amount_fen": 100}, headers=headers_a
    ).json()["id"]
    key_a = platform.client.get("/v1/keys", headers=headers_a).json()["data"][0]["id"]
    endpoint_a = platform.client.post(
        "/v1/webhook_endpoints",
        json={"url": "https://shop-a.example/hook", "events": ["*"]},
        headers=headers_a,
    ).json()["id"]
    users = {
        "merchant_a": "shop-a",
        "merchant_b": "shop-b",
        "operator_a": "op-rcb",
        "operator_b": "op-psbc",
        "regulator": "pboc",
        "biller": "water",
        "complaints": "desk",
    }
    with platform.db.tx() as c:
        service.create_user(c, "shop-a", "merchant", PASSWORD, merchant_id=mch_a, display_name="张老板")
        service.create_user(c, "shop-b", "merchant", PASSWORD, merchant_id=mch_b)
        service.create_user(c, "op-rcb", "operator", PASSWORD, institution_id="yiyuan_rcb")
        service.create_user(c, "op-psbc", "operator", PASSWORD, institution_id="psbc")
        service.create_user(c, "pboc", "regulator", PASSWORD)
        service.create_user(c, "water", "biller", PASSWORD, biller_id="water")
        service.create_user(c, "desk", "complaints", PASSWORD)
        assert merchants.get_merchant(c, pend[0])["status"] == "pending_review"
    yield World(
        platform,
        platform.db,
        mch_a,
        mch_b,
        pend[0],
        pend[1],
        pay_a,
        pay_b,
        key_a,
        endpoint_a,
        refund_a,
        headers_a,
        headers_b,
        users,
    )
