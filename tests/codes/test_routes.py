"""The cashier pages, `POST /sim/scan` and the code API over HTTP, on both backends."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

from sqlalchemy import func, select

from zhifu.payments import payments
from zhifu.web import translator

WECHAT_UA = "Mozilla/5.0 (iPhone) AppleWebKit Mobile/15E148 MicroMessenger/8.0.47 NetType/WIFI Language/zh_CN"
DESKTOP_UA = "Mozilla/5.0 (X11; Linux x86_64) Chrome/120 Safari/537.36"


def _count(platform) -> int:  # type: ignore[no-untyped-def]
    with platform.db.tx() as c:
        return int(c.execute(select(func.count()).select_from(payments)).scalar_one())


def _static(platform) -> tuple[str, dict, dict]:  # type: ignore[no-untyped-def,type-arg]
    mid, mh = platform.merchant()
    r = platform.client.post(f"/v1/merchants/{mid}/codes", headers=platform.op)
    assert r.status_code == 200, r.text
    return mid, mh, r.json()


def _open(platform, code_id: str, ua: str = WECHAT_UA) -> tuple[str, str, str]:  # type: ignore[no-untyped-def]
    r = platform.client.get(f"/c/{code_id}", headers={"User-Agent": ua}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["cache-control"] == "no-store"
    q = parse_qs(urlparse(r.headers["location"]).query)
    page = platform.client.get(r.headers["location"], headers={"User-Agent": ua})
    assert page.status_code == 200
    return q["t"][0], q["s"][0], page.text


def test_cashier_pays_once_per_page_in_chinese(platform) -> None:  # type: ignore[no-untyped-def]
    mid, mh, code = _static(platform)
    t, s, html = _open(platform, code["id"])
    assert "付款给" in html and "张记早餐" in html and 'data-app="wechat"' in html and "data-keypad" in html
    form = {"t": t, "s": s, "amount": "12.50", "scene": "on_site"}
    first = platform.client.post(
        f"/c/{code['id']}/pay", data=form, headers={"User-Agent": WECHAT_UA}, follow_redirects=False
    )
    second = platform.client.post(
        f"/c/{code['id']}/pay",
        data={**form, "amount": "99"},
        headers={"User-Agent": WECHAT_UA},
        follow_redirects=False,
    )
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    sheet = platform.client.get(first.headers["location"]).text
    assert "确认付款" in sheet and "¥12.50" in sheet and 'data-status="created"' in sheet
    confirm = first.headers["location"].replace("?s=", "/confirm?x=").split("?")[0]
    for _ in range(2):  # a double tap on confirm
        r = platform.client.post(confirm, data={"s": s, "outcome": "success"}, follow_redirects=True)
    assert 'data-status="succeeded"' in r.text and "支付成功" in r.text and "交易单号" in r.text
    assert _count(platform) == 1
    # the back button to the keypad page lands on the receipt of the same payment
    back = platform.client.get(f"/c/{code['id']}?t={t}&s={s}", follow_redirects=False)
    assert back.status_code == 303 and back.headers["location"] == first.headers["location"]
    listed = platform.client.get("/v1/payments", headers=mh).json()["data"]
    assert [(p["flow"], p["channel"], p["amount_fen"], p["status"]) for p in listed] == [
        ("static_code", "wechat", 1250, "succeeded")
    ]


def test_unknown_app_chooses_and_bad_amounts_are_refused(platform) -> None:  # type: ignore[no-untyped-def]
    _mid, _mh, code = _static(platform)
    t, s, html = _open(platform, code["id"], DESKTOP_UA)
    assert html.count('name="app" type="radio"') == 0 and html.count('type="radio" name="app"') == 4
    url = f"/c/{code['id']}/pay"
    r = platform.client.post(url, data={"t": t, "s": s, "amount": "5"}, headers={"User-Agent": DESKTOP_UA})
    assert r.status_code == 422 and 'data-error="unknown_app"' in r.text and "请选择付款方式" in r.text
    for bad in ("0", "1.234", "-5", "abc", ""):
        r = platform.client.post(
            url, data={"t": t, "s": s, "amount": bad, "app": "alipay"}, headers={"User-Agent": DESKTOP_UA}
        )
        assert r.status_code == 422, bad
        assert re.search(r'data-error="(invalid_amount|parameter_missing)"', r.text), bad
    assert _count(platform) == 0
    r = platform.client.post(
        url,
        data={"t": t, "s": s, "amount": "8", "app": "alipay"},
        headers={"User-Agent": DESKTOP_UA},
        follow_redirects=True,
    )
    assert "支付宝" in r.text and 'data-status="created"' in r.text


def test_revoked_expired_unknown_codes_show_a_clear_page(platform, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    zh, en = translator("zh"), translator("en")
    mid, mh, code = _static(platform)
    dyn = platform.client.post("/v1/codes", json={"amount_fen": 990, "expires_in_s": 60}, headers=mh).json()
    assert dyn["kind"] == "dynamic" and dyn["status"] == "active"
    r = platform.client.post(f"/v1/codes/{code['id']}/revoke", json={"reason": "贴纸损坏"}, headers=mh)
    assert r.json()["status"] == "revoked"
    r = platform.client.get(f"/c/{code['id']}")
    assert r.status_code == 410 and zh.error("code_revoked")[0] in r.text
    fixed_clock.advance(seconds=61)
    r = platform.client.get(f"/c/{dyn['id']}")
    assert r.status_code == 410 and zh.error("code_expired")[0] in r.text
    r = platform.client.get("/c/code_01HZZZZZZZZZZZZZZZZZZZZZZZ?lang=en")
    assert r.status_code == 404 and en.error("code_unknown")[0] in r.text
    assert [c["status"] for c in platform.client.get("/v1/codes", headers=mh).json()["data"]] == [
        "expired",
        "revoked",
    ]


def test_sim_scan(platform) -> None:  # type: ignore[no-untyped-def]
    mid, mh, code = _static(platform)
    r = platform.client.post(
        "/sim/scan", json={"code_url": code["url"], "app": "unionpay", "amount_fen": 2000, "payer": "p1"}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "succeeded" and body["payment"]["channel"] == "unionpay_qr"
    assert body["payment"]["flow"] == "static_code" and body["merchant_name"] == "张记早餐"
    r = platform.client.post(
        "/sim/scan",
        json={
            "code_url": code["emv_payload"],
            "app": "bank",
            "amount_fen": 100,
            "payer": "p1",
            "outcome": "decline_card_blocked",
        },
    )
    assert r.json()["status"] == "failed" and r.json()["payment"]["channel"] == "bank_app"
    bad = [
        ({"app": "paypal"}, 400, "app"),
        ({"amount_fen": 60_000}, 422, "amount_fen"),
        ({"code_url": "https://x.example/c/code_01HZZZZZZZZZZZZZZZZZZZZZZZ"}, 404, "code"),
        ({"amount_fen": "12"}, 400, "amount_fen"),
        ({"scene": "moon"}, 400, "scene"),
    ]
    for change, status, param in bad:
        doc = {"code_url": code["url"], "app": "wechat", "amount_fen": 100, "payer": "p2", **change}
        r = platform.client.post("/sim/scan", json=doc)
        assert r.status_code == status, (change, r.text)
        assert r.json()["error"]["param"] == param
    assert _count(platform) == 2


def test_code_api_scopes(platform) -> None:  # type: ignore[no-untyped-def]
    mid, mh, code = _static(platform)
    other, oh = platform.merchant(phone="13900139000")
    assert platform.client.post(f"/v1/merchants/{mid}/codes", headers=mh).status_code == 403
    assert platform.client.get(f"/v1/codes/{code['id']}", headers=oh).status_code == 404
    assert (
        platform.client.post(f"/v1/codes/{code['id']}/revoke", json={"reason": "x"}, headers=oh).status_code
        == 404
    )
    r = platform.client.post("/v1/codes", json={"amount_fen": 0}, headers=mh)
    assert r.status_code == 400 and r.json()["error"]["param"] == "amount_fen"
    assert platform.client.get(f"/v1/codes/{code['id']}", headers=platform.op).json()["merchant_id"] == mid
