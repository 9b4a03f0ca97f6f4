"""账单过期 / Bill expiry on both backends: a bill past its due date and the biller's grace days expires with its
late fee fixed, cannot be paid (a clear error, nothing reserved), waits while a payment is in progress; the
command and the background step do the same."""

from __future__ import annotations

import datetime as dt

import pytest
from typer.testing import CliRunner

from tests.bills.helpers import account, bill_csv, complete, make_biller, sh
from zhifu.bills import expiry
from zhifu.bills import service as bills
from zhifu.core.errors import ConflictError


def _bills(n: int, due: str = "2022-06-30", late_ppm: int = 0) -> bytes:
    return bill_csv(
        [
            {
                "bill_no": f"W{i:04d}",
                "account_no": account(i),
                "payer_name": "张三丰",
                "period": "2022-06",
                "amount_due": "100.00",
                "due_date": due,
                "late_fee_ppm_per_day": late_ppm,
            }
            for i in range(1, n + 1)
        ]
    )


def _status(db, acc: str) -> dict:  # type: ignore[no-untyped-def]
    with db.read() as c:
        rows, _ = bills.list_bills(c, "water", account_no=acc)
    return rows[0]


def test_a_bill_past_due_and_grace_expires_with_its_late_fee_fixed(db, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    make_biller(db, grace_days=10)
    with db.tx() as c:
        bills.import_bills(c, "water", _bills(3, late_ppm=500), filename="june.csv")  # 0.05 % a day
    fixed_clock.set(sh(2022, 7, 10))  # the last payable day (June 30 + 10): still payable, not expired
    with db.tx() as c:
        assert expiry.expire_bills(c)["expired"] == 0
    p = bills.pay(db, bills.PayBillIn(biller_id="water", account_no=account(1), channel="unionpay_qr"))
    assert p["line"]["late_fee_fen"] == 50  # 10 days × 0.05 % of 100.00
    complete(db, p["payment"]["id"])
    fixed_clock.set(sh(2022, 7, 11))
    with db.tx() as c:
        out = expiry.expire_bills(c)
    # bills 2 and 3 expire; each carries 10 days of late fee on 100.00 (the grace), bill 1 is paid
    assert out["expired"] == 2 and out["late_fee_fen"] == 100
    two = _status(db, account(2))
    assert two["status"] == "expired" and two["late_fee_fen"] == 50 and two["outstanding_fen"] == 0
    assert _status(db, account(1))["status"] == "paid"
    with db.tx() as c:  # a second pass changes nothing
        assert expiry.expire_bills(c)["expired"] == 0
    assert _status(db, account(2))["late_fee_fen"] == 50


def test_an_expired_bill_cannot_be_paid(db, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    make_biller(db, grace_days=0)
    with db.tx() as c:
        bills.import_bills(c, "water", _bills(2), filename="june.csv")
    fixed_clock.set(sh(2022, 7, 1))
    # not yet marked by the pass: refused all the same, by its dates, and nothing is reserved
    with pytest.raises(ConflictError) as e:
        bills.pay(db, bills.PayBillIn(biller_id="water", account_no=account(1), channel="unionpay_qr"))
    assert e.value.code == "bill_expired" and "2022-06-30" in e.value.message and "营业厅" in e.value.message
    assert _status(db, account(1))["reserved_fen"] == 0
    with db.tx() as c:
        assert expiry.expire_bills(c)["expired"] == 2
    with db.read() as c:  # the payer's page says so instead of "nothing to pay"
        shown = bills.present(c, "water", account(1))
    assert shown["bills"] == [] and shown["expired_bills"][0]["status"] == "expired"
    with pytest.raises(ConflictError) as e:
        bills.pay(db, bills.PayBillIn(biller_id="water", account_no=account(2), channel="unionpay_qr"))
    assert e.value.code == "bill_expired"
    bill_id = _status(db, account(2))["id"]
    with pytest.raises(ConflictError) as e:
        bills.pay(
            db,
            bills.PayBillIn(biller_id="water", account_no=account(2), bill_id=bill_id, channel="unionpay_qr"),
        )
    assert e.value.code == "bill_expired"


def test_a_bill_with_a_payment_in_progress_waits(db, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    make_biller(db, grace_days=0)
    with db.tx() as c:
        bills.import_bills(c, "water", _bills(1), filename="june.csv")
    fixed_clock.set(sh(2022, 6, 30, 23) + dt.timedelta(minutes=55))
    p = bills.pay(db, bills.PayBillIn(biller_id="water", account_no=account(1), channel="unionpay_qr"))
    fixed_clock.set(sh(2022, 7, 1, 0) + dt.timedelta(minutes=5))
    with db.tx() as c:
        out = expiry.expire_bills(c)
    assert out["expired"] == 0 and out["waiting"] == 1
    complete(db, p["payment"]["id"])  # the payer paid before the deadline: the bill is paid, not expired
    with db.tx() as c:
        assert expiry.expire_bills(c)["expired"] == 0
    assert _status(db, account(1))["status"] == "paid"


def test_the_command_and_the_background_step(db, fixed_clock, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from zhifu.cli import app

    make_biller(db, grace_days=5)
    with db.tx() as c:
        bills.import_bills(c, "water", _bills(2), filename="june.csv")
    fixed_clock.set(sh(2022, 7, 6))
    from zhifu.core.config import get_settings

    monkeypatch.setenv("ZHIFU_DATABASE_URL", db.url)
    get_settings.cache_clear()
    try:
        res = CliRunner().invoke(app, ["bills", "expire"])
    finally:
        monkeypatch.delenv("ZHIFU_DATABASE_URL")
        get_settings.cache_clear()
    assert res.exit_code == 0, res.output
    assert "expired 2 bills" in " ".join(res.output.split())
    assert _status(db, account(1))["status"] == "expired"
    # the background step: a fresh bill of the same account expiring a day later, one pass a day
    with db.tx() as c:
        bills.import_bills(
            c,
            "water",
            bill_csv(
                [
                    {
                        "bill_no": "W9",
                        "account_no": account(3),
                        "payer_name": "李四",
                        "period": "2022-06",
                        "amount_due": "1.00",
                        "due_date": "2022-07-01",
                    }
                ]
            ),
            filename="late.csv",
        )
    fixed_clock.set(sh(2022, 7, 7))
    assert expiry.expire_daily(db) == 1
    assert expiry.expire_daily(db) == 0  # once a day
