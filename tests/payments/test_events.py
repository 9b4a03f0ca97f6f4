"""The payment event: bills subscribes to a success in the payment's own transaction, risk reads its history, and
the wiring is installed at start-up by every entry point (a missing or doubled publisher fails the start)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from typing import Any

import pytest
from sqlalchemy import Connection, event, select, update

from zhifu.bills import events as bill_events
from zhifu.core import events
from zhifu.core.events import EventsNotLoaded, PaymentSucceeded
from zhifu.ledger.models import entries
from zhifu.payments import events as payment_events
from zhifu.payments.models import payments
from zhifu.payments.read import payments_view
from zhifu.plugins import load_events

SQLITE = pytest.mark.parametrize(
    "backend", ["sqlite"], indirect=True
)  # the transaction shape is the same on both

AUTH_CODE = "6212345678901234561"  # a UnionPay pay code the fake rails approve at once


def _pay(
    platform: Any, mh: dict[str, str], order_no: str, amount_fen: int = 12_345, metadata: Any = None
) -> Any:
    doc = {"amount_fen": amount_fen, "merchant_order_no": order_no, "auth_code": AUTH_CODE}
    if metadata is not None:
        doc["metadata"] = metadata
    return platform.client.post("/v1/payments", json=doc, headers=mh)


def _with_subscriber(monkeypatch: pytest.MonkeyPatch, handler: Any) -> None:
    """Add a subscriber after the installed ones, for one test."""
    wiring = events._installed()
    subs = {**wiring.subscribers, PaymentSucceeded: (*wiring.subscribers[PaymentSucceeded], handler)}
    monkeypatch.setattr(events, "_wiring", dataclasses.replace(wiring, subscribers=subs))


def test_the_wiring_names_bills_as_subscriber_and_payments_as_publisher() -> None:
    assert events.subscribers(PaymentSucceeded) == (bill_events.payment_succeeded,)
    assert events._installed().sources[PaymentSucceeded] is payment_events.PUBLISHES[PaymentSucceeded]


@SQLITE
def test_a_subscriber_sees_the_success_inside_the_payment_transaction(platform, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    seen: list[tuple[PaymentSucceeded, str]] = []

    def record(conn: Connection, e: PaymentSucceeded) -> None:
        status = conn.execute(select(payments_view.c.status).where(payments_view.c.id == e.id)).scalar_one()
        seen.append((e, status))

    _with_subscriber(monkeypatch, record)
    _, mh = platform.merchant()
    r = _pay(platform, mh, "ev1")
    assert r.status_code == 200 and r.json()["status"] == "succeeded", r.text
    doc = r.json()
    [(e, status)] = seen
    assert status == "succeeded"  # the success is written in the transaction the subscriber runs in
    assert (e.id, e.merchant_order_no, e.amount_fen, e.fee_fen, e.channel) == (
        doc["id"],
        "ev1",
        12_345,
        doc["fee_fen"],
        doc["channel"],
    )
    assert e.metadata is None and e.at is not None


@SQLITE
def test_a_failing_subscriber_rolls_the_success_back(platform, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def fail(conn: Connection, e: PaymentSucceeded) -> None:
        raise RuntimeError("subscriber failed")

    _, mh = platform.merchant()
    _with_subscriber(monkeypatch, fail)
    with pytest.raises(RuntimeError, match="subscriber failed"):
        _pay(platform, mh, "ev2")
    with platform.db.read() as c:
        status = c.execute(
            select(payments_view.c.status).where(payments_view.c.merchant_order_no == "ev2")
        ).scalar_one()
        keys = [k for (k,) in c.execute(select(entries.c.idempotency_key)) if k.endswith(":success")]
    assert status != "succeeded"  # neither the success nor its ledger entry committed without the subscriber
    assert keys == []


def test_history_replays_successes_in_order_and_by_id(platform) -> None:  # type: ignore[no-untyped-def]
    _, mh = platform.merchant()
    ids = [
        _pay(platform, mh, f"h{n}", 1_000 + n, {"k": "v"} if n == 1 else None).json()["id"] for n in range(3)
    ]
    with platform.db.read() as c:
        everything = events.history(PaymentSucceeded, c, None, None, 10)
        assert [e.id for e in everything] == ids
        assert [e.amount_fen for e in everything] == [1_000, 1_001, 1_002]
        assert [e.metadata for e in everything] == [None, {"k": "v"}, None]  # on both backends
        assert [e.merchant_order_no for e in everything] == ["h0", "h1", "h2"]
        first = everything[0]
        past_first = events.history(PaymentSucceeded, c, (first.at, first.id), None, 10)
        assert [e.id for e in past_first] == ids[1:]
        assert [e.id for e in events.history(PaymentSucceeded, c, None, first.at, 10)] == ids[:1]
        assert [e.id for e in events.history(PaymentSucceeded, c, None, None, 2)] == ids[:2]
        found = events.find(PaymentSucceeded, c, [ids[2], "pay_unknown", ids[0]])
        assert [e.id for e in found] == sorted([ids[0], ids[2]])
        assert events.find(PaymentSucceeded, c, []) == []


def test_history_past_a_cursor_breaks_ties_by_id_and_starts_at_the_cursor_in_the_index(platform) -> None:  # type: ignore[no-untyped-def]
    """Two successes at the same instant: the cursor (at, id) of the first gives the second and what follows. On
    PostgreSQL the read starts at the cursor in the (status, succeeded_at, id) index (a row comparison in the
    index condition), instead of reading every success before it."""
    _, mh = platform.merchant()
    ids = [_pay(platform, mh, f"t{n}", 2_000 + n, None).json()["id"] for n in range(3)]
    with platform.db.tx() as c:
        same = c.execute(select(payments.c.succeeded_at).where(payments.c.id == ids[0])).scalar_one()
        c.execute(update(payments).where(payments.c.id.in_(ids[:2])).values(succeeded_at=same))
    with platform.db.read() as c:
        assert [e.id for e in events.history(PaymentSucceeded, c, (same, ids[0]), None, 10)] == ids[1:]
        assert [e.id for e in events.history(PaymentSucceeded, c, (same, ids[1]), None, 10)] == ids[2:]
        if platform.db.dialect == "postgresql":  # the statement the history sends, explained
            sent: list[tuple[str, Any]] = []

            def keep(_conn, _cur, statement, params, _ctx, _many):  # type: ignore[no-untyped-def]
                sent.append((statement, params))

            event.listen(c, "before_cursor_execute", keep)
            try:
                events.history(PaymentSucceeded, c, (same, ids[0]), None, 10)
            finally:
                event.remove(c, "before_cursor_execute", keep)
            c.exec_driver_sql("SET LOCAL enable_seqscan = off")
            plan = "\n".join(r[0] for r in c.exec_driver_sql("EXPLAIN " + sent[0][0], sent[0][1]))
            assert "Index Cond" in plan and "ROW(succeeded_at" in plan, plan


def test_publishing_before_the_wiring_is_installed_is_an_error(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(events, "_wiring", None)
    e = PaymentSucceeded("pay_x", "mch_x", "o1", 100, 0, "unionpay_qr", None, None, None, None)  # type: ignore[arg-type]
    with pytest.raises(EventsNotLoaded, match="load_events"):
        events.publish(None, e)  # type: ignore[arg-type]
    load_events()
    assert events.subscribers(PaymentSucceeded) == (bill_events.payment_succeeded,)


def test_install_refuses_a_wiring_without_one_publisher_per_event(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(events, "_wiring", events._wiring)  # restored after the test
    source = payment_events.PUBLISHES[PaymentSucceeded]
    with pytest.raises(LookupError, match="no capability publishes PaymentSucceeded"):
        events.install([], [])
    with pytest.raises(ValueError, match="published by both a and b"):
        events.install([("a", {PaymentSucceeded: source}), ("b", {PaymentSucceeded: source})], [])
    with pytest.raises(TypeError, match="c subscribes to"):
        events.install([("a", {PaymentSucceeded: source})], [("c", [(dict, print)])])
    events.install([("a", {PaymentSucceeded: source})], [("c", [(PaymentSucceeded, print)] * 2)])
    assert events.subscribers(PaymentSucceeded) == (print, print)  # installing replaces, never appends


@SQLITE
def test_the_app_installs_the_wiring(db, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from zhifu.api.app import create_app

    monkeypatch.setattr(events, "_wiring", None)
    create_app(db)
    assert events.subscribers(PaymentSucceeded) == (bill_events.payment_succeeded,)


def test_the_cli_installs_the_wiring_in_a_fresh_process() -> None:
    code = (
        "import zhifu.cli\n"
        "from zhifu.core import events\n"
        "print([f'{h.__module__}.{h.__name__}' for h in events.subscribers(events.PaymentSucceeded)])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ},
        check=True,
    )
    assert out.stdout.strip() == "['zhifu.bills.events.payment_succeeded']", out.stderr
