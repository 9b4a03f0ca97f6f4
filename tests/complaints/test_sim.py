"""The simulator's complaints: tied to real payments of the simulated history, worked through their lifecycle
(refunds by maker-checker, decisions on time and late, escalation when nobody answers), deterministic."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from tests.rails_support import pump as pump_notifications
from zhifu import ledger
from zhifu.complaints import stats
from zhifu.complaints.models import complaint_payments, complaint_refunds, complaints
from zhifu.core import clock as clock_mod
from zhifu.core.clock import SHANGHAI, FixedClock
from zhifu.core.config import get_settings
from zhifu.db import Database
from zhifu.payments import payments
from zhifu.sim import SimParams, simulate
from zhifu.sim.complaints import demo_complaints

TODAY = dt.date(2024, 3, 5)
PARAMS = SimParams("demo_small", TODAY - dt.timedelta(days=45), 45, seed=3, scale=0.05)


@pytest.fixture
def county(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("ZHIFU_COUNTY_PROFILE", "demo_small")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_demo_complaints_are_about_real_payments_and_alive(db: Database, county) -> None:  # type: ignore[no-untyped-def]
    simulate(db, PARAMS)
    fc = FixedClock(dt.datetime.combine(TODAY, dt.time(12), SHANGHAI))
    old = clock_mod.set_clock(fc)
    try:
        logins = demo_complaints(db, TODAY, 3)
        pump_notifications(db)
    finally:
        clock_mod.set_clock(old)
    assert [r for r, _, _ in logins] == ["complaints"]
    with db.read() as c:
        n = c.execute(select(func.count()).select_from(complaints)).scalar_one()
        linked = c.execute(
            select(func.count()).select_from(
                complaint_payments.join(payments, payments.c.id == complaint_payments.c.payment_id)
            )
        ).scalar_one()
        approved = c.execute(
            select(func.count()).where(complaint_refunds.c.status == "approved")
        ).scalar_one()
        s = stats(c, TODAY - dt.timedelta(days=40), TODAY)
        assert ledger.verify(c) == []
    assert 30 <= n <= 80 and linked >= n // 2 and approved >= 3
    t = s["timeliness"]
    assert t["decided"] > 0 and 0 < t["timely_ppm"] < 1_000_000 and t["escalated"] >= 1
    assert {r["key"] for r in s["by_category"]} >= {"double_charge", "merchant_refuses_smart_pay"}
