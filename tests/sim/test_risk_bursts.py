"""The simulated dormant and spike actors: their bursts of card payments fall on their days, in their ranges."""

from __future__ import annotations

import types
from typing import Any

from zhifu.sim.risk import Actor, RiskActors


def _bursts(kind: str, start: int) -> dict[int, list[tuple[Any, ...]]]:
    r = RiskActors(None, 7, 300)
    r._spec = lambda a, day, idx, amount, secs, channel, mode: (amount, secs, channel, mode)  # type: ignore[method-assign,assignment]
    a = Actor(kind, start)
    a.merchant_id = "m1"
    world = types.SimpleNamespace(consumers=list(range(5000)))
    days: dict[int, list[tuple[Any, ...]]] = {}
    for i in range(start, start + 120):
        specs = r._day_of(a, types.SimpleNamespace(index=i, world=world))
        if specs:
            days[i] = specs
    return days


def test_a_dormant_merchant_wakes_60_days_after_its_start() -> None:
    days = _bursts("dormant", 100)
    assert list(days) == [160]
    assert 10 <= len(days[160]) <= 16
    assert all(80_000 <= amount < 300_000 for amount, *_ in days[160])
    assert all(
        9 * 3600 <= secs < 19 * 3600 and rest == ["unionpay_card", "terminal"] for _, secs, *rest in days[160]
    )


def test_a_spike_lasts_two_days() -> None:
    days = _bursts("spike", 120)
    assert list(days) == [120, 121]
    assert all(25 <= len(v) <= 40 for v in days.values())
    assert all(100_000 <= amount < 400_000 for v in days.values() for amount, *_ in v)
