import datetime as dt

import pytest

from zhifu.core import clock as clock_mod
from zhifu.core.clock import FixedClock
from zhifu.core.errors import InvalidRequest
from zhifu.core.ids import new_id, new_id_fast, parse_id


def test_ids_are_prefixed_and_sort_by_time() -> None:
    a = new_id("pay", at_ms=1_600_000_000_000)
    b = new_id("pay", at_ms=1_600_000_000_001)
    c = new_id_fast("pay", 1_600_000_000_002)
    assert a.startswith("pay_") and len(a) == 30
    assert a < b < c
    assert parse_id(c, "pay") == c


@pytest.mark.parametrize("bad", ["mch_01ABC", "pay_" + "I" * 26, "pay01H" + "0" * 24, ""])
def test_parse_id_rejects(bad: str) -> None:
    with pytest.raises(InvalidRequest) as exc:
        parse_id(bad, "pay", param="payment")
    assert exc.value.param == "payment"


def test_clock_can_be_set_and_restored() -> None:
    at = dt.datetime(2021, 1, 1, tzinfo=dt.UTC)
    fc = FixedClock(at)
    old = clock_mod.set_clock(fc)
    try:
        assert clock_mod.now() == at
        fc.advance(seconds=90)
        assert clock_mod.now() == at + dt.timedelta(seconds=90)
    finally:
        clock_mod.set_clock(old)
    assert clock_mod.now() > at + dt.timedelta(days=365)
    with pytest.raises(ValueError):
        FixedClock(dt.datetime(2021, 1, 1))
