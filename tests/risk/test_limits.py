"""Limits at authorisation on both backends: the decline names the limit, usage is released when a payment ends,
limit changes take effect on their date, and concurrent payers never pass a daily limit."""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from tests.risk.conftest import AT, make_merchant, micro, pay
from zhifu.core.errors import InvalidRequest, ZhifuError
from zhifu.payments import close_payment, payments
from zhifu.risk import LimitExceeded, limits, set_limit
from zhifu.risk.models import risk_counters


def test_static_code_level_d_declines_naming_the_limit(db) -> None:  # type: ignore[no-untyped-def]
    a, b = make_merchant(db), make_merchant(db)
    pay(db, a, 30_000)
    pay(db, b, 20_000)  # across merchants: 500 yuan reached exactly
    with pytest.raises(LimitExceeded) as exc:
        pay(db, b, 1)
    assert exc.value.code == "barcode_d_payer_day" and exc.value.http_status == 422
    assert exc.value.message.startswith("超出静态条码每人每日限额")
    with db.tx() as c:  # the declined payment left nothing behind
        assert c.execute(select(func.count()).select_from(payments)).scalar_one() == 2
        assert limits.used(c, "barcode_d_payer_day", "p1", AT) == 50_000
    pay(db, b, 40_000, payer="p2")  # another payer has their own day
    pay(db, b, 1, at=AT + dt.timedelta(days=1))  # and so has tomorrow


def test_levels_by_flow_and_terminals_are_not_barcode(db) -> None:  # type: ignore[no-untyped-def]
    m = make_merchant(db)
    pay(db, m, 100_000, flow="pay_code")
    with pytest.raises(LimitExceeded) as exc:
        pay(db, m, 1, flow="pay_code")
    assert exc.value.code == "barcode_c_payer_day"
    pay(db, m, 500_000, flow="dynamic_code")
    with pytest.raises(LimitExceeded) as exc:
        pay(db, m, 1, flow="dynamic_code")
    assert exc.value.code == "barcode_b_payer_day"
    pay(db, m, 900_000, flow="terminal", channel="unionpay_card")


def test_micro_merchant_caps_and_remote_personal_code(db) -> None:  # type: ignore[no-untyped-def]
    m = make_merchant(db, **micro())
    with pytest.raises(LimitExceeded) as exc:
        pay(db, m, 10_000, scene="remote")
    assert exc.value.code == "personal_code_remote" and exc.value.param == "scene"
    for i in range(25):  # 25 payers × 400 yuan = the 10,000-yuan daily cap
        pay(db, m, 40_000, payer=f"q{i}")
    with pytest.raises(
        ZhifuError
    ) as exc:  # the merchant's own cap check or the atomic counter, whichever first
        pay(db, m, 100, payer="q99")
    assert exc.value.code in ("micro_merchant_day", "merchant_limit_exceeded")
    with db.tx() as c:
        assert limits.used(c, "micro_merchant_day", m, AT) == 1_000_000
        assert limits.used(c, "micro_merchant_month", m, AT) == 1_000_000


def test_release_gives_the_limit_back_once(db, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    m = make_merchant(db)
    p = pay(db, m, 50_000, at=fixed_clock.now())
    with pytest.raises(LimitExceeded):
        pay(db, m, 100, at=fixed_clock.now())
    close_payment(db, m, p["id"])
    with db.tx() as c:
        assert limits.used(c, "barcode_d_payer_day", "p1", fixed_clock.now()) == 0
        assert limits.release_limits(c, m, "nope") == 0
    pay(db, m, 50_000, at=fixed_clock.now())


def test_limit_change_effective_dates(db) -> None:  # type: ignore[no-untyped-def]
    m = make_merchant(db)
    with db.tx() as c, pytest.raises(InvalidRequest) as exc:
        set_limit(c, "barcode_d_payer_day", 20_000, dt.date(2022, 6, 14), by="ops", at=AT)
    assert exc.value.code == "effective_date_in_past"
    with db.tx() as c:
        set_limit(c, "barcode_d_payer_day", 20_000, dt.date(2022, 6, 16), by="ops", at=AT)
    pay(db, m, 50_000)  # today the old limit still holds
    tomorrow = AT + dt.timedelta(days=1)
    with pytest.raises(LimitExceeded):
        pay(db, m, 20_001, at=tomorrow)
    pay(db, m, 20_000, at=tomorrow)
    with db.tx() as c:
        for bad, param in (
            (("nope", 1), "key"),
            (("barcode_d_payer_day", -1), "value"),
            (("personal_code_remote", 2), "value"),
        ):
            with pytest.raises(InvalidRequest) as e:
                set_limit(c, *bad, dt.date(2022, 6, 16), by="ops", at=AT)
            assert e.value.param == param


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    amounts=st.lists(st.integers(min_value=1, max_value=30_000), min_size=1, max_size=12),
    closes=st.lists(st.booleans(), min_size=12, max_size=12),
)
def test_property_counter_equals_open_and_succeeded_usage(db, amounts, closes) -> None:  # type: ignore[no-untyped-def]
    """Whatever sequence of payments and closes, the counter equals the sum of the live payments' amounts and
    never exceeds the limit."""
    limits.forget_cache()
    m = make_merchant(db)
    payer = f"h{abs(hash((tuple(amounts), tuple(closes)))) % 10**9}"
    live = 0
    with db.tx() as c:
        start = c.execute(
            select(func.coalesce(func.sum(risk_counters.c.used_fen), 0)).where(
                risk_counters.c.subject == payer
            )
        ).scalar_one()
    assert start == 0
    for amount, close in zip(amounts, closes, strict=False):
        try:
            p = pay(db, m, amount, payer=payer, at=AT)
        except LimitExceeded:
            assert live + amount > 50_000
            continue
        live += amount
        if close:
            close_payment(db, m, p["id"])
            live -= amount
        with db.tx() as c:
            assert limits.used(c, "barcode_d_payer_day", payer, AT) == live <= 50_000


@pytest.mark.pg
def test_sixteen_concurrent_payers_never_pass_the_daily_limit(pg_url) -> None:  # type: ignore[no-untyped-def]
    """16 threads pay as the same payer at 16 merchants at once on PostgreSQL: what succeeds never passes 500
    yuan, and the counter equals what was accepted."""
    from tests.conftest import truncate_all
    from zhifu.db import Database

    db = Database(pg_url)
    truncate_all(db)
    try:
        mids = [make_merchant(db) for _ in range(16)]
        barrier = threading.Barrier(16)
        amount = 7_000  # 16 × 70 yuan = 1,120 yuan wanted; 7 fit under 500 yuan

        def one(mid: str) -> bool:
            barrier.wait()
            ok = False
            for _ in range(2):  # two payments each: 32 attempts
                try:
                    pay(db, mid, amount, payer="racer")
                    ok = True
                except ZhifuError as exc:
                    assert exc.code == "barcode_d_payer_day", exc
            return ok

        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            list(pool.map(one, mids))
        with db.tx() as c:
            accepted = c.execute(select(func.coalesce(func.sum(payments.c.amount_fen), 0))).scalar_one()
            assert accepted == 50_000 // amount * amount
            assert limits.used(c, "barcode_d_payer_day", "racer", AT) == accepted
    finally:
        db.dispose()
