"""Chromium drives a refund under maker-checker: the biller's clerk proposes refunding a payment (a mistyped
payment id refused inline, naming the field), cannot approve it themself, a second user of the biller approves it
and the new receipt verifies on the public page. Skips without chromium unless ZHIFU_REQUIRE_BROWSER=1."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.bills.helpers import account, complete, month_of_bills
from tests.bills.test_browser import site  # noqa: F401
from tests.console.test_browser import ARTIFACTS, DESK, PASSWORD, chromium  # noqa: F401
from zhifu.bills import service
from zhifu.core.clock import SHANGHAI

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def _login(chromium: Any, url: str, username: str) -> Any:  # noqa: F811
    page = chromium.new_context(viewport=DESK, locale="zh-CN").new_page()
    page.set_default_timeout(10_000)
    page.goto(url + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url("**/console/biller")
    return page


def test_a_refund_is_proposed_by_one_and_approved_by_another(chromium: Any, site) -> None:  # noqa: F811
    from zhifu.console import service as console

    url, db = site
    with db.tx() as c:
        console.create_user(c, "water-li", "biller", PASSWORD, biller_id="water", display_name="供水公司复核")
        due = (dt.datetime.now(SHANGHAI) + dt.timedelta(days=20)).date()  # the server runs on the real clock
        service.import_bills(c, "water", month_of_bills(3, start=900, due=str(due)), filename="refunds.csv")
    p = service.pay(db, service.PayBillIn(biller_id="water", account_no=account(901), channel="unionpay_qr"))
    pid = p["payment"]["id"]
    complete(db, pid)
    errors: list[str] = []
    maker = _login(chromium, url, "water-co")
    maker.on("pageerror", lambda e: errors.append(str(e)))
    maker.click("nav a[href='/console/biller/refunds']")
    maker.wait_for_url("**/console/biller/refunds")
    assert pid in maker.inner_text("#lines")
    maker.fill("#propose-refund input[name=payment_id]", "pay_typo")
    maker.fill("#propose-refund input[name=reason]", "户号已销户 / account closed")
    maker.click("#propose")
    err = maker.wait_for_selector("#refund-error")
    assert err.get_attribute("data-field") == "payment_id" and "缴费单号" in err.inner_text()
    assert maker.get_attribute("#propose-refund input[name=payment_id]", "aria-invalid") == "true"
    assert maker.input_value("#propose-refund input[name=reason]") == "户号已销户 / account closed"
    maker.fill("#propose-refund input[name=payment_id]", pid)
    maker.click("#propose")
    assert "待另一人复核" in maker.inner_text("#refund-done")
    row = maker.locator("#pending tr", has_text=pid)
    assert "待他人复核" in row.inner_text() and row.locator("button").count() == 0  # not their own to approve
    with db.read() as c:
        assert service.find_lines(c, "water", q=pid)[0]["refunded_fen"] == 0  # nothing moved yet
    checker = _login(chromium, url, "water-li")
    checker.goto(url + "/console/biller/refunds")
    checker.locator("#pending tr", has_text=pid).locator("button", has_text="批准").click()
    done = checker.wait_for_selector("#refund-done")
    assert "已批准并退款" in done.inner_text()
    receipt = checker.get_attribute("#refund-done a", "href")
    assert "已批准" in checker.locator("#decided tr", has_text=pid).inner_text()
    assert "water-co → water-li" in checker.locator("#decided tr", has_text=pid).inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    checker.screenshot(path=str(ARTIFACTS / "biller-refund-approved-zh.png"), full_page=True)
    with db.read() as c:
        line = [x for x in service.find_lines(c, "water", q=account(901))][0]
    assert line["refunded_fen"] == line["amount_fen"] and line["receipt_no"] == receipt.rsplit("/", 1)[1]
    checker.goto(url + receipt)
    assert checker.get_attribute("#verdict", "data-genuine") == "1"
    assert errors == []
