"""Chromium drives the scenic area's main action: log in, open today's slot (a bad capacity refused naming the
field), sell two tickets at the window with the visitor's pay code, scan one at the gate (accepted) and again
(refused with the time of the first scan); then the bus company's page shows its validators and charges.
Skips without chromium unless ZHIFU_REQUIRE_BROWSER=1."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.console.test_browser import ARTIFACTS, CHROMIUM_ARGS, DESK, PASSWORD, _free_port, chromium  # noqa: F401
from tests.transit import helpers as h
from zhifu.core.clock import SHANGHAI
from zhifu.db import Database
from zhifu.db.schema import metadata
from zhifu.transit import scenic

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


@pytest.fixture(scope="module")
def site(chromium: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Database]]:  # noqa: F811
    import uvicorn
    from argon2 import PasswordHasher

    from zhifu.api.app import create_app
    from zhifu.console import service as console

    old = console.hasher
    console.hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    db = Database(f"sqlite:///{tmp_path_factory.mktemp('transit-browser')}/zhifu.db")
    metadata.create_all(db.engine)
    park = h.operator(db, "scenic")
    bus = h.operator(db, "bus")
    h.line(db, bus["merchant_id"], "l1")
    h.validator(db, bus["merchant_id"], "v1", "l1")
    with db.tx() as c:
        scenic.add_ticket_type(
            c, park["merchant_id"], scenic.TicketTypeIn(id="adult", name="成人票", price_fen=6_000)
        )
        console.create_user(
            c, "park", "merchant", PASSWORD, merchant_id=park["merchant_id"], display_name="景区售票"
        )
        console.create_user(
            c, "busco", "merchant", PASSWORD, merchant_id=bus["merchant_id"], display_name="公交调度"
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
        db.dispose()


def _login(chromium: Any, url: str, username: str) -> Any:  # noqa: F811
    ctx = chromium.new_context(viewport=DESK, locale="zh-CN")
    page = ctx.new_page()
    page.set_default_timeout(10_000)
    page.goto(url + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url("**/console/merchant**")
    return page


def test_scenic_staff_open_a_slot_sell_at_the_window_and_scan_once(chromium: Any, site) -> None:  # noqa: F811
    url, db = site
    page = _login(chromium, url, "park")
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url + "/console/merchant/transit")
    today = dt.datetime.now(SHANGHAI).date()
    form = "#open-slots"
    page.fill(f"{form} input[name=day]", today.isoformat())
    page.fill(f"{form} input[name=windows]", "00:00-23:59")
    page.fill(f"{form} input[name=max_capacity]", "lots")
    page.click(f"{form} button[type=submit]")
    assert page.get_attribute("#form-error", "data-param") == "max_capacity"
    page.fill(f"{form} input[name=day]", today.isoformat())
    page.fill(f"{form} input[name=windows]", "00:00-23:59")
    page.fill(f"{form} input[name=max_capacity]", "40")
    page.click(f"{form} button[type=submit]")
    assert "已开放 1 个时段" in page.inner_text("#form-done")
    assert "30 (75%)" in page.inner_text("#slots")
    page.fill("#sell input[name=quantity]", "2")
    page.fill("#sell input[name=auth_code]", h.GOOD_PAYCODE)
    page.click("#sell-button")
    codes = [e.inner_text() for e in page.query_selector_all("#sold .ticket-code")]
    assert len(codes) == 2 and "paid" in page.inner_text("#sold h2")
    assert page.query_selector("#sold svg") is not None  # the QR to print or show
    page.fill("#scan input[name=code]", codes[0])
    page.click("#scan-button")
    assert page.get_attribute("#scan-result", "data-reason") == "ok"
    page.fill("#scan input[name=code]", codes[0])
    page.click("#scan-button")
    assert page.get_attribute("#scan-result", "data-reason") == "already_used"
    assert "已于" in page.inner_text("#scan-result")
    assert "入园 Admitted 1 人" in page.inner_text("#sales")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "scenic-gate-zh.png"), full_page=True)
    assert errors == []


def test_bus_company_sees_its_validators_and_runs_charges(chromium: Any, site) -> None:  # noqa: F811
    url, _db = site
    page = _login(chromium, url, "busco")
    page.goto(url + "/console/merchant/transit")
    assert "v1" in page.inner_text("#validators") and "stale" in page.inner_text("#validators")
    page.click("#run-charges")
    assert "扣费 0 笔" in page.inner_text("#form-done")
    page.fill("input[name=daily]", "5.00")
    page.fill("input[name=monthly]", "1.00")
    page.click("#save-caps")
    assert page.get_attribute("#form-error", "data-param") == "monthly_cap_fen"
