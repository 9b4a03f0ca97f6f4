"""The simulator gives public-service payments their life: billers of the county, bills, payments on several
channels, some partial, two phones at once on one bill, and a ledger that still verifies."""

from __future__ import annotations

import datetime as dt

from zhifu import ledger
from zhifu.bills import service
from zhifu.county import load_profile
from zhifu.payments import ensure_platform_accounts
from zhifu.sim import bills as sim_bills


def test_demo_bills(db, monkeypatch, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("ZHIFU_COUNTY_PROFILE", "demo_small")
    from zhifu.core.config import get_settings

    get_settings.cache_clear()
    monkeypatch.setattr(sim_bills, "ACCOUNTS_PER_BILLER", 12)
    with db.tx() as c:
        ensure_platform_accounts(c)
    try:
        made = sim_bills.demo_bills(db, load_profile("demo_small"), dt.date(2022, 6, 15), seed=3)
    finally:
        monkeypatch.delenv("ZHIFU_COUNTY_PROFILE")
        get_settings.cache_clear()
    assert made["billers"] == ["water", "power", "school", "bus", "wetland"]
    assert made["partial"] > 0 and made["raced"] == 4
    with db.read() as c:
        figs = service.public_service_figures(c)
        assert ledger.verify(c) == []
    assert figs["count"] == made["paid"] + made["raced"]
    assert len(figs["by_channel"]) >= 3 and len(figs["by_category"]) == 4
