"""WeChat Pay bad input: forged, unsigned, stale or wrongly-serialled notifications and answers, a resource that
does not decrypt, another service provider's notification, 5xx and garbage answers, a hang past the timeout, a
request signed with the wrong key, and bills of another rail, another day or another hash."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from zhifu.channels import wechat
from zhifu.channels.alipay.statement import write_alipay
from zhifu.channels.base import BadNotification, PaymentOrder, RailError, RailTimeout, merchant_code
from zhifu.channels.http import RailHttp
from zhifu.channels.statement import StatementFormatError, business_date_of
from zhifu.channels.wechat import sign
from zhifu.railsim.server import FakeRails

from .conftest import NOTIFY_BASE, TIMEOUT_S, Captured

MERCHANT = "mch_wx_bad"


def _paid_notification(conn: Any, sim: FakeRails, captured: Captured) -> tuple[bytes, dict[str, str]]:
    now = dt.datetime.now(dt.UTC)
    p = f"pay_{uuid.uuid4().hex[:24]}"
    conn.create(
        PaymentOrder(
            payment_id=p,
            merchant_id=MERCHANT,
            amount_fen=321,
            description="d",
            expires_at=now + dt.timedelta(minutes=5),
            created_at=now,
        )
    )
    seen = len(captured.items)
    sim.store.pay("wechat", p, outcome="success", at=now)
    return captured.wait_after(seen)


def _craft(
    sim: FakeRails,
    resource: dict[str, Any],
    *,
    apiv3_key: bytes | None = None,
    serial: str | None = None,
    timestamp: int | None = None,
) -> tuple[bytes, dict[str, str]]:
    """A notification signed with the fake platform's own key (a test may choose what is wrong with it)."""
    keys = sim.server_keys["wechat"]
    key = apiv3_key or Path(keys["apiv3_key_path"]).read_bytes().strip()
    doc = {
        "id": str(uuid.uuid4()),
        "create_time": "2026-01-01T10:00:00+08:00",
        "resource_type": "encrypt-resource",
        "event_type": "TRANSACTION.SUCCESS",
        "summary": "支付成功",
        "resource": {
            "original_type": "transaction",
            **sign.aes_gcm_encrypt(key, json.dumps(resource), "transaction"),
        },
    }
    body = json.dumps(doc)
    headers = sign.signed_headers(
        body,
        serial=serial or keys["platform_public_key_id"],
        key=sign.load_private_key(keys["platform_key_path"]),
        timestamp=timestamp,
    )
    return body.encode(), headers


def _resource(sim: FakeRails, **changes: Any) -> dict[str, Any]:
    keys = sim.server_keys["wechat"]
    doc = {
        "sp_appid": keys["sp_appid"],
        "sp_mchid": keys["sp_mchid"],
        "sub_mchid": merchant_code(MERCHANT),
        "out_trade_no": "pay_crafted_0001",
        "transaction_id": "4200000000202601011000000001",
        "trade_type": "NATIVE",
        "trade_state": "SUCCESS",
        "trade_state_desc": "支付成功",
        "bank_type": "OTHERS",
        "success_time": "2026-01-01T10:00:00+08:00",
        "payer": {"sp_openid": "o1"},
        "amount": {"total": 100, "payer_total": 100, "currency": "CNY", "payer_currency": "CNY"},
    }
    return doc | changes


def test_a_crafted_notification_with_the_platform_key_verifies(conn, sim: FakeRails) -> None:
    n = conn.parse_notification(*_craft(sim, _resource(sim, sub_mchid=merchant_code("mch_somebody_else"))))
    assert (n.payment_id, n.amount_fen) == ("pay_crafted_0001", 100)
    # a notification naming another sub-merchant is surfaced so the platform refuses it for our payment
    assert n.merchant_code == merchant_code("mch_somebody_else") != merchant_code(MERCHANT)


def test_forged_body_is_refused(conn, sim: FakeRails, captured: Captured) -> None:
    body, headers = _paid_notification(conn, sim, captured)
    assert conn.parse_notification(body, headers).outcome == "succeeded"
    forged = body.replace(b'"summary":"', b'"summary":"x')
    with pytest.raises(BadNotification, match="signature does not verify"):
        conn.parse_notification(forged, headers)


def test_missing_signature_is_refused(conn, sim: FakeRails, captured: Captured) -> None:
    body, headers = _paid_notification(conn, sim, captured)
    for name in ("wechatpay-signature", "wechatpay-serial", "wechatpay-timestamp", "wechatpay-nonce"):
        stripped = {k: v for k, v in headers.items() if k.lower() != name}
        with pytest.raises(BadNotification, match="missing"):
            conn.parse_notification(body, stripped)


def test_wrong_serial_is_refused(conn, sim: FakeRails) -> None:
    with pytest.raises(BadNotification, match="no platform key or certificate with serial"):
        conn.parse_notification(
            *_craft(sim, _resource(sim), serial="PUB_KEY_ID_0100000000000000000000000000")
        )


def test_stale_timestamp_is_refused(conn, sim: FakeRails) -> None:
    with pytest.raises(BadNotification, match="5 minutes"):
        conn.parse_notification(*_craft(sim, _resource(sim), timestamp=int(time.time()) - 600))


def test_resource_that_does_not_decrypt_is_refused(conn, sim: FakeRails) -> None:
    with pytest.raises(BadNotification, match="does not decrypt"):
        conn.parse_notification(*_craft(sim, _resource(sim), apiv3_key=b"0" * 32))


def test_another_service_providers_notification_is_refused(conn, sim: FakeRails) -> None:
    with pytest.raises(BadNotification, match="another service provider"):
        conn.parse_notification(*_craft(sim, _resource(sim, sp_mchid="1900000001")))


def test_a_replayed_notification_keeps_its_id(conn, sim: FakeRails, captured: Captured) -> None:
    body, headers = _paid_notification(conn, sim, captured)
    assert (
        conn.parse_notification(body, headers).notify_id == conn.parse_notification(body, headers).notify_id
    )


def _conn_with(sim: FakeRails, handler: Any) -> Any:
    cfg = {**sim.client_config["wechat"], "notify_url_base": NOTIFY_BASE}
    http = RailHttp("wechat", cfg["base_url"], timeout_s=TIMEOUT_S, transport=httpx.MockTransport(handler))
    return wechat.connector(wechat.RAILS[0], cfg, http)


def _signed(sim: FakeRails, status: int, body: str) -> httpx.Response:
    keys = sim.server_keys["wechat"]
    headers = sign.signed_headers(
        body, serial=keys["platform_public_key_id"], key=sign.load_private_key(keys["platform_key_path"])
    )
    return httpx.Response(status, content=body.encode(), headers=headers)


def test_5xx_garbage_unsigned_and_badly_signed_answers_are_rail_errors(sim: FakeRails) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    good = json.dumps({"trade_state": "SUCCESS", "out_trade_no": "pay_x"})
    answers = {
        "5xx": lambda r: httpx.Response(500, json={"code": "SYSTEM_ERROR", "message": "系统错误"}),
        "unsigned": lambda r: httpx.Response(200, content=good.encode()),
        "garbage": lambda r: _signed(sim, 200, "<html>oops</html>"),
        "other key": lambda r: httpx.Response(
            200,
            content=good.encode(),
            headers=sign.signed_headers(
                good, serial=sim.server_keys["wechat"]["platform_public_key_id"], key=other
            ),
        ),
        "unknown state": lambda r: _signed(sim, 200, json.dumps({"trade_state": "WHATEVER"})),
    }
    for name, handler in answers.items():
        c = _conn_with(sim, handler)
        with pytest.raises(RailError) as exc:
            c.query("pay_anything_1", merchant_id=MERCHANT)
        assert not isinstance(exc.value, RailTimeout), name


def test_a_hang_past_the_timeout_is_a_rail_timeout(sim: FakeRails) -> None:
    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("no answer", request=request)

    with pytest.raises(RailTimeout):
        _conn_with(sim, hang).query("pay_anything_2", merchant_id=MERCHANT)


def test_a_request_signed_with_the_wrong_key_is_refused_by_the_rail(sim: FakeRails, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    wrong = tmp_path / "wrong.pem"
    wrong.write_bytes(
        rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    cfg = {
        **sim.client_config["wechat"],
        "notify_url_base": NOTIFY_BASE,
        "merchant_private_key_path": str(wrong),
    }
    c = wechat.connector(wechat.RAILS[0], cfg, RailHttp("wechat", cfg["base_url"], timeout_s=TIMEOUT_S))
    with pytest.raises(RailError, match="SIGN_ERROR"):
        c.query("pay_anything_3", merchant_id=MERCHANT)


def test_a_bill_whose_hash_differs_is_refused(sim: FakeRails) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v3/bill/tradebill":
            return _signed(
                sim,
                200,
                json.dumps(
                    {
                        "hash_type": "SHA1",
                        "hash_value": "0" * 40,
                        "download_url": f"{sim.base_url}/v3/billdownload/file?token=t",
                    }
                ),
            )
        return httpx.Response(200, content=wechat.write_statement([], dt.date(2026, 1, 1)))

    with pytest.raises(RailError, match="hash"):
        _conn_with(sim, handler).fetch_statement(dt.date(2026, 1, 1))


def test_a_download_url_on_another_host_is_refused(sim: FakeRails) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return _signed(
            sim,
            200,
            json.dumps(
                {
                    "hash_type": "SHA1",
                    "hash_value": "0" * 40,
                    "download_url": "http://198.51.100.7/v3/billdownload/file?token=t",
                }
            ),
        )

    with pytest.raises(RailError, match="host"):
        _conn_with(sim, handler).fetch_statement(dt.date(2026, 1, 1))


def test_bills_of_another_rail_or_another_day_are_refused(conn, sim: FakeRails) -> None:
    now = dt.datetime.now(dt.UTC)
    p = f"pay_{uuid.uuid4().hex[:24]}"
    conn.create(
        PaymentOrder(
            payment_id=p,
            merchant_id=MERCHANT,
            amount_fen=600,
            description="d",
            expires_at=now + dt.timedelta(minutes=5),
            created_at=now,
            flow="pay_code",
            auth_code="134567890123456710",
        )
    )
    day = business_date_of(sim.now())
    bill = conn.fetch_statement(day)
    with pytest.raises(StatementFormatError, match="does not belong to the business date"):
        conn.parse_statement(bill, day + dt.timedelta(days=7))
    alipay_bill = write_alipay(sim.statement_lines("wechat", day), day)
    with pytest.raises(StatementFormatError):
        conn.parse_statement(alipay_bill, day)


def test_a_bill_of_a_future_day_is_refused_by_the_rail(conn, sim: FakeRails) -> None:
    with pytest.raises(RailError, match="PARAM_ERROR"):
        conn.fetch_statement(business_date_of(sim.now()) + dt.timedelta(days=2))


def test_connector_refuses_an_incomplete_configuration(sim: FakeRails) -> None:
    from zhifu.core.errors import InvalidRequest

    cfg = {**sim.client_config["wechat"], "notify_url_base": NOTIFY_BASE}
    http = RailHttp("wechat", cfg["base_url"])
    for missing in ("sp_mchid", "merchant_private_key_path", "apiv3_key_path", "notify_url_base"):
        with pytest.raises(InvalidRequest):
            wechat.connector(wechat.RAILS[0], {k: v for k, v in cfg.items() if k != missing}, http)
    http.close()
