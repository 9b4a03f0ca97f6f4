"""The public python-alipay-sdk (PyPI, unchanged) against the fake Alipay, with the keys the fake rail wrote.

The SDK knows two gateways, production and sandbox (`debug=True`), and keeps the one it uses in its `_gateway`
attribute; a subclass that sets that attribute after the SDK's own __init__ is the only change, so every request
is built, signed, sent and verified by the SDK's own code.
"""

from __future__ import annotations

import datetime as dt
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from alipay import AliPay
from alipay.exceptions import AliPayException, AliPayValidationError

from tests.rails.alipay.conftest import Delivered
from zhifu.channels import alipay as alipay_channel
from zhifu.channels.base import merchant_code
from zhifu.channels.statement import business_date_of
from zhifu.railsim.server import FakeRails


class FakeRailAliPay(AliPay):
    """python-alipay-sdk's AliPay, sending to the gateway it is given instead of openapi.alipay.com."""

    def __init__(self, gateway: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._gateway = gateway


def _sdk(sim: FakeRails, *, alipay_public_key: str | None = None) -> FakeRailAliPay:
    cfg = sim.client_config["alipay"]
    return FakeRailAliPay(
        f"{cfg['base_url']}{cfg['gateway_path']}",
        appid=cfg["app_id"],
        app_notify_url="http://127.0.0.1:9/notify/alipay",
        app_private_key_string=Path(cfg["app_private_key"]).read_text(),
        alipay_public_key_string=Path(alipay_public_key or cfg["alipay_public_key"]).read_text(),
        sign_type="RSA2",
    )


def _no(prefix: str) -> str:
    return f"{prefix}{time.time_ns()}"


def test_sdk_places_queries_refunds_and_closes(sim: FakeRails) -> None:
    sdk = _sdk(sim)
    shop = merchant_code("mch_sdk")

    # a QR code (precreate): waits for the payer, who pays in the app
    qr_no = _no("sdk_qr_")
    pre = sdk.api_alipay_trade_precreate(
        subject="测试商品 / test goods",
        out_trade_no=qr_no,
        total_amount="12.34",
        sub_merchant={"merchant_id": shop},
        store_id=shop,
    )
    assert pre["code"] == "10000" and pre["out_trade_no"] == qr_no
    assert pre["qr_code"].startswith("https://qr.alipay.com/bax")
    assert sdk.api_alipay_trade_query(out_trade_no=qr_no)["trade_status"] == "WAIT_BUYER_PAY"
    sim.store.pay("alipay", qr_no, outcome="success", at=dt.datetime.now(dt.UTC))
    paid = sdk.api_alipay_trade_query(out_trade_no=qr_no)
    assert (paid["code"], paid["trade_status"], paid["total_amount"]) == ("10000", "TRADE_SUCCESS", "12.34")
    assert paid["store_id"] == shop and paid["buyer_user_id"].startswith("2088")
    assert sdk.api_alipay_trade_query(trade_no=paid["trade_no"])["out_trade_no"] == qr_no

    # a pay code (trade.pay, scene bar_code): paid at once
    code_no = _no("sdk_pay_")
    pay = sdk.api_alipay_trade_pay(
        code_no,
        "bar_code",
        f"28{time.time_ns() % 10**13:013d}1",
        "扫码枪收款",
        total_amount="5.00",
        store_id=shop,
    )
    assert (pay["code"], pay["msg"], pay["total_amount"]) == ("10000", "Success", "5.00")
    declined = sdk.api_alipay_trade_pay(
        _no("sdk_pay_"), "bar_code", f"28{time.time_ns() % 10**13:013d}8", "x", total_amount="5.00"
    )
    assert (declined["code"], declined["sub_code"]) == ("40004", "ACQ.BUYER_BALANCE_NOT_ENOUGH")

    # refund (out_request_no) and the refund query
    refund = sdk.api_alipay_trade_refund("1.50", out_trade_no=code_no, out_request_no="sdk_re_1")
    assert (refund["code"], refund["fund_change"], refund["refund_fee"]) == ("10000", "Y", "1.50")
    again = sdk.api_alipay_trade_refund("1.50", out_trade_no=code_no, out_request_no="sdk_re_1")
    assert (again["code"], again["fund_change"]) == ("10000", "N")
    rq = sdk.api_alipay_trade_fastpay_refund_query("sdk_re_1", out_trade_no=code_no)
    assert (rq["code"], rq["refund_amount"], rq["refund_status"]) == ("10000", "1.50", "REFUND_SUCCESS")
    over = sdk.api_alipay_trade_refund("9.00", out_trade_no=code_no, out_request_no="sdk_re_2")
    assert (over["code"], over["sub_code"]) == ("40004", "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL")

    # close an unpaid code; an unknown trade
    open_no = _no("sdk_close_")
    sdk.api_alipay_trade_precreate(subject="x", out_trade_no=open_no, total_amount="1.00")
    assert sdk.api_alipay_trade_close(out_trade_no=open_no)["code"] == "10000"
    assert sdk.api_alipay_trade_query(out_trade_no=open_no)["trade_status"] == "TRADE_CLOSED"
    missing = sdk.api_alipay_trade_query(out_trade_no="sdk_nothing")
    assert (missing["code"], missing["sub_code"]) == ("40004", "ACQ.TRADE_NOT_EXIST")


def test_sdk_verifies_notifications_and_downloads_the_bill(sim: FakeRails, delivered: Delivered) -> None:
    sdk = _sdk(sim)
    no = _no("sdk_ntf_")
    sdk.api_alipay_trade_precreate(
        subject="通知", out_trade_no=no, total_amount="3.21", notify_url="http://receiver.test/notify/alipay"
    )
    sim.store.pay("alipay", no, outcome="success", at=dt.datetime.now(dt.UTC))
    sim.deliver_due()
    _, body, _ = delivered.last_for(no)
    data = dict(parse_qsl(body.decode()))
    signature = data.pop("sign")
    assert sdk.verify(dict(data), signature)  # the SDK's own notification check
    assert not sdk.verify(dict(data, total_amount="0.01"), signature)

    day = business_date_of(dt.datetime.now(dt.UTC))
    doc = sdk.server_api(
        "alipay.data.dataservice.bill.downloadurl.query", {"bill_type": "trade", "bill_date": day.isoformat()}
    )
    assert doc["code"] == "10000"
    with urllib.request.urlopen(doc["bill_download_url"], timeout=5) as r:
        bill = r.read()
    lines = alipay_channel.parse_statement(bill, day)
    assert any(x.merchant_order_no == no and x.amount_fen == 321 for x in lines)


def test_sdk_refuses_an_answer_it_cannot_verify(sim: FakeRails) -> None:
    """Pointed at the wrong Alipay public key (the app's own), the SDK's own check refuses the fake's answers; a
    request the fake rail cannot verify comes back unsigned, which the SDK raises."""
    wrong = _sdk(sim, alipay_public_key=sim.server_keys["alipay"]["app_public_key"])
    with pytest.raises(AliPayValidationError):
        wrong.api_alipay_trade_query(out_trade_no="sdk_nothing")
    cfg = sim.client_config["alipay"]
    forger = FakeRailAliPay(
        f"{cfg['base_url']}{cfg['gateway_path']}",
        appid=cfg["app_id"],
        app_private_key_string=Path(sim.server_keys["alipay"]["alipay_private_key"]).read_text(),
        alipay_public_key_string=Path(cfg["alipay_public_key"]).read_text(),
    )
    with pytest.raises(AliPayException) as err:
        forger.api_alipay_trade_query(out_trade_no="sdk_nothing")
    assert "isv.invalid-signature" in str(err.value)
