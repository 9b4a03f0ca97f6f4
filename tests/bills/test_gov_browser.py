"""Chromium drives a payer paying the year's resident pension for two family members on the phone page: a
mistyped ID number is refused inline naming the member, the corrected order is paid, its page shows both persons
masked with a receipt that verifies; then the social insurance bureau sees the contribution on its console page.
Skips without chromium unless ZHIFU_REQUIRE_BROWSER=1."""

from __future__ import annotations

import datetime as dt
import random
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.bills.helpers import biller_in, complete
from tests.console.test_browser import ARTIFACTS, CHROMIUM_ARGS, DESK, PASSWORD, PHONE, _free_port, chromium  # noqa: F401
from zhifu.core import clock as clock_mod
from zhifu.db import Database
from zhifu.db.schema import metadata
from zhifu.reference import generate_resident_id

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


@pytest.fixture(scope="module")
def site(chromium: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Database]]:  # noqa: F811
    import uvicorn
    from argon2 import PasswordHasher

    from zhifu.api.app import create_app
    from zhifu.bills import service as bills
    from zhifu.console import service as console
    from zhifu.payments import ensure_platform_accounts

    old = console.hasher
    console.hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    old_clock = clock_mod.set_clock(clock_mod.FixedClock(dt.datetime(2022, 6, 15, 2, 0, tzinfo=dt.UTC)))
    db = Database(f"sqlite:///{tmp_path_factory.mktemp('gov-browser')}/zhifu.db")
    metadata.create_all(db.engine)
    with db.tx() as c:
        ensure_platform_accounts(c)
        bills.register_biller(
            c,
            biller_in(
                "social_insurance",
                name="沂源县社会保险事业中心",
                category="social_insurance",
                multiple_payments=False,
            ),
        )
        console.create_user(
            c, "si-desk", "biller", PASSWORD, biller_id="social_insurance", display_name="社保中心"
        )
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(db), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", db
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        console.hasher = old
        clock_mod.set_clock(old_clock)
        db.dispose()


def test_payer_pays_the_pension_of_two_family_members(chromium: Any, site) -> None:  # noqa: F811
    url, db = site
    rng = random.Random(77)
    me = generate_resident_id(rng, born_from=dt.date(1965, 1, 1), born_to=dt.date(1965, 12, 31))
    wife = generate_resident_id(rng, born_from=dt.date(1968, 1, 1), born_to=dt.date(1968, 12, 31))
    ctx = chromium.new_context(viewport=PHONE, locale="zh-CN")
    phone = ctx.new_page()
    errors: list[str] = []
    phone.on("pageerror", lambda e: errors.append(str(e)))
    phone.set_default_timeout(10_000)
    phone.goto(f"{url}/pay/social")
    assert "城乡居民基本养老保险" in phone.inner_text("#social-form")
    phone.select_option("#plan", "pension:2022")
    phone.select_option("select[name=tier_pension_2022]", "50000")
    phone.fill("input[name=name0]", "王建国")
    phone.fill("input[name=id0]", me)
    phone.fill("input[name=name1]", "李秀英")
    phone.fill("input[name=id1]", wife[:-1] + ("0" if wife[-1] != "0" else "1"))  # one wrong character
    phone.select_option("select[name=rel1]", "spouse")
    phone.click("#social-pay")
    err = phone.wait_for_selector("#social-error")
    assert err.get_attribute("data-param") == "members[1].id_number" and "第 2 位参保人" in err.inner_text()
    assert "校验位" in phone.inner_text("[data-row='1'] [data-field-error]")  # shown beside the field too
    assert phone.get_attribute("input[name=id1]", "aria-invalid") == "true"
    assert phone.input_value("input[name=name0]") == "王建国"  # what was typed is kept
    ARTIFACTS.mkdir(exist_ok=True)
    phone.screenshot(path=str(ARTIFACTS / "social-form-error-zh.png"), full_page=True)
    phone.fill("input[name=id1]", wife)
    phone.select_option("select[name=tier_pension_2022]", "50000")
    phone.click("#social-pay")
    pid = phone.get_attribute("#paying", "data-payment-id")
    assert "1,000.00" in phone.inner_text("#paying") or "1000.00" in phone.inner_text("#paying")
    complete(db, pid)
    phone.click("#status-link")
    assert phone.get_attribute("#order", "data-status") == "paid"
    rows = phone.inner_text("#members")
    assert "王*国" in rows and "李*英" in rows and me not in rows and wife not in rows
    ARTIFACTS.mkdir(exist_ok=True)
    phone.screenshot(path=str(ARTIFACTS / "social-order-zh.png"), full_page=True)
    phone.click("#receipt-link")
    assert phone.get_attribute("#verdict", "data-genuine") == "1"
    # the bureau sees the two persons paid at the chosen tier
    desk = chromium.new_context(viewport=DESK, locale="zh-CN").new_page()
    desk.goto(url + "/login")
    desk.fill("input[name=username]", "si-desk")
    desk.fill("input[name=password]", PASSWORD)
    desk.click("main button[type=submit]")
    desk.goto(url + "/console/biller/gov")
    summary = desk.inner_text("#si-summary")
    assert "养老" in summary and "2022" in summary and "500.00" in summary and "1,000.00" in summary
    assert desk.locator("#si-rows tr[data-status=paid]").count() == 2
    desk.screenshot(path=str(ARTIFACTS / "social-bureau-zh.png"), full_page=True)
    ctx.close()
    assert errors == []
