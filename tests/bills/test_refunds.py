"""缴费退款复核 / Refunds of bill payments under maker-checker on both backends: one person proposes, the same
person cannot approve, another approves and the refund goes through the payment service with the receipt
reissued, or rejects with a note; bad requests change nothing; every step is audited; the API does the same
with two keys."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from tests.bills.helpers import account, complete, make_biller, month_of_bills
from tests.bills.test_api import _register
from tests.rails_support import pump
from zhifu import ledger
from zhifu.audit.models import audit_queue
from zhifu.bills import refunds
from zhifu.bills import service as bills
from zhifu.core.errors import ConflictError, InvalidRequest, NotFound
from zhifu.payments import service as payments


def _paid(db, n: int = 2) -> list[str]:  # type: ignore[no-untyped-def]
    make_biller(db)
    with db.tx() as c:
        bills.import_bills(c, "water", month_of_bills(n), filename="june.csv")
    ids = []
    for i in range(1, n + 1):
        p = bills.pay(db, bills.PayBillIn(biller_id="water", account_no=account(i), channel="unionpay_qr"))
        complete(db, p["payment"]["id"])
        ids.append(p["payment"]["id"])
    return ids


def _audit(db, object_id: str) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    with db.read() as c:
        return [
            (r.action, r.actor)
            for r in c.execute(
                select(audit_queue).where(audit_queue.c.object_id == object_id).order_by(audit_queue.c.id)
            )
        ]


def test_one_proposes_another_approves_and_the_receipt_is_reissued(db, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    pid, other = _paid(db)
    with db.read() as c:
        old_receipt = bills.find_lines(c, "water", q=pid)[0]["receipt_no"]
    with db.tx() as c:
        r = refunds.propose(c, "water", pid, reason="户号已销户 / account closed", by="wang", role="biller")
    assert r["status"] == "pending"
    with db.read() as c:  # nothing has moved yet
        assert bills.find_lines(c, "water", q=pid)[0]["refunded_fen"] == 0
        assert ledger.get_balance(c, "biller_payable:water").posted_fen == 2 * 4560
    with pytest.raises(ConflictError) as e, db.tx() as c:
        refunds.decide(c, "water", r["id"], approve=True, by="wang", role="biller")
    assert e.value.code == "maker_checker"
    with pytest.raises(ConflictError) as e, db.tx() as c:  # a second request for the same payment
        refunds.propose(c, "water", pid, reason="again", by="li", role="biller")
    assert e.value.code == "bill_refund_pending"
    with db.tx() as c:
        done = refunds.decide(c, "water", r["id"], approve=True, by="li", role="biller")
    assert done["status"] == "approved" and done["decided_by"] == "li" and done["refund_id"]
    pump(db)  # the rail is asked after the commit
    with db.read() as c:
        refund = payments.get_refund(c, None, done["refund_id"])
        new = bills.verify_receipt(c, done["receipt_no"])
        old = bills.verify_receipt(c, old_receipt)
        assert ledger.get_balance(c, "biller_payable:water").posted_fen == 4560  # the other payment's
        assert ledger.verify(c) == []
    assert refund["status"] == "succeeded" and refund["amount_fen"] == 4560
    assert new["genuine"] and new["receipt"]["body"]["replaces"] == old_receipt
    assert old["replaced_by"] == done["receipt_no"]
    with db.read() as c:  # the bill is open again
        assert bills.present(c, "water", account(1))["bills"][0]["status"] == "unpaid"
    with pytest.raises(ConflictError) as e, db.tx() as c:  # decided once
        refunds.decide(c, "water", r["id"], approve=True, by="zhao", role="biller")
    assert e.value.code == "bill_refund_decided"
    with pytest.raises(ConflictError) as e, db.tx() as c:  # refunded already
        refunds.propose(c, "water", pid, reason="again", by="li", role="biller")
    assert e.value.code == "bill_payment_not_refundable"
    assert _audit(db, r["id"]) == [("bill_refund.proposed", "wang"), ("bill_refund.approved", "li")]
    # a rejection needs a note, and leaves the payment as it was
    with db.tx() as c:
        r2 = refunds.propose(c, "water", other, reason="重复缴费 / paid twice", by="li", role="biller")
    with pytest.raises(InvalidRequest) as e, db.tx() as c:
        refunds.decide(c, "water", r2["id"], approve=False, by="wang", role="biller")
    assert e.value.param == "note"
    with db.tx() as c:
        no = refunds.decide(
            c, "water", r2["id"], approve=False, by="wang", role="biller", note="已入账 / applied"
        )
    assert no["status"] == "rejected" and no["refund_id"] is None
    with db.read() as c:
        assert bills.find_lines(c, "water", q=other)[0]["refunded_fen"] == 0
    assert _audit(db, r2["id"])[-1] == ("bill_refund.rejected", "wang")


def test_bad_requests_change_nothing(db, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    (pid,) = _paid(db, 1)
    cases = [
        (dict(payment_id=pid, reason="  "), InvalidRequest, "reason"),
        (dict(payment_id=pid, reason="x" * 201), InvalidRequest, "reason"),
        (dict(payment_id="pay_nope", reason="closed"), NotFound, "payment_id"),
    ]
    for kw, err, param in cases:
        with pytest.raises(err) as e, db.tx() as c:
            refunds.propose(c, "water", by="wang", role="biller", **kw)
        assert e.value.param == param
    with db.tx() as c:
        bills.settle(c, "water", fixed_clock.now().date(), at=fixed_clock.advance(days=1))
    with pytest.raises(ConflictError) as e, db.tx() as c:
        refunds.propose(c, "water", pid, reason="closed", by="wang", role="biller")
    assert e.value.code == "bill_payment_settled"
    with db.read() as c:
        assert refunds.list_requests(c, "water") == []
    with pytest.raises(NotFound), db.tx() as c:
        refunds.decide(c, "water", "brr_nope", approve=True, by="li", role="biller")


def test_the_api_with_two_keys(platform, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    b = _register(platform)
    keys = []
    for _ in range(2):
        r = platform.client.post(f"/v1/merchants/{b['merchant_id']}/keys", headers=platform.op)
        keys.append({"Authorization": f"Bearer {r.json()['secret']}"})
    r = platform.client.post(
        "/v1/billers/water/bills?filename=june.csv", content=month_of_bills(1), headers=keys[0]
    )
    assert r.status_code == 200, r.text
    p = bills.pay(
        platform.db, bills.PayBillIn(biller_id="water", account_no=account(1), channel="unionpay_qr")
    )
    complete(platform.db, p["payment"]["id"])
    pid = p["payment"]["id"]
    r = platform.client.post(
        "/v1/billers/water/refund-requests", json={"payment_id": pid, "reason": ""}, headers=keys[0]
    )
    assert r.status_code == 400 and r.json()["error"]["param"] == "reason"
    r = platform.client.post(
        "/v1/billers/water/refund-requests", json={"payment_id": pid, "reason": "销户"}, headers=keys[0]
    )
    assert r.status_code == 201 and r.json()["status"] == "pending", r.text
    rid = r.json()["id"]
    url = f"/v1/billers/water/refund-requests/{rid}/decision"
    r = platform.client.post(url, json={"decision": "approve"}, headers=keys[0])
    assert r.status_code == 409 and r.json()["error"]["code"] == "maker_checker"
    gas = _register(platform, "gas", name="沂源县燃气公司", category="gas")
    r = platform.client.post(f"/v1/merchants/{gas['merchant_id']}/keys", headers=platform.op)
    gh = {"Authorization": f"Bearer {r.json()['secret']}"}
    assert platform.client.post(url, json={"decision": "approve"}, headers=gh).status_code == 404
    r = platform.client.post(url, json={"decision": "approve"}, headers=keys[1])
    assert r.status_code == 200 and r.json()["status"] == "approved" and r.json()["receipt_no"], r.text
    listed = platform.client.get("/v1/billers/water/refund-requests", headers=platform.op).json()["data"]
    assert [x["status"] for x in listed] == ["approved"]


def test_the_console_pages_of_the_operator_and_the_biller(db, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    from tests.bills.test_regulator import _login
    from zhifu.api.app import create_app

    (pid,) = _paid(db, 1)
    app = create_app(db)
    op = _login(app, db, "desk", "operator", institution_id="yiyuan_rcb")
    page = op.get("/console/operator/billers/water/refunds")
    assert page.status_code == 200 and pid in page.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)[1]  # type: ignore[index]
    r = op.post(
        "/console/operator/billers/water/refunds",
        data={"csrf_token": csrf, "payment_id": pid, "reason": ""},
    )
    assert r.status_code == 400 and 'data-field="reason"' in r.text and "退款原因" in r.text
    r = op.post(
        "/console/operator/billers/water/refunds",
        data={"csrf_token": csrf, "payment_id": pid, "reason": "重复缴费 / paid twice"},
    )
    assert r.status_code == 200 and 'id="refund-done"' in r.text
    rid = refunds_of(db)[0]["id"]
    assert f'action="/console/operator/billers/water/refunds/{rid}/approve"' not in r.text  # not their own
    clerk = _login(app, db, "water-co", "biller", biller_id="water")
    page = clerk.get("/console/biller/refunds")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)[1]  # type: ignore[index]
    r = clerk.post(f"/console/biller/refunds/{rid}/approve", data={"csrf_token": csrf})
    assert r.status_code == 200 and "已批准并退款" in r.text
    assert refunds_of(db)[0]["status"] == "approved" and refunds_of(db)[0]["decided_by"] == "water-co"


def refunds_of(db) -> list:  # type: ignore[no-untyped-def]
    with db.read() as c:
        return refunds.list_requests(c, "water")
