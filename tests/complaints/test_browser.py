"""Chromium through Playwright: a consumer files a complaint on the public page from a phone (one-time code),
handlers log a telephone complaint, reassign, respond, refund through maker-checker, resolve and escalate, and
the regulator sees the figures. Skips when chromium or Playwright is missing (ZHIFU_REQUIRE_BROWSER=1 fails)."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.console.test_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    DESK,
    PASSWORD,
    PHONE,
    Tab,
    _browser_missing,
    _free_port,
)
from zhifu.complaints import MemorySender, set_sender
from zhifu.db import Database
from zhifu.db.schema import metadata

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]
MOBILE = "13912345678"


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    import os

    missing = _browser_missing()
    if missing:
        if os.environ.get("ZHIFU_REQUIRE_BROWSER") == "1":
            pytest.fail(f"browser tests are required here but cannot run: {missing}")
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class Site:
    url: str
    db: Database
    mch: str
    pay: str
    sms: MemorySender


def _seed(db: Database) -> tuple[str, str]:
    from tests.factories import application
    from zhifu.console import service as console
    from zhifu.merchants import MerchantApplication, apply, review
    from zhifu.payments import CreatePayment, create_payment, ensure_platform_accounts
    from zhifu.railsim.payer import Payer, sim_pay

    with db.tx() as c:
        ensure_platform_accounts(c)
        a = apply(c, MerchantApplication(**application(short_name="张记早餐")))["id"]
        review(c, a, "approve")
        for name, role in (("desk1", "complaints"), ("desk2", "complaints"), ("pboc", "regulator")):
            console.create_user(c, name, role, PASSWORD)
        pid = create_payment(
            c, a, CreatePayment(amount_fen=1234, merchant_order_no="B-1", channel="unionpay_qr")
        )["id"]
    sim_pay(db, pid, outcome=None, payer=Payer("payer_sim", None, None))
    return a, pid


@pytest.fixture(scope="module")
def site(chromium: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    import uvicorn
    from argon2 import PasswordHasher

    from zhifu.api.app import create_app
    from zhifu.console import service as console

    old_hasher, console.hasher = console.hasher, PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    sms = MemorySender()
    old_sender = set_sender(sms)
    db = Database(f"sqlite:///{tmp_path_factory.mktemp('complaints-browser')}/zhifu.db")
    metadata.create_all(db.engine)
    mch, pay = _seed(db)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(db, background=True), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield Site(f"http://127.0.0.1:{port}", db, mch, pay, sms)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        console.hasher = old_hasher
        set_sender(old_sender)
        db.dispose()


def _code(sms: MemorySender) -> str:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        found = re.search(r"验证码为 (\d{6})", sms.last_to(MOBILE) or "")
        if found:
            return found.group(1)
        time.sleep(0.1)
    raise AssertionError("no code was texted")


def test_public_page_workbench_and_regulator(chromium: Any, site: Site) -> None:
    phone = Tab(chromium, site, PHONE)  # type: ignore[arg-type]
    page = phone.page
    page.goto(f"{site.url}/complain?payment_id={site.pay}")
    page.fill("input[name=phone]", MOBILE)
    page.click("[data-send-code]")
    page.wait_for_selector("text=验证码已发送")
    page.fill("input[name=code]", _code(site.sms))
    page.select_option("select[name=category]", "double_charge")
    page.fill("textarea[name=narrative]", "早餐 12.34 元扣了两次")
    page.check("input[name=consent]")
    page.click("main button[type=submit]")
    cid = page.get_attribute("[data-complaint-id]", "data-complaint-id")
    assert cid and cid.startswith("cmpl_")
    phone.shot("complaints-public-filed-zh")
    phone.close()

    desk = Tab(chromium, site, DESK)  # type: ignore[arg-type]
    page = desk.page
    desk.login("desk1")
    page.wait_for_url("**/console/complaints")
    assert page.locator(f'[data-complaint="{cid}"]').count() == 1
    # log: a complaint taken on the telephone
    page.fill("[data-log-form] input[name=phone]", "13800001111")
    page.select_option("[data-log-form] select[name=category]", "merchant_refuses_smart_pay")
    page.fill("[data-log-form] input[name=merchant_id]", site.mch)
    page.fill("[data-log-form] textarea[name=narrative]", "店里拒收云闪付")
    page.click("[data-log-form] button[type=submit]")
    page.wait_for_selector('[data-done="logged"]')
    logged = page.url.split("/")[-1].split("?")[0]
    # escalate it to the PBOC office
    page.fill("form[action$='/escalate'] input[name=reason]", "商户多次拒收，提请人民银行督办")
    page.click("form[action$='/escalate'] button")
    page.wait_for_selector('[data-event="escalated"]')

    # the double charge: assign, respond, propose a refund
    page.goto(f"{site.url}/console/complaints/{cid}")
    page.select_option("form[action$='/assign'] select[name=org]", "psbc")
    page.click("form[action$='/assign'] button")
    assert "请填写改派原因" in page.inner_text("[role=alert]")  # no reason: refused, nothing changed
    assert desk.errors == ["Failed to load resource: the server responded with a status of 400 (Bad Request)"]
    desk.errors.clear()  # the refusal's 400 was the point
    page.fill("form[action$='/assign'] input[name=reason]", "核实后由农商行处理")
    page.select_option("form[action$='/assign'] select[name=org]", "yiyuan_rcb")
    page.click("form[action$='/assign'] button")
    page.wait_for_selector('[data-done="assign"]')
    page.fill("form[action$='/respond'] textarea[name=message]", "已核实重复扣款，正在退款")
    page.click("form[action$='/respond'] button")
    page.wait_for_selector('[data-done="respond"]')
    page.fill("form[action$='/propose'] input[name=amount]", "12.34")
    page.click("form[action$='/propose'] button")
    page.wait_for_selector('[data-proposal-status="proposed"]')
    desk.shot("complaints-detail-proposed-zh")
    desk.close()

    checker = Tab(chromium, site, DESK)  # type: ignore[arg-type]
    page = checker.page
    checker.login("desk2")
    page.goto(f"{site.url}/console/complaints/{cid}")
    page.click("form[action$='/approve'] button")
    page.wait_for_selector('[data-proposal-status="approved"]')
    # resolve
    page.select_option("form[action$='/decide'] select[name=outcome]", "monetary_relief")
    page.fill("form[action$='/decide'] textarea[name=decision]", "确认重复扣款，已退回 12.34 元")
    page.click("form[action$='/decide'] button")
    page.wait_for_selector('[data-timely="yes"]')
    checker.shot("complaints-resolved-zh")
    checker.close()

    reg = Tab(chromium, site, DESK)  # type: ignore[arg-type]
    page = reg.page
    reg.login("pboc")
    page.goto(f"{site.url}/console/regulator/complaints")
    figures = page.inner_text("[data-figures]")
    assert "100.0%" in figures and "2" in figures
    assert page.locator(f'[data-complaint="{logged}"]').count() >= 1
    reg.shot("complaints-regulator-zh")
    reg.close()
