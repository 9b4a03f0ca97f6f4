"""Chromium drives an operator's day: onboard with live checks, issue a code and print its sticker, settle a date
and download its payout file, import the bank's result, reconcile a rail-day from a file, resolve a case with a
second person, start and pause a campaign, add a fee rate — and another acquirer's operator reaches none of it."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.console.test_browser import DESK, PASSWORD, Tab, _free_port, chromium  # noqa: F401  (fixture)
from zhifu.db import Database
from zhifu.db.schema import metadata

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


@dataclass
class OpSite:
    url: str
    db: Database
    mch_a: str
    day: dt.date
    folder: Path


def _seed(db: Database, day: dt.date) -> str:
    """Merchant A with takings on `day` (a fixed clock), and the operators of two acquirers."""
    from tests.factories import application
    from zhifu.console import service as console
    from zhifu.core import clock as clock_mod
    from zhifu.core.clock import SHANGHAI, FixedClock
    from zhifu.merchants import MerchantApplication, apply, review
    from zhifu.payments import CreatePayment, create_payment, ensure_platform_accounts
    from zhifu.railsim.payer import Payer, sim_pay

    fixed = FixedClock(dt.datetime.combine(day, dt.time(10), SHANGHAI))
    old = clock_mod.set_clock(fixed)
    try:
        with db.tx() as c:
            ensure_platform_accounts(c)
            a = apply(c, MerchantApplication(**application(short_name="张记早餐")))["id"]
            review(c, a, "approve")
        for i in range(5):
            fixed.advance(minutes=7)
            with db.tx() as c:
                pid = create_payment(
                    c,
                    a,
                    CreatePayment(
                        amount_fen=1_200 + 100 * i, merchant_order_no=f"OP-{i}", channel="unionpay_qr"
                    ),
                )["id"]
            sim_pay(db, pid, outcome="success", payer=Payer(card_type="debit"))
    finally:
        clock_mod.set_clock(old)
    with db.tx() as c:
        console.create_user(
            c, "op-rcb", "operator", PASSWORD, institution_id="yiyuan_rcb", display_name="农商行经办"
        )
        console.create_user(
            c, "op-rcb-2", "operator", PASSWORD, institution_id="yiyuan_rcb", display_name="农商行复核"
        )
        console.create_user(
            c, "op-psbc", "operator", PASSWORD, institution_id="psbc", display_name="邮储经办"
        )
    return a


@pytest.fixture(scope="module")
def opsite(chromium: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpSite]:  # noqa: F811
    import os

    import uvicorn
    from argon2 import PasswordHasher

    from tests import rails_support
    from zhifu.api.app import create_app
    from zhifu.console import service as console
    from zhifu.core.clock import SHANGHAI

    old_hasher = console.hasher
    console.hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    folder = tmp_path_factory.mktemp("browser-ops")
    old_dir = os.environ.get("ZHIFU_SETTLEMENT_DIR")
    os.environ["ZHIFU_SETTLEMENT_DIR"] = str(folder / "payouts")
    db = Database(f"sqlite:///{folder}/zhifu.db")
    metadata.create_all(db.engine)
    day = dt.datetime.now(SHANGHAI).date() - dt.timedelta(days=3)
    assert rails_support.SIM is not None
    rails_support.SIM.store.forget()
    mch_a = _seed(db, day)
    # The rail's file of that day, with one amount planted wrong (the rails forget their books between tests).
    (folder / "zm.txt").write_bytes(
        rails_support.produce_statement("unionpay_qr", day, {"amount_mismatch": 1}, seed=7).data
    )
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(db), host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield OpSite(f"http://127.0.0.1:{port}", db, mch_a, day, folder)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        console.hasher = old_hasher
        if old_dir is None:
            os.environ.pop("ZHIFU_SETTLEMENT_DIR", None)
        else:
            os.environ["ZHIFU_SETTLEMENT_DIR"] = old_dir
        db.dispose()


def _close(tab: Tab) -> None:
    """Close, allowing the browser's own log line for a page answered 4xx on purpose (a refused form, a 404)."""
    tab.errors = [e for e in tab.errors if "the server responded with a status of 4" not in e]
    tab.close()


def _count(db: Database, table: Any, *where: Any) -> int:
    with db.tx() as c:
        return int(c.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def test_operator_onboards_with_live_checks_and_a_double_click_files_once(
    chromium: Any,
    opsite: OpSite,
) -> None:
    from playwright.sync_api import expect

    from tests.factories import application
    from zhifu.merchants.models import merchants

    tab = Tab(chromium, opsite, DESK)  # type: ignore[arg-type]
    page = tab.page
    tab.login("op-rcb")
    page.wait_for_url("**/console/operator")
    page.click("[data-onboard-link]")
    page.wait_for_selector("form[data-onboard]")
    page.wait_for_load_state("load")
    app = application(legal_name="沂源县南麻浏览器测试店", short_name="浏览器小店")
    page.select_option("select[name=type]", "individual_business")
    page.fill(
        "input[name=credit_code]", app["credit_code"][:17] + ("0" if app["credit_code"][17] != "0" else "1")
    )
    expect(page.locator('[data-check-for="credit_code"] [data-check="bad"]')).to_contain_text(
        "统一社会信用代码："
    )
    page.fill("input[name=credit_code]", app["credit_code"])
    expect(page.locator('[data-check-for="credit_code"] [data-check="ok"]')).to_be_visible()
    for name in (
        "legal_name",
        "short_name",
        "legal_person_name",
        "legal_person_id",
        "phone",
        "address",
        "settle_bank",
        "settle_account_no",
    ):
        page.fill(f"input[name={name}]", app[name])
    page.fill("input[name=settle_account_name]", "王五")
    expect(page.locator('[data-check-for="settle_account_name"] [data-check="bad"]')).to_contain_text(
        "结算账户户名："
    )
    tab.shot("operator-onboard-live-check-zh")
    page.fill("input[name=settle_account_name]", app["settle_account_name"])
    expect(page.locator('[data-check-for="settle_account_name"] [data-check="ok"]')).to_be_visible()
    page.select_option("select[name=mcc]", app["mcc"])
    page.select_option("select[name=town_code]", app["town_code"])
    before = _count(opsite.db, merchants)
    page.dblclick("form[data-onboard] button[type=submit]")
    page.wait_for_url("**/console/operator/merchants/mch_*")
    assert "沂源县南麻浏览器测试店" in page.inner_text("h1")
    time.sleep(0.5)  # a second request, if the browser sent one, has been answered
    assert _count(opsite.db, merchants) == before + 1
    tab.shot("operator-onboarded-zh")
    _close(tab)


def test_operator_issues_a_code_and_prints_the_sticker(chromium: Any, opsite: OpSite) -> None:  # noqa: F811
    tab = Tab(chromium, opsite, DESK)  # type: ignore[arg-type]
    page = tab.page
    tab.login("op-rcb")
    page.wait_for_url("**/console/operator")
    page.goto(f"{opsite.url}/console/operator/merchants/{opsite.mch_a}")
    page.click("[data-issue-code]")
    page.wait_for_selector("[data-code-url]")
    assert "/c/code_" in page.inner_text("[data-code-url]")
    with page.expect_download() as got:
        page.click("[data-sticker]")
    path = got.value.path()
    assert path is not None and Path(path).read_bytes().startswith(b"%PDF")
    tab.shot("operator-merchant-code-zh")
    _close(tab)


def test_operator_settles_a_date_downloads_the_payout_file_and_imports_the_result(
    chromium: Any,
    opsite: OpSite,
) -> None:
    from tests.settlement.helpers import result_file
    from zhifu.settlement.models import settlement_batches, settlement_payouts

    tab = Tab(chromium, opsite, DESK)  # type: ignore[arg-type]
    page = tab.page
    tab.login("op-rcb")
    page.wait_for_url("**/console/operator")
    page.goto(f"{opsite.url}/console/operator/settlement-runs")
    page.fill("[data-settle-form] input[name=business_date]", "2026-02-30")
    page.click("[data-settle-form] button[type=submit]")
    assert page.inner_text('[data-form-error="business_date"]').startswith("业务日期：")
    assert _count(opsite.db, settlement_batches) == 0
    page.fill("[data-settle-form] input[name=business_date]", opsite.day.isoformat())
    page.click("[data-settle-form] button[type=submit]")
    page.wait_for_selector(f'[data-batch="{opsite.day.isoformat()}"] [data-status="filed"]')
    tab.shot("operator-settlement-runs-zh")
    with page.expect_download() as got:
        page.click(f'[data-batch="{opsite.day.isoformat()}"] [data-file="bank"]')
    assert got.value.path() is not None and Path(got.value.path()).stat().st_size > 0  # type: ignore[arg-type]
    with opsite.db.tx() as c:
        batch_no = c.execute(select(settlement_batches.c.batch_no)).scalar_one()
    result = opsite.folder / "result.csv"
    result.write_bytes(result_file(opsite.db, batch_no))
    page.set_input_files("[data-result-form] input[type=file]", str(result))
    page.click("[data-result-form] button[type=submit]")
    page.wait_for_selector("[data-done]")
    assert f"{batch_no}: 1/0" in page.inner_text("[data-done]")
    assert _count(opsite.db, settlement_payouts, settlement_payouts.c.status == "paid") == 1
    _close(tab)


def test_operator_reconciles_a_rail_day_and_two_people_resolve_a_case(chromium: Any, opsite: OpSite) -> None:  # noqa: F811
    from zhifu.recon import models as recon_models

    statement = opsite.folder / "zm.txt"
    tab = Tab(chromium, opsite, DESK)  # type: ignore[arg-type]
    page = tab.page
    tab.login("op-rcb")
    page.wait_for_url("**/console/operator")
    page.goto(f"{opsite.url}/console/operator/reconciliation")
    page.select_option("[data-recon-form] select[name=channel]", "unionpay_qr")
    page.fill("[data-recon-form] input[name=business_date]", opsite.day.isoformat())
    page.set_input_files("[data-recon-form] input[type=file]", str(statement))
    page.click("[data-recon-form] button[type=submit]")
    page.wait_for_selector("[data-done]")
    assert page.inner_text("[data-recon-batch] [data-discrepancies]") == "1"
    tab.shot("operator-reconciliation-zh")
    page.goto(f"{opsite.url}/console/operator/cases")
    page.click("main table a")
    page.wait_for_selector("form[data-propose]")
    case_url = page.url
    page.fill("form[data-propose] textarea[name=note]", "渠道金额为准")
    page.click("form[data-propose] button[type=submit]")
    page.wait_for_selector("[data-own-proposal]")
    page.click("form[data-approve] button[type=submit]")
    assert "另一人" in page.inner_text("[data-form-error]")  # the maker cannot be the checker
    tab.shot("operator-case-maker-checker-zh")
    _close(tab)

    checker = Tab(chromium, opsite, DESK)  # type: ignore[arg-type]
    checker.login("op-rcb-2")
    checker.page.wait_for_url("**/console/operator")
    checker.page.goto(case_url)
    checker.page.click("form[data-approve] button[type=submit]")
    checker.page.wait_for_selector('[data-case-status="resolved"]')
    _close(checker)
    with opsite.db.tx() as c:
        row = c.execute(select(recon_models.cases)).one()
    assert (row.proposed_by, row.approved_by) == ("console:op-rcb", "console:op-rcb-2")


def test_operator_starts_and_pauses_a_campaign_and_adds_a_fee_rate(chromium: Any, opsite: OpSite) -> None:  # noqa: F811
    from zhifu.fees.models import fee_rules

    tab = Tab(chromium, opsite, DESK)  # type: ignore[arg-type]
    page = tab.page
    tab.login("op-rcb")
    page.wait_for_url("**/console/operator")
    page.goto(f"{opsite.url}/console/operator/campaigns")
    page.fill("[data-campaign-form] input[name=name]", "石桥镇 云闪付 随机立减")
    page.fill("[data-campaign-form] input[name=budget]", "两万")
    page.click("[data-campaign-form] button[type=submit]")
    assert page.inner_text('[data-form-error="budget"]').startswith("预算：")
    assert page.input_value("[data-campaign-form] input[name=name]") == "石桥镇 云闪付 随机立减"
    page.fill("[data-campaign-form] input[name=budget]", "20000")
    page.click("[data-campaign-form] button[type=submit]")
    page.wait_for_selector('[data-campaign-status="active"]')
    page.click("[data-toggle]")
    page.wait_for_selector('[data-campaign-status="paused"]')
    tab.shot("operator-campaigns-zh")

    page.goto(f"{opsite.url}/console/operator/fee-plans")
    page.fill("[data-fee-form] input[name=rate]", "0.3x")
    page.click("[data-fee-form] button[type=submit]")
    assert page.inner_text('[data-form-error="rate"]').startswith("费率：")
    assert _count(opsite.db, fee_rules) == 0
    page.fill("[data-fee-form] input[name=rate]", "0.25")
    page.click("[data-fee-form] button[type=submit]")
    page.wait_for_selector("[data-rate]")
    assert page.inner_text("[data-rate]") == "0.25%"
    tab.shot("operator-fee-plans-zh")
    _close(tab)


def test_another_acquirers_operator_reaches_none_of_it(chromium: Any, opsite: OpSite) -> None:  # noqa: F811
    tab = Tab(chromium, opsite, DESK)  # type: ignore[arg-type]
    page = tab.page
    tab.login("op-psbc")
    page.wait_for_url("**/console/operator")
    for path in (
        "/console/operator/settlement-runs",
        "/console/operator/reconciliation",
        "/console/operator/fee-plans",
    ):
        page.goto(opsite.url + path)
        assert page.locator("[data-readonly]").count() == 1, path
        assert page.locator("form[data-settle-form], form[data-recon-form], form[data-fee-form]").count() == 0
    response = page.goto(f"{opsite.url}/console/operator/merchants/{opsite.mch_a}")
    assert response is not None and response.status == 404
    page.goto(f"{opsite.url}/console/operator/cases?status=resolved")
    assert page.locator("main table a").count() == 0
    _close(tab)
