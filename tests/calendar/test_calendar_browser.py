"""Chromium: the operator reads the calendar warning, pastes the next year's notice and sees it covered."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.calendar.test_calendar_data import NOTICE_2027
from tests.console.test_browser import DESK, Site, Tab
from tests.settlement.helpers import sh
from zhifu.calendar import routes as calendar_routes
from zhifu.core import clock as clock_mod
from zhifu.core.clock import FixedClock

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def test_operator_imports_next_years_calendar(chromium: Any, site: Site) -> None:
    old = clock_mod.set_clock(FixedClock(sh(2026, 12, 10).astimezone(dt.UTC)))
    calendar_routes._warning_cache.clear()
    tab = Tab(chromium, site, DESK)
    try:
        page = tab.page
        tab.login("op-rcb")
        page.wait_for_url("**/console/operator")
        banner = page.inner_text("[data-calendar-banner]")
        assert "2026-12-31" in banner and "21" in banner
        page.click("[data-calendar-banner] a")
        page.wait_for_url("**/console/operator/calendar")
        page.fill("textarea[name=csv_text]", "date,type,name\n2027-02-30,holiday,春节\n")
        page.click("main form button[type=submit]")
        assert "第 2 行" in page.inner_text("[data-import-error]")
        assert any("400" in e for e in tab.errors)  # the refused file is answered 400, with the form again
        tab.errors.clear()
        page.fill("textarea[name=csv_text]", NOTICE_2027.decode())
        page.click("main form button[type=submit]")
        page.wait_for_selector("[data-import-done]")
        assert page.inner_text("[data-last-day]") == "2027-12-31"
        assert page.locator("[data-calendar-banner]").count() == 0
        tab.shot("operator-calendar-zh")
    finally:
        tab.close()
        clock_mod.set_clock(old)
        calendar_routes._warning_cache.clear()
