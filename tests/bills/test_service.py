"""Public-service payments on both backends: billers, account numbers, bill import, presentment, paying by every
rule, no double payment, receipts, the biller's files, settlement and return-file reconciliation."""

from __future__ import annotations

import io
import json

import openpyxl
import pytest

from tests.bills.helpers import account, bill_csv, complete, make_biller, month_of_bills, sh
from zhifu import ledger
from zhifu.bills import service as bills
from zhifu.bills.importer import BillFileRefused
from zhifu.core.errors import ConflictError, InvalidRequest, NotFound


def _import(db, data: bytes, biller: str = "water", name: str = "june.csv") -> dict:  # type: ignore[no-untyped-def]
    with db.tx() as c:
        return bills.import_bills(c, biller, data, filename=name)


def _pay(db, acc: str, biller: str = "water", **kw) -> dict:  # type: ignore[no-untyped-def]
    if "auth_code" not in kw:
        kw.setdefault("channel", "unionpay_qr")
    return bills.pay(db, bills.PayBillIn(biller_id=biller, account_no=acc, **kw))


def _present(db, acc: str, biller: str = "water") -> dict:  # type: ignore[no-untyped-def]
    with db.read() as c:
        return bills.present(c, biller, acc)


def _verify_ledger(db) -> None:  # type: ignore[no-untyped-def]
    with db.tx() as c:
        assert ledger.verify(c) == []


def test_account_numbers_are_checked_and_near_misses_suggested(db, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    make_biller(db)
    _import(db, month_of_bills(3))
    good = account(2)
    with pytest.raises(InvalidRequest) as e:
        _present(db, good[:-1])
    assert e.value.param == "account_no" and "10" in e.value.message
    wrong_check = good[:-1] + str((int(good[-1]) + 1) % 10)
    with pytest.raises(InvalidRequest) as e:
        _present(db, wrong_check)
    assert e.value.code == "invalid_account_no"
    # a valid number one digit away from a known one: not found, with the suggestion
    typo = bills.luhn_complete(good[:4] + str((int(good[4]) + 1) % 10) + good[5:9])
    with db.read() as c:
        assert good in bills._suggest(c, bills._biller(c, "water"), good[:4] + "9" + good[5:])  # noqa: SLF001
    with pytest.raises(NotFound) as e:
        _present(db, typo)
    assert e.value.param == "account_no"
    shown = _present(db, good)
    assert shown["bills"][0]["outstanding_fen"] == 4560 and shown["payer_name"] == "张*丰"


def test_import_is_whole_or_nothing_naming_line_and_field(db, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    make_biller(db)
    rows = [
        {
            "bill_no": "B1",
            "account_no": account(1),
            "payer_name": "王五",
            "period": "2022-06",
            "amount_due": "30.00",
            "due_date": "2022-06-30",
        },
        {
            "bill_no": "B2",
            "account_no": account(2),
            "payer_name": "赵六",
            "period": "2022-06",
            "amount_due": "30.001",
            "due_date": "2022-06-30",
        },
        {
            "bill_no": "B1",
            "account_no": account(3),
            "payer_name": "钱七",
            "period": "2022-06",
            "amount_due": "12.00",
            "due_date": "2022-13-01",
        },
    ]
    with pytest.raises(BillFileRefused) as e:
        _import(db, bill_csv(rows))
    faults = [(f.line, f.field) for f in e.value.faults]
    assert sorted(faults) == [(3, "amount_due"), (4, "bill_no"), (4, "due_date")]
    assert "line 3, amount_due" in e.value.faults[0].text()
    with db.read() as c:
        assert bills.list_bills(c, "water")[0] == []  # nothing half-imported
    with pytest.raises(BillFileRefused) as e:
        _import(db, b"bill_no,acct,payer_name\nB1,1,x\n")
    assert e.value.faults[0].field == "header" and "acct" in e.value.faults[0].message
    report = _import(db, bill_csv(rows[:1]))
    assert report["accepted"] == 1 and report["lines"][0]["line"] == 2 and report["encoding"] == "utf-8"
    with pytest.raises(ConflictError):
        _import(db, bill_csv(rows[:1]))  # the same file twice
    with pytest.raises(BillFileRefused) as e:
        _import(db, bill_csv([{**rows[0], "amount_due": "1.00", "account_no": account(9)}]) + b"\n")
    assert e.value.faults[0].field == "bill_no" and "before" in e.value.faults[0].message


def test_gbk_files_are_read_and_garbled_text_is_refused(db, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    make_biller(db)
    text = month_of_bills(2).decode()
    report = _import(db, text.encode("gbk"), name="gbk.csv")
    assert report["encoding"] == "gbk" and report["accepted"] == 2
    with db.read() as c:
        assert bills.present(c, "water", account(1))["payer_name"] == "张*丰"
    garbled = month_of_bills(1, start=5, period="2022-07").decode().replace("张三丰", "锟斤拷").encode()
    with pytest.raises(BillFileRefused) as e:
        _import(db, garbled)
    assert e.value.faults[0].field == "payer_name" and "GBK" in e.value.faults[0].message
    with pytest.raises(BillFileRefused) as e:
        _import(db, b"\xff\xfe\x00bill_no")
    assert e.value.faults[0].field == "file"
    with pytest.raises(BillFileRefused) as e:
        _import(db, b"x" * (16 * 1024 * 1024 + 1))
    assert "MB" in e.value.faults[0].message


def test_xlsx_import(db, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    make_biller(db)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["账单号", "户号", "户名", "账期", "应缴金额", "缴费截止日"])
    ws.append(["X1", account(1), "孙八", "2022-06", 88.8, "2022-06-30"])
    ws.append(["X2", account(2), "周九", "2022-06", 12, "2022-06-30"])
    out = io.BytesIO()
    wb.save(out)
    report = _import(db, out.getvalue(), name="june.xlsx")
    assert report["encoding"] == "xlsx" and report["total_fen"] == 8880 + 1200


def test_exact_bill_paid_once_with_receipt_and_biller_booking(db, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    b = make_biller(db, fee_ppm=2000)
    _import(db, month_of_bills(2))
    acc = account(1)
    first = _pay(db, acc, payer_phone="13700001111")
    assert first["line"]["status"] == "pending" and first["bill"]["in_progress"]
    with pytest.raises(ConflictError) as e:  # a second phone while the first is open
        _pay(db, acc, channel="wechat")
    assert e.value.code == "bill_payment_in_progress"
    with pytest.raises(InvalidRequest) as e:
        _pay(db, account(2), amount_fen=1000)
    assert e.value.code == "amount_not_exact"
    done = complete(db, first["payment"]["id"])
    assert done["status"] == "succeeded"
    shown = _present(db, acc)
    assert shown["bills"] == [] and shown["paid_bills"] == 1
    with pytest.raises(ConflictError) as e:
        _pay(db, acc)
    assert e.value.code == "bill_already_paid"
    with db.read() as c:
        assert (
            ledger.get_balance(c, "biller_payable:water").posted_fen == 4560 - 9
        )  # 0.2 % of 45.60 to the biller
        assert ledger.get_balance(c, f"merchant_payable:{b['merchant_id']}").posted_fen == 0
        line = bills.history(c, "13700001111")[0]
        rec = bills.verify_receipt(c, line["receipt_no"])
    assert rec["genuine"] and rec["receipt"]["body"]["amount_fen"] == 4560
    assert rec["receipt"]["body"]["account_masked"] != acc
    _verify_ledger(db)


def test_receipts_detect_alteration_and_are_reissued_on_refund(db, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    make_biller(db)
    _import(db, month_of_bills(1))
    p = _pay(db, account(1))
    complete(db, p["payment"]["id"])
    with db.read() as c:
        no = bills.find_lines(c, "water")[0]["receipt_no"]
        r = bills.get_receipt(c, no)
        altered = {**r["body"], "amount_fen": 1}
        assert bills.verify_receipt(c, no, body=altered)["reason"] == "altered"
        assert (
            bills.verify_receipt(
                c, no, signature=("B" if r["signature"][0] != "B" else "C") + r["signature"][1:]
            )["genuine"]
            is False
        )
        assert bills.verify_receipt(c, "Rnope")["reason"] == "unknown_receipt"
    with db.tx() as c:
        out = bills.refund_line(c, "water", p["payment"]["id"], reason="户号已销户 / account closed")
    with db.read() as c:
        old = bills.verify_receipt(c, no)
        new = bills.verify_receipt(c, out["receipt_no"])
        again = bills.present(c, "water", account(1))
    assert old["genuine"] and old["replaced_by"] == out["receipt_no"]
    assert (
        new["genuine"]
        and new["receipt"]["body"]["replaces"] == no
        and new["receipt"]["body"]["refunded_fen"] == 4560
    )
    assert again["bills"][0]["status"] == "unpaid"
    from tests.rails_support import pump as pump_notifications

    pump_notifications(db)
    _verify_ledger(db)
    with db.read() as c:
        assert ledger.get_balance(c, "biller_payable:water").posted_fen == 0


def test_partial_payments_with_a_minimum(db, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    make_biller(
        db, "heating", name="沂源县热力公司", category="heating", partial_allowed=True, check_digit="none"
    )
    rows = [
        {
            "bill_no": "H1",
            "account_no": "1234567890",
            "payer_name": "吴十",
            "period": "2022",
            "amount_due": "2000.00",
            "min_due": "500.00",
            "due_date": "2022-11-15",
        }
    ]
    _import(db, bill_csv(rows), biller="heating")
    with pytest.raises(InvalidRequest) as e:
        _pay(db, "1234567890", biller="heating", amount_fen=40_000)
    assert e.value.code == "amount_below_minimum" and e.value.param == "amount_fen"
    with pytest.raises(InvalidRequest) as e:
        _pay(db, "1234567890", biller="heating", amount_fen=300_000)
    assert e.value.code == "amount_above_due"
    a = _pay(db, "1234567890", biller="heating", amount_fen=50_000)
    b = _pay(
        db, "1234567890", biller="heating", amount_fen=100_000, channel="alipay"
    )  # two at once, within due
    with pytest.raises(InvalidRequest):  # 500 + 1000 reserved: 600 more would pass the 2000 due
        _pay(db, "1234567890", biller="heating", amount_fen=60_000)
    complete(db, a["payment"]["id"])
    complete(db, b["payment"]["id"])
    shown = _present(db, "1234567890", "heating")["bills"][0]
    assert (shown["status"], shown["paid_fen"], shown["outstanding_fen"]) == (
        "partially_paid",
        150_000,
        50_000,
    )
    c = _pay(
        db, "1234567890", biller="heating", amount_fen=1_000
    )  # once the minimum is met, any part above 1 yuan
    complete(db, c["payment"]["id"])
    c = _pay(db, "1234567890", biller="heating")  # the rest
    complete(db, c["payment"]["id"])
    assert _present(db, "1234567890", "heating")["bills"] == []


def test_overpayment_becomes_credit_on_the_next_bill(db, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    make_biller(db, "gas", name="沂源县燃气公司", category="gas", overpay_allowed=True, check_digit="none")
    _import(
        db,
        bill_csv(
            [
                {
                    "bill_no": "G1",
                    "account_no": "5550000001",
                    "payer_name": "郑一",
                    "period": "2022-06",
                    "amount_due": "80.00",
                    "due_date": "2022-06-30",
                }
            ]
        ),
        biller="gas",
    )
    p = _pay(db, "5550000001", biller="gas", amount_fen=10_000)
    complete(db, p["payment"]["id"])
    shown = _present(db, "5550000001", "gas")
    assert shown["credit_fen"] == 2_000 and shown["bills"] == []
    report = _import(
        db,
        bill_csv(
            [
                {
                    "bill_no": "G2",
                    "account_no": "5550000001",
                    "payer_name": "郑一",
                    "period": "2022-07",
                    "amount_due": "50.00",
                    "due_date": "2022-07-31",
                }
            ]
        ),
        biller="gas",
        name="july.csv",
    )
    assert report["credit_applied_fen"] == 2_000
    shown = _present(db, "5550000001", "gas")
    assert shown["bills"][0]["outstanding_fen"] == 3_000 and shown["credit_fen"] == 0


def test_direct_pay_and_released_reservations(db, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    make_biller(db, "power", name="国网沂源县供电公司", category="power", adhoc=True, check_digit="none")
    with pytest.raises(InvalidRequest):
        _pay(db, "8800000001", biller="power")
    p = _pay(db, "8800000001", biller="power", amount_fen=10_000, auth_code="6212345678901234561")
    assert p["payment"]["status"] == "succeeded" and p["line"]["status"] == "succeeded"
    make_biller(db, "water")
    _import(db, month_of_bills(1))
    declined = _pay(db, account(1), auth_code="6212345678901234568")  # the payer's bank declines
    assert declined["payment"]["status"] == "failed" and declined["line"]["status"] == "released"
    open_one = _pay(db, account(1))
    fixed_clock.advance(seconds=901)  # its order expires unpaid
    from zhifu.payments import expire_due

    expire_due(db)
    paid = _pay(db, account(1))  # the expired reservation no longer blocks
    complete(db, paid["payment"]["id"])
    with db.tx() as c:
        assert bills.sweep(c) == 0
        lines = {x["payment_id"]: x["status"] for x in bills.find_lines(c, "water")}
    assert open_one["payment"]["id"] not in lines and lines[paid["payment"]["id"]] == "succeeded"
    _verify_ledger(db)


def test_files_settlement_and_return_reconciliation(db, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    make_biller(db)
    _import(db, month_of_bills(4))
    ids = []
    for i in range(1, 4):
        p = _pay(db, account(i), channel=["unionpay_qr", "wechat", "alipay"][i - 1])
        complete(db, p["payment"]["id"])
        ids.append(p["payment"]["id"])
    day = sh(2022, 6, 15).date()
    with db.read() as c:
        data, name = bills.payment_file(c, "water", day, "csv")
        fixed, _ = bills.payment_file(c, "water", day, "fixed")
    assert name.endswith("_payments.csv") and data.decode().count("\r\n") == 4
    widths = sum(w for _, w in bills.FIXED_WIDTH) + len(bills.FIXED_WIDTH) - 1
    assert all(len(line) == widths for line in fixed.split(b"\r\n")[:-1])
    assert "沂源县供水公司" in fixed.split(b"\r\n")[0].decode("gbk")
    fixed_clock.advance(days=1)
    with db.tx() as c:
        s = bills.settle(c, "water", day)
        assert bills.settle(c, "water", day)["id"] == s["id"]  # once per date
    with db.read() as c:
        assert s["amount_fen"] == 3 * 4560 and s["payments"] == 3
        assert ledger.get_balance(c, "biller_payable:water").posted_fen == 0
    ret = (
        "payment_id,bill_no,amount_fen,result\n"
        + "\n".join(f"{pid},x,{4560 if k else 4500},applied" for k, pid in enumerate(ids[:2]))
        + "\npay_unknown,Z,100,rejected\n"
    )
    with db.tx() as c:
        out = bills.import_return_file(c, "water", day, ret.encode())
        cases = bills.list_cases(c, "water")
    assert (out["ours"], out["matched"], out["differences"]) == (3, 1, 3)
    assert sorted(x["kind"] for x in cases) == ["amount_mismatch", "missing_in_return", "unknown_in_return"]
    with db.read() as c:
        figs = bills.public_service_figures(c)
    assert figs["count"] == 3 and figs["by_category"][0]["category"] == "water"
    assert {x["channel"] for x in figs["by_channel"]} == {"unionpay_qr", "wechat", "alipay"}
    _verify_ledger(db)


@pytest.mark.pg
def test_two_phones_race_on_one_bill(db, fixed_clock, backend) -> None:  # type: ignore[no-untyped-def]
    """Many payers at once on one exact bill: one reservation, every other one refused, on both backends."""
    import concurrent.futures

    make_biller(db)
    _import(db, month_of_bills(1))

    def attempt(k: int) -> str:
        try:
            r = db.run(
                lambda c: bills.pay_bill(
                    c,
                    bills.PayBillIn(
                        biller_id="water", account_no=account(1), channel=["unionpay_qr", "wechat"][k % 2]
                    ),
                )
            )
            return r["payment"]["id"]
        except ConflictError as exc:
            return exc.code

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(attempt, range(16)))
    won = [r for r in results if r.startswith("pay_")]
    assert len(won) == 1, results
    assert set(results) - set(won) <= {"bill_payment_in_progress", "bill_changed"}
    complete(db, won[0])
    with db.read() as c:
        bill = bills.list_bills(c, "water")[0][0]
    assert (bill["status"], bill["paid_fen"], bill["reserved_fen"]) == ("paid", 4560, 0)
    _verify_ledger(db)


def test_households_link_accounts_to_a_phone(db, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    make_biller(db)
    _import(db, month_of_bills(2))
    with db.tx() as c:
        bills.link_household(c, "13600001234", "water", account(2), "父母家")
        bills.link_household(c, "13600001234", "water", account(2), "父母家")
        with pytest.raises(InvalidRequest):
            bills.link_household(c, "1360000", "water", account(2))
    with db.read() as c:
        saved = bills.households(c, "13600001234")
    assert len(saved) == 1 and saved[0]["outstanding_fen"] == 4560
    assert json.dumps(saved, default=str)
