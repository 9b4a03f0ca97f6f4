"""WeChat-style trade bill: UTF-8 CSV, every value prefixed by a backtick, a totals block at the end.

Payment rows: 微信订单号 = channel_ref, 商户订单号 = merchant_order_no, 交易状态 SUCCESS/PAYERROR/...
Refund rows (交易状态 REFUND): 微信退款单号 = channel_ref, 商户退款单号 = merchant_order_no,
微信订单号 = original_ref, 退款金额 = amount, 退款状态 = status. 手续费 = fee_fen (signed yuan).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Sequence

from zhifu.channels.statement import (
    LINES_MAX,
    SHANGHAI,
    StatementFormatError,
    StatementLine,
    check_local_date,
)
from zhifu.channels.statement_text import check_columns, decode, fen_to_yuan, yuan_to_fen

COLUMNS: tuple[str, ...] = (
    "交易时间",
    "公众账号ID",
    "商户号",
    "特约商户号",
    "设备号",
    "微信订单号",
    "商户订单号",
    "用户标识",
    "交易类型",
    "交易状态",
    "付款银行",
    "货币种类",
    "应结订单金额",
    "代金券金额",
    "微信退款单号",
    "商户退款单号",
    "退款金额",
    "充值券退款金额",
    "退款类型",
    "退款状态",
    "商品名称",
    "商户数据包",
    "手续费",
    "费率",
    "订单金额",
    "申请退款金额",
    "费率备注",
)
SUMMARY_COLUMNS: tuple[str, ...] = (
    "总交易单数",
    "应结订单总金额",
    "退款总金额",
    "充值券退款总金额",
    "手续费总金额",
    "订单总金额",
    "申请退款总金额",
)
_PAY_STATUS = {
    "succeeded": "SUCCESS",
    "failed": "PAYERROR",
    "closed": "REVOKED",
    "processing": "USERPAYING",
    "refunded": "REFUNDED",
}
_REFUND_STATUS = {"succeeded": "SUCCESS", "failed": "FAIL", "processing": "PROCESSING", "closed": "CHANGE"}
_PAY_BY_CODE = {v: k for k, v in _PAY_STATUS.items()}
_REFUND_BY_CODE = {v: k for k, v in _REFUND_STATUS.items()}
_BANK_DEFAULT = {None: "OTHERS", "debit": "OTHERS_DEBIT", "credit": "OTHERS_CREDIT"}
_TEXT_EXTRAS = (
    "公众账号ID",
    "特约商户号",
    "设备号",
    "用户标识",
    "交易类型",
    "退款类型",
    "商品名称",
    "商户数据包",
    "费率",
    "费率备注",
)
_ZERO_EXTRAS = ("代金券金额", "充值券退款金额")
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def _row(line: StatementLine, business_date: dt.date) -> dict[str, str]:
    local = line.txn_time.astimezone(SHANGHAI)
    check_local_date(local, business_date, line_no=line.line_no, field="交易时间")
    if line.card_type not in _BANK_DEFAULT:
        raise StatementFormatError(
            f"card type {line.card_type!r} has no WeChat bank code", line_no=line.line_no, field="付款银行"
        )
    amount = fen_to_yuan(line.amount_fen)
    row = {name: line.extra.get(name, "") for name in _TEXT_EXTRAS}
    row |= {name: line.extra.get(name, "0.00") for name in _ZERO_EXTRAS}
    row |= {
        "交易时间": local.strftime(_TIME_FORMAT),
        "商户号": line.merchant_code,
        "付款银行": line.extra.get("付款银行", _BANK_DEFAULT[line.card_type]),
        "货币种类": "CNY",
        "手续费": fen_to_yuan(line.fee_fen),
    }
    if line.txn_type == "payment":
        row |= {
            "微信订单号": line.channel_ref,
            "商户订单号": line.merchant_order_no,
            "交易状态": _PAY_STATUS[line.status],
            "应结订单金额": amount,
            "微信退款单号": "",
            "商户退款单号": "",
            "退款金额": "0.00",
            "退款状态": "",
            "订单金额": amount,
            "申请退款金额": "0.00",
        }
    else:
        if line.status not in _REFUND_STATUS:
            raise StatementFormatError(
                f"refund status {line.status!r} has no WeChat code", line_no=line.line_no, field="退款状态"
            )
        row |= {
            "微信订单号": line.original_ref or "",
            "商户订单号": line.extra.get("商户订单号", ""),
            "交易状态": "REFUND",
            "应结订单金额": "0.00",
            "微信退款单号": line.channel_ref,
            "商户退款单号": line.merchant_order_no,
            "退款金额": amount,
            "退款状态": _REFUND_STATUS[line.status],
            "订单金额": "0.00",
            "申请退款金额": amount,
        }
    for name, value in row.items():
        if "\n" in value or "\r" in value:
            raise StatementFormatError("line breaks are not allowed", line_no=line.line_no, field=name)
    return row


def write_wechat(lines: Sequence[StatementLine], business_date: dt.date) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    totals = [0, 0, 0, 0, 0, 0, 0]
    for line in lines:
        row = _row(line, business_date)
        writer.writerow("`" + row[name] for name in COLUMNS)
        totals[0] += 1
        for i, name in (
            (1, "应结订单金额"),
            (2, "退款金额"),
            (3, "充值券退款金额"),
            (4, "手续费"),
            (5, "订单金额"),
            (6, "申请退款金额"),
        ):
            totals[i] += yuan_to_fen(row[name], line_no=line.line_no, field=name)
    writer.writerow(SUMMARY_COLUMNS)
    writer.writerow(["`" + str(totals[0])] + ["`" + fen_to_yuan(v) for v in totals[1:]])
    return out.getvalue().encode("utf-8")


def _strip_tick(value: str, line_no: int, field: str) -> str:
    if not value.startswith("`"):
        raise StatementFormatError(
            f"value {value!r} does not start with a backtick", line_no=line_no, field=field
        )
    return value[1:]


def _parse_row(values: dict[str, str], line_no: int, business_date: dt.date, channel: str) -> StatementLine:
    def need(name: str) -> str:
        if not values[name]:
            raise StatementFormatError("is blank", line_no=line_no, field=name)
        return values[name]

    try:
        local = dt.datetime.strptime(values["交易时间"], _TIME_FORMAT).replace(tzinfo=SHANGHAI)
    except ValueError as exc:
        raise StatementFormatError(
            f"{values['交易时间']!r} is not a time", line_no=line_no, field="交易时间"
        ) from exc
    check_local_date(local, business_date, line_no=line_no, field="交易时间")
    if values["货币种类"] != "CNY":
        raise StatementFormatError(
            f"currency {values['货币种类']!r} is not CNY", line_no=line_no, field="货币种类"
        )
    fen = {
        name: yuan_to_fen(values[name], line_no=line_no, field=name)
        for name in ("应结订单金额", "退款金额", "手续费", "订单金额", "申请退款金额", *_ZERO_EXTRAS)
    }
    bank = values["付款银行"]
    card_type = "debit" if bank.endswith("_DEBIT") else "credit" if bank.endswith("_CREDIT") else None
    extra = {name: values[name] for name in _TEXT_EXTRAS if values[name]}
    extra |= {name: values[name] for name in _ZERO_EXTRAS if fen[name]}
    if bank != _BANK_DEFAULT[card_type]:
        extra["付款银行"] = bank
    if values["交易状态"] == "REFUND":
        txn_type, amount_field, ref_field, order_field = "refund", "退款金额", "微信退款单号", "商户退款单号"
        status = _REFUND_BY_CODE.get(values["退款状态"])
        if status is None:
            raise StatementFormatError(
                f"unknown refund status {values['退款状态']!r}", line_no=line_no, field="退款状态"
            )
        original_ref: str | None = need("微信订单号")
        if values["商户订单号"]:
            extra["商户订单号"] = values["商户订单号"]
    else:
        txn_type, amount_field, ref_field, order_field = "payment", "应结订单金额", "微信订单号", "商户订单号"
        status = _PAY_BY_CODE.get(values["交易状态"])
        if status is None:
            raise StatementFormatError(
                f"unknown trade status {values['交易状态']!r}", line_no=line_no, field="交易状态"
            )
        original_ref = None
    if fen[amount_field] <= 0:
        raise StatementFormatError("amount must be positive", line_no=line_no, field=amount_field)
    return StatementLine(
        channel=channel,
        line_no=line_no,
        channel_ref=need(ref_field),
        merchant_order_no=need(order_field),
        merchant_code=need("商户号"),
        txn_time=local,
        txn_type=txn_type,
        amount_fen=fen[amount_field],
        fee_fen=fen["手续费"],
        status=status,
        original_ref=original_ref,
        card_type=card_type,
        extra=extra,
    )


def parse_wechat(data: bytes, business_date: dt.date, channel: str) -> list[StatementLine]:
    text = decode(data, "utf-8", COLUMNS).removeprefix("\ufeff")
    rows = list(csv.reader(text.splitlines()))
    if not rows or tuple(rows[0]) != COLUMNS:
        raise StatementFormatError("header row is not the WeChat bill header", line_no=1, field="header")
    out: list[StatementLine] = []
    totals = {"count": 0, "应结订单金额": 0, "退款金额": 0, "手续费": 0}
    i = 1
    while i < len(rows) and tuple(rows[i]) != SUMMARY_COLUMNS:
        line_no = i + 1
        check_columns(rows[i], COLUMNS, line_no)
        values = {name: _strip_tick(v, line_no, name) for name, v in zip(COLUMNS, rows[i], strict=True)}
        line = _parse_row(values, line_no, business_date, channel)
        out.append(line)
        if len(out) > LINES_MAX:
            raise StatementFormatError(f"more than {LINES_MAX} lines", line_no=line_no)
        totals["count"] += 1
        totals["应结订单金额"] += line.amount_fen if line.txn_type == "payment" else 0
        totals["退款金额"] += line.amount_fen if line.txn_type == "refund" else 0
        totals["手续费"] += line.fee_fen
        i += 1
    if i + 2 != len(rows):
        raise StatementFormatError(
            "the bill must end with the totals header and one totals line",
            line_no=min(i + 1, len(rows)),
            field="总交易单数",
        )
    line_no = i + 2
    check_columns(rows[i + 1], SUMMARY_COLUMNS, line_no)
    summary = {
        name: _strip_tick(v, line_no, name) for name, v in zip(SUMMARY_COLUMNS, rows[i + 1], strict=True)
    }
    if summary["总交易单数"] != str(totals["count"]):
        raise StatementFormatError(
            f"says {summary['总交易单数']} lines, the bill has {totals['count']}",
            line_no=line_no,
            field="总交易单数",
        )
    for name, column in (
        ("应结订单总金额", "应结订单金额"),
        ("退款总金额", "退款金额"),
        ("手续费总金额", "手续费"),
    ):
        if yuan_to_fen(summary[name], line_no=line_no, field=name) != totals[column]:
            raise StatementFormatError(
                f"total {summary[name]} is not the sum {fen_to_yuan(totals[column])}",
                line_no=line_no,
                field=name,
            )
    return out
