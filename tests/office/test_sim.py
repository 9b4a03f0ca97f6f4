"""The simulator gives the office its life on a simulated history: progress on all seven items, a 会商 with two
actions, training in the pilot towns beside adoption, ≥10 circles launched with shops, credit on consented
evidence and one withdrawal, and the ledger still verifies."""

from __future__ import annotations

import datetime as dt

import pytest

from zhifu import ledger
from zhifu.core import clock as clock_mod
from zhifu.core.clock import SHANGHAI, FixedClock
from zhifu.core.config import get_settings
from zhifu.county import load_profile
from zhifu.db import Database
from zhifu.office import service
from zhifu.sim import SimParams, simulate
from zhifu.sim.office import demo_office

TODAY = dt.date(2024, 3, 5)
PARAMS = SimParams("demo_small", TODAY - dt.timedelta(days=60), 60, seed=3, scale=0.05)


@pytest.fixture
def county(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("ZHIFU_COUNTY_PROFILE", "demo_small")
    get_settings.cache_clear()
    yield load_profile("demo_small").model_copy(update={"programme": load_profile("yiyuan").programme})
    get_settings.cache_clear()


def test_demo_office_fills_every_part(db: Database, county) -> None:  # type: ignore[no-untyped-def]
    simulate(db, PARAMS)
    old = clock_mod.set_clock(FixedClock(dt.datetime.combine(TODAY, dt.time(12), SHANGHAI)))
    try:
        logins = demo_office(db, county, TODAY, 3)
        with db.read() as c:
            its = service.items(c, today=TODAY)
            meetings = service.meetings(c)
            cs = service.circles(c, today=TODAY)
            figs = service.kpi_programme_office(c, TODAY - dt.timedelta(days=60), TODAY)
            assert ledger.verify(c) == []
    finally:
        clock_mod.set_clock(old)
    assert [u for _, u, _ in logins] == ["commerce"]
    assert len(its) == 7 and all(i["progress_ppm"] > 0 and i["last_update_at"] for i in its)
    assert len(meetings) == 1 and len(meetings[0]["actions"]) == 2
    assert (
        figs is not None and figs["circles_launched"] == len(cs) - 2 and sum(c["merchants"] for c in cs) > 0
    )
    pilot = [t for t in figs["training"]["towns"] if t["town_code"] in county.pilot_towns]
    assert pilot and all(t["cashiers"] > 0 and t["before"] is not None for t in pilot)
    assert figs["credit"]["disclosures"] >= 1 and figs["sme"]["by_product"]
