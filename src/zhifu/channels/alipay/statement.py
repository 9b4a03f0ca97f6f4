"""Alipay-style business detail bill: GBK CSV between "#" comment lines (account and dates above, totals below).

Payment rows (业务类型 交易): 支付宝交易号 = channel_ref. Refund rows (退款): 退款批次号/请求号 = channel_ref,
支付宝交易号 = original_ref, amounts negative in the file. 门店编号 = merchant_code, 服务费 = fee_fen.
The bill has no card type; 交易状态 carries the status.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
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
    "支付宝交易号",
    "商户订单号",
    "业务类型",
    "商品名称",
    "创建时间",
    "完成时间",
    "门店编号",
    "门店名称",
    "操作员",
    "终端号",
    "对方账户",
    "订单金额（元）",
    "商家实收（元）",
    "退款批次号/请求号",
    "服务费（元）",
    "交易状态",
    "备注",
)
_STATUS = {
    "succeeded": "成功",
    "failed": "失败",
    "refunded": "已退款",
    "processing": "处理中",
    "closed": "已关闭",
}
_STATUS_BY_NAME = {v: k for k, v in _STATUS.items()}
_TYPES = {"payment": "交易", "refund": "退款"}
_TYPE_BY_NAME = {v: k for k, v in _TYPES.items()}
_TEXT_EXTRAS = ("商品名称", "门店名称", "操作员", "终端号", "对方账户", "备注")
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
_BANNER = "#-----------------------------------------业务明细列表----------------------------------------"
_BANNER_END = "#-----------------------------------------业务明细列表结束------------------------------------"
_DATES_RE = re.compile(
    r"#起始日期：\[(\d{4})年(\d{2})月(\d{2})日 00:00:00\]   终止日期：\[(\d{4})年(\d{2})月(\d{2})日 00:00:00\]"
)
_TOTAL_RE = re.compile(r"#(交易|退款)合计：(\d+)笔，商家实收：￥(-?\d+\.\d{2})元")
_CN_DAY = "%Y年%m月%d日"


def write_alipay(
    lines: Sequence[StatementLine],
    business_date: dt.date,
    *,
    account: str = "20880000000000000000",
    exported_at: dt.datetime | None = None,
) -> bytes:
    next_day = business_date + dt.timedelta(days=1)
    exported = (exported_at or dt.datetime.combine(next_day, dt.time(9), SHANGHAI)).astimezone(SHANGHAI)
    out = io.StringIO()
    out.write("#支付宝业务明细查询\r\n")
    out.write(f"#账号：[{account}]\r\n")
    out.write(
        f"#起始日期：[{business_date.strftime(_CN_DAY)} 00:00:00]   终止日期：[{next_day.strftime(_CN_DAY)} 00:00:00]\r\n"
    )
    out.write(_BANNER + "\r\n")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    sums = {"payment": [0, 0], "refund": [0, 0]}
    for line in lines:
        local = line.txn_time.astimezone(SHANGHAI)
        check_local_date(local, business_date, line_no=line.line_no, field="完成时间")
        signed = line.amount_fen if line.txn_type == "payment" else -line.amount_fen
        sums[line.txn_type][0] += 1
        sums[line.txn_type][1] += signed
        finished = local.strftime(_TIME_FORMAT)
        row = {name: line.extra.get(name, "") for name in _TEXT_EXTRAS} | {
            "支付宝交易号": line.channel_ref if line.txn_type == "payment" else line.original_ref or "",
            "商户订单号": line.merchant_order_no,
            "业务类型": _TYPES[line.txn_type],
            "创建时间": line.extra.get("创建时间", finished),
            "完成时间": finished,
            "门店编号": line.merchant_code,
            "订单金额（元）": fen_to_yuan(signed),
            "商家实收（元）": fen_to_yuan(signed),
            "退款批次号/请求号": line.channel_ref if line.txn_type == "refund" else "",
            "服务费（元）": fen_to_yuan(line.fee_fen),
            "交易状态": _STATUS[line.status],
        }
        for name, value in row.items():
            if "\n" in value or "\r" in value or value.startswith("#"):
                raise StatementFormatError(
                    "line breaks and a leading # are not allowed", line_no=line.line_no, field=name
                )
        writer.writerow(row[name] for name in COLUMNS)
    out.write(_BANNER_END + "\r\n")
    out.write(f"#交易合计：{sums['payment'][0]}笔，商家实收：￥{fen_to_yuan(sums['payment'][1])}元\r\n")
    out.write(f"#退款合计：{sums['refund'][0]}笔，商家实收：￥{fen_to_yuan(sums['refund'][1])}元\r\n")
    out.write(f"#导出时间：[{exported.strftime(_CN_DAY + ' %H:%M:%S')}]\r\n")
    try:
        return out.getvalue().encode("gbk")
    except UnicodeEncodeError as exc:
        raise StatementFormatError(f"{exc.object[exc.start : exc.end]!r} cannot be written in GBK") from exc


def _check_dates(text: str, business_date: dt.date, line_no: int) -> None:
    m = _DATES_RE.fullmatch(text)
    if m is None:
        raise StatementFormatError("date range line is malformed", line_no=line_no, field="起始日期")
    start = dt.date(int(m[1]), int(m[2]), int(m[3]))
    end = dt.date(int(m[4]), int(m[5]), int(m[6]))
    if start != business_date:
        raise StatementFormatError(
            f"starts {start.isoformat()}, expected {business_date.isoformat()}",
            line_no=line_no,
            field="起始日期",
        )
    if end != business_date + dt.timedelta(days=1):
        raise StatementFormatError(
            f"ends {end.isoformat()}, expected the next day", line_no=line_no, field="终止日期"
        )


def _parse_row(values: dict[str, str], line_no: int, business_date: dt.date, channel: str) -> StatementLine:
    txn_type = _TYPE_BY_NAME.get(values["业务类型"])
    if txn_type is None:
        raise StatementFormatError(
            f"unknown business type {values['业务类型']!r}", line_no=line_no, field="业务类型"
        )
    status = _STATUS_BY_NAME.get(values["交易状态"])
    if status is None:
        raise StatementFormatError(
            f"unknown status {values['交易状态']!r}", line_no=line_no, field="交易状态"
        )
    try:
        local = dt.datetime.strptime(values["完成时间"], _TIME_FORMAT).replace(tzinfo=SHANGHAI)
    except ValueError as exc:
        raise StatementFormatError(
            f"{values['完成时间']!r} is not a time", line_no=line_no, field="完成时间"
        ) from exc
    check_local_date(local, business_date, line_no=line_no, field="完成时间")
    signed = yuan_to_fen(values["订单金额（元）"], line_no=line_no, field="订单金额（元）")
    received = yuan_to_fen(values["商家实收（元）"], line_no=line_no, field="商家实收（元）")
    fee_fen = yuan_to_fen(values["服务费（元）"], line_no=line_no, field="服务费（元）")
    if (signed <= 0) if txn_type == "payment" else (signed >= 0):
        raise StatementFormatError(
            f"{values['订单金额（元）']} has the wrong sign for {values['业务类型']}",
            line_no=line_no,
            field="订单金额（元）",
        )
    if received != signed:
        raise StatementFormatError(
            "merchant receipt differs from the order amount", line_no=line_no, field="商家实收（元）"
        )
    ref_field = "支付宝交易号" if txn_type == "payment" else "退款批次号/请求号"
    for name in (ref_field, "商户订单号", "门店编号") + (("支付宝交易号",) if txn_type == "refund" else ()):
        if not values[name]:
            raise StatementFormatError("is blank", line_no=line_no, field=name)
    extra = {name: values[name] for name in _TEXT_EXTRAS if values[name]}
    if values["创建时间"] != values["完成时间"]:
        extra["创建时间"] = values["创建时间"]
    return StatementLine(
        channel=channel,
        line_no=line_no,
        channel_ref=values[ref_field],
        merchant_order_no=values["商户订单号"],
        merchant_code=values["门店编号"],
        txn_time=local,
        txn_type=txn_type,
        amount_fen=abs(signed),
        fee_fen=fee_fen,
        status=status,
        original_ref=values["支付宝交易号"] if txn_type == "refund" else None,
        extra=extra,
    )


def parse_alipay(data: bytes, business_date: dt.date, channel: str) -> list[StatementLine]:
    lines = decode(data, "gbk", COLUMNS).splitlines()
    if len(lines) < 9 or not lines[0].startswith("#支付宝业务明细"):
        raise StatementFormatError("not an Alipay business detail bill", line_no=1, field="header")
    if not lines[1].startswith("#账号：["):
        raise StatementFormatError("account line is missing", line_no=2, field="账号")
    _check_dates(lines[2], business_date, 3)
    if lines[3] != _BANNER or tuple(next(csv.reader([lines[4]]))) != COLUMNS:
        raise StatementFormatError("detail header is not the Alipay bill header", line_no=5, field="header")
    out: list[StatementLine] = []
    sums = {"payment": [0, 0], "refund": [0, 0]}
    i = 5
    while i < len(lines) and not lines[i].startswith("#"):
        line_no = i + 1
        row = next(csv.reader([lines[i]]))
        check_columns(row, COLUMNS, line_no)
        line = _parse_row(dict(zip(COLUMNS, row, strict=True)), line_no, business_date, channel)
        out.append(line)
        if len(out) > LINES_MAX:
            raise StatementFormatError(f"more than {LINES_MAX} lines", line_no=line_no)
        sums[line.txn_type][0] += 1
        sums[line.txn_type][1] += line.amount_fen if line.txn_type == "payment" else -line.amount_fen
        i += 1
    tail = lines[i:]
    if len(tail) != 4 or tail[0] != _BANNER_END or not tail[3].startswith("#导出时间：["):
        raise StatementFormatError(
            "the bill must end with the end banner, two totals and #导出时间", line_no=i + 1, field="totals"
        )
    for offset, (kind, label) in enumerate((("payment", "交易"), ("refund", "退款")), start=1):
        line_no = i + 1 + offset
        m = _TOTAL_RE.fullmatch(tail[offset])
        if m is None or m[1] != label:
            raise StatementFormatError(
                f"{label}合计 line is malformed", line_no=line_no, field=f"{label}合计"
            )
        if int(m[2]) != sums[kind][0]:
            raise StatementFormatError(
                f"says {m[2]} lines, the bill has {sums[kind][0]}", line_no=line_no, field=f"{label}合计"
            )
        if yuan_to_fen(m[3], line_no=line_no, field=f"{label}合计") != sums[kind][1]:
            raise StatementFormatError(
                f"total {m[3]} is not the sum {fen_to_yuan(sums[kind][1])}",
                line_no=line_no,
                field=f"{label}合计",
            )
    return out
