"""The simulator's rural life: harvest cards past the pilot target, e-accounts spending, a season's payouts with
the closed card retried, service points covering villages and an online share, all balanced in the ledger."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.rural.helpers import merchant
from zhifu import ledger
from zhifu.core.clock import SHANGHAI
from zhifu.db import Database
from zhifu.merchants import county
from zhifu.rural.service import kpi_rural
from zhifu.sim.rural import demo_rural


@pytest.mark.parametrize("backend", ["sqlite"])
def test_demo_rural_gives_the_dashboard_its_figures(db: Database) -> None:
    for _ in range(7):
        merchant(db)
    today = dt.datetime.now(SHANGHAI).date()  # the orders are paid now: a Beijing day, not the UTC one
    assert demo_rural(db, county(), today, 5, login=False) == []
    with db.read() as c:
        f = kpi_rural(c, today - dt.timedelta(days=40), today)
        assert f["harvest_cards"]["issued"] == 1_200 and f["harvest_cards"]["activated"] > 0
        assert f["eaccounts"]["class_ii"] == 32 and f["eaccounts"]["class_iii"] == 8
        assert f["eaccount_spend"]["count"] > 0
        # two stations × 60 farmers: the closed cards are paid on retry; lines a Class III cap refused are returned
        assert 110 <= f["payouts"]["payouts"] < 120
        assert f["service_points"]["points"] == 12 and f["service_points"]["villages_covered"] == 12
        assert f["online"]["online_fen"] > 0
        assert not ledger.verify(c)
