"""The simulator gives transit and scenic their life: yesterday's buses charged exactly the capped fares (an
offline validator uploading late and twice), declined riders denied, passes sold and one refunded, today's
visitors admitted once each, and tomorrow's rush selling exactly the slot's capacity; the ledger verifies."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from zhifu import ledger
from zhifu.core.clock import SHANGHAI
from zhifu.county import load_profile
from zhifu.payments import ensure_platform_accounts
from zhifu.sim import transit as sim_transit
from zhifu.transit import fares, scenic, service
from zhifu.transit.models import transit_fare_days, transit_operators


def test_demo_transit(db, monkeypatch, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("ZHIFU_COUNTY_PROFILE", "demo_small")
    from zhifu.core.config import get_settings

    get_settings.cache_clear()
    monkeypatch.setattr(sim_transit, "RIDERS", 40)
    monkeypatch.setattr(sim_transit, "STUDENTS", 4)
    monkeypatch.setattr(sim_transit, "RUSH_BUYERS", 120)
    now = dt.datetime(2022, 6, 15, 17, tzinfo=SHANGHAI)
    fixed_clock.set(now)
    with db.tx() as c:
        ensure_platform_accounts(c)
    try:
        logins = sim_transit.demo_transit(
            db, load_profile("demo_small"), now.date(), seed=3, now=now, login=False
        )
    finally:
        monkeypatch.delenv("ZHIFU_COUNTY_PROFILE")
        get_settings.cache_clear()
    assert logins == []
    yesterday = now.date() - dt.timedelta(days=1)
    with db.read() as c:
        ops = {o["kind"]: o for o in service.list_operators(c)}
        bus = c.execute(select(transit_operators).where(transit_operators.c.kind == "bus")).one()
        owed = 0
        for (rider,) in c.execute(select(transit_fare_days.c.rider_id).where(and_bus(bus)).distinct()):
            caps = [d["capped_fen"] for d in service.rider_account(c, bus.merchant_id, rider)["days"]]
            owed += fares.month_owed(caps, bus.monthly_cap_fen)
        charges = service.list_charges(c, bus.merchant_id, limit=200)
        ok = sum(ch["amount_fen"] for ch in charges if ch["status"] == "succeeded")
        failed = sum(ch["amount_fen"] for ch in charges if ch["status"] == "failed")
        denied = service.deny_entries(c, bus.merchant_id)
        health = {v["id"]: v for v in service.validator_health(c, bus.merchant_id, at=now)}
        park = scenic.list_slots(c, ops["scenic"]["merchant_id"], now.date() + dt.timedelta(days=1))
        passes = service.list_passes(c, ops["school_bus"]["merchant_id"])
        admitted = scenic.sales(c, ops["scenic"]["merchant_id"], now.date())["admitted"]
        figs = service.kpi_transit_usage(c, yesterday, now.date())
        days = c.execute(select(func.count()).select_from(transit_fare_days)).scalar_one()
        assert ledger.verify(c) == []
    assert days > 0 and ok + failed == owed and ok > 0  # each rider charged exactly the capped fares, once
    assert failed == sum(d["debt_fen"] for d in denied) and len(denied) >= 1
    assert health[sim_transit.OFFLINE_VALIDATOR]["deny_stale"] and not health["bus-1a"]["deny_stale"]
    rush = next(s for s in park if s["starts"] == "10:00")
    assert rush["sold"] == rush["capacity"] == 90 and rush["held"] == 0
    assert admitted > 0 and {p["status"] for p in passes} == {"active", "refunded"}
    assert set(figs["by_kind"]) == {"bus", "school_bus", "scenic"} and len(figs["by_channel"]) >= 3


def and_bus(bus):  # type: ignore[no-untyped-def]
    return transit_fare_days.c.merchant_id == bus.merchant_id
