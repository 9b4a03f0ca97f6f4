"""Non-tax revenue by payment code (非税收入缴款码): the finance bureau issues a 16-digit code for a payer, its
items and amount and a validity; the payer pays it once within its validity; each paid code gets a fiscal
e-receipt record (财政电子票据) exported for the finance bureau as CSV, XLSX, JSON or XML.

Design note. A code is a bill of the finance bureau's biller (account number and bill number: the code; amount
exact; due: the last valid day), so paying it is `service.pay_bill` with the bill's race-safe reservation, and
its e-receipt, payment file, settlement and the regulator's figures (category `tax`) are the bills' own. The code's
16th digit is a Luhn (ISO/IEC 7812-1 mod 10) check digit over the first 15, so one mistyped digit or two swapped
neighbours are caught before anything is looked up. The fiscal e-receipt record is written in the payment's own
transaction by `on_payment_succeeded` (bills' `PaymentSucceeded` subscriber): 票据代码 = province (2 digits of the
biller's area code) + 01 (non-tax revenue) + 01 (general receipt) + year (2 digits); 票据号码 = a 10-digit
sequence per 票据代码; 校验码 = the first 6 hex digits (upper case) of SHA-256 over the record's fields."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import re
from typing import Any, Literal
from xml.etree import ElementTree as ET

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError
from sqlalchemy import Connection, and_, func, insert, select, update

from zhifu import privacy
from zhifu.bills import importer, service
from zhifu.bills.gov_models import fiscal_receipt_counters, fiscal_receipts, nontax_codes
from zhifu.bills.models import BillStatus, LineStatus, bill_lines, bills
from zhifu.core import clock
from zhifu.core.clock import SHANGHAI
from zhifu.core.dates import parse_date
from zhifu.core.errors import ConflictError, InvalidRequest, NotFound
from zhifu.core.ids import new_id_fast
from zhifu.core.money import check_fen, fen_to_yuan_str, parse_yuan
from zhifu.db import Database

CODE_RE = re.compile(r"[0-9]{16}")
ITEMS_MAX = 20  # a 缴款书 lists a handful of items; more is a malformed request
VALIDITY_DAYS_MAX = 366  # a code outliving a year is an old fee nobody collects; the bureau issues a new one
LIST_MAX = 200
RECEIPT_CLASS = "01"  # 非税收入类
RECEIPT_KIND = "01"  # 非税收入通用票据
RECEIPT_NAME = "非税收入通用票据"
EXPORT_FORMATS = ("csv", "xlsx", "json", "xml")


def code_complete(body15: str) -> str:
    """The 16-digit code for a 15-digit body: the body and its Luhn check digit."""
    assert len(body15) == 15 and body15.isdigit(), body15
    return service.luhn_complete(body15)


def check_code(value: str, *, param: str = "code") -> str:
    code = "".join(str(value).split())
    if not CODE_RE.fullmatch(code):
        raise InvalidRequest(
            f"缴款码须为 16 位数字（收到 {len(code)} 位）/ {param} must be 16 digits",
            param=param,
            code="code_format",
        )
    if not service.luhn_ok(code):
        raise InvalidRequest(
            "缴款码校验位不符，可能输错了一位或颠倒了两位 / the code's check digit does not match: a digit is "
            "probably mistyped",
            param=param,
            code="code_check_digit",
        )
    return code


# ---------------------------------------------------------------- issuing


class ItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: str = Field(min_length=1, max_length=20)  # 项目编码
    name: str = Field(min_length=1, max_length=60)  # 项目名称
    unit: str = Field(default="次", min_length=1, max_length=10)  # 单位
    quantity: StrictInt = 1  # 数量
    standard_fen: StrictInt  # 标准
    amount_fen: StrictInt  # 金额


class CodeIn(BaseModel):
    """A payment code as the finance bureau issues it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    biller_id: str = Field(min_length=1, max_length=40)
    code: str = Field(min_length=1, max_length=20)
    payer_name: str = Field(min_length=1, max_length=50)  # 交款人
    collector: str = Field(min_length=1, max_length=100)  # 执收单位
    items: list[ItemIn] = Field(min_length=1, max_length=ITEMS_MAX)
    amount_fen: StrictInt
    valid_from: dt.date | None = None  # default: the day it is issued
    valid_until: dt.date


def _finance(conn: Connection, biller_id: str) -> Any:
    b = service._biller(conn, biller_id)
    if b.category != "tax":
        raise InvalidRequest(
            f"{b.name}不收非税收入 / biller {b.id} does not collect tax or non-tax revenue",
            param="biller_id",
            code="not_finance_bureau",
        )
    if b.adhoc or not (b.account_len_min <= 16 <= b.account_len_max):
        raise InvalidRequest(
            f"{b.name}的户号格式不收 16 位缴款码 / biller {b.id} does not take 16-digit payment codes",
            param="biller_id",
            code="not_finance_bureau",
        )
    return b


def issue_code(conn: Connection, req: CodeIn, *, at: dt.datetime | None = None) -> dict[str, Any]:
    """Record a code and its bill; refused whole, naming the field, when anything does not add up."""
    at = at or clock.now()
    b, code, valid_from = _checked(conn, req, at)
    _write(conn, b, req, code, valid_from, at)
    return get_code(conn, code, at=at)


def _checked(conn: Connection, req: CodeIn, at: dt.datetime) -> tuple[Any, str, dt.date]:
    """Every rule a code must meet, before anything is written: (biller, code, valid_from)."""
    today = at.astimezone(SHANGHAI).date()
    code = check_code(req.code)
    for i, it in enumerate(req.items):
        if it.quantity < 1:
            raise InvalidRequest("数量须至少为 1 / quantity must be at least 1", param=f"items[{i}].quantity")
        check_fen(it.standard_fen, param=f"items[{i}].standard_fen")
        check_fen(it.amount_fen, param=f"items[{i}].amount_fen")
        if it.amount_fen != it.quantity * it.standard_fen:
            raise InvalidRequest(
                f"第 {i + 1} 项金额 {fen_to_yuan_str(it.amount_fen)} 不等于数量 × 标准 "
                f"{fen_to_yuan_str(it.quantity * it.standard_fen)} / items[{i}].amount_fen is not quantity × "
                "standard",
                param=f"items[{i}].amount_fen",
                code="item_amount_mismatch",
            )
    check_fen(req.amount_fen, param="amount_fen")
    total = sum(it.amount_fen for it in req.items)
    if req.amount_fen != total:
        raise InvalidRequest(
            f"合计金额 {fen_to_yuan_str(req.amount_fen)} 不等于各项之和 {fen_to_yuan_str(total)} 元 / amount_fen "
            f"is not the sum of the items ({fen_to_yuan_str(total)} yuan)",
            param="amount_fen",
            code="total_mismatch",
        )
    valid_from = req.valid_from or today
    if req.valid_until < valid_from:
        raise InvalidRequest(
            "有效期止早于有效期起 / valid_until is before valid_from", param="valid_until", code="validity"
        )
    if req.valid_until < today:
        raise InvalidRequest(
            f"有效期止 {req.valid_until} 已过 / valid_until {req.valid_until} has passed",
            param="valid_until",
            code="validity",
        )
    if (req.valid_until - valid_from).days > VALIDITY_DAYS_MAX:
        raise InvalidRequest(
            f"有效期不得超过 {VALIDITY_DAYS_MAX} 天 / a code is valid for at most {VALIDITY_DAYS_MAX} days",
            param="valid_until",
            code="validity",
        )
    b = _finance(conn, req.biller_id)
    service.check_account(b, code, param="code")
    taken = conn.execute(
        select(nontax_codes.c.code).where(
            and_(nontax_codes.c.merchant_id == b.merchant_id, nontax_codes.c.code == code)
        )
    ).first()
    if taken is not None:
        raise ConflictError(f"缴款码 {code} 已存在 / code {code} exists", param="code", code="code_exists")
    return b, code, valid_from


def _write(conn: Connection, b: Any, req: CodeIn, code: str, valid_from: dt.date, at: dt.datetime) -> None:
    bill_id = new_id_fast("bil", int(at.timestamp() * 1000))
    conn.execute(
        insert(bills),
        [
            {
                "merchant_id": b.merchant_id,
                "id": bill_id,
                "biller_id": b.id,
                "bill_no": code,
                "account_no": code,
                "payer_name_enc": privacy.encrypt(req.payer_name),
                "payer_name_masked": service.mask_name(req.payer_name),
                "period": f"非税 {valid_from:%Y-%m}",
                "amount_due_fen": req.amount_fen,
                "min_due_fen": req.amount_fen,
                "due_date": req.valid_until,
                "late_fee_ppm_per_day": 0,
                "credit_applied_fen": 0,
                "late_fee_fen": 0,
                "paid_fen": 0,
                "reserved_fen": 0,
                "open_payments": 0,
                "status": BillStatus.UNPAID,
                "import_id": None,
                "created_at": at,
                "updated_at": at,
            }
        ],
    )
    items = [it.model_dump() for it in req.items]
    conn.execute(
        insert(nontax_codes),
        [
            {
                "merchant_id": b.merchant_id,
                "code": code,
                "biller_id": b.id,
                "bill_id": bill_id,
                "payer_name_enc": privacy.encrypt(req.payer_name),
                "payer_name_masked": service.mask_name(req.payer_name),
                "collector": req.collector,
                "items": json.dumps(items, ensure_ascii=False),
                "amount_fen": req.amount_fen,
                "valid_from": valid_from,
                "valid_until": req.valid_until,
                "created_at": at,
            }
        ],
    )


# ---------------------------------------------------------------- a file of codes

IMPORT_COLUMNS = {  # the file's headers (Chinese or English) and the field each fills
    "缴款码": "code",
    "交款人": "payer_name",
    "执收单位": "collector",
    "项目编码": "item_code",
    "项目名称": "item_name",
    "单位": "unit",
    "数量": "quantity",
    "标准": "standard",
    "金额": "amount",
    "有效期起": "valid_from",
    "有效期止": "valid_until",
}
IMPORT_REQUIRED = ("code", "payer_name", "collector", "item_code", "item_name", "amount", "valid_until")
IMPORT_CODES_MAX = 20_000  # a month of a county's codes; a larger batch is two files


class CodeFileRefused(InvalidRequest):
    """The file of codes was refused whole: nothing was issued. `faults` names each line and field."""

    code = "code_file_refused"

    def __init__(self, faults: list[Any]) -> None:
        shown = faults[: importer.ERRORS_SHOWN_MAX]
        super().__init__(
            f"缴款码文件未导入，共 {len(faults)} 处错误 / the file of codes was not imported: {len(faults)} "
            f"fault(s); first: {shown[0].text()}",
            param=f"line {shown[0].line}: {shown[0].field}",
        )
        self.faults = shown
        self.total = len(faults)

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = dict(super().to_dict())
        doc["errors"] = [{"line": f.line, "field": f.field, "message": f.message} for f in self.faults]
        doc["errors_total"] = self.total
        return doc


def import_codes(
    conn: Connection, biller_id: str, data: bytes, *, filename: str = "", at: dt.datetime | None = None
) -> dict[str, Any]:
    """Issue a file of codes (CSV UTF-8/GBK or XLSX, one line per item; the lines of one code are grouped) whole
    or not at all: any fault refuses the file, naming every line and field, and nothing is written."""
    at = at or clock.now()
    b = _finance(conn, biller_id)
    rows, encoding = importer.read_rows(data, filename)
    Fault = importer.Fault
    head = [IMPORT_COLUMNS.get(h.strip().lstrip("\ufeff"), h.strip().lstrip("\ufeff")) for h in rows[0]]
    missing = [c for c in IMPORT_REQUIRED if c not in head]
    if missing:
        raise CodeFileRefused([Fault(1, c, "缺少此列 / this column is missing") for c in missing])
    col = {name: i for i, name in enumerate(head)}
    groups: dict[str, list[tuple[int, dict[str, str]]]] = {}
    faults: list[Any] = []
    for n, row in enumerate(rows[1:], start=2):
        cells = {k: (row[i].strip() if i < len(row) else "") for k, i in col.items()}
        groups.setdefault(cells["code"], []).append((n, cells))
    if len(groups) > IMPORT_CODES_MAX:
        raise CodeFileRefused(
            [Fault(1, "file", f"超过 {IMPORT_CODES_MAX} 个缴款码 / over {IMPORT_CODES_MAX} codes")]
        )
    checked = []
    for lines in groups.values():
        first_line, first = lines[0]
        at_line = first_line  # the line a fault is reported on
        try:
            items = []
            for n, cells in lines:
                at_line = n
                for k in ("payer_name", "collector", "valid_from", "valid_until"):
                    if cells.get(k, "") != first.get(k, ""):
                        raise InvalidRequest(
                            f"同一缴款码各行须一致 / differs from line {first_line}", param=k
                        )
                amount = parse_yuan(cells["amount"], param="amount")
                qty = int(cells.get("quantity") or 1) if (cells.get("quantity") or "1").isdigit() else -1
                if qty < 1:
                    raise InvalidRequest("数量须为正整数 / quantity must be a whole number", param="quantity")
                std = (
                    parse_yuan(cells["standard"], param="standard")
                    if cells.get("standard")
                    else amount // qty
                )
                items.append(
                    ItemIn(
                        code=cells["item_code"],
                        name=cells["item_name"],
                        unit=cells.get("unit") or "次",
                        quantity=qty,
                        standard_fen=std,
                        amount_fen=amount,
                    )
                )
            at_line = first_line
            req = CodeIn(
                biller_id=b.id,
                code=first["code"],
                payer_name=first["payer_name"],
                collector=first["collector"],
                items=items,
                amount_fen=sum(it.amount_fen for it in items),
                valid_from=_file_date(first.get("valid_from", ""), "valid_from")
                if first.get("valid_from")
                else None,
                valid_until=_file_date(first["valid_until"], "valid_until"),
            )
            _, code, valid_from = _checked(conn, req, at)
            checked.append((req, code, valid_from))
        except (InvalidRequest, ConflictError, NotFound) as exc:
            faults.append(Fault(at_line, exc.param or "code", exc.message))
        except ValidationError as exc:
            loc = exc.errors()[0]["loc"]
            faults.append(Fault(at_line, str(loc[-1]), exc.errors()[0]["msg"]))
    if faults:
        raise CodeFileRefused(sorted(faults, key=lambda f: f.line))
    for req, code, valid_from in checked:
        _write(conn, b, req, code, valid_from, at)
    return {
        "object": "nontax_code_import",
        "biller_id": b.id,
        "encoding": encoding,
        "codes": len(checked),
        "total_fen": sum(r.amount_fen for r, _, _ in checked),
    }


def _file_date(text: str, param: str) -> dt.date:
    return parse_date(text.replace("/", "-"), param)


# ---------------------------------------------------------------- looking up and paying


def _row(conn: Connection, code: str) -> Any:
    row = conn.execute(select(nontax_codes).where(nontax_codes.c.code == code)).first()
    if row is None:
        raise NotFound(
            f"没有缴款码 {code}，请核对 / no payment code {code}", param="code", code="unknown_code"
        )
    return row


def _state(row: Any, bill_status: str, open_payments: int, today: dt.date) -> str:
    if bill_status == BillStatus.PAID:
        return "paid"
    if bill_status == BillStatus.CANCELLED:
        return "cancelled"
    if bill_status == BillStatus.EXPIRED or today > row.valid_until:
        return "expired"
    if today < row.valid_from:
        return "not_yet_valid"
    return "paying" if open_payments else "unpaid"


STATE_LABELS = {
    "paid": "已缴款",
    "unpaid": "待缴款",
    "paying": "支付中",
    "expired": "已过期",
    "cancelled": "已撤销",
    "not_yet_valid": "未到缴款期",
}


def get_code(conn: Connection, code: str, *, at: dt.datetime | None = None) -> dict[str, Any]:
    """A code as the payer sees it: payer masked, items, amount, validity, state, and its fiscal receipt."""
    at = at or clock.now()
    code = check_code(code)
    row = _row(conn, code)
    b = service._biller(conn, row.biller_id)
    bill = service._bill(conn, b, row.bill_id)
    state = _state(row, bill.status, bill.open_payments, at.astimezone(SHANGHAI).date())
    fr = conn.execute(
        select(fiscal_receipts).where(
            and_(fiscal_receipts.c.merchant_id == row.merchant_id, fiscal_receipts.c.code == code)
        )
    ).first()
    return {
        "object": "nontax_code",
        "code": code,
        "biller_id": b.id,
        "biller_name": b.name,
        "collector": row.collector,
        "payer_name": row.payer_name_masked,
        "items": json.loads(row.items),
        "amount_fen": row.amount_fen,
        "valid_from": row.valid_from,
        "valid_until": row.valid_until,
        "state": state,
        "state_label": STATE_LABELS[state],
        "fiscal_receipt": receipt_public(fr) if fr is not None else None,
    }


class PayCodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: str = Field(min_length=1, max_length=20)
    channel: str | None = None
    auth_code: str | None = Field(default=None, max_length=32)
    payer_phone: str | None = Field(default=None, max_length=11)
    via: Literal["phone", "counter", "qr"] = "phone"


def pay_code_in(conn: Connection, req: PayCodeIn, *, at: dt.datetime | None = None) -> dict[str, Any]:
    """Check the code can be paid today and create its payment in the caller's transaction."""
    at = at or clock.now()
    code = check_code(req.code)
    row = _row(conn, code)
    b = service._biller(conn, row.biller_id)
    service._release_finished(conn, b, row.bill_id, at)
    bill = service._bill(conn, b, row.bill_id, lock=True)
    state = _state(row, bill.status, bill.open_payments, at.astimezone(SHANGHAI).date())
    refusals = {
        "paid": ("缴款码 {code} 已缴款，请勿重复缴纳 / code {code} is paid already", "code_paid"),
        "paying": (
            "缴款码 {code} 正在支付中 / code {code} has a payment in progress",
            "code_payment_in_progress",
        ),
        "expired": (
            f"缴款码 {{code}} 已于 {row.valid_until} 过期，请联系执收单位重新开具 / code {{code}} expired on "
            f"{row.valid_until}",
            "payment_code_expired",
        ),
        "cancelled": ("缴款码 {code} 已撤销 / code {code} is cancelled", "code_cancelled"),
        "not_yet_valid": (
            f"缴款码 {{code}} 自 {row.valid_from} 起方可缴款 / code {{code}} is valid from {row.valid_from}",
            "code_not_yet_valid",
        ),
    }
    if state in refusals:
        text, err = refusals[state]
        raise ConflictError(text.format(code=code), param="code", code=err)
    out = service.pay_bill(
        conn,
        service.PayBillIn(
            biller_id=b.id,
            account_no=code,
            bill_id=row.bill_id,
            channel=req.channel,
            auth_code=req.auth_code,
            payer_phone=req.payer_phone,
            via=req.via,
        ),
        at=at,
    )
    return {"code": code, "payment": out["payment"]}


def pay_code(db: Database, req: PayCodeIn, *, at: dt.datetime | None = None) -> dict[str, Any]:
    """Pay a code in its own transaction; then show it with its payment as the rail left it."""
    made = db.run(lambda c: pay_code_in(c, req, at=at))

    def after(conn: Connection) -> dict[str, Any]:
        row = _row(conn, made["code"])
        b = service._biller(conn, row.biller_id)
        service._release_finished(conn, b, row.bill_id, clock.now())
        out = get_code(conn, made["code"])
        from zhifu import payments as payments_api

        out["payment"] = payments_api.get_payment(conn, b.merchant_id, made["payment"]["id"])
        return out

    return db.run(after)


# ---------------------------------------------------------------- the fiscal e-receipt


def on_payment_succeeded(conn: Connection, merchant_id: str, order_no: str, at: dt.datetime) -> None:
    """Write the fiscal e-receipt record of a code just paid (idempotent; other payments return at once)."""
    line = conn.execute(
        select(
            bill_lines.c.category, bill_lines.c.bill_id, bill_lines.c.payment_id, bill_lines.c.status
        ).where(and_(bill_lines.c.merchant_id == merchant_id, bill_lines.c.order_no == order_no))
    ).first()
    if line is None or line.category != "tax" or line.bill_id is None or line.status != LineStatus.SUCCEEDED:
        return
    row = conn.execute(
        select(nontax_codes).where(
            and_(nontax_codes.c.merchant_id == merchant_id, nontax_codes.c.bill_id == line.bill_id)
        )
    ).first()
    if row is None:
        return
    paid = conn.execute(
        select(bills.c.status).where(and_(bills.c.merchant_id == merchant_id, bills.c.id == line.bill_id))
    ).scalar()
    done = conn.execute(
        select(fiscal_receipts.c.receipt_no).where(
            and_(fiscal_receipts.c.merchant_id == merchant_id, fiscal_receipts.c.code == row.code)
        )
    ).first()
    if paid != BillStatus.PAID or done is not None:
        return
    b = service._biller(conn, row.biller_id)
    issue_date = at.astimezone(SHANGHAI).date()
    receipt_code = f"{b.town_code[:2]}{RECEIPT_CLASS}{RECEIPT_KIND}{issue_date:%y}"
    number = f"{_next_number(conn, merchant_id, receipt_code):010d}"
    fields = [receipt_code, number, issue_date.isoformat(), row.code, str(row.amount_fen), row.items, b.name]
    check = hashlib.sha256("|".join(fields).encode()).hexdigest()[:6].upper()
    conn.execute(
        insert(fiscal_receipts),
        [
            {
                "merchant_id": merchant_id,
                "receipt_code": receipt_code,
                "receipt_no": number,
                "check_code": check,
                "code": row.code,
                "biller_id": b.id,
                "payment_id": line.payment_id,
                "issue_date": issue_date,
                "payer_name_enc": row.payer_name_enc,
                "payer_name_masked": row.payer_name_masked,
                "items": row.items,
                "total_fen": row.amount_fen,
                "payee": b.name,
                "collector": row.collector,
                "created_at": at,
            }
        ],
    )


def _next_number(conn: Connection, merchant_id: str, receipt_code: str) -> int:
    """The next 票据号码 of a 票据代码: the counter row is updated in place, so concurrent payments queue on it."""
    key = and_(
        fiscal_receipt_counters.c.merchant_id == merchant_id,
        fiscal_receipt_counters.c.receipt_code == receipt_code,
    )
    res = conn.execute(
        update(fiscal_receipt_counters).where(key).values(last_no=fiscal_receipt_counters.c.last_no + 1)
    )
    if res.rowcount == 0:
        conn.execute(
            insert(fiscal_receipt_counters),
            [{"merchant_id": merchant_id, "receipt_code": receipt_code, "last_no": 1}],
        )
        return 1
    return int(conn.execute(select(fiscal_receipt_counters.c.last_no).where(key)).scalar_one())


def amount_in_words(fen: int) -> str:
    """人民币大写: 1234.56 → 壹仟贰佰叁拾肆元伍角陆分; 100.00 → 壹佰元整; 10.05 → 壹拾元零伍分."""
    assert fen >= 0, fen
    yuan, jiao, cents = fen // 100, fen // 10 % 10, fen % 10
    text = _integer_words(yuan) + "元" if yuan else ""
    if not jiao and not cents:
        return (text or "零元") + "整"
    if jiao:
        text += _DIGITS[jiao] + "角"
    elif yuan:
        text += "零"
    return text + (_DIGITS[cents] + "分" if cents else "整")


_DIGITS = "零壹贰叁肆伍陆柒捌玖"
_PLACES = ("", "拾", "佰", "仟")
_GROUPS = ("", "万", "亿", "万亿")


def _group_words(g: int) -> str:
    out, zero = "", False
    for pos in (3, 2, 1, 0):
        d = g // 10**pos % 10
        if d == 0:
            zero = bool(out)
            continue
        if zero:
            out += "零"
            zero = False
        out += _DIGITS[d] + _PLACES[pos]
    return out


def _integer_words(n: int) -> str:
    groups = []
    while n:
        groups.append(n % 10_000)
        n //= 10_000
    out, gap = "", False
    for i in range(len(groups) - 1, -1, -1):
        g = groups[i]
        if g == 0:
            gap = bool(out)
            continue
        if out and (gap or g < 1000):
            out += "零"
        gap = False
        out += _group_words(g) + _GROUPS[i]
    return out


def receipt_public(row: Any) -> dict[str, Any]:
    """A fiscal e-receipt record with the fields of the 财政电子票据 (payer masked)."""
    return {
        "object": "fiscal_receipt",
        "name": RECEIPT_NAME,
        "receipt_code": row.receipt_code,
        "receipt_no": row.receipt_no,
        "check_code": row.check_code,
        "issue_date": row.issue_date,
        "payer_name": row.payer_name_masked,
        "items": json.loads(row.items),
        "total_fen": row.total_fen,
        "total_in_words": amount_in_words(row.total_fen),
        "payee": row.payee,
        "collector": row.collector,
        "code": row.code,
        "payment_id": row.payment_id,
    }


def list_codes(
    conn: Connection, biller_id: str, *, limit: int = 50, at: dt.datetime | None = None
) -> list[dict[str, Any]]:
    at = at or clock.now()
    today = at.astimezone(SHANGHAI).date()
    b = _finance(conn, biller_id)
    rows = conn.execute(
        select(nontax_codes, bills.c.status.label("bill_status"), bills.c.open_payments)
        .join(
            bills,
            and_(bills.c.merchant_id == nontax_codes.c.merchant_id, bills.c.id == nontax_codes.c.bill_id),
        )
        .where(nontax_codes.c.merchant_id == b.merchant_id)
        .order_by(nontax_codes.c.created_at.desc(), nontax_codes.c.code)
        .limit(min(limit, LIST_MAX))
    ).all()
    out = []
    for r in rows:
        state = _state(r, r.bill_status, r.open_payments, today)
        out.append(
            {
                "code": r.code,
                "payer_name": r.payer_name_masked,
                "collector": r.collector,
                "amount_fen": r.amount_fen,
                "valid_from": r.valid_from,
                "valid_until": r.valid_until,
                "state": state,
                "state_label": STATE_LABELS[state],
            }
        )
    return out


def code_counts(conn: Connection, biller_id: str) -> dict[str, Any]:
    b = _finance(conn, biller_id)
    issued, issued_fen = conn.execute(
        select(func.count(), func.coalesce(func.sum(nontax_codes.c.amount_fen), 0)).where(
            nontax_codes.c.merchant_id == b.merchant_id
        )
    ).one()
    paid, paid_fen = conn.execute(
        select(func.count(), func.coalesce(func.sum(fiscal_receipts.c.total_fen), 0)).where(
            fiscal_receipts.c.merchant_id == b.merchant_id
        )
    ).one()
    return {
        "issued": int(issued),
        "issued_fen": int(issued_fen),
        "paid": int(paid),
        "paid_fen": int(paid_fen),
    }


# ---------------------------------------------------------------- export for the finance bureau

# The fields of the fiscal e-receipt: Chinese name (the file's header), and the element name used in JSON/XML.
RECEIPT_FIELDS = (
    ("票据名称", "EInvoiceName"),
    ("票据代码", "EInvoiceCode"),
    ("票据号码", "EInvoiceNumber"),
    ("校验码", "RandomNumber"),
    ("开票日期", "IssueDate"),
    ("交款人", "PayerPartyName"),
    ("缴款码", "PayCode"),
    ("合计金额（小写）", "TotalAmount"),
    ("合计金额（大写）", "TotalAmountInWords"),
    ("收款单位", "InvoicingPartyName"),
    ("执收单位", "CollectingPartyName"),
    ("支付单号", "PaymentId"),
)
ITEM_FIELDS = (
    ("项目编码", "ItemCode"),
    ("项目名称", "ItemName"),
    ("单位", "ItemUnit"),
    ("数量", "ItemQuantity"),
    ("标准", "ItemStd"),
    ("金额", "ItemAmount"),
)


def _receipts(conn: Connection, biller_id: str, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
    """The records of start..end (issue dates, Asia/Shanghai) with the payer's name in full: the bureau's own."""
    b = _finance(conn, biller_id)
    if start > end:
        raise InvalidRequest("起始日期晚于截止日期 / start must not be after end", param="start")
    out = []
    for r in conn.execute(
        select(fiscal_receipts)
        .where(
            and_(
                fiscal_receipts.c.merchant_id == b.merchant_id,
                fiscal_receipts.c.issue_date >= start,
                fiscal_receipts.c.issue_date <= end,
            )
        )
        .order_by(fiscal_receipts.c.receipt_code, fiscal_receipts.c.receipt_no)
    ):
        values = [
            RECEIPT_NAME,
            r.receipt_code,
            r.receipt_no,
            r.check_code,
            r.issue_date.isoformat(),
            privacy.decrypt(r.payer_name_enc, conn),
            r.code,
            fen_to_yuan_str(r.total_fen),
            amount_in_words(r.total_fen),
            r.payee,
            r.collector,
            r.payment_id,
        ]
        items = [
            [
                it["code"],
                it["name"],
                it["unit"],
                str(it["quantity"]),
                fen_to_yuan_str(it["standard_fen"]),
                fen_to_yuan_str(it["amount_fen"]),
            ]
            for it in json.loads(r.items)
        ]
        out.append({"values": values, "items": items})
    return out


def export_receipts(
    conn: Connection, biller_id: str, start: dt.date, end: dt.date, fmt: str
) -> tuple[bytes, str, str, int]:
    """The records of start..end as (file, media type, file name, receipts): CSV and XLSX one row per item with
    the receipt's fields repeated and Chinese names as headers; JSON and XML one record per receipt with its items
    nested, under the element names of the fiscal e-receipt's data standard."""
    if fmt not in EXPORT_FORMATS:
        raise InvalidRequest(
            f"格式须为 {'、'.join(EXPORT_FORMATS)} 之一 / format must be one of {', '.join(EXPORT_FORMATS)}",
            param="format",
        )
    recs = _receipts(conn, biller_id, start, end)
    name = f"fiscal_receipts_{biller_id}_{start:%Y%m%d}_{end:%Y%m%d}.{fmt}"
    header = [zh for zh, _ in RECEIPT_FIELDS] + [zh for zh, _ in ITEM_FIELDS]
    flat = [rec["values"] + item for rec in recs for item in rec["items"]]
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\r\n")
        w.writerow(header)
        w.writerows(flat)
        return ("\ufeff" + buf.getvalue()).encode("utf-8"), "text/csv; charset=utf-8", name, len(recs)
    if fmt == "xlsx":
        from openpyxl import Workbook

        wb = Workbook(write_only=True)
        ws = wb.create_sheet("财政电子票据")
        ws.append(header)
        for row in flat:
            ws.append(row)
        buf2 = io.BytesIO()
        wb.save(buf2)
        media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        return buf2.getvalue(), media, name, len(recs)
    docs = [
        {en: v for (_, en), v in zip(RECEIPT_FIELDS, rec["values"], strict=True)}
        | {"Items": [{en: v for (_, en), v in zip(ITEM_FIELDS, it, strict=True)} for it in rec["items"]]}
        for rec in recs
    ]
    if fmt == "json":
        body = json.dumps({"EInvoices": docs}, ensure_ascii=False, indent=1).encode("utf-8")
        return body, "application/json", name, len(recs)
    root = ET.Element("EInvoices", {"count": str(len(docs))})
    for d in docs:
        el = ET.SubElement(root, "EInvoice")
        for k, v in d.items():
            if k == "Items":
                items_el = ET.SubElement(el, "Details")
                for it in v:
                    item_el = ET.SubElement(items_el, "Item")
                    for ik, iv in it.items():
                        ET.SubElement(item_el, ik).text = iv
            else:
                ET.SubElement(el, k).text = v
    body = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return body, "application/xml; charset=utf-8", name, len(recs)
