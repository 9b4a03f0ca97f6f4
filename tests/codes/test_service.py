"""Codes and the cashier's service on both backends: issue, revoke, expire, pay once per page, limits, rules."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import func, select

from tests.codes.conftest import make_merchant, micro_application
from zhifu import ledger
from zhifu.channels import channel_for_auth_code
from zhifu.codes import (
    CodeUnavailable,
    PageToken,
    cashier_payment,
    code_id_from_scan,
    confirm_payment,
    create_dynamic,
    detect_app,
    generate_paycode,
    issue_static,
    list_codes,
    new_page_token,
    open_code,
    revoke,
    scan_and_pay,
    start_payment,
)
from zhifu.codes.service import check_page_token
from zhifu.core.errors import ConflictError, InvalidRequest, NotFound, UnprocessableError
from zhifu.payments import payments
from zhifu.qr import decode


def _payments(db) -> int:  # type: ignore[no-untyped-def]
    with db.tx() as c:
        return int(c.execute(select(func.count()).select_from(payments)).scalar_one())


def _verify(db) -> None:  # type: ignore[no-untyped-def]
    with db.tx() as c:
        assert ledger.verify(c) == []


def _credited_once(db, mid: str, payment: dict) -> None:  # type: ignore[no-untyped-def,type-arg]
    """The merchant is owed exactly one payment's net amount, and the book balances."""
    from zhifu.payments import merchant_balance

    with db.tx() as c:
        assert merchant_balance(c, mid)["posted_fen"] == payment["amount_fen"] - payment["fee_fen"]
    _verify(db)


def test_static_code_is_one_per_merchant_or_store_and_carries_url_and_emv(db, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    mid = make_merchant(db)
    with db.tx() as c:
        first = issue_static(c, mid)
        again = issue_static(c, mid)
        assert again["id"] == first["id"]
        replaced = issue_static(c, mid, replace=True)
        assert replaced["id"] != first["id"]
        codes = {r["id"]: r["status"] for r in list_codes(c, mid)}
    assert codes == {first["id"]: "revoked", replaced["id"]: "active"}
    assert replaced["url"].endswith(f"/c/{replaced['id']}") and replaced["url"].startswith("http")
    qr = decode(replaced["emv_payload"])
    assert qr.is_static and qr.amount_fen is None and qr.mcc == "5812" and qr.merchant_name == "张记早餐"
    assert qr.language is not None and qr.language.name == "张记早餐"
    assert code_id_from_scan(replaced["emv_payload"]) == replaced["id"]
    assert code_id_from_scan(replaced["url"]) == replaced["id"]
    with db.tx() as c, pytest.raises(NotFound):
        issue_static(c, mid, store_id="sto_01HZZZZZZZZZZZZZZZZZZZZZZZ")


def test_revoked_expired_unknown_and_used_codes_cannot_be_paid(db, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    mid = make_merchant(db)
    with db.tx() as c:
        static = issue_static(c, mid)
        dyn = create_dynamic(c, mid, 1250, expires_in_s=120)
        revoked = revoke(c, static["id"], reason="sticker damaged")
    assert revoked["status"] == "revoked" and revoked["revoke_reason"] == "sticker damaged"
    with db.tx() as c:
        with pytest.raises(CodeUnavailable) as e:
            open_code(c, static["id"])
        assert e.value.code == "code_revoked" and e.value.http_status == 410
        with pytest.raises(CodeUnavailable) as e:
            open_code(c, "code_01HZZZZZZZZZZZZZZZZZZZZZZZ")
        assert e.value.code == "code_unknown" and e.value.http_status == 404
        with pytest.raises(CodeUnavailable) as e:
            open_code(c, "../etc/passwd")
        assert e.value.code == "code_unknown"
        assert open_code(c, dyn["id"]).amount_fen == 1250
    fixed_clock.advance(seconds=121)
    with db.tx() as c, pytest.raises(CodeUnavailable) as e:
        open_code(c, dyn["id"])
    assert e.value.code == "code_expired"
    with db.tx() as c:
        assert list_codes(c, mid, kind="dynamic")[0]["status"] == "expired"


@pytest.mark.parametrize(
    ("ua", "app"),
    [
        (
            "Mozilla/5.0 (iPhone) AppleWebKit Mobile/15E148 MicroMessenger/8.0.47(0x18002f2c) NetType/WIFI",
            "wechat",
        ),
        (
            "Mozilla/5.0 (Linux; Android 13) AlipayDefined(nt:WIFI) AliApp(AP/10.5.76) AlipayClient/10.5.76",
            "alipay",
        ),
        (
            "Mozilla/5.0 (iPhone) (com.unionpay.chsp) (cordova 4.5.4) (updebug 0) (version 1010) UnionPay/1.0 CloudPay",
            "unionpay",
        ),
        ("Mozilla/5.0 (Linux; Android 12) Chrome/120 Mobile Safari/537.36 YiyuanRCB/3.2 BankApp", "bank"),
        ("Mozilla/5.0 (X11; Linux x86_64) Chrome/120 Safari/537.36", None),
        ("", None),
        (None, None),
    ],
)
def test_detect_app(ua: str | None, app: str | None) -> None:
    assert detect_app(ua) == app


def test_one_page_one_payment_double_submit_and_double_confirm(db, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    mid = make_merchant(db)
    with db.tx() as c:
        code = issue_static(c, mid)
    page = new_page_token(code["id"])
    first = db.run(
        lambda c: start_payment(c, code["id"], page, app="wechat", payer_ref="u1", amount_fen=1800)
    )
    again = db.run(
        lambda c: start_payment(c, code["id"], page, app="wechat", payer_ref="u1", amount_fen=9900)
    )
    assert first["payment"]["id"] == again["payment"]["id"] and again["payment"]["amount_fen"] == 1800
    p = first["payment"]
    assert (p["flow"], p["channel"], p["status"], p["merchant_order_no"]) == (
        "static_code",
        "wechat",
        "created",
        f"cs{page.token}",
    )
    done = confirm_payment(db, code["id"], page, outcome="success")
    twice = confirm_payment(db, code["id"], page, outcome="decline_insufficient_funds")
    assert done["status"] == twice["status"] == "succeeded"
    assert _payments(db) == 1
    _credited_once(db, mid, done["payment"])


def test_decline_charges_nothing_and_a_new_page_can_pay(db, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    mid = make_merchant(db)
    with db.tx() as c:
        code = issue_static(c, mid)
    declined = scan_and_pay(
        db, code["url"], app="unionpay", payer_ref="u2", amount_fen=500, outcome="decline_insufficient_funds"
    )
    assert declined["status"] == "failed" and declined["payment"]["failure"]["code"] == "insufficient_funds"
    retried = confirm_payment(
        db, code["id"], PageToken(declined["token"], _sig(code["id"], declined["token"]))
    )
    assert retried["status"] == "failed"
    ok = scan_and_pay(db, code["url"], app="unionpay", payer_ref="u2", amount_fen=500)
    assert ok["status"] == "succeeded" and ok["payment"]["channel"] == "unionpay_qr"
    _credited_once(db, mid, ok["payment"])


def _sig(code_id: str, token: str) -> str:
    from zhifu.codes.service import _sign

    return _sign(code_id, token)


def test_dynamic_code_is_paid_once_at_its_amount(db, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    mid = make_merchant(db)
    with db.tx() as c:
        dyn = create_dynamic(c, mid, 2372, expires_in_s=300, description="桌号 3")
    assert decode(dyn["emv_payload"]).amount_fen == 2372 and decode(dyn["emv_payload"]).is_dynamic
    with pytest.raises(InvalidRequest) as e:
        scan_and_pay(db, dyn["url"], app="alipay", payer_ref="u3", amount_fen=100)
    assert e.value.code == "amount_fixed_by_code"
    # a first page opened but never confirmed does not block the payer who pays
    idle = new_page_token(dyn["id"])
    db.run(lambda c: start_payment(c, dyn["id"], idle, app="wechat", payer_ref="u4"))
    paid = scan_and_pay(db, dyn["url"], app="alipay", payer_ref="u3")
    assert paid["status"] == "succeeded" and paid["payment"]["amount_fen"] == 2372
    assert paid["payment"]["flow"] == "dynamic_code" and paid["payment"]["description"] == "桌号 3"
    with db.tx() as c:
        assert cashier_payment(c, dyn["id"], idle)["payment"]["status"] == "closed"
        assert list_codes(c, mid)[0]["status"] == "used"
    with pytest.raises(CodeUnavailable) as e:
        scan_and_pay(db, dyn["url"], app="wechat", payer_ref="u5")
    assert e.value.code == "code_used"
    with db.tx() as c, pytest.raises(ConflictError):
        revoke(c, dyn["id"], reason="too late")
    _verify(db)


def test_expired_page_and_forged_token_charge_nothing(db, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    mid = make_merchant(db)
    with db.tx() as c:
        code = issue_static(c, mid)
    stale = new_page_token(code["id"])
    fixed_clock.advance(seconds=1801)
    with pytest.raises(InvalidRequest) as e:
        db.run(lambda c: start_payment(c, code["id"], stale, app="wechat", payer_ref="u1", amount_fen=100))
    assert e.value.code == "page_expired"
    forged = PageToken(stale.token, "0" * 24)
    with pytest.raises(InvalidRequest) as e:
        db.run(lambda c: start_payment(c, code["id"], forged, app="wechat", payer_ref="u1", amount_fen=100))
    assert e.value.code == "page_token_invalid"
    other_mid = make_merchant(db, phone="13900139000")
    with db.tx() as c:
        other = issue_static(c, other_mid)  # a token of one code is no good for another
    with pytest.raises(InvalidRequest):
        check_page_token(other["id"], stale.token, stale.sig)
    assert _payments(db) == 0


def test_static_code_daily_limit_per_payer(db, fixed_clock, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    mid = make_merchant(db)
    with db.tx() as c:
        code = issue_static(c, mid)
    scan_and_pay(db, code["url"], app="wechat", payer_ref="big", amount_fen=30_000)
    declined = scan_and_pay(
        db,
        code["url"],
        app="wechat",
        payer_ref="big",
        amount_fen=15_000,
        outcome="decline_insufficient_funds",
    )
    assert declined["status"] == "failed"  # a decline does not use up the limit
    with pytest.raises(UnprocessableError) as e:
        scan_and_pay(db, code["url"], app="alipay", payer_ref="big", amount_fen=20_001)
    assert e.value.code == "static_code_daily_limit" and e.value.param == "amount_fen"
    assert (
        scan_and_pay(db, code["url"], app="alipay", payer_ref="big", amount_fen=20_000)["status"]
        == "succeeded"
    )
    assert (
        scan_and_pay(db, code["url"], app="alipay", payer_ref="small", amount_fen=50_000)["status"]
        == "succeeded"
    )
    fixed_clock.advance(days=1)  # a new day in Beijing
    assert (
        scan_and_pay(db, code["url"], app="wechat", payer_ref="big", amount_fen=100)["status"] == "succeeded"
    )
    # dynamic codes are not held to the static limit
    with db.tx() as c:
        dyn = create_dynamic(c, mid, 80_000)
    assert scan_and_pay(db, dyn["url"], app="wechat", payer_ref="big")["status"] == "succeeded"
    # the limit is configurable
    from zhifu.codes.config import codes_settings

    monkeypatch.setenv("ZHIFU_STATIC_CODE_PAYER_DAILY_LIMIT_FEN", "200")
    codes_settings.cache_clear()
    with pytest.raises(UnprocessableError):
        scan_and_pay(db, code["url"], app="wechat", payer_ref="big", amount_fen=101)


def test_micro_static_code_cannot_collect_remotely(db, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    micro = make_merchant(db, **micro_application())
    shop = make_merchant(db, phone="13900139000")
    with db.tx() as c:
        micro_code, shop_code = issue_static(c, micro), issue_static(c, shop)
    with pytest.raises(UnprocessableError) as e:
        scan_and_pay(db, micro_code["url"], app="wechat", payer_ref="far", amount_fen=100, scene="remote")
    assert e.value.code == "remote_collection_forbidden"
    assert (
        scan_and_pay(db, micro_code["url"], app="wechat", payer_ref="near", amount_fen=100)["status"]
        == "succeeded"
    )
    assert (
        scan_and_pay(db, shop_code["url"], app="wechat", payer_ref="far", amount_fen=100, scene="remote")[
            "status"
        ]
        == "succeeded"
    )
    with db.tx() as c:
        dyn = create_dynamic(c, micro, 100)
    assert (
        scan_and_pay(db, dyn["url"], app="wechat", payer_ref="far", scene="remote")["status"] == "succeeded"
    )


def test_suspended_merchant_and_bad_input(db, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    from zhifu.merchants import service as merchants

    mid = make_merchant(db)
    with db.tx() as c:
        code = issue_static(c, mid)
        for bad, param in ((0, "amount_fen"), (-5, "amount_fen"), (True, "amount_fen")):
            with pytest.raises(InvalidRequest) as e:
                create_dynamic(c, mid, bad)  # type: ignore[arg-type]
            assert e.value.param == param
        with pytest.raises(InvalidRequest) as e:
            create_dynamic(c, mid, 100, expires_in_s=10)
        assert e.value.param == "expires_in_s"
        with pytest.raises(InvalidRequest) as e:
            revoke(c, code["id"], reason="  ")
        assert e.value.param == "reason"
    for kwargs, param in (
        ({"app": "paypal"}, "app"),
        ({"payer_ref": "a b"}, "payer"),
        ({"scene": "moon"}, "scene"),
        ({"amount_fen": 0}, "amount_fen"),
        ({"amount_fen": None}, "amount_fen"),
    ):
        args = {"app": "wechat", "payer_ref": "u1", "amount_fen": 100, **kwargs}
        with pytest.raises(InvalidRequest) as e:
            scan_and_pay(db, code["url"], **args)  # type: ignore[arg-type]
        assert e.value.param == param, kwargs
    with pytest.raises(CodeUnavailable):
        scan_and_pay(db, "https://evil.example/pay", app="wechat", payer_ref="u1", amount_fen=100)
    with db.tx() as c:
        merchants.review(c, mid, "suspend", reason="risk review")
    with pytest.raises(ConflictError) as e:
        scan_and_pay(db, code["url"], app="wechat", payer_ref="u1", amount_fen=100)
    assert e.value.code == "merchant_not_active"
    assert _payments(db) == 0


def test_cashier_shows_a_campaigns_instant_discount(db, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    from tests.incentives.helpers import discount_campaign
    from zhifu.incentives import CreateCampaign, create_campaign

    mid = make_merchant(db)
    with db.tx() as c:
        code = issue_static(c, mid)
        create_campaign(c, CreateCampaign.model_validate(discount_campaign()))
    paid = scan_and_pay(db, code["url"], app="unionpay", payer_ref="u9", amount_fen=1_000)
    p = paid["payment"]
    assert (p["amount_fen"], p["discount_fen"], p["payable_fen"]) == (1_000, 100, 900)
    assert paid["status"] == "succeeded"
    _credited_once(db, mid, p)
    _verify(db)


@pytest.mark.parametrize("channel", ["unionpay_qr", "wechat", "alipay"])
@pytest.mark.parametrize("outcome", ["success", "userpaying", "decline", "timeout"])
def test_paycodes_route_to_their_channel_and_outcome(channel: str, outcome: str) -> None:
    from zhifu.railsim.store import paycode_outcome

    rng = random.Random(3)
    for _ in range(50):
        code = generate_paycode(channel, outcome=outcome, rng=rng)
        assert code.isdigit() and channel_for_auth_code(code) == channel
        expected = {"decline": "decline_insufficient_funds"}.get(outcome, outcome)
        assert paycode_outcome(code) == expected


@pytest.mark.parametrize(
    ("channel", "outcome"), [("unionpay_qr", "success"), ("wechat", "userpaying"), ("alipay", "decline")]
)
def test_sim_paycode_command_prints_a_code_its_channel_accepts(channel: str, outcome: str) -> None:
    from typer.testing import CliRunner

    from zhifu.cli import app
    from zhifu.railsim.store import paycode_outcome

    r = CliRunner().invoke(app, ["sim", "paycode", "--channel", channel, "--outcome", outcome, "--seed", "5"])
    assert r.exit_code == 0, r.output
    code = r.output.strip()
    assert channel_for_auth_code(code) == channel
    assert paycode_outcome(code) == {"decline": "decline_insufficient_funds"}.get(outcome, outcome)
    bad = CliRunner().invoke(app, ["sim", "paycode", "--channel", "bogus"])
    assert bad.exit_code != 0 and "channel" in bad.output
