"""Chromium through Playwright: the office opens the programme page and sees the seven items with their units and
deadlines; a member unit (县商务局) posts a progress update on its own item, is refused an empty one with the field
named, and its update shows with the linked figure. Skips when chromium or Playwright is missing
(ZHIFU_REQUIRE_BROWSER=1 fails)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.console.test_browser import DESK, PASSWORD, Tab, _free_port, chromium  # noqa: F401  (the fixture)
from zhifu.db import Database
from zhifu.db.schema import metadata

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


@dataclass
class Site:
    url: str
    db: Database


def _seed(db: Database) -> None:
    from zhifu.console import service as console
    from zhifu.office import service
    from zhifu.payments import ensure_platform_accounts

    service.ensure_loaded(db)
    with db.tx() as c:
        ensure_platform_accounts(c)
        console.create_user(c, "pboc", "regulator", PASSWORD)
        unit = console.create_user(c, "commerce", "regulator", PASSWORD, display_name="县商务局")
        service.set_member(c, unit.id, "commerce_bureau")


@pytest.fixture(scope="module")
def site(chromium: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:  # noqa: F811
    import uvicorn
    from argon2 import PasswordHasher

    from zhifu.api.app import create_app
    from zhifu.console import service as console

    old_hasher, console.hasher = console.hasher, PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    db = Database(f"sqlite:///{tmp_path_factory.mktemp('office-browser')}/zhifu.db")
    metadata.create_all(db.engine)
    _seed(db)
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
        yield Site(f"http://127.0.0.1:{port}", db)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        console.hasher = old_hasher
        db.dispose()


def test_office_sees_items_and_a_unit_posts_progress(chromium: Any, site: Site) -> None:  # noqa: F811
    office = Tab(chromium, site, DESK)  # type: ignore[arg-type]
    page = office.page
    office.login("pboc")
    page.wait_for_url("**/console/regulator")
    page.click("a[href='/console/regulator/office']")
    page.wait_for_selector("[data-items]")
    assert page.locator("[data-item]").count() == 7
    row = page.inner_text("[data-item='3']")
    assert "扩大“智付”应用场景建设" in row and "县商务局" in row and "2022-12-31" in row
    office.shot("office-items-zh")
    office.close()

    unit = Tab(chromium, site, DESK)  # type: ignore[arg-type]
    page = unit.page
    unit.login("commerce")
    page.wait_for_url("**/console/regulator")
    page.goto(f"{site.url}/console/regulator/office/items/3")
    page.fill("[data-update-form] input[name=progress]", "40")
    page.click("[data-update-form] button[type=submit]")  # no text: refused, the field named
    page.wait_for_selector("[data-error-field='text']")
    assert unit.errors == ["Failed to load resource: the server responded with a status of 400 (Bad Request)"]
    unit.errors.clear()  # the refusal's 400 was the point
    page.fill("[data-update-form] textarea[name=text]", "县商务局完成南麻农贸市场 86 户受理改造")
    page.select_option("[data-update-form] select[name=status]", "on_track")
    page.fill("[data-update-form] input[name=progress]", "40")
    page.check("[data-update-form] input[value=trainings]")
    page.click("[data-update-form] button[type=submit]")
    page.wait_for_selector("[data-done='update']")
    assert "40%" in page.inner_text("[data-progress]")
    update = page.inner_text("[data-update]")
    assert "县商务局" in update and "86 户受理改造" in update and "培训场次" in update
    assert page.locator("[data-item-status='on_track']").count() == 1
    page.goto(f"{site.url}/console/regulator/office/items/1")
    assert page.locator("[data-update-form]").count() == 0  # not the bureau's item: no form
    unit.shot("office-unit-update-zh")
    unit.close()
