"""悬而未决 / nothing stays in between, on both backends: the sweeper asks the rail about every pending refund,
processing or unanswered payment and expired order until it gives a final answer, and lists on the operator's
exception list whatever is still without one past its named maximum age."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from zhifu import ledger
from zhifu.channels import RailTimeout
from zhifu.channels.models import rail_exceptions
from zhifu.payments import payments, refunds, service
from zhifu.workers import sweep_payments

PAY_CODE_OK = "6212345678901234561"


class Crash(Exception):
    """The process dies here, right after its commit."""


class _Down:
    """A rail that cannot be reached: every call times out."""

    def __init__(self, real) -> None:  # type: ignore[no-untyped-def]
        self._real = real

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        attr = getattr(self._real, name)
        if name in ("create", "query", "close", "refund", "refund_query"):

            def times_out(*_a, **_k):  # type: ignore[no-untyped-def]
                raise RailTimeout(self._real.facts.name, "down")

            return times_out
        return attr


@pytest.fixture
def rail_down(monkeypatch):  # type: ignore[no-untyped-def]
    real = service.get_channel
    state = {"down": True}
    monkeypatch.setattr(
        service, "get_channel", lambda name: _Down(real(name)) if state["down"] else real(name)
    )
    return state


def _exceptions(db) -> dict[str, str]:  # type: ignore[no-untyped-def]
    with db.read() as c:
        return {r.object_id: r.kind for r in c.execute(select(rail_exceptions))}


def _verify(db) -> None:  # type: ignore[no-untyped-def]
    with db.read() as c:
        assert ledger.verify(c) == []


def test_a_refund_the_rail_never_heard_of_is_sent_again_and_booked(
    platform, fake_rails, fixed_clock, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    mid, mh = platform.merchant()
    p = platform.client.post(
        "/v1/payments",
        json={"amount_fen": 8_000, "merchant_order_no": "sw-1", "auth_code": PAY_CODE_OK},
        headers=mh,
    ).json()
    before = platform.client.get("/v1/balance", headers=mh).json()["available_fen"]

    def dies(*_a, **_k):  # type: ignore[no-untyped-def]
        raise Crash

    monkeypatch.setattr(service, "call_refund", dies)
    with pytest.raises(Crash):
        platform.client.post(f"/v1/payments/{p['id']}/refunds", json={"amount_fen": 3_000}, headers=mh)
    monkeypatch.undo()
    with platform.db.read() as c:
        rid = c.execute(select(refunds.c.id)).scalar_one()
    sweep_payments(platform.db)
    assert fake_rails.store.refunds_of("unionpay_qr", p["id"]) == []  # too young to be asked about
    fixed_clock.advance(seconds=service.SWEEP_AFTER_S + 1)
    sweep_payments(platform.db)  # sent again: the rail keeps one refund per out_refund_no
    assert len(fake_rails.store.refunds_of("unionpay_qr", p["id"])) == 1
    fake_rails.deliver_due()
    fixed_clock.advance(seconds=service.SWEEP_AFTER_S + 1)
    sweep_payments(platform.db)
    got = platform.client.get(f"/v1/refunds/{rid}", headers=mh).json()
    assert got["status"] == "succeeded"
    after = platform.client.get("/v1/balance", headers=mh).json()["available_fen"]
    assert before - after == 3_000 - got["fee_refunded_fen"]  # the merchant's balance was debited
    assert len(fake_rails.store.refunds_of("unionpay_qr", p["id"])) == 1
    _verify(platform.db)


def test_unanswered_payments_and_refunds_reach_the_exception_list(platform, fixed_clock, rail_down) -> None:  # type: ignore[no-untyped-def]
    mid, mh = platform.merchant()
    rail_down["down"] = False
    paid = platform.client.post(
        "/v1/payments",
        json={"amount_fen": 5_000, "merchant_order_no": "sw-2", "auth_code": PAY_CODE_OK},
        headers=mh,
    ).json()
    qr = platform.client.post(
        "/v1/payments",
        json={"amount_fen": 700, "merchant_order_no": "sw-4", "channel": "unionpay_qr", "expires_in_s": 60},
        headers=mh,
    ).json()
    assert qr["status"] == "created" and qr["code_url"]  # a code to scan; the rail goes down before its close
    rail_down["down"] = True
    stuck = platform.client.post(
        "/v1/payments",
        json={"amount_fen": 900, "merchant_order_no": "sw-3", "auth_code": PAY_CODE_OK},
        headers=mh,
    ).json()
    assert stuck["status"] == "processing" and stuck["failure"]["code"] == "rail_timeout"
    r = platform.client.post(
        f"/v1/payments/{paid['id']}/refunds", json={"amount_fen": 1_000}, headers=mh
    ).json()
    assert r["status"] == "pending"
    for _ in range(3):
        fixed_clock.advance(seconds=(service.UNRESOLVED_AGE_S_MAX - 1) / 3)
        sweep_payments(platform.db)
    assert _exceptions(platform.db) == {}  # not yet past the maximum age (the order: its deadline, 60 s, too)
    fixed_clock.advance(seconds=62)
    sweep_payments(platform.db)
    assert _exceptions(platform.db) == {
        stuck["id"]: "unresolved_payment",
        r["id"]: "unresolved_refund",
        qr["id"]: "unclosed_payment",
    }
    sweep_payments(platform.db)
    assert len(_exceptions(platform.db)) == 3  # listed once
    rail_down["down"] = False  # the rail is back: the sweeper, still asking, settles all three
    fixed_clock.advance(seconds=service.SWEEP_AFTER_S + 1)
    sweep_payments(platform.db)
    with platform.db.read() as c:
        states = dict(c.execute(select(payments.c.id, payments.c.status)).all())
        refund = c.execute(select(refunds.c.status)).scalar_one()
    assert (
        states[stuck["id"]] == "expired"
    )  # the rail never received it (the call timed out before): no charge
    assert states[qr["id"]] == "expired"
    assert refund in ("pending", "succeeded")
    if refund == "pending":  # the rail took it and will notify; asking it again gives the answer
        fixed_clock.advance(seconds=dt.timedelta(seconds=service.SWEEP_AFTER_S + 1).total_seconds())
        sweep_payments(platform.db)
        with platform.db.read() as c:
            assert c.execute(select(refunds.c.status)).scalar_one() == "succeeded"
    _verify(platform.db)


def test_a_paid_order_whose_notification_was_lost_is_found_by_asking(
    platform, fake_rails, fixed_clock
) -> None:  # type: ignore[no-untyped-def]
    """Our process was down while the rail delivered the payer's payment, and the rail gave up: the sweeper asks
    about orders awaiting their payer, so the payment succeeds long before its deadline."""
    mid, mh = platform.merchant()
    p = platform.client.post(
        "/v1/payments",
        json={"amount_fen": 1_200, "merchant_order_no": "sw-lost", "channel": "unionpay_qr"},
        headers=mh,
    ).json()
    fake_rails.store.pay("unionpay_qr", p["id"], outcome="timeout", at=fixed_clock.now())  # notification lost
    fixed_clock.advance(seconds=service.SWEEP_AFTER_S + 1)
    sweep_payments(platform.db)
    assert platform.client.get(f"/v1/payments/{p['id']}", headers=mh).json()["status"] == "created"
    fixed_clock.advance(seconds=service.AWAITING_ASK_AFTER_S)
    sweep_payments(platform.db)
    got = platform.client.get(f"/v1/payments/{p['id']}", headers=mh).json()
    assert got["status"] == "succeeded"
    assert (
        dt.datetime.fromisoformat(got["expires_at"].replace("Z", "+00:00")) > fixed_clock.now()
    )  # before it
    _verify(platform.db)
