"""The operator's calendar page: the warning banner within 30 days of the end, importing a year by pasting the
notice (a bad line is named inline, nothing changes), and the API's settle date."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.calendar.test_calendar_data import NOTICE_2027
from tests.console.conftest import World
from tests.settlement.helpers import sh
from zhifu.calendar import routes as calendar_routes
from zhifu.core import clock as clock_mod
from zhifu.core.clock import FixedClock


def test_operator_sees_the_warning_and_imports_the_next_year(world: World) -> None:
    old = clock_mod.set_clock(FixedClock(sh(2026, 12, 10).astimezone(dt.UTC)))
    calendar_routes._warning_cache.clear()
    try:
        op = world.login("op-rcb")
        page = op.get("/console/operator/merchants")
        assert page.status_code == 200 and "data-calendar-banner" in page.text and "2026-12-31" in page.text
        merchant = world.login("shop-a").get("/console/merchant")
        assert "data-calendar-banner" not in merchant.text  # only the operator settles
        r = op.post(
            "/console/operator/calendar",
            {"csv_text": "date,type,name\n2027-01-01,holiday,元旦\n2027-01-01,workday,x\n"},
        )
        assert r.status_code == 400 and "第 3 行" in r.text and "data-import-error" in r.text
        assert 'data-year="2027"' not in r.text
        r = op.post("/console/operator/calendar", {"csv_text": NOTICE_2027.decode()})
        assert r.status_code == 200 and "data-import-done" in r.text and 'data-year="2027"' in r.text
        assert "data-calendar-warning" not in r.text and "2027-12-31" in r.text
        assert "data-calendar-banner" not in op.get("/console/operator/merchants").text
        api: Any = world.platform
        body = api.client.get(
            "/v1/calendar/settle-date", params={"date": "2026-12-31"}, headers=api.op
        ).json()
        assert body["settle_date"] == "2027-01-04" and body["advanced"] is False
        out = api.client.get("/v1/calendar/settle-date", params={"date": "2028-12-29"}, headers=api.op)
        assert out.status_code == 400 and out.json()["error"]["code"] == "calendar_out_of_range"
        assert api.client.get("/v1/calendar", headers=api.op).json()["last_day"] == "2027-12-31"
    finally:
        clock_mod.set_clock(old)
        calendar_routes._warning_cache.clear()
