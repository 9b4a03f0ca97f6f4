"""The cashier in a real browser (Debian's chromium through Playwright) against a live server on SQLite: every
app's User-Agent, the payer choosing, a double submit, the back button, an expired code and a decline."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.codes.conftest import make_merchant
from zhifu import ledger
from zhifu.codes import create_dynamic, issue_static
from zhifu.db import Database
from zhifu.db.schema import metadata
from zhifu.payments import merchant_balance, payments

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PHONE = {"width": 390, "height": 844}
SERVER_START_S_MAX = 10.0
UAS = {
    "wechat": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148 MicroMessenger/8.0.47(0x18002f2c) NetType/WIFI Language/zh_CN",
    "alipay": "Mozilla/5.0 (Linux; Android 13; V2227A) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 "
    "Mobile Safari/537.36 AlipayDefined(nt:WIFI,ws:360|0|3.0) AliApp(AP/10.5.76) AlipayClient/10.5.76",
    "unionpay": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148 (com.unionpay.chsp) (cordova 4.5.4) (updebug 0) (version 1010) UnionPay/1.0 CloudPay",
    "bank": "Mozilla/5.0 (Linux; Android 12; M2012K11AC) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 "
    "Mobile Safari/537.36 YiyuanRCB/3.2.0 BankApp",
}
CHANNEL = {"wechat": "wechat", "alipay": "alipay", "unionpay": "unionpay_qr", "bank": "bank_app"}
PLAIN_UA = (
    "Mozilla/5.0 (Linux; Android 13) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36"
)


def _unavailable(reason: str) -> None:
    if os.environ.get("ZHIFU_REQUIRE_BROWSER") == "1":
        pytest.fail(f"ZHIFU_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        _unavailable(f"browser tests need Debian's chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("browser tests need the playwright package")
    pw = sync_playwright().start()
    try:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    except Exception as exc:  # noqa: BLE001 - the reason is shown to whoever runs the suite
        pw.stop()
        _unavailable(f"chromium did not start: {exc}")
    try:
        yield b
    finally:
        b.close()
        pw.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Live:
    """A uvicorn server in a thread on a fresh SQLite database."""

    def __init__(self, db: Database) -> None:
        import uvicorn

        from zhifu.api.app import create_app

        self.db = db
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(create_app(db), host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + SERVER_START_S_MAX
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    db = Database(f"sqlite:///{tmp_path_factory.mktemp('cashier')}/zhifu.db")
    metadata.create_all(db.engine)
    server = Live(db)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        db.dispose()


_phones = iter(f"1390013{n:04d}" for n in range(10_000))


@pytest.fixture
def shop(live: Live) -> tuple[str, str]:
    """A new merchant with its static code: (merchant id, code id)."""
    mid = make_merchant(live.db, phone=next(_phones))
    with live.db.tx() as c:
        return mid, issue_static(c, mid)["id"]


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    """Opens a page in a fresh phone-sized context with the given User-Agent."""
    contexts: list[Any] = []

    def open_(ua: str) -> Any:
        ctx = browser.new_context(
            user_agent=ua,
            viewport=PHONE,
            device_scale_factor=2,
            is_mobile=True,
            has_touch=True,
            locale="zh-CN",
        )
        ctx.set_default_timeout(10_000)
        contexts.append(ctx)
        return ctx.new_page()

    yield open_
    for ctx in contexts:
        ctx.close()


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"cashier-{name}.png"), full_page=True)


def _type_amount(page: Any, keys: str) -> None:
    for key in keys:
        page.click(f'[data-key="{key}"]')


def _merchant_payments(live: Live, mid: str) -> list[Any]:
    with live.db.tx() as c:
        return c.execute(select(payments).where(payments.c.merchant_id == mid).order_by(payments.c.id)).all()


def _credited(live: Live, mid: str, *paid: Any) -> None:
    with live.db.tx() as c:
        assert merchant_balance(c, mid)["posted_fen"] == sum(p.amount_fen - p.fee_fen for p in paid)
        assert ledger.verify(c) == []


@pytest.mark.parametrize("app", list(UAS))
def test_each_app_is_recognised_and_pays_through_its_channel(live: Live, shop, phone, app: str) -> None:  # type: ignore[no-untyped-def]
    mid, code = shop
    page = phone(UAS[app])
    page.goto(f"{live.base}/c/{code}")
    assert page.locator("[data-merchant]").inner_text() == "张记早餐"
    assert page.locator(f'[data-app="{app}"]').is_visible()
    assert page.locator('input[name="app"][type="radio"]').count() == 0
    _type_amount(page, "12.5")
    assert page.input_value("#amount") == "12.5"
    if app == "wechat":
        _shot(page, "keypad-wechat")
    page.click("[data-pay]")
    page.wait_for_selector('[data-status="created"]')
    assert page.locator("[data-payable]").inner_text() == "¥12.50"
    page.click("[data-confirm]")
    page.wait_for_selector('[data-status="succeeded"]')
    assert "支付成功" in page.inner_text("main")
    if app == "wechat":
        _shot(page, "receipt-wechat")
    rows = _merchant_payments(live, mid)
    assert [(r.channel, r.amount_fen, r.status, r.flow) for r in rows] == [
        (CHANNEL[app], 1250, "succeeded", "static_code")
    ]
    assert page.locator("[data-payment-id]").inner_text() == rows[0].id
    _credited(live, mid, rows[0])


def test_unknown_app_lets_the_payer_choose(live: Live, shop, phone) -> None:  # type: ignore[no-untyped-def]
    mid, code = shop
    page = phone(PLAIN_UA)
    page.goto(f"{live.base}/c/{code}")
    assert page.locator('input[name="app"][type="radio"]').count() == 4
    _type_amount(page, "8")
    page.click("[data-pay]")
    assert page.locator(
        '[data-error="unknown_app"]'
    ).is_visible()  # nothing chosen: asked again, nothing made
    assert _merchant_payments(live, mid) == []
    _shot(page, "choose-app")
    page.check('input[name="app"][value="alipay"]')
    page.click("[data-pay]")
    page.click("[data-confirm]")
    page.wait_for_selector('[data-status="succeeded"]')
    assert [(r.channel, r.amount_fen) for r in _merchant_payments(live, mid)] == [("alipay", 800)]


def test_double_submit_double_tap_and_back_button_charge_once(live: Live, shop, phone) -> None:  # type: ignore[no-untyped-def]
    mid, code = shop
    page = phone(UAS["unionpay"])
    page.goto(f"{live.base}/c/{code}")
    _type_amount(page, "66")
    # past the page's own guard: the form goes to the server twice
    page.evaluate("""() => { const f = document.querySelector('[data-cashier-form]');
                             HTMLFormElement.prototype.submit.call(f); HTMLFormElement.prototype.submit.call(f); }""")
    page.wait_for_selector('[data-status="created"]')
    page.evaluate("""() => { const f = document.querySelector('[data-confirm-form]');
                             HTMLFormElement.prototype.submit.call(f); HTMLFormElement.prototype.submit.call(f); }""")
    page.wait_for_selector('[data-status="succeeded"]')
    page.go_back()  # to the payment sheet: it now shows the result
    page.wait_for_selector('[data-status="succeeded"]')
    page.go_back()  # to the keypad page of the same load: the server sends it to the same receipt
    page.wait_for_selector('[data-status="succeeded"]')
    page.go_forward()
    page.wait_for_selector('[data-status="succeeded"]')
    page.reload()
    page.wait_for_selector('[data-status="succeeded"]')
    rows = _merchant_payments(live, mid)
    assert [(r.amount_fen, r.status) for r in rows] == [(6600, "succeeded")]
    _credited(live, mid, rows[0])
    page.click("[data-again]")  # a new payment is a new page
    assert page.input_value("#amount") == ""


def test_a_decline_charges_nothing_and_the_payer_can_try_again(live: Live, shop, phone) -> None:  # type: ignore[no-untyped-def]
    mid, code = shop
    page = phone(UAS["bank"])
    page.goto(f"{live.base}/c/{code}")
    _type_amount(page, "30")
    page.click("[data-pay]")
    page.select_option('select[name="outcome"]', "decline_insufficient_funds")
    page.click("[data-confirm]")
    page.wait_for_selector('[data-status="failed"]')
    text = page.inner_text("main")
    assert "支付失败" in text and "余额不足" in text and "未扣款" in text
    _shot(page, "declined")
    page.go_back()  # confirming the declined sheet again pays nothing
    page.wait_for_selector('[data-status="failed"]')
    with live.db.tx() as c:
        assert merchant_balance(c, mid)["posted_fen"] == 0
    page.click("[data-again]")
    _type_amount(page, "30")
    page.click("[data-pay]")
    page.click("[data-confirm]")
    page.wait_for_selector('[data-status="succeeded"]')
    rows = _merchant_payments(live, mid)
    assert [(r.amount_fen, r.status) for r in rows] == [(3000, "failed"), (3000, "succeeded")]
    _credited(live, mid, rows[1])


def test_expired_revoked_and_unknown_codes_show_a_clear_page(live: Live, shop, phone) -> None:  # type: ignore[no-untyped-def]
    mid, code = shop
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    with live.db.tx() as c:
        expired = create_dynamic(c, mid, 1000, expires_in_s=60, at=past)["id"]
    page = phone(UAS["wechat"])
    response = page.goto(f"{live.base}/c/{expired}")
    assert response.status == 410
    assert page.locator(".error__title").inner_text() == "此码已过期"
    _shot(page, "expired")
    with live.db.tx() as c:
        from zhifu.codes import revoke

        revoke(c, code, reason="贴纸损坏")
    assert page.goto(f"{live.base}/c/{code}").status == 410
    assert page.locator(".error__title").inner_text() == "此码已停用"
    assert page.goto(f"{live.base}/c/code_01HZZZZZZZZZZZZZZZZZZZZZZZ").status == 404
    assert _merchant_payments(live, mid) == []


def test_dynamic_code_shows_its_amount_and_pays_once(live: Live, shop, phone) -> None:  # type: ignore[no-untyped-def]
    mid, _code = shop
    with live.db.tx() as c:
        dyn = create_dynamic(c, mid, 2372, description="3 号桌")["id"]
    page = phone(UAS["alipay"])
    page.goto(f"{live.base}/c/{dyn}")
    assert page.locator("[data-amount]").inner_text() == "¥23.72"
    assert page.locator("[data-keypad]").count() == 0
    page.click("[data-pay]")
    page.click("[data-confirm]")
    page.wait_for_selector('[data-status="succeeded"]')
    other = phone(UAS["wechat"])
    assert other.goto(f"{live.base}/c/{dyn}").status == 410  # paid: a second payer is turned away
    assert [(r.amount_fen, r.flow) for r in _merchant_payments(live, mid)] == [(2372, "dynamic_code")]
