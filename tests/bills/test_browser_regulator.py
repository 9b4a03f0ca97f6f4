"""Chromium opens the regulator's public-service page: the totals and every row by category, town and channel
shown equal the bill lines' own sums; choosing a channel and a category in the filter form narrows all of them to
the lines of that channel and category. Skips without chromium unless ZHIFU_REQUIRE_BROWSER=1."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.bills.helpers import account, complete, month_of_bills
from tests.bills.test_browser import site  # noqa: F401
from tests.console.test_browser import ARTIFACTS, DESK, PASSWORD, chromium  # noqa: F401
from zhifu.bills import service
from zhifu.bills.models import bill_lines
from zhifu.core.clock import SHANGHAI

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def _own(db, by: str, **where: str) -> dict[str, tuple[int, int]]:  # type: ignore[no-untyped-def]
    col = getattr(bill_lines.c, by)
    cond = [bill_lines.c.status == "succeeded"] + [getattr(bill_lines.c, k) == v for k, v in where.items()]
    with db.read() as c:
        return {
            k: (int(n), int(a))
            for k, n, a in c.execute(
                select(col, func.count(), func.sum(bill_lines.c.amount_fen)).where(*cond).group_by(col)
            )
        }


def _shown(page: Any, table: str) -> dict[str, tuple[int, int]]:
    out = {}
    for row in page.locator(f"#{table} tr[data-key]").all():
        out[row.get_attribute("data-key")] = (
            int(row.get_attribute("data-count")),
            int(row.get_attribute("data-amount-fen")),
        )
    return out


def _check(page: Any, db, **where: str) -> None:  # type: ignore[no-untyped-def]
    total = page.locator("#ps-total")
    by_channel = _own(db, "channel", **where)
    assert (int(total.get_attribute("data-count")), int(total.get_attribute("data-amount-fen"))) == (
        sum(n for n, _ in by_channel.values()),
        sum(a for _, a in by_channel.values()),
    )
    assert _shown(page, "by-channel") == by_channel
    assert _shown(page, "by-category") == _own(db, "category", **where)
    assert _shown(page, "by-town") == _own(db, "town_code", **where)


def test_the_regulator_sees_the_bills_own_figures(chromium: Any, site) -> None:  # noqa: F811
    from zhifu.console import service as console

    url, db = site
    due = (dt.datetime.now(SHANGHAI) + dt.timedelta(days=20)).date()
    with db.tx() as c:
        console.create_user(c, "pboc-ps", "regulator", PASSWORD, display_name="人行")
        service.import_bills(c, "water", month_of_bills(5, start=700, due=str(due)), filename="reg.csv")
    for i, channel in ((700, "wechat"), (701, "wechat"), (702, "alipay"), (703, "unionpay_qr")):
        p = service.pay(db, service.PayBillIn(biller_id="water", account_no=account(i), channel=channel))
        complete(db, p["payment"]["id"])
    page = chromium.new_context(viewport=DESK, locale="zh-CN").new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.set_default_timeout(10_000)
    page.goto(url + "/login")
    page.fill("input[name=username]", "pboc-ps")
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url("**/console/regulator**")
    page.click("nav a[href='/console/regulator/public-services']")
    page.wait_for_selector("#ps-total")
    assert int(page.get_attribute("#ps-total", "data-count")) >= 4
    _check(page, db)
    page.select_option("#ps-filters select[name=channel]", "wechat")
    page.select_option("#ps-filters select[name=category]", "water")
    page.click("#ps-show")
    page.wait_for_url("**channel=wechat**")
    assert page.get_attribute("#ps-total", "data-count") == str(
        _own(db, "channel", channel="wechat")["wechat"][0]
    )
    _check(page, db, channel="wechat", category="water")
    assert list(_shown(page, "by-channel")) == ["wechat"]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "regulator-public-services-zh.png"), full_page=True)
    assert errors == []
