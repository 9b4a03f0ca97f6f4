"""Chromium drives the operator's risk case: open the case the monitor raised on a merchant, propose a freeze (the
proposer's own approval refused inline), approve it as a second operator, and see the merchant's settlement frozen
with its payable held; then the regulator's 风险预警 page lists the alert by town and typology.
Skips without chromium unless ZHIFU_REQUIRE_BROWSER=1."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.console.test_browser import ARTIFACTS, CHROMIUM_ARGS, DESK, PASSWORD, _free_port, chromium  # noqa: F401
from tests.factories import application
from zhifu.core import clock
from zhifu.db import Database
from zhifu.db.schema import metadata

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

RULES = """
rules:
  - id: collect.many.payers
    typology: paofen
    stage: success
    subject: merchant
    all: ["amount_fen >= 1"]
    outcome: review
    score: 60
"""
AMOUNTS_FEN = (5_000, 5_000, 8_800)


@pytest.fixture(scope="module")
def site(chromium: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Database, str]]:  # noqa: F811
    import uvicorn
    from argon2 import PasswordHasher

    from zhifu.api.app import create_app
    from zhifu.console import service as console
    from zhifu.merchants import MerchantApplication, apply, review
    from zhifu.payments import CreatePayment, create_payment, ensure_platform_accounts
    from zhifu.railsim.payer import Payer, sim_pay
    from zhifu.risk import service as risk

    old = console.hasher
    console.hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    risk.forget_ruleset()
    risk.reset_monitor()
    db = Database(f"sqlite:///{tmp_path_factory.mktemp('risk-browser')}/zhifu.db")
    metadata.create_all(db.engine)
    with db.tx() as c:
        ensure_platform_accounts(c)
        shop = apply(c, MerchantApplication(**application(short_name="夜市收款码")))["id"]
        review(c, shop, "approve")
        console.create_user(c, "op-rcb", "operator", PASSWORD, institution_id="yiyuan_rcb")
        console.create_user(c, "op-psbc", "operator", PASSWORD, institution_id="psbc")
        console.create_user(c, "pboc", "regulator", PASSWORD)
        risk.load_rules(c, RULES, by="test", at=clock.now())
    risk.forget_ruleset()
    for i, amount in enumerate(AMOUNTS_FEN):
        with db.tx() as c:
            pid = create_payment(
                c, shop, CreatePayment(amount_fen=amount, merchant_order_no=f"N-{i}", channel="unionpay_qr")
            )["id"]
        assert (
            sim_pay(db, pid, outcome=None, payer=Payer(f"payer{i}", None, "debit"))["status"] == "succeeded"
        )
    assert risk.scan(db) == len(AMOUNTS_FEN)  # what zhifu serve's monitor does in the background
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(db), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", db, shop
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        console.hasher = old
        risk.forget_ruleset()
        risk.reset_monitor()
        db.dispose()


def _login(chromium: Any, url: str, username: str, lands: str) -> tuple[Any, list[str]]:  # noqa: F811
    ctx = chromium.new_context(viewport=DESK, locale="zh-CN")
    page = ctx.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(f"**{lands}**")
    return page, errors


def test_two_operators_freeze_a_merchant_and_the_regulator_sees_the_alert(chromium: Any, site) -> None:  # noqa: F811
    from zhifu import ledger
    from zhifu.merchants import service as merchants
    from zhifu.risk import service as risk

    url, db, shop = site
    maker, maker_errors = _login(chromium, url, "op-rcb", "/console/operator")
    maker.goto(url + "/console/operator/risk")
    assert "风险案件" in maker.inner_text("h1")
    row = maker.locator("[data-cases-table] tbody tr", has_text=shop)
    row.locator("a").click()
    maker.wait_for_selector("[data-case]")
    case_id = maker.get_attribute("[data-case]", "data-case")
    assert maker.inner_text("[data-status]") == "open"
    assert maker.get_attribute("[data-merchant-frozen]", "data-merchant-frozen") == "0"
    assert "collect.many.payers" in maker.inner_text("[data-alerts-table]")
    maker.select_option(f"form[action$='/cases/{case_id}/decide'] select[name=action]", "freeze")
    maker.fill(f"form[action$='/cases/{case_id}/decide'] input[name=note]", "跑分嫌疑：多个付款人、整数金额")
    maker.click(f"form[action$='/cases/{case_id}/decide'] button[type=submit]")
    maker.wait_for_selector("[data-pending]")
    assert maker.inner_text("[data-pending]") == "freeze"
    maker.click("button[name=verdict][value=approve]")  # the proposer cannot be the checker
    assert "提出人不能复核" in maker.inner_text("[data-error]")
    with db.read() as c:
        assert (
            merchants.get_merchant(c, shop)["frozen"] is False
        )  # nothing happens until a second person approves

    checker, checker_errors = _login(chromium, url, "op-psbc", "/console/operator")
    checker.goto(f"{url}/console/operator/risk/cases/{case_id}")
    assert checker.inner_text("[data-pending]") == "freeze"
    checker.click("button[name=verdict][value=approve]")
    checker.wait_for_selector("[data-status]:has-text('frozen')")
    assert checker.get_attribute("[data-merchant-frozen]", "data-merchant-frozen") == "1"
    assert "结算已冻结" in checker.inner_text("[data-merchant-frozen]")
    assert "op-psbc · approved" in checker.inner_text("[data-events]")
    with db.read() as c:
        assert merchants.get_merchant(c, shop)["frozen"] is True
        case = risk.get_case(c, case_id)
        held = ledger.get_hold(c, case["hold_id"])
    assert case["frozen_fen"] > 0 and held.status == "pending" and held.amount_fen == case["frozen_fen"]
    assert f"¥{case['frozen_fen'] // 100}." in checker.inner_text("[data-case]")
    ARTIFACTS.mkdir(exist_ok=True)
    checker.screenshot(path=str(ARTIFACTS / "risk-case-frozen-zh.png"), full_page=True)

    reg, reg_errors = _login(chromium, url, "pboc", "/console/regulator")
    reg.goto(url + "/console/regulator/risk")
    assert "风险预警" in reg.inner_text("h1")
    with db.read() as c:
        live = risk.summary(c)["alerts"]
    assert live >= 1 and reg.inner_text("[data-alerts]") == str(live)
    assert reg.inner_text("[data-open-cases]") == "1"
    assert "跑分" in reg.inner_text("[data-cells]") and "collect.many.payers" in reg.inner_text(
        "[data-alerts-table]"
    )
    assert "frozen" in reg.inner_text("[data-cases-table]")
    assert reg.locator("[data-cases-table] a").count() == 0  # the regulator reads; it has no case actions
    reg.select_option("select[name=typology]", "cashout")
    reg.click("form.filters button[type=submit]")
    reg.wait_for_url("**typology=cashout**")
    assert "暂无预警" in reg.inner_text("[data-alerts-table]")
    reg.screenshot(path=str(ARTIFACTS / "risk-regulator-zh.png"), full_page=True)
    assert maker_errors == checker_errors == reg_errors == []
