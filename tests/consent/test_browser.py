"""Chromium: an operator files a merchant's correction (a bad phone refused inline first), cannot approve it
herself, and a second operator of the same bank approves it; the merchant's phone is corrected, masked."""

from __future__ import annotations

from typing import Any

import pytest

from tests.console.conftest import PASSWORD
from tests.console.test_browser import DESK, Site, Tab
from zhifu import merchants

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def test_a_correction_is_filed_by_one_operator_and_applied_by_another(chromium: Any, site: Site) -> None:
    from sqlalchemy import select

    from zhifu.console import service as console
    from zhifu.console.models import console_users

    with site.db.tx() as c:  # the second operator of the same bank, once per site
        if (
            c.execute(select(console_users.c.id).where(console_users.c.username == "op-rcb-check")).first()
            is None
        ):
            console.create_user(c, "op-rcb-check", "operator", PASSWORD, institution_id="yiyuan_rcb")
    maker = Tab(chromium, site, DESK)
    try:
        page = maker.page
        maker.login("op-rcb")
        page.wait_for_url("**/console/operator")
        page.click("nav >> text=数据主体请求 / Data-subject requests")
        page.wait_for_url("**/console/operator/subject-requests")
        page.select_option("select[name=subject_type]", "merchant")
        page.fill("input[name=merchant_id]", site.mch_a)
        page.select_option("select[name=kind]", "correction")
        page.select_option("select[name=field]", "phone")
        page.fill("input[name=value]", "1380000")
        page.fill("textarea[name=reason]", "法人到网点书面申请，已核验身份证")
        page.click("[data-file-button]")
        error = page.locator("[data-form-error]")
        assert error.get_attribute("data-form-error") == "value"
        assert error.inner_text().startswith("新值")
        maker.errors.clear()  # the refusal's 400 was the point
        page.fill("input[name=value]", "13800002222")
        page.click("[data-file-button]")
        page.wait_for_selector("[data-own]")
        assert page.inner_text("[data-value]") == "138****2222"
        request_url = page.url
        page.click("[data-approve]")
        assert "另一" in page.inner_text("main")  # the maker cannot be the checker
        maker.errors.clear()  # so was the 403
        maker.shot("operator-subject-request-zh")
    finally:
        maker.close()

    checker = Tab(chromium, site, DESK)
    try:
        page = checker.page
        checker.login("op-rcb-check")
        page.wait_for_url("**/console/operator")
        page.goto(site.url + "/console/operator/subject-requests")
        page.click(f"a[href='{request_url.removeprefix(site.url)}']")
        page.click("[data-approve]")
        page.wait_for_selector("[data-corrected]")
        assert page.get_attribute("[data-request]", "data-status") == "applied"
    finally:
        checker.close()
    with site.db.read() as c:
        assert merchants.get_merchant(c, site.mch_a)["phone_masked"] == "138****2222"
