"""The public SDK `wechatpayv3` (PyPI), unchanged, against the fake WeChat Pay in service-provider mode: a Native
order placed, queried and refunded, the notification decrypted, the trade bill downloaded, with the SDK verifying
every answer's platform signature, in public-key mode (PUB_KEY_ID_...) and in platform-certificate mode.

The SDK has no base-URL option: its host is the attribute `_core._gate_way` (set to https://api.mch.weixin.qq.com
in its constructor, and what its own download_bill strips from a download_url). We set that one attribute to the
fake rail's base URL; the SDK's code is not changed.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from zhifu.channels.base import merchant_code
from zhifu.channels.statement import business_date_of
from zhifu.railsim.server import FakeRails
from zhifu.railsim.wechat import rail_of

from .conftest import NOTIFY_BASE, Captured

wechatpayv3 = pytest.importorskip("wechatpayv3")

SUB_MCHID = merchant_code("mch_wx_sdk")


def sdk(sim: FakeRails, *, public_key_mode: bool = True, cert_dir: Path | None = None) -> Any:
    keys = sim.server_keys["wechat"]
    extra: dict[str, Any] = {}
    if public_key_mode:
        extra = {
            "public_key": Path(keys["platform_public_key_path"]).read_text(),
            "public_key_id": keys["platform_public_key_id"],
        }
    pay = wechatpayv3.WeChatPay(
        wechatpay_type=wechatpayv3.WeChatPayType.NATIVE,
        mchid=keys["sp_mchid"],
        private_key=Path(keys["merchant_private_key_path"]).read_text(),
        cert_serial_no=keys["merchant_serial_no"],
        appid=keys["sp_appid"],
        apiv3_key=Path(keys["apiv3_key_path"]).read_text().strip(),
        notify_url=f"{NOTIFY_BASE}/notify/wechat",
        partner_mode=True,
        timeout=(2, 5),
        cert_dir=str(cert_dir) if cert_dir else None,
        **extra,
    )
    pay._core._gate_way = sim.base_url  # the one override: the SDK's host (no constructor option exists)
    return pay


def sdk_in_cert_mode(sim: FakeRails, cert_dir: Path) -> Any:
    """Certificate mode: the constructor downloads /v3/certificates from the hard-coded host before we can point
    it elsewhere, so the first instance is made with the platform certificate already in cert_dir (as a merchant
    that has downloaded it does); /v3/certificates is exercised by the SDK's refresh below."""
    keys = sim.server_keys["wechat"]
    cert_dir.mkdir(exist_ok=True)
    (cert_dir / f"{keys['platform_cert_serial']}.pem").write_text(
        Path(keys["platform_cert_path"]).read_text()
    )
    return sdk(sim, public_key_mode=False, cert_dir=cert_dir)


def ok(result: tuple[int, Any], status: int = 200) -> dict[str, Any]:
    code, message = result
    assert code == status, message
    return json.loads(message) if message else {}


@pytest.mark.parametrize("mode", ["public_key", "certificate"])
def test_sdk_places_queries_and_refunds_a_native_order(
    sim: FakeRails, captured: Captured, mode: str, tmp_path: Path
) -> None:
    pay = sdk(sim) if mode == "public_key" else sdk_in_cert_mode(sim, tmp_path / "certs")
    out_trade_no = f"pay_{uuid.uuid4().hex[:24]}"
    placed = ok(
        pay.pay(
            description="县城小卖部 / corner shop",
            out_trade_no=out_trade_no,
            amount={"total": 1888, "currency": "CNY"},
            sub_mchid=SUB_MCHID,
        )
    )
    assert placed["code_url"].startswith("weixin://wxpay/bizpayurl?pr=")
    q = ok(pay.query(out_trade_no=out_trade_no, sub_mchid=SUB_MCHID))
    assert (q["trade_state"], q["sub_mchid"], q["amount"]["total"]) == ("NOTPAY", SUB_MCHID, 1888)

    rail_of(sim).notify_mode = mode
    seen = len(captured.items)
    try:
        sim.store.pay("wechat", out_trade_no, outcome="success", at=sim.now())
        body, headers = captured.wait_after(seen)
    finally:
        rail_of(sim).notify_mode = "public_key"
    assert headers["wechatpay-serial"].startswith("PUB_KEY_ID_") == (mode == "public_key")
    note = pay.callback(headers, body)  # verifies the signature, decrypts the resource
    assert note["event_type"] == "TRANSACTION.SUCCESS"
    assert (note["resource"]["out_trade_no"], note["resource"]["trade_state"]) == (out_trade_no, "SUCCESS")

    q = ok(pay.query(out_trade_no=out_trade_no, sub_mchid=SUB_MCHID))
    assert q["trade_state"] == "SUCCESS" and q["transaction_id"].startswith("42000")
    assert (
        ok(pay.query(transaction_id=q["transaction_id"], sub_mchid=SUB_MCHID))["out_trade_no"] == out_trade_no
    )

    out_refund_no = f"re_{uuid.uuid4().hex[:24]}"
    refunded = ok(
        pay.refund(
            out_refund_no=out_refund_no,
            out_trade_no=out_trade_no,
            sub_mchid=SUB_MCHID,
            amount={"refund": 888, "total": 1888, "currency": "CNY"},
        )
    )
    assert (refunded["status"], refunded["amount"]["refund"]) == ("SUCCESS", 888)
    assert (
        ok(pay.query_refund(out_refund_no=out_refund_no, sub_mchid=SUB_MCHID))["refund_id"]
        == refunded["refund_id"]
    )
    assert ok(pay.query(out_trade_no=out_trade_no, sub_mchid=SUB_MCHID))["trade_state"] == "REFUND"


def test_sdk_closes_an_order(sim: FakeRails) -> None:
    pay = sdk(sim)
    out_trade_no = f"pay_{uuid.uuid4().hex[:24]}"
    ok(pay.pay(description="d", out_trade_no=out_trade_no, amount={"total": 1}, sub_mchid=SUB_MCHID))
    assert pay.close(out_trade_no=out_trade_no, sub_mchid=SUB_MCHID)[0] == 204
    assert ok(pay.query(out_trade_no=out_trade_no, sub_mchid=SUB_MCHID))["trade_state"] == "CLOSED"


def test_sdk_pay_code_order(sim: FakeRails) -> None:
    pay = sdk(sim)
    out_trade_no = f"pay_{uuid.uuid4().hex[:24]}"
    paid = ok(
        pay.pay(
            description="d",
            out_trade_no=out_trade_no,
            amount={"total": 500},
            sub_mchid=SUB_MCHID,
            payer={"auth_code": "134567890123456780"},
            scene_info={"store_info": {"out_id": "s1"}},
            pay_type=wechatpayv3.WeChatPayType.CODEPAY,
        )
    )
    assert paid["trade_state"] == "SUCCESS" and paid["trade_type"] == "MICROPAY"


def test_sdk_downloads_the_trade_bill(sim: FakeRails) -> None:
    pay = sdk(sim)
    out_trade_no = f"pay_{uuid.uuid4().hex[:24]}"
    ok(
        pay.pay(
            description="d",
            out_trade_no=out_trade_no,
            amount={"total": 700},
            sub_mchid=SUB_MCHID,
            payer={"auth_code": "134567890123456780"},
            scene_info={"store_info": {"out_id": "s1"}},
            pay_type=wechatpayv3.WeChatPayType.CODEPAY,
        )
    )
    day = business_date_of(sim.now())
    bill = ok(pay.trade_bill(bill_date=day.isoformat()))  # tar_type GZIP
    code, content = pay.download_bill(bill["download_url"])
    assert code == 200
    content = gzip.decompress(content)
    assert hashlib.sha1(content).hexdigest() == bill["hash_value"]
    assert f"`{out_trade_no}".encode() in content


def test_sdk_refuses_a_forged_answer_signature(sim: FakeRails) -> None:
    """The SDK checks our signatures for real: with another platform key it refuses every answer."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    pay = sdk(sim)
    out_trade_no = f"pay_{uuid.uuid4().hex[:24]}"
    ok(pay.pay(description="d", out_trade_no=out_trade_no, amount={"total": 1}, sub_mchid=SUB_MCHID))
    pay._core._public_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    with pytest.raises(Exception, match="failed to verify the signature"):
        pay.query(out_trade_no=out_trade_no, sub_mchid=SUB_MCHID)


def test_sdk_request_with_a_wrong_key_is_refused_by_the_rail(sim: FakeRails) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    pay = sdk(sim)
    pay._core._private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    code, message = pay.query(out_trade_no="pay_does_not_matter_2", sub_mchid=SUB_MCHID)
    assert code == 401 and json.loads(message)["code"] == "SIGN_ERROR"


def test_sdk_certificate_refresh_reads_the_platform_certificate(sim: FakeRails, tmp_path: Path) -> None:
    pay = sdk_in_cert_mode(sim, tmp_path / "certs")
    pay._core._certificates.clear()
    pay._core._update_certificates()  # GET /v3/certificates, decrypt with the APIv3 key
    serials = {f"{c.serial_number:X}" for c in pay._core._certificates}
    assert serials == {sim.server_keys["wechat"]["platform_cert_serial"]}
    assert dt.datetime.now(dt.UTC) < min(c.not_valid_after_utc for c in pay._core._certificates)
