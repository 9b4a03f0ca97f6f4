"""Reading a biller's bill file (CSV in UTF-8 or GBK, or XLSX) into checked rows, naming the line and field of
every fault. Pure: no database; the service checks what needs the database (bill numbers already taken)."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import re
from collections.abc import Callable, Iterator
from decimal import Decimal, InvalidOperation
from typing import Any

from zhifu.core.errors import InvalidRequest, MoneyError
from zhifu.core.money import parse_yuan

FILE_BYTES_MAX = (
    16 * 1024 * 1024
)  # ~200,000 lines of bills; a county biller's month is a few tens of thousands
LINES_MAX = 200_000
ERRORS_SHOWN_MAX = 50  # a file with more faults is usually one fault repeated: the first fifty say what it is
LATE_FEE_PPM_PER_DAY_MAX = 10_000  # 1 % a day; beyond that it is a typo, not a tariff
REQUIRED = ("bill_no", "account_no", "payer_name", "period", "amount_due", "due_date")
OPTIONAL = ("min_due", "late_fee_ppm_per_day")
ALIASES = {  # the Chinese headers billers' systems write
    "账单号": "bill_no",
    "户号": "account_no",
    "缴费户号": "account_no",
    "户名": "payer_name",
    "账期": "period",
    "应缴金额": "amount_due",
    "最低缴费": "min_due",
    "缴费截止日": "due_date",
    "滞纳金日费率ppm": "late_fee_ppm_per_day",
}
_BILL_NO_RE = re.compile(r"[A-Za-z0-9_\-]{1,40}")
_MOJIBAKE = ("锟斤拷", "\ufffd", "Ã", "Â")  # GBK read as UTF-8 or the reverse leaves these behind


@dataclasses.dataclass(frozen=True)
class Fault:
    line: int  # 1 is the header
    field: str
    message: str

    def text(self) -> str:
        return (
            f"第 {self.line} 行 {self.field}：{self.message} / line {self.line}, {self.field}: {self.message}"
        )


@dataclasses.dataclass(frozen=True)
class BillRow:
    line: int
    bill_no: str
    account_no: str
    payer_name: str
    period: str
    amount_due_fen: int
    min_due_fen: int | None
    due_date: dt.date
    late_fee_ppm_per_day: int


class BillFileRefused(InvalidRequest):
    """The file was refused whole: nothing was imported. `faults` names each line and field."""

    code = "bill_file_refused"

    def __init__(self, faults: list[Fault], total: int | None = None) -> None:
        shown = faults[:ERRORS_SHOWN_MAX]
        count = total if total is not None else len(faults)
        head = shown[0].text() if shown else ""
        super().__init__(
            f"账单文件未导入，共 {count} 处错误 / the bill file was not imported: {count} fault(s); "
            f"first: {head}",
            param=f"line {shown[0].line}: {shown[0].field}" if shown else "file",
        )
        self.faults = shown
        self.total = count

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = dict(super().to_dict())
        doc["errors"] = [dataclasses.asdict(f) for f in self.faults]
        doc["errors_total"] = self.total
        return doc


def decode(data: bytes) -> tuple[str, str]:
    """Text and the encoding it was in: UTF-8 (with or without BOM), else GBK (GB18030); neither is refused."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        utf8_error = exc
    try:
        return data.decode("gb18030"), "gbk"
    except UnicodeDecodeError:
        line = data[: utf8_error.start].count(b"\n") + 1
        raise BillFileRefused(
            [Fault(line, "file", "既不是 UTF-8 也不是 GBK 编码 / neither UTF-8 nor GBK text")]
        ) from None


def _xlsx_rows(data: bytes) -> Iterator[list[str]]:
    import openpyxl  # only for XLSX uploads

    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged file
        raise BillFileRefused(
            [Fault(1, "file", f"不是有效的 XLSX 文件 / not a readable XLSX file ({type(exc).__name__})")]
        ) from None
    try:
        for row in wb.worksheets[0].iter_rows(values_only=True):
            yield [_cell(v) for v in row]
    finally:
        wb.close()


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, dt.datetime):
        return v.date().isoformat()
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, float):  # a spreadsheet's number: its shortest decimal form, never binary noise
        return format(Decimal(repr(v)).normalize(), "f")
    return str(v).strip()


def read_rows(data: bytes, filename: str = "") -> tuple[list[list[str]], str]:
    """Every row of the file as strings (header first), and the encoding ("xlsx" for a workbook)."""
    if len(data) > FILE_BYTES_MAX:
        raise BillFileRefused(
            [
                Fault(
                    1,
                    "file",
                    f"文件超过 {FILE_BYTES_MAX // 1024 // 1024} MB / the file is over "
                    f"{FILE_BYTES_MAX // 1024 // 1024} MB; split it by period or town",
                )
            ]
        )
    if not data.strip():
        raise BillFileRefused([Fault(1, "file", "文件为空 / the file is empty")])
    if data.startswith(b"PK\x03\x04") or filename.lower().endswith(".xlsx"):
        rows: list[list[str]] = []
        encoding = "xlsx"
        for r in _xlsx_rows(data):
            if len(rows) > LINES_MAX:
                break
            rows.append(r)
    else:
        text, encoding = decode(data)
        rows = []
        for r in csv.reader(io.StringIO(text, newline="")):
            if len(rows) > LINES_MAX:
                break
            rows.append([c.strip() for c in r])
    while rows and not any(rows[-1]):
        rows.pop()
    if len(rows) > LINES_MAX:
        raise BillFileRefused(
            [Fault(LINES_MAX + 2, "file", f"超过 {LINES_MAX} 行 / more than {LINES_MAX} bills in one file")]
        )
    return rows, encoding


def _header(row: list[str]) -> dict[str, int]:
    names = [ALIASES.get(h.strip().lstrip("\ufeff"), h.strip().lstrip("\ufeff").lower()) for h in row]
    faults = []
    unknown = [n for n in names if n and n not in REQUIRED + OPTIONAL]
    if unknown:
        faults.append(
            Fault(
                1,
                "header",
                f"未知列 {', '.join(unknown)} / unknown column(s) {', '.join(unknown)}; "
                f"columns are {', '.join(REQUIRED + OPTIONAL)}",
            )
        )
    missing = [n for n in REQUIRED if n not in names]
    if missing:
        faults.append(
            Fault(1, "header", f"缺少列 {', '.join(missing)} / missing column(s) {', '.join(missing)}")
        )
    dup = sorted({n for n in names if n and names.count(n) > 1})
    if dup:
        faults.append(
            Fault(1, "header", f"重复列 {', '.join(dup)} / column(s) given twice: {', '.join(dup)}")
        )
    if faults:
        raise BillFileRefused(faults)
    return {n: i for i, n in enumerate(names) if n}


def _amount(text: str, field: str) -> int:
    try:
        return parse_yuan(text, param=field)
    except MoneyError as exc:
        raise ValueError(exc.message) from None


def parse(
    rows: list[list[str]], check_account: Callable[[str], str], *, partial_allowed: bool, default_min_fen: int
) -> tuple[list[BillRow], list[Fault]]:
    """Check every line; return the good rows and every fault (the caller refuses the file if there is one)."""
    if not rows:
        raise BillFileRefused([Fault(1, "file", "文件为空 / the file is empty")])
    col = _header(rows[0])
    out: list[BillRow] = []
    faults: list[Fault] = []
    seen_no: dict[str, int] = {}
    seen_period: dict[tuple[str, str], int] = {}
    for n, raw in enumerate(rows[1:], start=2):
        if not any(raw):
            continue  # blank lines inside a file are harmless
        if len(raw) > len(rows[0]):
            faults.append(
                Fault(
                    n,
                    "line",
                    f"有 {len(raw)} 列，表头只有 {len(rows[0])} 列 / {len(raw)} cells but the header "
                    f"has {len(rows[0])}",
                )
            )
            continue
        get = {k: (raw[i] if i < len(raw) else "") for k, i in col.items()}
        row_faults: list[Fault] = []

        def field(
            name: str,
            fn: Callable[[str], Any],
            _get: dict[str, str] = get,
            _f: list[Fault] = row_faults,
            _n: int = n,
        ) -> Any:
            value = _get.get(name, "")
            if any(m in value for m in _MOJIBAKE):
                _f.append(
                    Fault(
                        _n,
                        name,
                        "含乱码，文件编码可能不对（GBK/UTF-8）/ garbled text: the file's encoding is "
                        "probably wrong (GBK vs UTF-8)",
                    )
                )
                return None
            try:
                return fn(value)
            except (ValueError, InvalidRequest) as exc:
                _f.append(Fault(_n, name, exc.message if isinstance(exc, InvalidRequest) else str(exc)))
                return None

        bill_no = field("bill_no", _bill_no)
        account_no = field("account_no", check_account)
        payer_name = field("payer_name", _name)
        period = field("period", _period)
        amount = field("amount_due", lambda v: _amount(v, "amount_due"))
        min_due = field("min_due", lambda v: _amount(v, "min_due") if v else None)
        due_date = field("due_date", _date)
        late = field("late_fee_ppm_per_day", _late_fee)
        if amount is not None and min_due is not None:
            if min_due > amount:
                row_faults.append(Fault(n, "min_due", "最低缴费高于应缴金额 / min_due is above amount_due"))
            elif not partial_allowed and min_due != amount:
                row_faults.append(
                    Fault(
                        n,
                        "min_due",
                        "该缴费单位不接受部分缴费，最低缴费须等于应缴金额 / this biller takes "
                        "no partial payment: min_due must equal amount_due or be empty",
                    )
                )
        if bill_no is not None:
            if bill_no in seen_no:
                row_faults.append(
                    Fault(
                        n,
                        "bill_no",
                        f"账单号 {bill_no} 与第 {seen_no[bill_no]} 行重复 / bill_no "
                        f"{bill_no} repeats line {seen_no[bill_no]}",
                    )
                )
            else:
                seen_no[bill_no] = n
        if account_no is not None and period is not None:
            key = (account_no, period)
            if key in seen_period:
                row_faults.append(
                    Fault(
                        n,
                        "period",
                        f"户号 {account_no} 账期 {period} 与第 {seen_period[key]} 行重复 / "
                        f"account {account_no} has period {period} on line "
                        f"{seen_period[key]} already",
                    )
                )
            else:
                seen_period[key] = n
        if row_faults:
            faults.extend(row_faults)
            continue
        if min_due is None:
            min_due = min(amount, default_min_fen) if partial_allowed else amount
        out.append(BillRow(n, bill_no, account_no, payer_name, period, amount, min_due, due_date, late or 0))
    if not out and not faults:
        faults.append(Fault(2, "file", "文件没有账单行 / the file has a header and no bills"))
    return out, faults


def _bill_no(v: str) -> str:
    if not _BILL_NO_RE.fullmatch(v):
        raise ValueError(
            "账单号须为 1–40 位字母、数字、_ 或 - / bill_no must be 1–40 letters, digits, _ or -"
        )
    return v


def _name(v: str) -> str:
    if not 1 <= len(v) <= 40:
        raise ValueError("户名须为 1–40 个字 / payer_name must be 1–40 characters")
    return v


def _period(v: str) -> str:
    if not 1 <= len(v) <= 20:
        raise ValueError("账期须为 1–20 个字符，如 2022-06 / period must be 1–20 characters, e.g. 2022-06")
    return v


def _date(v: str) -> dt.date:
    try:
        return dt.date.fromisoformat(v)
    except ValueError:
        raise ValueError(
            f"日期须为 YYYY-MM-DD，收到 {v!r} / due_date must be YYYY-MM-DD, got {v!r}"
        ) from None


def _late_fee(v: str) -> int:
    if not v:
        return 0
    try:
        n = int(Decimal(v))
    except InvalidOperation:
        raise ValueError(f"须为整数 ppm / must be an integer number of ppm, got {v!r}") from None
    if not 0 <= n <= LATE_FEE_PPM_PER_DAY_MAX:
        raise ValueError(
            f"须在 0–{LATE_FEE_PPM_PER_DAY_MAX} 之间 / must be 0–{LATE_FEE_PPM_PER_DAY_MAX} ppm a day"
        )
    return n
