"""Chromium drives the biller's main action: log in, upload a month of water bills, see a bad file refused with
its line and field; then a payer verifies a receipt on the public page. Skips without chromium unless
ZHIFU_REQUIRE_BROWSER=1."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.bills.helpers import account, complete, make_biller, month_of_bills
from tests.console.test_browser import ARTIFACTS, CHROMIUM_ARGS, DESK, PASSWORD, PHONE, _free_port, chromium  # noqa: F401
from zhifu.core.clock import SHANGHAI
from zhifu.db import Database
from zhifu.db.schema import metadata

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


@pytest.fixture(scope="module")
def site(chromium: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Database]]:  # noqa: F811
    import uvicorn
    from argon2 import PasswordHasher

    from zhifu.api.app import create_app
    from zhifu.console import service as console

    old = console.hasher
    console.hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    db = Database(f"sqlite:///{tmp_path_factory.mktemp('bills-browser')}/zhifu.db")
    metadata.create_all(db.engine)
    make_biller(db)
    with db.tx() as c:
        console.create_user(c, "water-co", "biller", PASSWORD, biller_id="water", display_name="供水公司")
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
        db.dispose()


def test_biller_uploads_a_month_of_bills_and_a_payer_verifies_a_receipt(
    chromium: Any,
    site,
    tmp_path,
) -> None:
    url, db = site
    ctx = chromium.new_context(viewport=DESK, locale="zh-CN")
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.set_default_timeout(10_000)
    page.goto(url + "/login")
    page.fill("input[name=username]", "water-co")
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url("**/console/biller")
    assert "沂源县供水公司" in page.inner_text("h1")
    bad = tmp_path / "bad.csv"
    bad.write_bytes(month_of_bills(3).replace(b"2022-06-30", b"2022-06-31", 1))
    page.set_input_files("input[name=file] >> nth=0", str(bad))
    page.click("#upload-bills")
    err = page.wait_for_selector("#upload-error li")
    assert err.get_attribute("data-line") == "2" and err.get_attribute("data-field") == "due_date"
    good = tmp_path / "june.csv"
    due = (dt.datetime.now(SHANGHAI) + dt.timedelta(days=20)).date()  # payable on the server's real clock
    good.write_bytes(month_of_bills(500, due=str(due)))
    page.set_input_files("input[name=file] >> nth=0", str(good))
    page.click("#upload-bills")
    assert "已导入 500 张账单" in page.inner_text("#upload-report")
    assert "未缴" in page.inner_text("#bill-status")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "biller-upload-zh.png"), full_page=True)
    # a payer pays one bill on the phone page and opens the receipt's verification page
    phone = chromium.new_context(viewport=PHONE, locale="zh-CN").new_page()
    phone.goto(f"{url}/pay/bills?biller=water&account={account(5)}")
    phone.click("form.bill button[type=submit]")
    pid = phone.get_attribute("#paying", "data-payment-id")
    complete(db, pid)
    from zhifu.bills import service

    with db.read() as c:
        receipt = [x for x in service.find_lines(c, "water") if x["payment_id"] == pid][0]["receipt_no"]
    phone.goto(f"{url}/receipts/{receipt}")
    assert phone.get_attribute("#verdict", "data-genuine") == "1"
    phone.screenshot(path=str(ARTIFACTS / "bill-receipt-zh.png"), full_page=True)
    ctx.close()
    assert errors == []
