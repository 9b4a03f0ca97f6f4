"""The payment API end to end on both backends: every channel, pay codes, refunds, idempotency, notifications."""

from __future__ import annotations

import concurrent.futures
import datetime as dt

import pytest
from sqlalchemy import func, select

from zhifu import ledger
from zhifu.channels import CHANNELS, facts
from zhifu.channels.models import rail_exceptions
from zhifu.payments import payments
from zhifu.workers import run_once


def _verify(platform) -> None:  # type: ignore[no-untyped-def]
    with platform.db.tx() as c:
        assert ledger.verify(c) == []


def _pay(platform, mh, **body):  # type: ignore[no-untyped-def]
    body.setdefault("amount_fen", 1234)
    body.setdefault("merchant_order_no", f"o{abs(hash(str(body))) % 10**12}")
    return platform.client.post("/v1/payments", json=body, headers=mh)


@pytest.mark.parametrize("channel", CHANNELS)
def test_golden_path_every_channel(platform, channel: str) -> None:  # type: ignore[no-untyped-def]
    mid, mh = platform.merchant()
    r = _pay(platform, mh, channel=channel, amount_fen=10_000, merchant_order_no="A1")
    assert r.status_code == 200, r.text
    p = r.json()
    assert p["status"] == "created" and p["payable_fen"] == 10_000 and p["channel"] == channel
    if channel in ("unionpay_qr", "wechat", "alipay", "bank_app"):
        assert p["code_url"]
    r = platform.client.post(
        f"/sim/payments/{p['id']}/pay",
        json={"payer": {"id": "u1", "card_type": facts(channel).card_types[0]}},
    )
    assert r.json()["status"] == "succeeded", r.text
    got = platform.client.get(f"/v1/payments/{p['id']}", headers=mh).json()
    assert got["status"] == "succeeded" and got["fee_fen"] == 38 and got["channel_ref"]
    with platform.db.tx() as c:
        cost = c.execute(select(payments.c.cost_fen).where(payments.c.id == p["id"])).scalar_one()
    assert 0 < cost < 100  # the channel's own cost to the acquirer, within the 557号 caps
    assert platform.client.get("/v1/balance", headers=mh).json()["available_fen"] == 9_962
    with platform.db.tx() as c:
        # the channel remits the payment net of its cost, which the acquirer books as an expense
        assert ledger.get_balance(c, f"channel_receivable:{channel}").posted_fen == 10_000 - cost
        assert ledger.get_balance(c, "channel_cost").posted_fen == cost
        assert ledger.get_balance(c, "fee_income").posted_fen == 38
    events = platform.client.get("/v1/events", headers=mh).json()["data"]
    assert [e["type"] for e in events] == ["payment.succeeded"]
    assert events[0]["data"]["object"]["id"] == p["id"]
    _verify(platform)


def test_pay_code_routes_and_userpaying(platform) -> None:  # type: ignore[no-untyped-def]
    mid, mh = platform.merchant()
    ok = _pay(platform, mh, auth_code="6212345678901234561", merchant_order_no="pc1").json()
    assert (ok["channel"], ok["status"], ok["flow"]) == ("unionpay_qr", "succeeded", "pay_code")
    wx = _pay(platform, mh, auth_code="134567890123456781", merchant_order_no="pc2").json()
    assert (wx["channel"], wx["status"]) == ("wechat", "succeeded")
    ali = _pay(platform, mh, auth_code="28123456789012345", merchant_order_no="pc3").json()
    assert (ali["channel"], ali["status"]) == ("alipay", "succeeded")
    pin = _pay(platform, mh, auth_code="6212345678901234567", merchant_order_no="pc4").json()
    assert pin["status"] == "processing"  # waiting for the payer's PIN
    done = platform.client.post(f"/sim/payments/{pin['id']}/pay", json={}).json()
    assert done["status"] == "succeeded" and done["failure"] is None
    declined = _pay(platform, mh, auth_code="6212345678901234568", merchant_order_no="pc5").json()
    assert declined["status"] == "failed" and declined["failure"]["code"] == "insufficient_funds"
    _verify(platform)


def test_timeout_resolved_by_sweeper(platform, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    mid, mh = platform.merchant()
    p = _pay(platform, mh, auth_code="6212345678901234569", merchant_order_no="t1").json()
    assert p["status"] == "processing" and p["failure"]["code"] == "rail_timeout"
    fixed_clock.advance(seconds=30)
    run_once(platform.db)
    assert platform.client.get(f"/v1/payments/{p['id']}", headers=mh).json()["status"] == "succeeded"
    _verify(platform)


def test_idempotency_key_semantics(platform) -> None:  # type: ignore[no-untyped-def]
    mid, mh = platform.merchant()
    body = {"amount_fen": 500, "merchant_order_no": "idem-1", "channel": "wechat"}
    h = {**mh, "Idempotency-Key": "k-1"}

    def send(_: int):  # type: ignore[no-untyped-def]
        return platform.client.post("/v1/payments", json=body, headers=h)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(send, range(50)))
    ok = [r for r in results if r.status_code == 200]
    assert ok and all(r.status_code in (200, 409) for r in results)
    assert len({r.json()["id"] for r in ok}) == 1
    with platform.db.tx() as c:
        assert c.execute(select(func.count()).select_from(payments)).scalar_one() == 1
    replay = send(0)
    assert replay.status_code == 200 and replay.headers.get("Idempotent-Replayed") == "true"
    other = platform.client.post("/v1/payments", json={**body, "amount_fen": 501}, headers=h)
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reused"
    # the same create under another key (a client that lost its key after a crash) returns the same payment
    h2 = {**mh, "Idempotency-Key": "k-2"}
    first = platform.client.post("/v1/payments", json=body, headers=h2)
    assert first.status_code == 200 and first.json()["id"] == ok[0].json()["id"]
    # another body with a used order number is an error, stored once execution started and replayed
    h3 = {**mh, "Idempotency-Key": "k-3"}
    clash = platform.client.post("/v1/payments", json={**body, "amount_fen": 777}, headers=h3)
    assert clash.status_code == 409 and clash.json()["error"]["code"] == "order_no_taken"
    again = platform.client.post("/v1/payments", json={**body, "amount_fen": 777}, headers=h3)
    assert again.status_code == 409 and again.headers.get("Idempotent-Replayed") == "true"


def test_partial_refunds_sum_exactly(platform, fake_rails) -> None:  # type: ignore[no-untyped-def]
    mid, mh = platform.merchant()
    p = _pay(platform, mh, auth_code="6212345678901234561", amount_fen=10_001, merchant_order_no="r1").json()
    fee = p["fee_fen"]
    assert fee == 38
    parts = [3_333, 3_333, 3_335]
    fee_back = 0
    for part in parts:
        r = platform.client.post(f"/v1/payments/{p['id']}/refunds", json={"amount_fen": part}, headers=mh)
        assert r.status_code == 200 and r.json()["status"] in ("pending", "succeeded"), r.text
        fake_rails.deliver_due()  # the rail's notification of the refund
        got = platform.client.get(f"/v1/refunds/{r.json()['id']}", headers=mh).json()
        assert got["status"] == "succeeded"
        fee_back += got["fee_refunded_fen"]
    assert fee_back == fee
    fourth = platform.client.post(f"/v1/payments/{p['id']}/refunds", json={"amount_fen": 1}, headers=mh)
    assert fourth.status_code == 400 and fourth.json()["error"]["code"] == "refund_exceeds_payment"
    assert platform.client.get("/v1/balance", headers=mh).json()["available_fen"] == 0
    with platform.db.tx() as c:
        assert ledger.get_balance(c, "fee_income").posted_fen == 0
    _verify(platform)


def test_notifications_late_duplicate_forged(platform, fake_rails) -> None:  # type: ignore[no-untyped-def]
    mid, mh = platform.merchant()
    p = _pay(platform, mh, channel="alipay", merchant_order_no="n1").json()
    r = platform.client.post(f"/sim/payments/{p['id']}/pay", json={"outcome": "timeout"})
    assert r.json()["status"] == "created"  # the rail took the money but its notification was lost
    url, body, headers = fake_rails.store.last_notification("alipay", p["id"])
    assert url.endswith("/notify/alipay")
    for _ in range(3):  # late and repeated
        resp = platform.client.post("/notify/alipay", content=body, headers=headers)
        assert resp.status_code == 200 and resp.text == "success"
    assert platform.client.get(f"/v1/payments/{p['id']}", headers=mh).json()["status"] == "succeeded"
    # the same notification with its amount changed no longer verifies: refused, listed, no money moves
    forged = body.replace(b"total_amount=12.34", b"total_amount=99.99")
    assert forged != body
    resp = platform.client.post("/notify/alipay", content=forged, headers=headers)
    assert resp.text == "fail"  # Alipay retries until it reads "success"
    with platform.db.tx() as c:
        kinds = [r.kind for r in c.execute(select(rail_exceptions))]
        entries = c.execute(select(func.count()).select_from(ledger.models.entries)).scalar_one()
    assert kinds == ["bad_notification"] or kinds == ["bad_signature"]
    assert entries == 1
    listed = platform.client.get("/v1/rail_exceptions", headers=platform.op).json()["data"]
    assert [(x["channel"], x["kind"]) for x in listed] == [("alipay", kinds[0])] and "签名" in listed[0][
        "reason"
    ]
    assert platform.client.get("/v1/rail_exceptions", headers=mh).status_code == 403
    _verify(platform)


def test_expiry_and_close(platform, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    mid, mh = platform.merchant()
    a = _pay(platform, mh, channel="wechat", merchant_order_no="e1", expires_in_s=60).json()
    b = _pay(platform, mh, channel="wechat", merchant_order_no="e2").json()
    closed = platform.client.post(f"/v1/payments/{b['id']}/close", headers=mh).json()
    assert closed["status"] == "closed"
    again = platform.client.post(f"/v1/payments/{b['id']}/close", headers=mh)
    assert again.status_code == 409
    fixed_clock.advance(seconds=61)
    late = platform.client.post(f"/sim/payments/{a['id']}/pay", json={})
    assert late.status_code == 409 and late.json()["error"]["code"] == "payment_expired"
    run_once(platform.db)
    assert platform.client.get(f"/v1/payments/{a['id']}", headers=mh).json()["status"] == "expired"
    types = [e["type"] for e in platform.client.get("/v1/events", headers=mh).json()["data"]]
    assert sorted(types) == ["payment.closed", "payment.expired"]
    _verify(platform)


def test_list_pagination_newest_first(platform, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    mid, mh = platform.merchant()
    ids = []
    for i in range(5):
        ids.append(_pay(platform, mh, channel="wechat", merchant_order_no=f"l{i}").json()["id"])
        fixed_clock.advance(seconds=1)
    page1 = platform.client.get("/v1/payments?limit=2", headers=mh).json()
    assert [p["id"] for p in page1["data"]] == ids[::-1][:2] and page1["has_more"]
    page2 = platform.client.get(f"/v1/payments?limit=2&starting_after={ids[3]}", headers=mh).json()
    assert [p["id"] for p in page2["data"]] == [ids[2], ids[1]]
    by_no = platform.client.get("/v1/payments?merchant_order_no=l3", headers=mh).json()["data"]
    assert [p["id"] for p in by_no] == [ids[3]]
    since = (fixed_clock.now() - dt.timedelta(seconds=2)).isoformat()
    recent = platform.client.get("/v1/payments", params={"created_gte": since}, headers=mh).json()["data"]
    assert [p["id"] for p in recent] == [ids[4], ids[3]]
