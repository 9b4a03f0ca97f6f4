"""Chromium: the regulator reads the log's checkpoint and last verification on the dashboard, follows it to
the log, filters by date and role (a typo'd date refused naming the field), and sees personal data masked."""

from __future__ import annotations

from typing import Any

import pytest

from tests.console.test_browser import DESK, Site, Tab
from zhifu import audit
from zhifu.core import clock

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def test_regulator_reads_the_dashboard_card_and_filters_the_log(chromium: Any, site: Site) -> None:
    site.db.run(
        lambda c: audit.record(
            c,
            "op-rcb",
            "test.lookup",
            "merchant",
            site.mch_a,
            {"phone": "13905331234"},
            role="operator",
            merchant_id=site.mch_a,
        )
    )
    audit.integrate_db(site.db)
    audit.verify_due(site.db, every_s=0)
    tab = Tab(chromium, site, DESK)
    try:
        page = tab.page
        tab.login("pboc")
        page.wait_for_url("**/console/regulator")
        card = page.locator("[data-audit-card]")
        assert "有效" in page.inner_text("[data-audit-signature]")
        assert "完好" in page.inner_text("[data-audit-verified]")
        assert card.count() == 1
        page.click("[data-audit-card] a")
        page.wait_for_url("**/console/regulator/audit")
        today = clock.now().astimezone(clock.SHANGHAI).date().isoformat()
        page.fill("input[name=since]", today)
        page.fill("input[name=until]", today)
        page.select_option("select[name=role]", "operator")
        page.fill("input[name=action]", "test.lookup")
        page.click("main form.filters button[type=submit]")
        page.wait_for_selector("[data-entry]")
        assert page.locator("[data-entry]").count() == 1
        text = page.inner_text("[data-entries]")
        assert "139****1234" in text and "13905331234" not in text
        tab.shot("regulator-audit-filters-zh")
        page.goto(site.url + "/console/regulator/audit?since=2026-02-30")
        assert "开始日期" in page.inner_text("[data-filter-error]")
        tab.errors.clear()  # the refusal's 400 was the point
    finally:
        tab.close()
