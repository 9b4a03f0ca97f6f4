"""Scenic areas on both backends: capacity as a share of the maximum, holds released when unpaid, a payment
after the hold honoured or refunded, one-time gate scans, refunds before use only, group tickets; and on
PostgreSQL a burst of ten times a slot's capacity sells exactly the capacity."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import func, select

from tests.transit import helpers as h
from zhifu.core.errors import ConflictError, InvalidRequest
from zhifu.db import Database
from zhifu.transit import scenic
from zhifu.transit.models import scenic_tickets


def _buy(db: Database, mid: str, slot_id: str, n: int = 1, type_id: str = "adult", **pay: str) -> dict:
    pay = pay or {"auth_code": h.GOOD_PAYCODE}
    o = db.run(
        lambda c: scenic.reserve(
            c, mid, scenic.ReserveIn(slot_id=slot_id, type_id=type_id, quantity=n, **pay)
        )
    )
    return db.run(lambda c: scenic.confirm(c, mid, o["id"]))


def test_capacity_holds_and_one_time_gate(db, fixed_clock) -> None:
    fixed_clock.set(h.sh(2022, 6, 15, 7))
    mid, slots = h.scenic_area(db, capacity=10, ppm=750_000)
    first = slots[0]
    assert first["capacity"] == 7  # 75 % of 10, rounded down: never above the limit
    paid = _buy(db, mid, first["id"], 2)
    assert paid["status"] == "paid" and len(paid["tickets"]) == 2 and paid["amount_fen"] == 12_000
    held = db.run(
        lambda c: scenic.reserve(
            c, mid, scenic.ReserveIn(slot_id=first["id"], type_id="adult", quantity=5, channel="wechat")
        )
    )
    assert held["status"] == "held"
    with pytest.raises(ConflictError) as e:
        _buy(db, mid, first["id"], 1)
    assert e.value.code == "sold_out"
    fixed_clock.set(h.sh(2022, 6, 15, 7, 6))  # the hold ran out unpaid: its places come back
    again = _buy(db, mid, first["id"], 5)
    assert again["status"] == "paid"
    with db.read() as c:
        s = scenic.list_slots(c, mid, dt.date(2022, 6, 15))[0]
        assert db.run(lambda c2: scenic.confirm(c2, mid, held["id"]))["status"] == "released"
    assert (s["sold"], s["held"], s["left"]) == (7, 0, 0)
    code = paid["tickets"][0]["code"]
    assert (
        db.run(lambda c: scenic.scan(c, mid, code))["reason"] == "wrong_slot"
    )  # 07:06, the slot opens 08:30
    fixed_clock.set(h.sh(2022, 6, 15, 9, 5))
    ok = db.run(lambda c: scenic.scan(c, mid, code, gate="east"))
    second = db.run(lambda c: scenic.scan(c, mid, code, gate="west"))
    assert ok["accepted"] and ok["people"] == 1
    assert (second["accepted"], second["reason"], second["first_gate"]) == (False, "already_used", "east")
    assert "09:05:00" in second["message"]
    forged = code[:-4] + ("AAAA" if not code.endswith("AAAA") else "BBBB")
    assert db.run(lambda c: scenic.scan(c, mid, forged))["reason"] == "forged"
    mid2, _ = h.scenic_area(db, capacity=10)
    assert db.run(lambda c: scenic.scan(c, mid2, paid["tickets"][1]["code"]))["reason"] == "other_operator"
    with pytest.raises(ConflictError) as e:
        db.run(lambda c: scenic.refund_order(c, mid, paid["id"]))
    assert e.value.code == "ticket_used"
    fixed_clock.set(h.sh(2022, 6, 16, 9, 5))
    assert db.run(lambda c: scenic.scan(c, mid, paid["tickets"][1]["code"]))["reason"] == "wrong_day"


def test_refund_before_use_and_group_tickets(db, fixed_clock) -> None:
    fixed_clock.set(h.sh(2022, 6, 15, 6))
    mid, slots = h.scenic_area(db, capacity=100)
    late = slots[1]  # 11:00–13:00; refunds close two hours before
    with pytest.raises(InvalidRequest) as e:
        _buy(db, mid, late["id"], 4, type_id="group")
    assert e.value.code == "group_too_small"
    group = _buy(db, mid, late["id"], 12, type_id="group")
    assert [t["people"] for t in group["tickets"]] == [12] and group["amount_fen"] == 54_000
    single = _buy(db, mid, late["id"], 1)
    refunded = db.run(lambda c: scenic.refund_order(c, mid, single["id"]))
    assert refunded["status"] == "refunded" and refunded["refunded_fen"] == 6_000
    assert {t["status"] for t in refunded["tickets"]} == {"refunded"}
    fixed_clock.set(h.sh(2022, 6, 15, 10))
    with pytest.raises(ConflictError) as e:
        db.run(lambda c: scenic.refund_order(c, mid, group["id"]))
    assert e.value.code == "refund_window_closed"
    fixed_clock.set(h.sh(2022, 6, 15, 11, 1))
    assert db.run(lambda c: scenic.scan(c, mid, refunded["tickets"][0]["code"]))["reason"] == "refunded"
    assert db.run(lambda c: scenic.scan(c, mid, group["tickets"][0]["code"]))["people"] == 12
    with db.read() as c:
        s = scenic.sales(c, mid, dt.date(2022, 6, 15))
    assert s["admitted"] == 12 and s["by_status"]["refunded"]["people"] == 1


def test_a_payment_after_the_hold_is_honoured_while_places_are_left(db, fixed_clock) -> None:
    fixed_clock.set(h.sh(2022, 6, 15, 7))
    mid, slots = h.scenic_area(db, capacity=4, ppm=1_000_000)
    o = db.run(
        lambda c: scenic.reserve(
            c, mid, scenic.ReserveIn(slot_id=slots[0]["id"], type_id="adult", quantity=2, channel="alipay")
        )
    )
    fixed_clock.set(h.sh(2022, 6, 15, 7, 4, 50))
    h.complete(db, o["payment_id"])  # paid ten seconds before the hold ends, confirmed after it
    fixed_clock.set(h.sh(2022, 6, 15, 7, 6))
    out = scenic.sweep(db)
    assert out.get("paid") == 1
    with db.read() as c:
        assert scenic.get_order(c, mid, o["id"])["status"] == "paid"


@pytest.mark.pg
def test_a_burst_of_ten_times_capacity_sells_exactly_the_capacity_on_postgres(
    request, tmp_path, fixed_clock
) -> None:
    from tests.conftest import fresh_database

    db = fresh_database("pg", str(tmp_path), request)
    try:
        fixed_clock.set(h.sh(2022, 6, 15, 7))
        mid, slots = h.scenic_area(db, capacity=40, ppm=750_000)
        slot = slots[0]["id"]
        buyers = 10 * 30
        start = threading.Barrier(30)
        outcomes: list[str] = []
        lock = threading.Lock()

        def buyer(i: int) -> None:
            start.wait()
            for k in range(10):
                try:
                    code = h.GOOD_PAYCODE[:-2] + f"{(i + k) % 7}1"
                    o = db.run(
                        lambda c, code=code: scenic.reserve(
                            c,
                            mid,
                            scenic.ReserveIn(slot_id=slot, type_id="adult", quantity=1, auth_code=code),
                        )
                    )
                    o = db.run(lambda c, oid=o["id"]: scenic.confirm(c, mid, oid))
                    res = o["status"]
                except ConflictError as exc:
                    res = exc.code
                with lock:
                    outcomes.append(res)

        threads = [threading.Thread(target=buyer, args=(i,)) for i in range(30)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        with db.read() as c:
            s = scenic.list_slots(c, mid, dt.date(2022, 6, 15))[0]
            tickets = c.execute(
                select(func.count()).select_from(scenic_tickets).where(scenic_tickets.c.merchant_id == mid)
            ).scalar_one()
        assert len(outcomes) == buyers
        assert outcomes.count("paid") == 30 == s["sold"] == tickets and s["held"] == 0
        assert outcomes.count("sold_out") == buyers - 30
    finally:
        db.dispose()
