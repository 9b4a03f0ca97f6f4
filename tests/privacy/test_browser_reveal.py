"""Chromium: an acquirer's operator opens a merchant, asks to see the phone in full with too short a reason (an
inline Chinese message naming the field, nothing shown), then with a reason: the full number is shown and the
read is in the audit log under the operator's name."""

from __future__ import annotations

from typing import Any

import pytest

from tests.console.test_browser import DESK, Site, Tab, chromium, site  # noqa: F401
from zhifu import audit

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]
PHONE_OF_APPLICATION = "13800138000"  # tests.factories.application's phone


def test_operator_reads_a_phone_in_full_with_a_reason(chromium: Any, site: Site) -> None:  # noqa: F811
    tab = Tab(chromium, site, DESK)
    try:
        page = tab.page
        tab.login("op-rcb")
        page.goto(f"{site.url}/console/operator/merchants/{site.mch_a}")
        assert PHONE_OF_APPLICATION not in page.content()
        form = page.locator("[data-reveal-form] form")
        form.locator("select[name=field]").select_option("phone")
        form.locator("input[name=reason]").fill("看")
        form.locator("[data-reveal]").click()
        page.wait_for_selector("[data-error-field=reason]")
        assert "请写明查看原因" in page.inner_text("[data-error-field=reason]")
        assert PHONE_OF_APPLICATION not in page.content()
        assert tab.errors == [
            "Failed to load resource: the server responded with a status of 400 (Bad Request)"
        ]
        tab.errors.clear()  # the refusal's 400 was the point
        form = page.locator("[data-reveal-form] form")
        form.locator("select[name=field]").select_option("phone")
        form.locator("input[name=reason]").fill("回访核实联系电话")
        form.locator("[data-reveal]").click()
        page.wait_for_selector("[data-revealed-value]")
        assert page.inner_text("[data-revealed-value]") == PHONE_OF_APPLICATION
        tab.shot("operator-personal-data-zh")
    finally:
        tab.close()
    audit.integrate_db(site.db)
    with site.db.read() as c:
        (e,) = audit.list_entries(c, action="personal_data.read_unmasked")["data"]
    assert (e["actor"], e["role"], e["object_id"]) == ("op-rcb", "operator", site.mch_a)
    assert e["details"] == {"field": "phone", "reason": "回访核实联系电话"}
