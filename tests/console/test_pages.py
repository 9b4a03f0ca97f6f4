"""The console over HTTP: logins, CSRF, expiry, refunds with confirmation, review, languages and escaping."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from zhifu.console import routes, service
from zhifu.console.models import console_sessions
from zhifu.merchants.models import api_keys, merchants
from zhifu.payments.models import payments, refunds

from .conftest import PASSWORD, csrf_of


def _refunded(world, pid: str) -> int:  # type: ignore[no-untyped-def]
    with world.db.tx() as c:
        return c.execute(select(payments.c.refunded_fen).where(payments.c.id == pid)).scalar_one()


def test_login_sets_a_safe_cookie_and_logout_ends_the_session(world) -> None:  # type: ignore[no-untyped-def]
    b = world.anonymous()
    assert b.get("/console/merchant").headers["location"] == "/login?next=/console/merchant"
    page = b.get("/login?lang=en")
    assert "Username" in page.text and page.headers["content-security-policy"].startswith(
        "default-src 'self'"
    )
    r = b.client.post(
        "/login",
        data={
            "username": "shop-a",
            "password": PASSWORD,
            "csrf_token": csrf_of(page.text),
            "next": "/console/merchant/refunds",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/console/merchant/refunds"
    cookie = r.headers["set-cookie"]
    assert "zhifu_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    home = b.get("/console/merchant")
    assert home.status_code == 200 and "张老板" in home.text, home.text[-3000:]
    assert "<h1>Today's takings" in home.text  # the language chosen on the login page is kept
    b.csrf = csrf_of(home.text)
    assert b.post("/logout").headers["location"] == "/login"
    assert b.get("/console/merchant").status_code == 303


@pytest.mark.parametrize(
    "next_url", ["https://evil.example/", "//evil.example", "/console/operator", "/\\evil"]
)
def test_login_never_redirects_off_the_users_section(world, next_url: str) -> None:  # type: ignore[no-untyped-def]
    b = world.anonymous()
    page = b.get("/login")
    r = b.client.post(
        "/login",
        data={"username": "shop-a", "password": PASSWORD, "csrf_token": csrf_of(page.text), "next": next_url},
        follow_redirects=False,
    )
    assert r.headers["location"] == "/console/merchant"


def test_wrong_passwords_then_429(world) -> None:  # type: ignore[no-untyped-def]
    b = world.anonymous()
    token = csrf_of(b.get("/login").text)
    for _ in range(service.LOGIN_FAILURES_MAX):
        r = b.client.post("/login", data={"username": "shop-a", "password": "nope nope", "csrf_token": token})
        assert (
            r.status_code == 401
            and "用户名或密码错误" in r.text
            and "zhifu_session" not in r.headers.get("set-cookie", "")
        )
    r = b.client.post("/login", data={"username": "shop-a", "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 429 and "请求过于频繁" in r.text and "zhifu_session" not in r.cookies


def test_login_form_needs_its_csrf_token(world) -> None:  # type: ignore[no-untyped-def]
    b = world.anonymous()
    b.get("/login")
    r = b.client.post(
        "/login",
        data={"username": "shop-a", "password": PASSWORD, "csrf_token": "forged"},
        follow_redirects=False,
    )
    assert r.status_code == 403 and "zhifu_session" not in r.headers.get("set-cookie", "")


def test_over_long_login_fields(world) -> None:  # type: ignore[no-untyped-def]
    b = world.anonymous()
    token = csrf_of(b.get("/login").text)
    r = b.client.post("/login", data={"username": "u" * 65, "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 400 and "username is at most 64 characters" in r.text


def test_merchant_refunds_with_confirmation(world) -> None:  # type: ignore[no-untyped-def]
    b = world.login("shop-a")
    detail = b.get(f"/console/merchant/payments/{world.pay_a}")
    assert detail.status_code == 200 and "A-0001" in detail.text and "11.50" in detail.text  # left to refund
    confirm = b.post(
        f"/console/merchant/payments/{world.pay_a}/refund", {"amount": "2.00", "reason": "少找零"}
    )
    assert confirm.status_code == 200 and "确认退款" in confirm.text and "¥2.00" in confirm.text
    assert _refunded(world, world.pay_a) == 100  # nothing happens before the confirmation
    done = b.post(
        f"/console/merchant/payments/{world.pay_a}/refund",
        {"amount": "2.00", "reason": "少找零", "confirm": "yes"},
    )
    assert done.status_code == 303 and done.headers["location"].endswith("?done=refund")
    assert _refunded(world, world.pay_a) == 300
    page = b.get(done.headers["location"])
    assert "退款已提交" in page.text and "少找零" in page.text
    too_much = b.post(
        f"/console/merchant/payments/{world.pay_a}/refund", {"amount": "50.00", "confirm": "yes"}
    )
    assert too_much.status_code == 400 and "exceeds what is left" in too_much.text
    bad = b.post(f"/console/merchant/payments/{world.pay_a}/refund", {"amount": "1e3", "confirm": "yes"})
    assert bad.status_code == 400 and _refunded(world, world.pay_a) == 300
    long_reason = b.post(
        f"/console/merchant/payments/{world.pay_a}/refund",
        {"amount": "1.00", "reason": "x" * 201, "confirm": "yes"},
    )
    assert long_reason.status_code == 400 and "reason is at most 200" in long_reason.text
    assert _refunded(world, world.pay_a) == 300


def test_forged_or_missing_csrf_changes_nothing(world) -> None:  # type: ignore[no-untyped-def]
    b = world.login("shop-a")
    url = f"/console/merchant/payments/{world.pay_a}/refund"
    data = {"amount": "1.00", "confirm": "yes"}
    assert b.client.post(url, data=data).status_code == 403
    assert b.client.post(url, data={**data, "csrf_token": "forged"}).status_code == 403
    assert b.client.post(url, data=data, headers={"X-CSRF-Token": "forged"}).status_code == 403
    other = world.login("shop-b")  # a real token, but another session's
    assert b.client.post(url, data={**data, "csrf_token": other.csrf}).status_code == 403
    assert _refunded(world, world.pay_a) == 100
    ok = b.client.post(
        url, data=data, headers={"X-CSRF-Token": b.csrf}, follow_redirects=False
    )  # as htmx sends it
    assert ok.status_code == 303 and _refunded(world, world.pay_a) == 200


def test_expired_session_on_a_form_post(world, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    b = world.login("shop-a")
    with world.db.tx() as c:
        c.execute(console_sessions.update().values(expires_at=fixed_clock.now()))
    fixed_clock.advance(seconds=1)
    r = b.post(f"/console/merchant/payments/{world.pay_a}/refund", {"amount": "1.00", "confirm": "yes"})
    assert r.status_code == 401 and "请重新登录" in r.text
    assert b.get("/console/merchant").status_code == 303
    assert b.get("/console/merchant", headers={"HX-Request": "true"}).headers["hx-redirect"] == "/login"
    assert _refunded(world, world.pay_a) == 100


def test_script_in_text_fields_is_escaped_everywhere(world) -> None:  # type: ignore[no-untyped-def]
    evil = '<script>alert("x")</script>'
    b = world.login("shop-a")
    assert evil not in b.post("/console/merchant/keys", {"label": evil}).text
    keys = b.get("/console/merchant/keys").text
    assert evil not in keys and "&lt;script&gt;" in keys
    b.post(
        f"/console/merchant/payments/{world.pay_a}/refund",
        {"amount": "1.00", "reason": evil, "confirm": "yes"},
    )
    for url in (f"/console/merchant/payments/{world.pay_a}", "/console/merchant/refunds"):
        page = b.get(url).text
        assert evil not in page and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    op = world.login("op-rcb")
    r = op.post(f"/console/operator/merchants/{world.pending_a}/review", {"action": "reject", "reason": evil})
    assert r.status_code == 303
    page = op.get(f"/console/operator/merchants/{world.pending_a}").text
    assert evil not in page and "&lt;script&gt;" in page
    search = b.get("/console/merchant/payments", params={"q": '"><script>x()</script>'}).text
    assert "<script>x()" not in search
    assert evil not in world.login("pboc").get("/console/regulator/merchants").text


def test_keys_secret_shown_once_and_revoke(world) -> None:  # type: ignore[no-untyped-def]
    b = world.login("shop-a")
    made = b.post("/console/merchant/keys", {"label": "收银台"})
    assert made.status_code == 200 and "sk_" in made.text and "仅显示这一次" in made.text
    assert "sk_" not in b.get("/console/merchant/keys").text.replace("<code>sk_", "")  # only hints afterwards
    with world.db.tx() as c:
        kid = c.execute(select(api_keys.c.id).where(api_keys.c.label == "收银台")).scalar_one()
    assert b.post(f"/console/merchant/keys/{kid}/revoke").status_code == 303
    with world.db.tx() as c:
        assert c.execute(select(api_keys.c.status).where(api_keys.c.id == kid)).scalar_one() == "revoked"
    long_label = b.post("/console/merchant/keys", {"label": "L" * 61})
    assert long_label.status_code == 400 and "label is at most 60" in long_label.text


def test_webhooks_add_and_delete(world) -> None:  # type: ignore[no-untyped-def]
    b = world.login("shop-a")
    bad = b.post("/console/merchant/webhooks", {"url": "javascript:alert(1)"})
    assert bad.status_code == 400 and "absolute http(s) URL" in bad.text
    made = b.post(
        "/console/merchant/webhooks", {"url": "https://shop.example/h", "events": ["refund.succeeded"]}
    )
    assert made.status_code == 200 and "whsec_" in made.text
    assert "https://shop.example/h" in b.get("/console/merchant/webhooks").text
    assert b.post(f"/console/merchant/webhooks/{world.endpoint_a}/delete").status_code == 303
    assert "shop-a.example" not in b.get("/console/merchant/webhooks").text


def test_operator_reviews_with_checks_and_reasons(world) -> None:  # type: ignore[no-untyped-def]
    op = world.login("op-rcb")
    queue = op.get("/console/operator").text
    assert world.pending_a in queue and world.pending_b not in queue
    page = op.get(f"/console/operator/merchants/{world.pending_a}").text
    assert page.count('data-check-ok="yes"') == 7 and "身份证号码" in page
    no_reason = op.post(
        f"/console/operator/merchants/{world.pending_a}/review", {"action": "request_changes"}
    )
    assert no_reason.status_code == 400 and "needs a reason" in no_reason.text
    ok = op.post(f"/console/operator/merchants/{world.pending_a}/review", {"action": "approve"})
    assert ok.status_code == 303
    with world.db.tx() as c:
        assert (
            c.execute(select(merchants.c.status).where(merchants.c.id == world.pending_a)).scalar()
            == "active"
        )
    again = op.post(f"/console/operator/merchants/{world.pending_a}/review", {"action": "approve"})
    assert again.status_code == 409
    assert (
        op.post(f"/console/operator/merchants/{world.pending_b}/review", {"action": "approve"}).status_code
        == 404
    )
    with world.db.tx() as c:
        assert (
            c.execute(select(merchants.c.status).where(merchants.c.id == world.pending_b)).scalar()
            == "pending_review"
        )


def test_regulator_dashboard_in_both_languages(world) -> None:  # type: ignore[no-untyped-def]
    reg = world.login("pboc")
    zh = reg.get("/console/regulator?lang=zh").text
    en = reg.get("/console/regulator?lang=en").text
    assert "智付普惠工程看板" in zh and "¥45.50" in zh and "data-chart" in zh and "echarts.min.js" in zh
    assert "Programme dashboard" in en and "WeChat Pay" in en


@pytest.mark.parametrize("path", sorted(routes.PLACEHOLDERS))
def test_placeholders_show_an_empty_state(world, path: str) -> None:  # type: ignore[no-untyped-def]
    role = routes.PLACEHOLDERS[path][0]
    user = {"operator": "op-rcb", "regulator": "pboc", "biller": "water", "complaints": "desk"}[role]
    r = world.login(user).get(path + "?lang=en")
    assert r.status_code == 200 and 'class="empty"' in r.text


def test_codes_say_they_are_coming_and_settlements_are_empty(world) -> None:  # type: ignore[no-untyped-def]
    b = world.login("shop-a")
    assert "收款码即将开通" in b.get("/console/merchant/codes").text
    assert b.get("/console/merchant/sticker.pdf").status_code == 404
    assert "暂无结算记录" in b.get("/console/merchant/settlements").text


def test_live_stream_sends_new_payments_and_totals(world, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(routes, "STREAM_LIFETIME_S", 0.0)
    b = world.login("shop-a")
    with b.client.stream("GET", "/console/merchant/stream?cursor=evt_0") as r:
        body = "".join(r.iter_text())
    assert "event: payment" in body and f'data-payment-id="{world.pay_a}"' in body
    assert 'data-speak="微信支付收款 12.50 元"' in body and "event: takings" in body and "¥12.50" in body
    assert world.login("shop-b").get("/console/merchant/stream?cursor=evt_0").text.count(world.pay_a) == 0
    assert b.get("/console/merchant/stream?cursor=nonsense").status_code == 400


def test_refund_rows_belong_to_the_merchant(world) -> None:  # type: ignore[no-untyped-def]
    with world.db.tx() as c:
        assert (
            c.execute(select(refunds.c.merchant_id).where(refunds.c.id == world.refund_a)).scalar()
            == world.mch_a
        )
    assert world.refund_a not in world.login("shop-b").get("/console/merchant/refunds").text
    assert world.pay_a in world.login("shop-a").get("/console/merchant/refunds").text


def test_sticker_and_statement_downloads(world) -> None:  # type: ignore[no-untyped-def]
    from zhifu.codes import issue_static

    b = world.login("shop-a")
    with world.db.tx() as c:
        code = issue_static(c, world.mch_a)
    page = b.get("/console/merchant/codes").text
    assert f"/c/{code['id']}" in page
    pdf = b.get("/console/merchant/sticker.pdf")
    assert (
        pdf.status_code == 200
        and pdf.content.startswith(b"%PDF")
        and pdf.headers["content-type"] == "application/pdf"
    )
    assert world.login("shop-b").get("/console/merchant/sticker.pdf").status_code == 404  # B has no code
    csv = b.get("/console/merchant/statement", params={"month": "2026-11", "format": "csv"})
    assert csv.status_code == 200 and csv.headers["content-disposition"].startswith(
        f'attachment; filename="{world.mch_a}'
    )
    assert b.get("/console/merchant/statement", params={"month": "11/2026"}).status_code == 400
    assert (
        b.get("/console/merchant/statement", params={"month": "2026-11", "format": "exe"}).status_code == 400
    )


def test_operator_sees_the_rails_exception_list(world) -> None:  # type: ignore[no-untyped-def]
    from zhifu.channels.exceptions import record_exception

    with world.db.tx() as c:
        record_exception(
            c, "wechat", "bad_signature", "微信支付通知签名无效 / the signature does not verify", b"{}"
        )
    page = world.login("op-rcb").get("/console/operator/rail-exceptions")
    assert page.status_code == 200 and "渠道异常" in page.text
    assert "微信支付" in page.text and "签名无效" in page.text and 'data-kind="bad_signature"' in page.text
    assert world.login("shop-a").get("/console/operator/rail-exceptions").status_code in (403, 404)
