"""Transit on both backends: taps uploaded late, twice and by two readers charge each rider exactly the capped
fares; bad taps are refused or parked with the reason; a declined fare denies the rider until a charge succeeds;
school-bus passes make rides free and refund pro rata."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from tests.transit import helpers as h
from zhifu.core.errors import ConflictError, InvalidRequest, NotFound
from zhifu.ledger import get_balance
from zhifu.merchants import payable_account
from zhifu.payments import get_payment
from zhifu.transit import service
from zhifu.transit.models import transit_taps
from zhifu.transit.validator import Validator


def _bus(db, **kw):  # type: ignore[no-untyped-def]
    op = h.operator(db, **kw)
    mid = op["merchant_id"]
    h.line(db, mid, "l1", fare_fen=200)
    h.line(db, mid, "l2", fare_fen=150)
    h.validator(db, mid, "v1", "l1")
    h.validator(db, mid, "v2", "l1")
    h.validator(db, mid, "v3", "l2")
    return mid


def test_a_day_of_buses_charges_each_rider_exactly_the_capped_fares(db, fixed_clock) -> None:
    mid = _bus(db)  # 2 yuan on l1, 1.50 on l2, daily cap 4 yuan
    day = h.sh(2022, 6, 15, 7)
    fixed_clock.set(day)
    a, b = h.rider(db), h.rider(db, token="134567890123456781", channel="wechat")
    qa, qb = h.qr(db, a["id"], day), h.qr(db, b["id"], day)
    # A rides l1 three times (6.00, capped at 4.00); B rides l2 once (1.50) and pays by a pay code on l1 once.
    taps_v1 = [
        h.tap("1", qa, h.sh(2022, 6, 15, 7, 5)),
        h.tap("2", qa, h.sh(2022, 6, 15, 12)),
        h.tap("3", h.GOOD_PAYCODE[:-1] + "2", h.sh(2022, 6, 15, 12, 30)),
    ]
    taps_v2 = [
        h.tap("1", qa, h.sh(2022, 6, 15, 7, 5, 40)),  # the same boarding read by the second reader
        h.tap("2", qa, h.sh(2022, 6, 15, 18)),
    ]
    taps_v3 = [h.tap("1", qb, h.sh(2022, 6, 15, 9))]
    h.upload(db, mid, "v1", taps_v1[:2], at=h.sh(2022, 6, 15, 12, 1))
    h.upload(db, mid, "v1", taps_v1, at=h.sh(2022, 6, 15, 13))  # a retry after a lost answer: sent twice
    h.upload(db, mid, "v3", taps_v3, at=h.sh(2022, 6, 15, 9, 1))
    fixed_clock.set(h.sh(2022, 6, 16, 3))
    out = service.charge_due(db)
    assert out["charges"] == 3 and out["succeeded"] == 3
    # v2 was offline all day: its taps arrive the next morning, after the day was charged
    late = h.upload(db, mid, "v2", taps_v2, at=h.sh(2022, 6, 16, 9))
    assert late["stored"] == 2 and late["refused"] == [] and late["parked"] == []
    assert service.charge_due(db, through=dt.date(2022, 6, 15))["charges"] == 0  # A's cap was already charged
    with db.read() as c:
        acc_a = service.rider_account(c, mid, a["id"])
        acc_b = service.rider_account(c, mid, b["id"])
        statuses = dict(
            c.execute(
                select(transit_taps.c.tap_id, transit_taps.c.status).where(transit_taps.c.merchant_id == mid)
            ).all()
        )
        paid = [get_payment(c, mid, ch["payment_id"]) for ch in acc_a["charges"] + acc_b["charges"]]
        payable = get_balance(c, payable_account(mid)).posted_fen
    assert [d["capped_fen"] for d in acc_a["days"]] == [400] and acc_a["days"][0]["fare_fen"] == 600
    assert sum(ch["amount_fen"] for ch in acc_a["charges"]) == 400
    assert sum(ch["amount_fen"] for ch in acc_b["charges"]) == 150
    assert statuses["v2:1"] == "duplicate" and statuses["v2:2"] == "capped"
    assert {p["status"] for p in paid} == {"succeeded"}
    assert {p["channel"] for p in paid} == {"unionpay_qr", "wechat"}  # the rider's own rail counts the fare
    with db.read() as c:  # every fare is a payment of the operator's merchant, in its payable account
        every = [get_payment(c, mid, ch["payment_id"]) for ch in service.list_charges(c, mid)]
    assert len(every) == 3 and sum(p["amount_fen"] for p in every) == 400 + 150 + 200
    assert payable == sum(p["amount_fen"] - p["fee_fen"] for p in every)


def test_bad_taps_are_refused_or_parked_with_the_reason_and_nothing_is_charged(db, fixed_clock) -> None:
    mid = _bus(db)
    now = h.sh(2022, 6, 15, 10)
    fixed_clock.set(now)
    r = h.rider(db)
    good = h.qr(db, r["id"], now)
    forged = good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB")
    with pytest.raises(NotFound) as e:
        h.upload(db, mid, "nosuch", [h.tap("1", good, now)], at=now)
    assert e.value.code == "unknown_validator"
    out = h.upload(
        db,
        mid,
        "v1",
        [
            h.tap("1", forged, now),
            h.tap("2", "hello", now),
            h.tap("3", good, now + dt.timedelta(hours=2)),
            h.tap("4", good, now - dt.timedelta(days=60)),
            h.tap("5", good, now, decision="refuse"),
        ],
        at=now,
    )
    assert {x["id"]: x["reason"] for x in out["refused"]} == {
        "1": "forged_token",
        "2": "unreadable",
        "3": "tap_in_future",
        "5": "refused_at_gate",
    }
    assert out["parked"] == [{"id": "4", "reason": "tap_too_old"}]
    skewed = h.upload(
        db, mid, "v1", [h.tap("6", good, now)], at=now, validator_time=now - dt.timedelta(hours=3)
    )
    assert skewed["parked"] == [{"id": "6", "reason": "validator_clock_skew"}]
    fixed_clock.set(now + dt.timedelta(days=1))
    assert service.charge_due(db)["charges"] == 0
    with db.tx() as c:  # the operator checks the validator's clock and releases the parked tap
        service.release_parked(c, mid, "v1:6")
        with pytest.raises(ConflictError):
            service.release_parked(c, mid, "v1:6")
    assert service.charge_due(db)["amount_fen"] == 200
    with pytest.raises(InvalidRequest):
        h.upload(db, mid, "v1", [h.tap("7", good, now), h.tap("7", good, now)], at=now)


def test_a_declined_fare_denies_the_rider_until_the_next_charge_succeeds(db, fixed_clock) -> None:
    mid = _bus(db)
    fixed_clock.set(h.sh(2022, 6, 15, 8))
    r = h.rider(db, token=h.DECLINED_PAYCODE)
    h.upload(
        db,
        mid,
        "v1",
        [h.tap("1", h.qr(db, r["id"], h.sh(2022, 6, 15, 8)), h.sh(2022, 6, 15, 8))],
        at=h.sh(2022, 6, 15, 8, 1),
    )
    fixed_clock.set(h.sh(2022, 6, 16, 3))
    assert service.charge_due(db)["failed"] == 1
    with db.tx() as c:
        doc = service.sync(c, mid, "v1")
        account = service.rider_account(c, mid, r["id"])
    assert r["id"] in doc["deny"] and account["denied"] and account["debt_fen"] == 200
    v = Validator.from_sync(doc, h.sh(2022, 6, 16, 7))
    d = v.decide(h.qr(db, r["id"], h.sh(2022, 6, 16, 7)), h.sh(2022, 6, 16, 7))
    assert (d.accept, d.reason) == (False, "denied")
    assert service.charge_due(db)["charges"] == 0  # not retried on every pass: next day's run, or on request
    with db.tx() as c:  # the rider binds a card that pays, and asks to settle the debt now
        c.execute(
            service.transit_riders.update()
            .where(service.transit_riders.c.id == r["id"])
            .values(method_token=h.GOOD_PAYCODE)
        )
    assert service.charge_due(db, rider_id=r["id"], retry_now=True)["succeeded"] == 1
    with db.tx() as c:
        doc = service.sync(c, mid, "v1")
        account = service.rider_account(c, mid, r["id"])
    assert r["id"] not in doc["deny"] and not account["denied"]
    assert sorted(ch["status"] for ch in account["charges"]) == ["failed", "succeeded"]
    assert sum(ch["amount_fen"] for ch in account["charges"] if ch["status"] == "succeeded") == 200


def test_distance_fares_concessions_and_the_monthly_cap(db, fixed_clock) -> None:
    op = h.operator(db, daily_cap_fen=None, monthly_cap_fen=1_000)
    mid = op["merchant_id"]
    h.line(db, mid, "rural", distance=True)
    h.validator(db, mid, "v1", "rural")
    fixed_clock.set(h.sh(2022, 6, 1, 7))
    adult, student = h.rider(db), h.rider(db, category="student")
    qa, qs = (
        h.qr(db, adult["id"], h.sh(2022, 6, 1, 7), ttl_s=40 * 86_400),
        h.qr(db, student["id"], h.sh(2022, 6, 1, 7)),
    )
    taps = [
        h.tap("1", qa, h.sh(2022, 6, 1, 7), stop_seq=1),
        h.tap("2", qa, h.sh(2022, 6, 1, 7, 30), stop_seq=3, direction="off"),  # 12 km: 4.00
        h.tap("3", qa, h.sh(2022, 6, 1, 17), stop_seq=2),  # never tapped off: the line's maximum, 6.00
        h.tap("4", qs, h.sh(2022, 6, 1, 7, 2), stop_seq=1),
        h.tap("5", qs, h.sh(2022, 6, 1, 7, 9), stop_seq=2, direction="off"),
    ]  # 3 km: 2.00, half
    h.upload(db, mid, "v1", taps, at=h.sh(2022, 6, 1, 19))
    h.upload(db, mid, "v1", [h.tap("6", qa, h.sh(2022, 6, 2, 7), stop_seq=1)], at=h.sh(2022, 6, 2, 9))
    fixed_clock.set(h.sh(2022, 6, 3, 3))
    service.charge_due(db)
    with db.read() as c:
        a, s = service.rider_account(c, mid, adult["id"]), service.rider_account(c, mid, student["id"])
    assert sorted(d["fare_fen"] for d in a["days"]) == [600, 1_000]
    assert sum(ch["amount_fen"] for ch in a["charges"]) == 1_000  # 16.00 capped by the month at 10.00
    assert sum(ch["amount_fen"] for ch in s["charges"]) == 100


def test_school_bus_pass_rides_free_and_refunds_pro_rata(db, fixed_clock) -> None:
    op = h.operator(db, "school_bus")
    mid = op["merchant_id"]
    h.line(db, mid, "school", fare_fen=300)
    h.validator(db, mid, "bus1", "school")
    fixed_clock.set(h.sh(2022, 6, 1, 8))
    with db.tx() as c:
        service.add_pass_product(
            c,
            mid,
            service.PassProductIn(
                id="jun",
                name="六月校车月票",
                kind="month",
                price_fen=9_000,
                valid_from=dt.date(2022, 6, 1),
                valid_to=dt.date(2022, 6, 30),
                refund_fee_ppm=0,
            ),
        )
    kid = h.rider(db, category="student")
    bought = db.run(
        lambda c: service.buy_pass(
            c,
            mid,
            service.BuyPassIn(product_id="jun", rider_id=kid["id"], student_name="李小红", channel="wechat"),
        )
    )
    h.complete(db, bought["payment"]["id"])
    assert db.run(lambda c: service.confirm_pass(c, mid, bought["pass"]["id"]))["status"] == "active"
    with db.tx() as c:
        assert kid["id"] in service.sync(c, mid, "bus1")["passes"]
    q = h.qr(db, kid["id"], h.sh(2022, 6, 1, 7), ttl_s=30 * 86_400)
    h.upload(
        db,
        mid,
        "bus1",
        [h.tap("1", q, h.sh(2022, 6, 1, 7)), h.tap("2", q, h.sh(2022, 6, 1, 16))],
        at=h.sh(2022, 6, 1, 17),
    )
    fixed_clock.set(h.sh(2022, 6, 10, 12))
    assert service.charge_due(db)["charges"] == 0
    refunded = db.run(lambda c: service.refund_pass(c, mid, bought["pass"]["id"]))
    assert refunded["refunded_fen"] == 6_000  # 20 unused days of 30, from tomorrow
    assert refunded["status"] == "refunded" and refunded["valid_to"] == dt.date(2022, 6, 10)
    with pytest.raises(ConflictError):
        db.run(lambda c: service.refund_pass(c, mid, bought["pass"]["id"]))
    assert (
        service.pass_refund_fen(9_000, dt.date(2022, 6, 1), dt.date(2022, 6, 30), dt.date(2022, 7, 1), 0) == 0
    )
    assert (
        service.pass_refund_fen(
            10_000, dt.date(2022, 6, 1), dt.date(2022, 6, 3), dt.date(2022, 6, 2), 100_000
        )
        == 6_000
    )  # two thirds, half-up 6,667, less a 10 % fee


def test_registration_and_lines_refuse_bad_input(db) -> None:
    op = h.operator(db)
    mid = op["merchant_id"]
    with db.tx() as c:
        with pytest.raises(ConflictError):
            service.register_operator(
                c, service.OperatorIn(id="again", name="x", kind="bus", merchant_id=mid)
            )
        with pytest.raises(InvalidRequest) as e:
            service.add_line(c, mid, service.LineIn(id="dd", name="d", fare_mode="distance"))
        assert e.value.param == "bands"
        with pytest.raises(InvalidRequest):
            service.add_line(c, mid, service.LineIn(id="Bad Id", name="x", flat_fare_fen=100))
        with pytest.raises(NotFound):
            service.add_validator(c, mid, "v9", "noline")
        with pytest.raises(InvalidRequest):
            service.issue_rider(c, service.RiderIn(channel="wechat", method_token=h.GOOD_PAYCODE))
