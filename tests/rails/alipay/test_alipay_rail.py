"""Alipay through our connector and the fake Alipay over HTTP: every flow's golden path, then bad input."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import json
import re
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest

from tests.rails.alipay.conftest import FACTS, RECEIVER, Delivered
from zhifu.channels import alipay
from zhifu.channels.alipay import sign as rsa2
from zhifu.channels.alipay.connector import AlipayConnector
from zhifu.channels.base import BadNotification, PaymentOrder, RailError, RailTimeout, merchant_code
from zhifu.channels.http import RailHttp
from zhifu.channels.statement import StatementFormatError, business_date_of
from zhifu.channels.wechat.statement import write_wechat
from zhifu.railsim.server import FakeRails

TRADE_NO = re.compile(r"[0-9]{8}2200[0-9]{16}")
_seq = itertools.count(1)


def _order(
    amount_fen: int = 1234, *, auth_code: str | None = None, merchant: str = "mch_alipay_test"
) -> PaymentOrder:
    now = dt.datetime.now(dt.UTC)
    return PaymentOrder(
        payment_id=f"pay_ali{time.time_ns()}{next(_seq)}",
        merchant_id=merchant,
        amount_fen=amount_fen,
        description="县城小卖部 / corner shop",
        created_at=now,
        expires_at=now + dt.timedelta(minutes=15),
        auth_code=auth_code,
        flow="pay_code" if auth_code else "dynamic_code",
    )


def _code(last: str) -> str:
    return f"28{time.time_ns() % 10**13:013d}{last}"  # 16 digits from 28: an Alipay pay code


def _paid_order(conn: AlipayConnector, amount_fen: int = 1000) -> PaymentOrder:
    order = _order(amount_fen, auth_code=_code("1"))
    assert conn.create(order).status == "succeeded"
    return order


# -- golden paths
def test_pay_code_succeeds_and_query_agrees(conn: AlipayConnector, sim: FakeRails) -> None:
    order = _order(2345, auth_code=_code("1"))
    r = conn.create(order)
    assert r.status == "succeeded"
    assert r.channel_ref and TRADE_NO.fullmatch(r.channel_ref)
    assert r.amount_fen == 2345 and r.card_type == "wallet"
    assert r.payer_ref and r.payer_ref.startswith("2088") and len(r.payer_ref) == 16
    q = conn.query(order.payment_id)
    assert (q.status, q.channel_ref, q.amount_fen) == ("succeeded", r.channel_ref, 2345)
    t = sim.store.order("alipay", order.payment_id)
    assert t is not None and t.merchant_code == merchant_code(order.merchant_id) and t.amount_fen == 2345


def test_userpaying_then_query_succeeds(conn: AlipayConnector, sim) -> None:  # type: ignore[no-untyped-def]
    order = _order(500, auth_code=_code("7"))
    r = conn.create(order)
    assert (r.status, r.failure_code) == ("processing", "USERPAYING")
    assert conn.query(order.payment_id).status == "awaiting"  # waiting for the payer's PIN
    sim.store.pay("alipay", order.payment_id, outcome="success", at=dt.datetime.now(dt.UTC))
    q = conn.query(order.payment_id)
    assert q.status == "succeeded" and q.channel_ref == r.channel_ref


def test_declined_pay_code(conn: AlipayConnector) -> None:
    order = _order(900, auth_code=_code("8"))
    r = conn.create(order)
    assert (r.status, r.failure_code) == ("failed", "insufficient_funds")
    assert r.failure_message == "买家余额不足"
    assert conn.query(order.payment_id).status == "closed"


def test_timeout_then_query_succeeds(conn: AlipayConnector) -> None:
    order = _order(700, auth_code=_code("9"))
    started = time.monotonic()
    with pytest.raises(RailTimeout):
        conn.create(order)
    assert time.monotonic() - started < 1.0
    q = conn.query(order.payment_id)
    assert (q.status, q.amount_fen) == ("succeeded", 700)


def test_precreate_then_payer_pays_and_notification_verifies(
    conn: AlipayConnector, sim: FakeRails, delivered: Delivered
) -> None:
    order = _order(1999)
    r = conn.create(order)
    assert r.status == "awaiting" and r.code_url and r.code_url.startswith("https://qr.alipay.com/bax")
    assert conn.query(order.payment_id).status == "awaiting"
    sim.store.pay(
        "alipay",
        order.payment_id,
        outcome="success",
        payer_ref="payer_42",
        card_type="credit",
        at=dt.datetime.now(dt.UTC),
    )
    assert sim.deliver_due() >= 1
    url, body, headers = delivered.last_for(order.payment_id)
    assert url == f"{RECEIVER}/notify/alipay"
    assert headers["content-type"].startswith("application/x-www-form-urlencoded")
    n = conn.parse_notification(body, headers)
    assert (n.kind, n.payment_id, n.outcome, n.amount_fen) == ("payment", order.payment_id, "succeeded", 1999)
    assert n.merchant_code == merchant_code(order.merchant_id)
    assert n.card_type == "credit" and n.channel_ref and TRADE_NO.fullmatch(n.channel_ref)
    assert n.notify_id == conn.parse_notification(body, headers).notify_id  # a replay carries the same id
    ack = conn.notification_ack(True)
    assert (ack.status_code, ack.body) == (200, b"success")
    assert conn.notification_ack(False).body == b"fail"
    q = conn.query(order.payment_id)
    assert (q.status, q.card_type, q.channel_ref) == ("succeeded", "credit", n.channel_ref)


def test_payer_declines_a_code_and_the_notification_says_failed(
    conn: AlipayConnector, sim: FakeRails, delivered: Delivered
) -> None:
    order = _order(450)
    conn.create(order)
    sim.store.pay(
        "alipay", order.payment_id, outcome="decline_insufficient_funds", at=dt.datetime.now(dt.UTC)
    )
    sim.deliver_due()
    _, body, headers = delivered.last_for(order.payment_id)
    n = conn.parse_notification(body, headers)
    assert (n.outcome, n.failure_code, n.amount_fen) == ("failed", "TRADE_CLOSED", 450)


def test_close(conn: AlipayConnector, sim: FakeRails) -> None:
    order = _order(300)
    conn.create(order)
    assert conn.close(order.payment_id).status == "closed"
    assert conn.query(order.payment_id).status == "closed"
    assert (
        conn.close(order.payment_id).status == "closed"
    )  # again: Alipay says the status is wrong, query says closed
    paid = _paid_order(conn)
    assert conn.close(paid.payment_id).status == "succeeded"  # paid first: close reports it
    assert conn.close("pay_never_placed").status == "closed"
    assert conn.query("pay_never_placed").status == "unknown"


def test_refund_and_refund_query(conn: AlipayConnector, sim: FakeRails, delivered: Delivered) -> None:
    order = _paid_order(conn, 1000)
    r1 = conn.refund(order.payment_id, f"re_{order.payment_id}_1", 300, 1000)
    assert (r1.status, r1.channel_ref, r1.amount_fen) == ("succeeded", f"re_{order.payment_id}_1", 300)
    again = conn.refund(order.payment_id, f"re_{order.payment_id}_1", 300, 1000)
    assert again.status == "succeeded"
    assert len(sim.store.refunds_of("alipay", order.payment_id)) == 1  # the same request number is one refund
    r2 = conn.refund(order.payment_id, f"re_{order.payment_id}_2", 200, 1000)
    assert r2.status == "succeeded"
    too_much = conn.refund(order.payment_id, f"re_{order.payment_id}_3", 600, 1000)
    assert (too_much.status, too_much.failure_code) == ("failed", "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL")
    q = conn.refund_query(order.payment_id, f"re_{order.payment_id}_2")
    assert (q.status, q.amount_fen, q.channel_ref) == ("succeeded", 200, f"re_{order.payment_id}_2")
    assert conn.refund_query(order.payment_id, f"re_{order.payment_id}_3").status == "unknown"
    assert conn.refund_query("pay_never_placed", "re_never").status == "unknown"
    unpaid = _order(100)
    conn.create(unpaid)
    not_paid = conn.refund(unpaid.payment_id, f"re_{unpaid.payment_id}", 100, 100)
    assert (not_paid.status, not_paid.failure_code) == ("failed", "ACQ.TRADE_STATUS_ERROR")
    # the refund notification names the refund and this refund's amount (refund_fee is the trade's total)
    sim.deliver_due()
    _, body, headers = delivered.last_for(f"re_{order.payment_id}_2")
    n = conn.parse_notification(body, headers)
    assert (n.kind, n.refund_id, n.amount_fen, n.outcome) == (
        "refund",
        f"re_{order.payment_id}_2",
        200,
        "succeeded",
    )
    assert dict(parse_qsl(body.decode()))["refund_fee"] == "5.00"


def test_statement_download_parses_to_what_the_rail_holds(conn: AlipayConnector, sim: FakeRails) -> None:
    order = _paid_order(conn, 8800)
    conn.refund(order.payment_id, f"re_{order.payment_id}", 800, 8800)
    day = business_date_of(dt.datetime.now(dt.UTC))
    data = conn.fetch_statement(day)
    assert data.decode("gbk").startswith("#支付宝业务明细查询")
    lines = conn.parse_statement(data, day)
    expected = sim.statement_lines("alipay", day)

    def key(line: Any) -> tuple[Any, ...]:
        return (
            line.channel_ref,
            line.merchant_order_no,
            line.merchant_code,
            line.txn_type,
            line.amount_fen,
            line.fee_fen,
            line.status,
            line.original_ref,
            line.txn_time.replace(microsecond=0),
        )

    assert [key(x) for x in lines] == [key(x) for x in expected]
    mine = {x.merchant_order_no: x for x in lines}
    pay_line = mine[order.payment_id]
    refund_line = mine[f"re_{order.payment_id}"]
    assert pay_line.fee_fen == 18 and pay_line.merchant_code == merchant_code(
        order.merchant_id
    )  # 0.2% of 88.00
    assert refund_line.original_ref == pay_line.channel_ref and refund_line.amount_fen == 800
    assert alipay.parse_statement(data, day) == lines
    # the same file for another day, and another rail's file, are refused
    with pytest.raises(StatementFormatError):
        conn.parse_statement(data, day + dt.timedelta(days=1))
    with pytest.raises(StatementFormatError):
        conn.parse_statement(write_wechat(expected, day), day)


def test_bill_of_a_future_day_is_refused(conn: AlipayConnector) -> None:
    with pytest.raises(RailError, match="isp.bill_not_exist"):
        conn.fetch_statement(dt.date.today() + dt.timedelta(days=5))


def test_bill_link_expires_and_cannot_be_forged(conn: AlipayConnector, sim: FakeRails) -> None:
    day = business_date_of(dt.datetime.now(dt.UTC))
    doc = conn.call(
        "alipay.data.dataservice.bill.downloadurl.query", {"bill_type": "trade", "bill_date": day.isoformat()}
    )
    url = doc["bill_download_url"]
    assert httpx.get(url).status_code == 200
    assert httpx.get(url.replace("bizDates=", "bizDates=1")).status_code == 403
    from zhifu.railsim.alipay import FakeAlipay

    stale = FakeAlipay(sim).download_url(day, int(time.time()) - 1)
    assert httpx.get(stale).status_code == 403


# -- bad input: notifications
def _notification(
    sim: FakeRails, delivered: Delivered, conn: AlipayConnector
) -> tuple[PaymentOrder, dict[str, str]]:
    order = _order(666)
    conn.create(order)
    sim.store.pay("alipay", order.payment_id, outcome="success", at=dt.datetime.now(dt.UTC))
    sim.deliver_due()
    _, body, _ = delivered.last_for(order.payment_id)
    return order, dict(parse_qsl(body.decode()))


def _resign(fields: dict[str, str], key_path: str) -> bytes:
    fields = dict(fields)
    fields["sign"] = rsa2.sign(rsa2.load_private_key(key_path), rsa2.content(fields, notification=True))
    return urlencode(fields).encode()


def test_forged_or_unsigned_notifications_are_refused(
    conn: AlipayConnector, sim: FakeRails, delivered: Delivered
) -> None:
    _, fields = _notification(sim, delivered, conn)
    h = {"content-type": "application/x-www-form-urlencoded"}
    assert conn.parse_notification(urlencode(fields).encode(), h).outcome == "succeeded"
    with pytest.raises(BadNotification, match="signature"):  # the amount changed after Alipay signed it
        conn.parse_notification(urlencode(fields | {"total_amount": "0.01"}).encode(), h)
    with pytest.raises(BadNotification, match="not signed"):
        conn.parse_notification(urlencode({k: v for k, v in fields.items() if k != "sign"}).encode(), h)
    with pytest.raises(BadNotification, match="RSA2"):
        conn.parse_notification(urlencode(fields | {"sign_type": "RSA"}).encode(), h)
    with pytest.raises(BadNotification):  # signed, but with a key that is not Alipay's (our own app key)
        conn.parse_notification(_resign(fields, sim.server_keys["alipay"]["app_private_key"]), h)
    with pytest.raises(BadNotification):
        conn.parse_notification(b"%zz=\xff", h)
    with pytest.raises(BadNotification, match="app_id"):  # Alipay's signature, another app's notification
        conn.parse_notification(
            _resign(fields | {"app_id": "2021000000000999"}, sim.server_keys["alipay"]["alipay_private_key"]),
            h,
        )


def test_notification_for_another_merchant_names_that_merchant(
    conn: AlipayConnector, sim: FakeRails, delivered: Delivered
) -> None:
    order, fields = _notification(sim, delivered, conn)
    other = merchant_code("mch_somebody_else")
    n = conn.parse_notification(
        _resign(fields | {"passback_params": other}, sim.server_keys["alipay"]["alipay_private_key"]), {}
    )
    assert n.merchant_code == other != merchant_code(order.merchant_id)


# -- bad input: answers
def test_an_answer_signed_by_another_key_is_a_rail_error(config: dict[str, Any], sim: FakeRails) -> None:
    wrong = dict(config, alipay_public_key=sim.server_keys["alipay"]["app_public_key"])
    c = alipay.connector(FACTS, wrong, RailHttp("alipay", config["base_url"], timeout_s=0.5))
    with pytest.raises(RailError, match="signature does not verify"):
        c.query("pay_anything")


def test_a_request_signed_with_another_key_is_refused_unsigned(
    config: dict[str, Any], sim: FakeRails
) -> None:
    wrong = dict(config, app_private_key=sim.server_keys["alipay"]["alipay_private_key"])
    c = alipay.connector(FACTS, wrong, RailHttp("alipay", config["base_url"], timeout_s=0.5))
    with pytest.raises(RailError, match="isv.invalid-signature"):
        c.create(_order(100))
    assert sim.store.order("alipay", "pay_anything") is None


def _with_answer(config: dict[str, Any], answer: httpx.Response) -> AlipayConnector:
    http = RailHttp("alipay", config["base_url"], transport=httpx.MockTransport(lambda _: answer))
    c = alipay.connector(FACTS, config, http)
    assert isinstance(c, AlipayConnector)
    return c


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(502, text="bad gateway"),
        httpx.Response(200, text="<html>维护中</html>"),
        httpx.Response(200, content=b"\xff\xfe"),
        httpx.Response(
            200, text='{"alipay_trade_query_response":{"code":"10000","trade_status":"TRADE_SUCCESS"}}'
        ),
        httpx.Response(
            200, text='{"alipay_trade_query_response":{"code":"10000"},"sign":"bm90IGEgc2lnbmF0dXJl"}'
        ),
        httpx.Response(200, text='{"error_response":{"code":"40002","sub_code":"isv.invalid-method"}}'),
        httpx.Response(404, text="not found"),
    ],
    ids=["5xx", "html", "not-utf8", "unsigned", "bad-sign", "error_response", "404"],
)
def test_garbage_or_unsigned_answers_are_rail_errors(config: dict[str, Any], answer: httpx.Response) -> None:
    with pytest.raises(RailError):
        _with_answer(config, answer).query("pay_x")


def test_a_rail_that_hangs_is_a_timeout(config: dict[str, Any]) -> None:
    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("hung", request=request)

    c = alipay.connector(
        FACTS, config, RailHttp("alipay", config["base_url"], transport=httpx.MockTransport(hang))
    )
    with pytest.raises(RailTimeout):
        c.refund("pay_x", "re_x", 100, 100)


def test_a_tampered_answer_does_not_verify(config: dict[str, Any], sim: FakeRails) -> None:
    """A genuine signed answer with one field changed in transit is refused."""
    real = httpx.post(
        f"{config['base_url']}/gateway.do",
        content=_signed_request(config, "alipay.trade.query", {"out_trade_no": "pay_none"}),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert rsa2.top_level_texts(real.text)["sign"]
    tampered = real.text.replace("ACQ.TRADE_NOT_EXIST", "ACQ.SYSTEM_ERROR")
    with pytest.raises(RailError, match="signature"):
        _with_answer(config, httpx.Response(200, text=tampered)).query("pay_none")
    assert _with_answer(config, httpx.Response(200, text=real.text)).query("pay_none").status == "unknown"


def _signed_request(config: dict[str, Any], method: str, biz: dict[str, Any]) -> bytes:
    c = alipay.connector(FACTS, config, RailHttp("alipay", config["base_url"]))
    assert isinstance(c, AlipayConnector)
    return urlencode(c._params(method, biz, notify=False)).encode()


def test_gateway_refuses_missing_or_foreign_parameters(config: dict[str, Any]) -> None:
    base = dict(parse_qsl(_signed_request(config, "alipay.trade.query", {"out_trade_no": "pay_x"}).decode()))
    url = f"{config['base_url']}/gateway.do"

    def sub_code(params: dict[str, str]) -> str:
        doc = httpx.post(url, data=params).json()
        body = doc.get("alipay_trade_query_response") or doc.get("error_response")
        assert "sign" not in doc
        return str(body["sub_code"])

    assert sub_code({k: v for k, v in base.items() if k != "sign"}) == "isv.missing-sign"
    assert sub_code(base | {"app_id": "2021000000000999"}) == "isv.invalid-app-id"
    assert sub_code(base | {"biz_content": json.dumps({"out_trade_no": "pay_y"})}) == "isv.invalid-signature"
    assert sub_code(base | {"method": "alipay.trade.nothing"}) == "isv.invalid-method"
    assert sub_code({k: v for k, v in base.items() if k != "method"}) == "isv.missing-method"


def test_facts_and_registry_shape() -> None:
    assert alipay.FAMILY == "alipay" and [f.name for f in alipay.RAILS] == ["alipay"]
    f = alipay.RAILS[0]
    assert (f.mobile, f.bank_standard, f.terminal, f.statement_format) == (True, False, False, "alipay")
    assert re.fullmatch(f.paycode_pattern or "", "2812345678901234")
    assert not re.fullmatch(f.paycode_pattern or "", "134567890123456789")
    assert dataclasses.asdict(f)["costs"] == {"*": (2000, None, 0, None)}


def test_trade_numbers_never_repeat_and_keys_survive_a_restart(tmp_path: Any) -> None:
    from unittest import mock

    from zhifu.railsim import alipay as fake_alipay
    from zhifu.railsim import server as server_mod
    from zhifu.railsim.alipay import FakeAlipay

    now = dt.datetime.now(dt.UTC)
    with mock.patch.object(server_mod, "_families", lambda: [fake_alipay]):
        first = FakeRails(tmp_path, "http://127.0.0.1:1")
        before = {FakeAlipay(first)._trade_no(now) for _ in range(3)}
        keys = dict(first.server_keys["alipay"])
        first.stop()
        second = FakeRails(tmp_path, "http://127.0.0.1:1")
        after = FakeAlipay(second)._trade_no(now)
        second.stop()
    assert after not in before and TRADE_NO.fullmatch(after)
    assert second.server_keys["alipay"] == keys
