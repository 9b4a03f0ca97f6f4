"""A platform with a merchant and a paid payment, a clock the tests move, and an SMS sender that keeps texts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from zhifu.complaints import MemorySender, set_sender
from zhifu.core import clock as clock_mod
from zhifu.core.clock import SHANGHAI, FixedClock

PHONE = "13912345678"


def sh(*args: int) -> dt.datetime:
    """A moment in Beijing time."""
    return dt.datetime(*args, tzinfo=SHANGHAI)


@pytest.fixture
def sms() -> Iterator[MemorySender]:
    s = MemorySender()
    old = set_sender(s)
    try:
        yield s
    finally:
        set_sender(old)


@pytest.fixture
def clock() -> Iterator[FixedClock]:
    fc = FixedClock(sh(2024, 2, 9, 10, 0))  # the Friday before the 2024 Spring Festival holiday (Feb 10–17)
    old = clock_mod.set_clock(fc)
    try:
        yield fc
    finally:
        clock_mod.set_clock(old)


@dataclass
class World:
    platform: Any
    mid: str
    mh: dict[str, str]

    @property
    def db(self) -> Any:
        return self.platform.db

    def pay(self, amount_fen: int = 1234, order: str = "o1") -> dict[str, Any]:
        r = self.platform.client.post(
            "/v1/payments",
            headers=self.mh,
            json={"amount_fen": amount_fen, "merchant_order_no": order, "auth_code": "6212345678901234561"},
        )
        assert r.status_code == 200 and r.json()["status"] == "succeeded", r.text
        return r.json()


@pytest.fixture
def world(platform, clock, sms) -> World:  # type: ignore[no-untyped-def]
    mid, mh = platform.merchant()
    return World(platform, mid, mh)
