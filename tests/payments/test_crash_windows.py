"""崩溃窗口 / the crash windows, deterministic, on both backends: a process that dies between a request's work and
its stored answer (before or after the rail call), or between a rail notification received and applied, loses
nothing and does nothing twice when the client retries with its key or the rail delivers again."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from zhifu import ledger
from zhifu.api import idempotency
from zhifu.core import clock
from zhifu.db.idempotency import idempotency_keys
from zhifu.ledger.models import entries
from zhifu.payments import handle_notification, payments, refunds, service
from zhifu.payments.models import channel_notifications

PAY_CODE_OK = "6212345678901234561"  # the fake UnionPay rail's "succeeds at once"


class Crash(Exception):
    """The process dies here (kill -9): nothing after this point runs, not even the request's clean-up."""


@pytest.fixture
def dead_on_release(monkeypatch):  # type: ignore[no-untyped-def]
    """A killed process never releases its claim: the retry must cope with the key as the crash left it."""
    monkeypatch.setattr(idempotency, "release", lambda *a, **k: None)


def _crash_once(monkeypatch, obj, name: str) -> list[int]:  # type: ignore[no-untyped-def]
    real, calls = getattr(obj, name), []

    def dies(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 1:
            raise Crash(name)
        return real(*args, **kwargs)

    monkeypatch.setattr(obj, name, dies)
    return calls


def _count(db, table, *where) -> int:  # type: ignore[no-untyped-def]
    with db.read() as c:
        return int(c.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def _verify(db) -> None:  # type: ignore[no-untyped-def]
    with db.read() as c:
        assert ledger.verify(c) == []


def _paid(platform, mh, order_no: str, amount_fen: int = 10_000) -> dict:  # type: ignore[no-untyped-def]
    r = platform.client.post(
        "/v1/payments",
        json={"amount_fen": amount_fen, "merchant_order_no": order_no, "auth_code": PAY_CODE_OK},
        headers=mh,
    )
    assert r.status_code == 200 and r.json()["status"] == "succeeded", r.text
    return r.json()


def _balance(platform, mh) -> int:  # type: ignore[no-untyped-def]
    return int(platform.client.get("/v1/balance", headers=mh).json()["available_fen"])


def test_payment_create_dies_after_its_commit_before_the_rail(platform, monkeypatch, dead_on_release) -> None:  # type: ignore[no-untyped-def]
    mid, mh = platform.merchant()
    h = {**mh, "Idempotency-Key": "pay-crash-1"}
    body = {"amount_fen": 2_000, "merchant_order_no": "crash-1", "channel": "unionpay_qr"}
    calls = _crash_once(monkeypatch, service, "call_create")
    with pytest.raises(Crash):
        platform.client.post("/v1/payments", json=body, headers=h)
    with platform.db.read() as c:
        key = c.execute(select(idempotency_keys)).one()
        made = c.execute(select(payments)).one()
    assert (key.status, key.resource_kind, key.resource_id) == ("in_flight", "payment", made.id)
    assert made.status == "created" and made.code_url is None  # the rail was never asked
    again = platform.client.post("/v1/payments", json=body, headers=h)  # at once: no wait for a stale claim
    assert again.status_code == 200, again.text
    got = again.json()
    assert got["id"] == made.id and got["code_url"], got  # the retry finished the rail call
    assert len(calls) == 2 and _count(platform.db, payments) == 1
    replay = platform.client.post("/v1/payments", json=body, headers=h)
    assert replay.headers.get("Idempotent-Replayed") == "true" and replay.json()["id"] == made.id
    paid = platform.client.post(f"/sim/payments/{made.id}/pay", json={})
    assert paid.json()["status"] == "succeeded"
    _verify(platform.db)


def test_payment_create_dies_between_the_answer_and_the_stored_response(
    platform, monkeypatch, dead_on_release
) -> None:  # type: ignore[no-untyped-def]
    mid, mh = platform.merchant()
    h = {**mh, "Idempotency-Key": "pay-crash-2"}
    body = {"amount_fen": 3_000, "merchant_order_no": "crash-2", "auth_code": PAY_CODE_OK}
    _crash_once(monkeypatch, idempotency, "finish")
    with pytest.raises(Crash):
        platform.client.post("/v1/payments", json=body, headers=h)
    again = platform.client.post("/v1/payments", json=body, headers=h)
    assert again.status_code == 200 and again.json()["status"] == "succeeded", again.text
    assert _count(platform.db, payments) == 1
    assert _count(platform.db, entries) == 1  # one success entry: the payer was charged once
    assert _balance(platform, mh) == 3_000 - again.json()["fee_fen"]
    _verify(platform.db)


@pytest.mark.parametrize("flow", ["pay_code", "dynamic_code"])
def test_payment_create_dies_after_the_rail_took_it_before_its_answer_was_kept(
    platform, fake_rails, monkeypatch, dead_on_release, flow: str
) -> None:  # type: ignore[no-untyped-def]
    """The rail has the order (the payer's code charged) but we never kept its answer: the retry asks the rail
    before sending it again (UnionPay refuses an order number twice, 12 重复交易, which must not fail it)."""
    mid, mh = platform.merchant()
    h = {**mh, "Idempotency-Key": f"pay-crash-{flow}"}
    how = {"auth_code": PAY_CODE_OK} if flow == "pay_code" else {"channel": "unionpay_qr"}
    body = {"amount_fen": 2_500, "merchant_order_no": f"crash-{flow}", **how}
    _crash_once(monkeypatch, service, "record_rail_answer")
    with pytest.raises(Crash):
        platform.client.post("/v1/payments", json=body, headers=h)
    with platform.db.read() as c:
        made = c.execute(select(payments)).one()
    assert made.status == "created" and fake_rails.store.order("unionpay_qr", made.id) is not None
    again = platform.client.post("/v1/payments", json=body, headers=h)
    assert again.status_code == 200 and again.json()["id"] == made.id, again.text
    got = again.json()
    if flow == "pay_code":
        assert got["status"] == "succeeded" and got["failure"] is None, got
        assert _count(platform.db, entries) == 1
        assert _balance(platform, mh) == 2_500 - got["fee_fen"]
    else:  # the rail holds the order awaiting its payer; it is not failed, and the payer can still pay it
        assert got["status"] == "created" and got["channel_ref"] and got["failure"] is None, got
        fake_rails.store.pay("unionpay_qr", made.id, outcome="success", at=clock.now())
        fake_rails.deliver_due()
        assert platform.client.get(f"/v1/payments/{made.id}", headers=mh).json()["status"] == "succeeded"
    _verify(platform.db)


@pytest.mark.parametrize("where", ["before_the_rail", "after_the_rail"])
def test_refund_dies_between_its_work_and_the_response(
    platform, fake_rails, monkeypatch, dead_on_release, where: str
) -> None:  # type: ignore[no-untyped-def]
    mid, mh = platform.merchant()
    p = _paid(platform, mh, f"rf-{where}")
    h = {**mh, "Idempotency-Key": f"refund-{where}"}
    if where == "before_the_rail":
        _crash_once(monkeypatch, service, "call_refund")
    else:
        _crash_once(monkeypatch, idempotency, "finish")
    with pytest.raises(Crash):
        platform.client.post(f"/v1/payments/{p['id']}/refunds", json={"amount_fen": 4_000}, headers=h)
    with platform.db.read() as c:
        first = c.execute(select(refunds)).one()
    assert first.status == "pending"
    assert len(fake_rails.store.refunds_of("unionpay_qr", p["id"])) == (
        0 if where == "before_the_rail" else 1
    )
    again = platform.client.post(f"/v1/payments/{p['id']}/refunds", json={"amount_fen": 4_000}, headers=h)
    assert again.status_code == 200, again.text
    assert again.json()["id"] == first.id
    assert len(fake_rails.store.refunds_of("unionpay_qr", p["id"])) == 1  # the rail refunded the payer once
    fake_rails.deliver_due()  # the rail's notification of the refund
    assert platform.client.get(f"/v1/refunds/{first.id}", headers=mh).json()["status"] == "succeeded"
    assert _count(platform.db, refunds) == 1  # never a second refund
    assert _count(platform.db, entries) == 2  # the payment and one refund
    fee_back = first.fee_refunded_fen
    assert _balance(platform, mh) == 10_000 - p["fee_fen"] - (4_000 - fee_back)
    replay = platform.client.post(f"/v1/payments/{p['id']}/refunds", json={"amount_fen": 4_000}, headers=h)
    assert replay.headers.get("Idempotent-Replayed") == "true" and replay.json()["id"] == first.id
    _verify(platform.db)


def test_a_claim_whose_work_never_committed_runs_once_after_the_limit(
    platform, fixed_clock, monkeypatch, dead_on_release
) -> None:  # type: ignore[no-untyped-def]
    mid, mh = platform.merchant()
    p = _paid(platform, mh, "rf-takeover")
    h = {**mh, "Idempotency-Key": "refund-takeover"}
    _crash_once(monkeypatch, service, "create_refund")  # dies before the work's transaction commits
    with pytest.raises(Crash):
        platform.client.post(f"/v1/payments/{p['id']}/refunds", json={"amount_fen": 1_000}, headers=h)
    assert _count(platform.db, refunds) == 0
    soon = platform.client.post(f"/v1/payments/{p['id']}/refunds", json={"amount_fen": 1_000}, headers=h)
    assert soon.status_code == 409 and soon.json()["error"]["code"] == "idempotency_in_flight"
    fixed_clock.advance(seconds=idempotency.WORK_COMMIT_S_MAX + 1)
    late = platform.client.post(f"/v1/payments/{p['id']}/refunds", json={"amount_fen": 1_000}, headers=h)
    assert late.status_code == 200 and late.json()["status"] in ("pending", "succeeded"), late.text
    assert _count(platform.db, refunds) == 1
    _verify(platform.db)


def test_a_slow_first_attempt_cannot_commit_after_the_retry_did(platform) -> None:  # type: ignore[no-untyped-def]
    """The recovery point is a compare-and-set: the second of two attempts of one request rolls its work back."""
    from zhifu.payments import recovery

    mid, mh = platform.merchant()
    p = _paid(platform, mh, "rf-cas")
    scope = mid
    assert idempotency.begin(platform.db, scope, "k-cas", "h", kind="refund") is None
    with recovery.claimed(recovery.Claim(scope, "k-cas", "refund")):
        platform.db.run(
            lambda c: service.create_refund(c, mid, p["id"], service.CreateRefund(amount_fen=500))
        )
    with recovery.claimed(recovery.Claim(scope, "k-cas", "refund")), pytest.raises(Exception) as exc:
        platform.db.run(
            lambda c: service.create_refund(c, mid, p["id"], service.CreateRefund(amount_fen=500))
        )
    assert getattr(exc.value, "code", None) == "idempotency_in_flight"
    assert _count(platform.db, refunds) == 1
    with platform.db.read() as c:
        assert c.execute(select(payments.c.refunded_fen).where(payments.c.id == p["id"])).scalar_one() == 500


def test_merchant_refund_no_makes_a_refund_idempotent_without_a_key(platform) -> None:  # type: ignore[no-untyped-def]
    mid, mh = platform.merchant()
    p = _paid(platform, mh, "rf-no")
    url = f"/v1/payments/{p['id']}/refunds"
    first = platform.client.post(url, json={"amount_fen": 2_500, "merchant_refund_no": "TK-001"}, headers=mh)
    assert first.status_code == 200 and first.json()["merchant_refund_no"] == "TK-001", first.text
    same = platform.client.post(url, json={"amount_fen": 2_500, "merchant_refund_no": "TK-001"}, headers=mh)
    assert same.status_code == 200 and same.json()["id"] == first.json()["id"]
    other = platform.client.post(url, json={"amount_fen": 2_600, "merchant_refund_no": "TK-001"}, headers=mh)
    assert other.status_code == 409 and other.json()["error"]["code"] == "refund_no_taken"
    assert other.json()["error"]["param"] == "merchant_refund_no"
    bad = platform.client.post(url, json={"amount_fen": 1, "merchant_refund_no": "退款 1"}, headers=mh)
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "merchant_refund_no"
    second = platform.client.post(url, json={"amount_fen": 2_500, "merchant_refund_no": "TK-002"}, headers=mh)
    assert second.status_code == 200 and second.json()["id"] != first.json()["id"]
    plain = platform.client.post(url, json={"amount_fen": 100}, headers=mh).json()
    assert plain["merchant_refund_no"] == plain["id"]  # without a number, the refund's own id stands for it
    assert _count(platform.db, refunds) == 3
    with platform.db.read() as c:
        assert (
            c.execute(select(payments.c.refunded_fen).where(payments.c.id == p["id"])).scalar_one() == 5_100
        )
    _verify(platform.db)


def test_a_pending_refund_retried_by_its_number_is_finished(platform, fake_rails, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """No key, a crash before the rail call: the merchant's retry with the same number sends it to the rail."""
    mid, mh = platform.merchant()
    p = _paid(platform, mh, "rf-pending")
    url = f"/v1/payments/{p['id']}/refunds"
    _crash_once(monkeypatch, service, "call_refund")
    with pytest.raises(Crash):
        platform.client.post(url, json={"amount_fen": 700, "merchant_refund_no": "TK-9"}, headers=mh)
    assert fake_rails.store.refunds_of("unionpay_qr", p["id"]) == []
    again = platform.client.post(url, json={"amount_fen": 700, "merchant_refund_no": "TK-9"}, headers=mh)
    assert again.status_code == 200, again.text
    assert len(fake_rails.store.refunds_of("unionpay_qr", p["id"])) == 1
    fake_rails.deliver_due()
    assert (
        platform.client.get(f"/v1/refunds/{again.json()['id']}", headers=mh).json()["status"] == "succeeded"
    )
    assert _count(platform.db, refunds) == 1 and _count(platform.db, entries) == 2
    _verify(platform.db)


def test_notification_dies_between_received_and_applied(platform, fake_rails) -> None:  # type: ignore[no-untyped-def]
    mid, mh = platform.merchant()
    p = platform.client.post(
        "/v1/payments",
        json={"amount_fen": 1_500, "merchant_order_no": "nt-1", "channel": "unionpay_qr"},
        headers=mh,
    ).json()
    fake_rails.store.pay("unionpay_qr", p["id"], outcome="success", at=clock.now())
    url, body, headers = fake_rails.store.last_notification("unionpay_qr", p["id"])

    def applied_then_dies(c) -> None:  # type: ignore[no-untyped-def]
        assert handle_notification(c, "unionpay_qr", body, headers) == "succeeded"
        raise Crash("after applying, before the commit")

    with pytest.raises(Crash):
        platform.db.run(applied_then_dies)
    # nothing of it survived: not the state, not the entry, not the mark that it was handled
    assert platform.client.get(f"/v1/payments/{p['id']}", headers=mh).json()["status"] == "created"
    assert _count(platform.db, entries) == 0 and _count(platform.db, channel_notifications) == 0
    path = "/" + url.split("/", 3)[3]
    for _ in range(2):  # the rail delivers again (and once more): applied once
        r = platform.client.post(path, content=body, headers=headers)
        assert r.status_code == 200, r.text
    got = platform.client.get(f"/v1/payments/{p['id']}", headers=mh).json()
    assert got["status"] == "succeeded"
    assert _count(platform.db, entries) == 1 and _count(platform.db, channel_notifications) == 1
    assert _balance(platform, mh) == 1_500 - got["fee_fen"]
    _verify(platform.db)
