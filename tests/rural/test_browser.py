"""Chromium through Playwright: the bank operator opens a Class II e-account for a farmer (a card that is not
theirs is refused with the field named), registers a harvest card and sees it counted; a purchase station
records a purchase, pays its farmers, sees the closed card's line failed and returns it. Skips when chromium or
Playwright is missing (ZHIFU_REQUIRE_BROWSER=1 fails)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.console.test_browser import DESK, PASSWORD, Tab, _free_port, chromium  # noqa: F401  (the fixture)
from tests.rural.helpers import buyer, card, farmer
from zhifu.db import Database
from zhifu.db.schema import metadata

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


@dataclass
class Site:
    url: str
    db: Database
    buyer: str
    farmers: list[str]


@pytest.fixture(scope="module")
def site(chromium: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:  # noqa: F811
    import uvicorn
    from argon2 import PasswordHasher

    from zhifu.api.app import create_app
    from zhifu.console import service as console

    old_hasher, console.hasher = console.hasher, PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    db = Database(f"sqlite:///{tmp_path_factory.mktemp('rural-browser')}/zhifu.db")
    metadata.create_all(db.engine)
    mid = buyer(db, funds_fen=1_000_000)
    fids = [farmer(db), farmer(db, card_no=card("0000"))]
    with db.tx() as c:
        console.create_user(c, "bank", "operator", PASSWORD, institution_id="yiyuan_rcb")
        console.create_user(c, "station", "merchant", PASSWORD, merchant_id=mid)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(db, background=False), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield Site(f"http://127.0.0.1:{port}", db, mid, fids)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        console.hasher = old_hasher
        db.dispose()


def test_operator_opens_an_eaccount_and_registers_a_harvest_card(chromium: Any, site: Site) -> None:  # noqa: F811
    tab = Tab(chromium, site, DESK)  # type: ignore[arg-type]
    page = tab.page
    tab.login("bank")
    page.wait_for_url("**/console/operator**")
    page.goto(f"{site.url}/console/operator/rural")
    form = "#open-eaccount"
    page.fill(f"{form} input[name=name]", "李四")
    page.fill(f"{form} input[name=id_no]", "370323199001011234")
    page.fill(f"{form} input[name=phone]", "13912345678")
    page.fill(f"{form} input[name=card_no]", card("1111"))  # someone else's card
    page.click(f"{form} button[type=submit]")
    page.wait_for_selector("#form-error[data-param='card_no']")
    assert "绑定卡验证未通过" in page.inner_text("#form-error")
    tab.errors.clear()  # the refusal's 400 was the point
    good = card()
    page.fill(f"{form} input[name=name]", "李四")
    page.fill(f"{form} input[name=id_no]", "370323199001011234")
    page.fill(f"{form} input[name=phone]", "13912345678")
    page.fill(f"{form} input[name=card_no]", good)
    page.click(f"{form} button[type=submit]")
    page.wait_for_selector("#form-done")
    assert "已开立II类户" in page.inner_text("#form-done")
    assert good[-4:] in page.inner_text("#eaccounts") and good not in page.content()
    page.fill("#harvest-card input[name=card_no]", card())
    page.fill("#harvest-card input[name=holder]", "赵六")
    page.fill("#harvest-card input[name=town_code]", "370323101")
    page.fill("#harvest-card input[name=village_code]", "370323101001")
    page.fill("#harvest-card input[name=issued_on]", "2022-03-01")
    page.click("#harvest-card button[type=submit]")
    page.wait_for_selector("#form-done")
    assert page.inner_text("[data-harvest-cards]").startswith("1 ·")
    assert page.inner_text("[data-eaccounts]").strip() == "1 · 0"
    tab.shot("rural-operator-zh")
    tab.close()


def test_station_records_pays_and_returns_a_failed_line(chromium: Any, site: Site) -> None:  # noqa: F811
    tab = Tab(chromium, site, DESK)  # type: ignore[arg-type]
    page = tab.page
    tab.login("station")
    page.wait_for_url("**/console/merchant**")
    page.goto(f"{site.url}/console/merchant/rural")
    for fid in site.farmers:
        page.fill("#purchase input[name=farmer_id]", fid)
        page.fill("#purchase input[name=product]", "苹果")
        page.fill("#purchase input[name=weight_g]", "50000")
        page.fill("#purchase input[name=price_fen_per_kg]", "0")
        page.click("#purchase button[type=submit]")
        page.wait_for_selector("#form-error[data-param='price_fen_per_kg']")
        tab.errors.clear()
        page.fill("#purchase input[name=farmer_id]", fid)
        page.fill("#purchase input[name=product]", "苹果")
        page.fill("#purchase input[name=weight_g]", "50000")
        page.fill("#purchase input[name=price_fen_per_kg]", "360")
        page.click("#purchase button[type=submit]")
        page.wait_for_selector("#receipt")
        assert "180.00" in page.inner_text("#receipt")
    page.click("#pay-batch button[type=submit]")
    page.wait_for_selector("[data-failed-line]")
    assert "卡片已销户" in page.inner_text("[data-failed-line]")
    page.click("[data-failed-line] form[action$='/return'] button")
    page.wait_for_selector("#form-done")
    assert page.locator("[data-failed-line]").count() == 0
    assert "待付" in page.inner_text("#purchases")  # the returned farmer's purchase is unpaid again
    tab.shot("rural-station-zh")
    tab.close()
