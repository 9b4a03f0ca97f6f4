"""Non-tax payment codes on both backends: the finance bureau issues a 16-digit code, the payer pays it once
within its validity, the payment gets a fiscal e-receipt record, and the bureau exports the records as CSV, XLSX,
JSON and XML; unknown, mistyped, expired and paid codes and bad issues are refused naming the field."""

from __future__ import annotations

import datetime as dt
import io
import json
from xml.etree import ElementTree as ET

import openpyxl
import pytest
from sqlalchemy import func, select

from tests.bills.helpers import complete, make_biller
from zhifu import ledger
from zhifu.bills import nontax
from zhifu.bills.gov_models import fiscal_receipts, nontax_codes
from zhifu.bills.models import bills
from zhifu.core.errors import ConflictError, InvalidRequest, NotFound

FINANCE = "finance"


def finance(db):  # type: ignore[no-untyped-def]
    return make_biller(
        db,
        FINANCE,
        name="沂源县财政局",
        category="tax",
        account_len_min=16,
        account_len_max=16,
        multiple_payments=False,
    )


def code(n: int) -> str:
    return nontax.code_complete(f"37032322{n:07d}")


def issue(db, n: int = 1, **kw) -> dict:  # type: ignore[no-untyped-def]
    doc = {
        "biller_id": FINANCE,
        "code": code(n),
        "payer_name": "张三丰",
        "collector": "沂源县自然资源局",
        "items": [
            {
                "code": "103050101",
                "name": "不动产登记费",
                "unit": "件",
                "quantity": 1,
                "standard_fen": 8_000,
                "amount_fen": 8_000,
            },
            {
                "code": "103050102",
                "name": "工本费",
                "unit": "本",
                "quantity": 2,
                "standard_fen": 1_000,
                "amount_fen": 2_000,
            },
        ],
        "amount_fen": 10_000,
        "valid_until": "2022-06-30",
    }
    doc.update(kw)
    with db.tx() as c:
        return nontax.issue_code(c, nontax.CodeIn(**doc))


def _counts(db) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    with db.read() as c:
        return tuple(  # type: ignore[return-value]
            c.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (nontax_codes, bills, fiscal_receipts)
        )


def test_amount_in_words() -> None:
    assert nontax.amount_in_words(123456) == "壹仟贰佰叁拾肆元伍角陆分"
    assert nontax.amount_in_words(10000) == "壹佰元整"
    assert nontax.amount_in_words(1005) == "壹拾元零伍分"
    assert nontax.amount_in_words(100500) == "壹仟零伍元整"
    assert nontax.amount_in_words(1_000_000_100) == "壹仟万零壹元整"
    assert nontax.amount_in_words(50) == "伍角整"


def test_a_code_is_paid_once_and_gets_its_fiscal_receipt(db, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    finance(db)
    shown = issue(db)
    assert shown["state"] == "unpaid" and shown["payer_name"] == "张*丰" and shown["amount_fen"] == 10_000
    out = nontax.pay_code(
        db, nontax.PayCodeIn(code=code(1), channel="unionpay_qr", payer_phone="13912345678")
    )
    assert out["state"] == "paying" and out["payment"]["amount_fen"] == 10_000
    with pytest.raises(ConflictError) as e:  # a second phone while the first is open
        nontax.pay_code(db, nontax.PayCodeIn(code=code(1), channel="wechat"))
    assert e.value.param == "code"
    complete(db, out["payment"]["id"])
    with db.read() as c:
        paid = nontax.get_code(c, code(1))
        fr = paid["fiscal_receipt"]
        assert paid["state"] == "paid"
        assert (
            fr["receipt_code"] == "37010122"
            and fr["receipt_no"] == "0000000001"
            and len(fr["check_code"]) == 6
        )
        assert (
            fr["total_fen"] == 10_000 and fr["total_in_words"] == "壹佰元整" and fr["payee"] == "沂源县财政局"
        )
        assert fr["payment_id"] == out["payment"]["id"] and fr["issue_date"] == dt.date(2022, 6, 15)
        assert ledger.get_balance(c, "biller_payable:finance").posted_fen == 10_000
    with pytest.raises(ConflictError) as e:
        nontax.pay_code(db, nontax.PayCodeIn(code=code(1), channel="wechat"))
    assert e.value.code == "code_paid" and e.value.param == "code"
    # a second code paid by pay code at the counter: the next receipt number
    issue(
        db,
        2,
        amount_fen=8_000,
        items=[{"code": "103", "name": "考试费", "standard_fen": 8_000, "amount_fen": 8_000}],
    )
    counter = nontax.pay_code(
        db, nontax.PayCodeIn(code=code(2), auth_code="6212345678901234561", via="counter")
    )
    assert counter["state"] == "paid" and counter["fiscal_receipt"]["receipt_no"] == "0000000002"
    with db.read() as c:
        data, media, name, n = nontax.export_receipts(
            c, FINANCE, dt.date(2022, 6, 1), dt.date(2022, 6, 30), "csv"
        )
        text = data.decode("utf-8-sig")
        head = text.splitlines()[0].split(",")
        assert n == 2 and head[:5] == ["票据名称", "票据代码", "票据号码", "校验码", "开票日期"]
        assert "项目编码" in head and "张三丰" in text and text.count("\r\n") == 4  # header + 3 items
        xlsx, _, _, _ = nontax.export_receipts(c, FINANCE, dt.date(2022, 6, 1), dt.date(2022, 6, 30), "xlsx")
        ws = openpyxl.load_workbook(io.BytesIO(xlsx)).active
        rows = list(ws.iter_rows(values_only=True))
        assert rows[0][1] == "票据代码" and len(rows) == 4 and rows[1][7] == "100.00"
        js, _, _, _ = nontax.export_receipts(c, FINANCE, dt.date(2022, 6, 1), dt.date(2022, 6, 30), "json")
        doc = json.loads(js)["EInvoices"]
        assert [d["EInvoiceNumber"] for d in doc] == ["0000000001", "0000000002"]
        assert doc[0]["Items"][1]["ItemQuantity"] == "2" and doc[0]["TotalAmountInWords"] == "壹佰元整"
        xml, media, _, _ = nontax.export_receipts(
            c, FINANCE, dt.date(2022, 6, 1), dt.date(2022, 6, 30), "xml"
        )
        root = ET.fromstring(xml)
        assert root.get("count") == "2" and root.find("EInvoice/PayerPartyName").text == "张三丰"
        assert media.startswith("application/xml")
        empty, _, _, none = nontax.export_receipts(
            c, FINANCE, dt.date(2022, 7, 1), dt.date(2022, 7, 31), "csv"
        )
        assert none == 0 and empty.decode("utf-8-sig").count("\r\n") == 1
        with pytest.raises(InvalidRequest) as e:
            nontax.export_receipts(c, FINANCE, dt.date(2022, 6, 1), dt.date(2022, 6, 30), "pdf")
        assert e.value.param == "format"


def test_codes_refused_outside_validity_or_unknown(db, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    finance(db)
    issue(db, 1, valid_from="2022-06-20", valid_until="2022-06-30")
    issue(db, 2, valid_until="2022-06-16")
    before = _counts(db)
    with pytest.raises(ConflictError) as e:
        nontax.pay_code(db, nontax.PayCodeIn(code=code(1), channel="wechat"))
    assert e.value.code == "code_not_yet_valid" and e.value.param == "code"
    fixed_clock.advance(days=2)
    with pytest.raises(ConflictError) as e:
        nontax.pay_code(db, nontax.PayCodeIn(code=code(2), channel="wechat"))
    assert e.value.code == "payment_code_expired" and "2022-06-16" in e.value.message
    with pytest.raises(NotFound) as e:
        nontax.pay_code(db, nontax.PayCodeIn(code=code(9), channel="wechat"))
    assert e.value.param == "code"
    typo = code(1)[:5] + str((int(code(1)[5]) + 1) % 10) + code(1)[6:]
    with pytest.raises(InvalidRequest) as e:
        nontax.pay_code(db, nontax.PayCodeIn(code=typo, channel="wechat"))
    assert e.value.code == "code_check_digit"
    with pytest.raises(InvalidRequest) as e:
        nontax.pay_code(db, nontax.PayCodeIn(code="12345", channel="wechat"))
    assert e.value.code == "code_format"
    assert _counts(db) == before


def test_bad_issues_name_the_field_and_change_nothing(db, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    finance(db)
    make_biller(db, "water")
    issue(db, 1)
    before = _counts(db)
    bad_item = [{"code": "1", "name": "费", "quantity": 2, "standard_fen": 500, "amount_fen": 900}]
    cases = [
        ({"code": code(1)}, ConflictError, "code"),  # issued already
        ({"code": code(3)[:-1] + str((int(code(3)[-1]) + 1) % 10)}, InvalidRequest, "code"),
        ({"code": code(3), "amount_fen": 9_999}, InvalidRequest, "amount_fen"),
        ({"code": code(3), "items": bad_item, "amount_fen": 900}, InvalidRequest, "items[0].amount_fen"),
        ({"code": code(3), "valid_until": "2022-06-01"}, InvalidRequest, "valid_until"),
        (
            {"code": code(3), "valid_from": "2022-07-01", "valid_until": "2022-06-30"},
            InvalidRequest,
            "valid_until",
        ),
        ({"code": code(3), "valid_until": "2023-12-31"}, InvalidRequest, "valid_until"),
        ({"code": code(3), "biller_id": "water"}, InvalidRequest, "biller_id"),
        ({"code": code(3), "biller_id": "nobody"}, NotFound, "biller_id"),
    ]
    for kw, exc, param in cases:
        with pytest.raises(exc) as e:
            issue(db, **kw)
        assert e.value.param == param, (kw, e.value.message)
        assert "/" in e.value.message
    assert _counts(db) == before


def test_a_file_of_codes_is_issued_whole_or_not_at_all(db, fixed_clock) -> None:  # type: ignore[no-untyped-def]
    finance(db)
    head = "缴款码,交款人,执收单位,项目编码,项目名称,单位,数量,标准,金额,有效期止"
    good = [
        f"{code(11)},张三丰,县自然资源局,103050101,不动产登记费,件,1,80.00,80.00,2022-06-30",
        f"{code(11)},张三丰,县自然资源局,103050102,工本费,本,2,10.00,20.00,2022-06-30",
        f"{code(12)},李四,县公安局,103010101,居民身份证工本费,证,1,20.00,20.00,2022-07-15",
    ]
    bad = [
        *good,
        f"{code(13)[:-1]}{(int(code(13)[-1]) + 1) % 10},王五,县公安局,1,费,次,1,5.00,5.00,2022-07-15",
        f"{code(14)},赵六,县公安局,1,费,次,1,5.00,5.0x,2022-07-15",
        f"{code(12)},李四,县教育局,1,费,次,1,5.00,5.00,2022-07-15",  # the same code for another collector
    ]
    before = _counts(db)
    with pytest.raises(nontax.CodeFileRefused) as e:
        with db.tx() as c:
            nontax.import_codes(c, FINANCE, "\n".join([head, *bad]).encode("gbk"), filename="codes.csv")
    got = {(f.line, f.field) for f in e.value.faults}
    assert got == {(5, "code"), (6, "amount"), (7, "collector")}, e.value.faults
    assert _counts(db) == before
    with pytest.raises(nontax.CodeFileRefused) as e:
        with db.tx() as c:
            nontax.import_codes(c, FINANCE, b"code,payer_name\n1,2\n", filename="codes.csv")
    assert {f.field for f in e.value.faults} >= {"collector", "amount", "valid_until"}
    with db.tx() as c:
        out = nontax.import_codes(c, FINANCE, "\n".join([head, *good]).encode("gbk"), filename="codes.csv")
    assert (out["codes"], out["total_fen"], out["encoding"]) == (2, 12_000, "gbk")
    with db.read() as c:
        two = nontax.get_code(c, code(11))
    assert two["amount_fen"] == 10_000 and [i["quantity"] for i in two["items"]] == [1, 2]
