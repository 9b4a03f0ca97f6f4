"""WeChat Pay API v3 (service-provider mode) through our connector and the fake rail over HTTP: pay code, Native,
JSAPI, query, close, refund, refund query, notifications and the trade bill."""

from __future__ import annotations

import datetime as dt
import time
import uuid

import pytest

from zhifu.channels.base import PaymentOrder, RailTimeout, merchant_code
from zhifu.channels.statement import business_date_of
from zhifu.railsim.server import FakeRails

from .conftest import Captured

MERCHANT = "mch_wx_golden"
OTHER_MERCHANT = "mch_wx_other"


def pid() -> str:
    return f"pay_{uuid.uuid4().hex[:24]}"


def order(
    payment_id: str,
    amount_fen: int = 1234,
    *,
    flow: str = "dynamic_code",
    auth_code: str | None = None,
    merchant_id: str = MERCHANT,
    openid: str | None = None,
) -> PaymentOrder:
    now = dt.datetime.now(dt.UTC)
    return PaymentOrder(
        payment_id=payment_id,
        merchant_id=merchant_id,
        amount_fen=amount_fen,
        description="县城小卖部 / corner shop",
        expires_at=now + dt.timedelta(minutes=5),
        created_at=now,
        auth_code=auth_code,
        flow=flow,
        payer_openid=openid,
    )


def test_pay_code_success_answers_at_once(conn) -> None:
    p = pid()
    r = conn.create(order(p, 1500, flow="pay_code", auth_code="134567890123456781"))
    assert r.status == "succeeded"
    assert r.channel_ref and r.channel_ref.startswith("42000") and len(r.channel_ref) == 28
    assert r.amount_fen == 1500 and r.card_type == "wallet"
    assert conn.query(p).status == "succeeded"


def test_pay_code_userpaying_then_query_succeeds(conn, sim) -> None:
    p = pid()
    assert conn.create(order(p, flow="pay_code", auth_code="104567890123456787")).status == "processing"
    assert conn.query(p).status == "processing"  # waiting for the payer's PIN
    sim.store.pay("wechat", p, outcome="success", at=dt.datetime.now(dt.UTC))
    r = conn.query(p)
    assert r.status == "succeeded" and r.channel_ref


def test_pay_code_declined(conn) -> None:
    p = pid()
    r = conn.create(order(p, flow="pay_code", auth_code="114567890123456788"))
    assert (r.status, r.failure_code) == ("failed", "insufficient_funds")
    q = conn.query(p)
    assert (q.status, q.failure_code) == ("failed", "insufficient_funds")


def test_pay_code_timeout_then_query_says_succeeded(conn) -> None:
    p = pid()
    with pytest.raises(RailTimeout):
        conn.create(order(p, 777, flow="pay_code", auth_code="124567890123456789"))
    r = conn.query(p)
    assert (r.status, r.amount_fen) == ("succeeded", 777)


def test_native_awaits_then_payer_pays_and_notification_verifies(
    conn, sim: FakeRails, captured: Captured
) -> None:
    p = pid()
    r = conn.create(order(p, 2500))
    assert r.status == "awaiting" and r.code_url and r.code_url.startswith("weixin://wxpay/bizpayurl?pr="), r
    assert conn.query(p).status == "awaiting"
    t = sim.store.order("wechat", p)
    assert t is not None and t.notify_url == "http://127.0.0.1:8000/notify/wechat"
    seen = len(captured.items)
    sim.store.pay(
        "wechat",
        p,
        outcome="success",
        card_issuer="yiyuan_rcb",
        card_type="debit",
        at=dt.datetime.now(dt.UTC),
    )
    body, headers = captured.wait_after(seen)
    n = conn.parse_notification(body, headers)
    assert (n.kind, n.payment_id, n.outcome, n.amount_fen) == ("payment", p, "succeeded", 2500)
    assert n.merchant_code == merchant_code(MERCHANT) != merchant_code(OTHER_MERCHANT)
    assert (n.card_issuer, n.card_type) == ("yiyuan_rcb", "debit")
    assert n.channel_ref == t.ref and n.notify_id
    q = conn.query(p)
    assert (q.status, q.channel_ref, q.card_type) == ("succeeded", t.ref, "debit")
    assert conn.notification_ack(True).status_code == 204
    refused = conn.notification_ack(False)
    assert refused.status_code == 400 and b'"FAIL"' in refused.body


def test_jsapi_gives_a_prepay_id(conn) -> None:
    p = pid()
    r = conn.create(order(p, 990, flow="jsapi", openid="oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"))
    assert r.status == "awaiting" and r.code_url and r.code_url.startswith("prepay_id=wx")
    assert conn.query(p).status == "awaiting"


def test_close_unpaid_and_paid(conn, sim: FakeRails) -> None:
    p = pid()
    conn.create(order(p))
    assert conn.close(p).status == "closed"
    assert conn.query(p).status == "closed"
    assert conn.close(p).status == "closed"  # again: still closed
    paid = pid()
    conn.create(order(paid))
    sim.store.pay("wechat", paid, outcome="success", at=dt.datetime.now(dt.UTC))
    assert conn.close(paid).status == "succeeded"


def test_unknown_order_is_unknown(conn) -> None:
    assert conn.query(pid(), merchant_id=MERCHANT).status == "unknown"


def test_query_of_another_sub_merchants_order_is_unknown(conn) -> None:
    p = pid()
    conn.create(order(p))
    assert conn.query(p, merchant_id=OTHER_MERCHANT).status == "unknown"


def test_refund_and_refund_query(conn) -> None:
    p = pid()
    assert conn.create(order(p, 3000, flow="pay_code", auth_code="134567890123456712")).status == "succeeded"
    rid = f"re_{uuid.uuid4().hex[:24]}"
    r = conn.refund(p, rid, 1000, 3000)
    assert (r.status, r.amount_fen) == ("succeeded", 1000)
    assert r.channel_ref and r.channel_ref.startswith("50000") and len(r.channel_ref) == 29
    again = conn.refund(p, rid, 1000, 3000)  # the same out_refund_no is the same refund
    assert again.channel_ref == r.channel_ref
    q = conn.refund_query(p, rid)
    assert (q.status, q.channel_ref, q.amount_fen) == ("succeeded", r.channel_ref, 1000)
    too_much = conn.refund(p, f"re_{uuid.uuid4().hex[:24]}", 2001, 3000)
    assert (too_much.status, too_much.failure_code) == ("failed", "invalid_request")
    assert conn.query(p).status == "succeeded"  # trade_state REFUND is still a paid order
    assert conn.refund_query(p, f"re_{uuid.uuid4().hex[:24]}").status == "unknown"


def test_refund_of_unpaid_or_unknown_order(conn) -> None:
    p = pid()
    conn.create(order(p))
    r = conn.refund(p, f"re_{uuid.uuid4().hex[:24]}", 100, 1234)
    assert (r.status, r.failure_code) == ("failed", "invalid_request")
    assert (
        conn.refund(pid(), f"re_{uuid.uuid4().hex[:24]}", 100, 1234, merchant_id=MERCHANT).status == "unknown"
    )


def test_refund_notification(conn, sim: FakeRails, captured: Captured) -> None:
    p = pid()
    conn.create(order(p, 4000))
    seen = len(captured.items)
    sim.store.pay("wechat", p, outcome="success", at=dt.datetime.now(dt.UTC))
    captured.wait_after(seen)
    rid = f"re_{uuid.uuid4().hex[:24]}"
    seen = len(captured.items)
    r = conn.refund(p, rid, 4000, 4000)
    body, headers = captured.wait_after(seen)
    n = conn.parse_notification(body, headers)
    assert (n.kind, n.payment_id, n.refund_id, n.outcome, n.amount_fen) == (
        "refund",
        p,
        rid,
        "succeeded",
        4000,
    )
    assert n.channel_ref == r.channel_ref and n.merchant_code == merchant_code(MERCHANT)


def test_failed_native_payment_owes_no_notification(conn, sim: FakeRails, captured: Captured) -> None:
    p = pid()
    conn.create(order(p))
    seen = len(captured.items)
    sim.store.pay("wechat", p, outcome="decline_card_blocked", at=dt.datetime.now(dt.UTC))
    time.sleep(0.3)
    assert len(captured.items) == seen
    q = conn.query(p)
    assert (q.status, q.failure_code) == ("failed", "card_blocked")


def test_statement_fetch_and_parse_equals_the_store(conn, sim: FakeRails) -> None:
    p = pid()
    conn.create(order(p, 5100, flow="pay_code", auth_code="144567890123456780"))
    conn.refund(p, f"re_{uuid.uuid4().hex[:24]}", 100, 5100)
    day = business_date_of(dt.datetime.now(dt.UTC))
    data = conn.fetch_statement(day)
    lines = conn.parse_statement(data, day)
    expected = sim.statement_lines("wechat", day)
    assert lines and len(lines) == len(expected)

    def key(line):  # type: ignore[no-untyped-def]
        return (
            line.channel_ref,
            line.merchant_order_no,
            line.merchant_code,
            line.txn_type,
            line.amount_fen,
            line.fee_fen,
            line.status,
            line.original_ref,
            line.card_type,
            line.txn_time.replace(microsecond=0),
        )

    assert sorted(map(key, lines)) == sorted(map(key, expected))
    assert any(line.merchant_order_no == p and line.fee_fen == 10 for line in lines)  # 0.2 % of 51.00


def test_statement_of_a_day_without_transactions_is_empty(conn) -> None:
    assert conn.parse_statement(conn.fetch_statement(dt.date(2020, 1, 2)), dt.date(2020, 1, 2)) == []


def test_partner_calls_need_the_sub_merchant(conn, sim: FakeRails) -> None:
    """WeChat's partner API names the sub-merchant on every call: a connector that did not create the order (a
    restarted process) must be told the merchant, else the rail refuses the query as a parameter error."""
    from zhifu.channels import wechat
    from zhifu.channels.base import RailError
    from zhifu.channels.http import RailHttp

    from .conftest import NOTIFY_BASE

    p = pid()
    conn.create(order(p))
    cfg = {**sim.client_config["wechat"], "notify_url_base": NOTIFY_BASE}
    fresh = wechat.connector(wechat.RAILS[0], cfg, RailHttp("wechat", cfg["base_url"], timeout_s=2))
    with pytest.raises(RailError, match="PARAM_ERROR"):
        fresh.query(p)
    assert fresh.query(p, merchant_id=MERCHANT).status == "awaiting"
    assert fresh.query(p).status == "awaiting"  # remembered once told
