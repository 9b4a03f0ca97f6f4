"""Merchant statements for a business day or month: every payment, refund, fee, subsidy or adjustment and
payout, with per-day settlement lines and totals, as CSV or Excel (Chinese headers, amounts in yuan)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from decimal import Decimal
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font
from sqlalchemy import Connection, and_, select

from zhifu.core import clock
from zhifu.core.clock import SHANGHAI
from zhifu.core.errors import InvalidRequest, NotFound
from zhifu.core.money import fen_to_yuan_str
from zhifu.ledger import keys as ledger_keys
from zhifu.ledger.read import entries_view as entries
from zhifu.ledger.read import postings_view as postings
from zhifu.merchants.read import merchants_view as merchants
from zhifu.payments.read import payments_view as payments
from zhifu.payments.read import refunds_view as refunds
from zhifu.settlement.calendar import business_date
from zhifu.settlement.models import settlement_payouts, settlements
from zhifu.settlement.service import KEY_PREFIX, PAYABLE, day_end

LINES_MAX = 1_000_000  # an Excel sheet holds 1,048,576 rows; a merchant with more asks for day statements
_MONTH_RE = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])")
KINDS_ZH = {"payment": "支付", "refund": "退款", "adjustment": "补贴/调整", "payout": "结算划款"}
STATUS_ZH = {
    "in_transit": "划款中",
    "paid": "已到账",
    "failed": "划款失败",
    "held": "暂停结算",
    "carried": "结转下期",
}
DETAIL_HEADERS = (
    "业务日期",
    "时间",
    "类型",
    "单号",
    "商户订单号",
    "渠道",
    "卡类型",
    "金额（元）",
    "手续费（元）",
    "入账净额（元）",
    "状态/说明",
)
DAY_HEADERS = (
    "业务日期",
    "结算日期",
    "结算周期",
    "交易笔数",
    "交易金额（元）",
    "退款笔数",
    "退款金额（元）",
    "手续费（元）",
    "退还手续费（元）",
    "补贴/调整（元）",
    "上期结转（元）",
    "应结金额（元）",
    "划款金额（元）",
    "结转金额（元）",
    "状态",
)


def parse_period(month: str | None, day: str | None, *, today: dt.date) -> tuple[dt.date, dt.date, str]:
    """First and last business date of `month` (YYYY-MM) or `day` (YYYY-MM-DD); exactly one is given."""
    if (month is None) == (day is None):
        raise InvalidRequest("give month=YYYY-MM or date=YYYY-MM-DD", param="month")
    if month is not None:
        m = _MONTH_RE.fullmatch(month)
        if m is None:
            raise InvalidRequest(f"month {month!r} is not a month like 2021-10", param="month")
        first = dt.date(int(m.group(1)), int(m.group(2)), 1)
        last = (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
        label, param = month, "month"
    else:
        try:
            first = last = dt.date.fromisoformat(day or "")
        except ValueError:
            raise InvalidRequest(f"date {day!r} is not a date like 2021-10-08", param="date") from None
        label, param = first.isoformat(), "date"
    if first > today:
        raise InvalidRequest(
            f"{label} 尚未开始 / {label} has not begun (today's business date is {today})",
            param=param,
            code="period_not_started",
        )
    return first, last, label


def _yuan(fen: int) -> Decimal:
    return Decimal(fen) / 100


def statement(
    conn: Connection,
    merchant_id: str,
    *,
    month: str | None = None,
    day: str | None = None,
    at: dt.datetime | None = None,
) -> dict[str, Any]:
    """The statement's content in fen: merchant header, per-day settlement lines and every movement."""
    at = at or clock.now()
    first, last, label = parse_period(month, day, today=business_date(at))
    m = conn.execute(
        select(
            merchants.c.id, merchants.c.legal_name, merchants.c.settle_bank, merchants.c.settle_account_masked
        ).where(merchants.c.id == merchant_id)
    ).first()
    if m is None:
        raise NotFound(f"没有商户 {merchant_id} / no merchant {merchant_id}", param="merchant_id")
    lines: list[dict[str, Any]] = []
    for p in conn.execute(
        select(
            payments.c.id,
            payments.c.merchant_order_no,
            payments.c.channel,
            payments.c.card_type,
            payments.c.amount_fen,
            payments.c.fee_fen,
            payments.c.succeeded_at,
            payments.c.business_date,
        ).where(
            and_(
                payments.c.business_date >= first,
                payments.c.business_date <= last,
                payments.c.merchant_id == merchant_id,
                payments.c.status == "succeeded",
            )
        )
    ):
        lines.append(
            {
                "date": p.business_date,
                "at": p.succeeded_at,
                "kind": "payment",
                "ref": p.id,
                "order_no": p.merchant_order_no,
                "channel": p.channel,
                "card_type": p.card_type or "",
                "amount_fen": p.amount_fen,
                "fee_fen": p.fee_fen,
                "net_fen": p.amount_fen - p.fee_fen,
                "note": "",
            }
        )
    for r in conn.execute(
        select(
            refunds.c.id,
            refunds.c.payment_id,
            refunds.c.amount_fen,
            refunds.c.fee_refunded_fen,
            refunds.c.updated_at,
            refunds.c.business_date,
            refunds.c.reason,
        ).where(
            and_(
                refunds.c.merchant_id == merchant_id,
                refunds.c.status == "succeeded",
                refunds.c.business_date >= first,
                refunds.c.business_date <= last,
            )
        )
    ):
        lines.append(
            {
                "date": r.business_date,
                "at": r.updated_at,
                "kind": "refund",
                "ref": r.id,
                "order_no": r.payment_id,
                "channel": "",
                "card_type": "",
                "amount_fen": -r.amount_fen,
                "fee_fen": -r.fee_refunded_fen,
                "net_fen": -(r.amount_fen - r.fee_refunded_fen),
                "note": r.reason,
            }
        )
    start, end = day_end(first - dt.timedelta(days=1)), day_end(last)
    key = entries.c.idempotency_key
    for e in conn.execute(
        select(
            entries.c.id, entries.c.description, entries.c.created_at, postings.c.side, postings.c.amount_fen
        )
        .select_from(postings.join(entries, entries.c.id == postings.c.entry_id))
        .where(
            and_(
                postings.c.account_code == PAYABLE + merchant_id,
                entries.c.created_at >= start,
                entries.c.created_at < end,
                *(~key.startswith(k) for k in ledger_keys.TRADING_PREFIXES),
                ~key.startswith(KEY_PREFIX),
            )
        )
    ):
        signed = e.amount_fen if e.side == "C" else -e.amount_fen
        lines.append(
            {
                "date": business_date(e.created_at),
                "at": e.created_at,
                "kind": "adjustment",
                "ref": e.id,
                "order_no": "",
                "channel": "",
                "card_type": "",
                "amount_fen": signed,
                "fee_fen": 0,
                "net_fen": signed,
                "note": e.description,
            }
        )
    for po in conn.execute(
        select(settlement_payouts).where(
            and_(
                settlement_payouts.c.merchant_id == merchant_id,
                settlement_payouts.c.business_date >= first,
                settlement_payouts.c.business_date <= last,
            )
        )
    ):
        lines.append(
            {
                "date": po.business_date,
                "at": po.created_at,
                "kind": "payout",
                "ref": po.id,
                "order_no": po.batch_no,
                "channel": po.bank,
                "card_type": po.account_masked,
                "amount_fen": -po.amount_fen,
                "fee_fen": 0,
                "net_fen": -po.amount_fen,
                "note": f"{STATUS_ZH.get(po.status, po.status)} {po.settle_date}"
                + (f" {po.reason}" if po.reason else ""),
            }
        )
    if len(lines) > LINES_MAX:
        raise InvalidRequest(
            f"more than {LINES_MAX} lines: ask for one day at a time",
            param="month",
            code="statement_too_large",
        )
    order = {"payment": 0, "refund": 1, "adjustment": 2, "payout": 3}
    lines.sort(key=lambda ln: (ln["date"], order[ln["kind"]], ln["at"], ln["ref"]))
    days = [
        dict(s._mapping)
        for s in conn.execute(
            select(settlements)
            .where(
                and_(
                    settlements.c.merchant_id == merchant_id,
                    settlements.c.business_date >= first,
                    settlements.c.business_date <= last,
                )
            )
            .order_by(settlements.c.business_date)
        )
    ]
    totals = {k: sum(ln[k] for ln in lines) for k in ("amount_fen", "fee_fen", "net_fen")}
    return {
        "merchant_id": merchant_id,
        "merchant_name": m.legal_name,
        "bank": m.settle_bank,
        "account": m.settle_account_masked,
        "period": label,
        "first": first,
        "last": last,
        "generated_at": at,
        "lines": lines,
        "days": days,
        "totals": totals,
    }


def _detail_row(ln: dict[str, Any]) -> list[Any]:
    return [
        ln["date"].isoformat(),
        ln["at"].astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S"),
        KINDS_ZH[ln["kind"]],
        ln["ref"],
        ln["order_no"],
        ln["channel"],
        ln["card_type"],
        ln["amount_fen"],
        ln["fee_fen"],
        ln["net_fen"],
        ln["note"],
    ]


def _day_row(d: dict[str, Any]) -> list[Any]:
    return [
        d["business_date"].isoformat(),
        d["settle_date"].isoformat(),
        d["cycle"],
        d["sales_count"],
        d["sales_fen"],
        d["refund_count"],
        d["refund_fen"],
        d["fee_fen"],
        d["fee_returned_fen"],
        d["adjustments_fen"],
        d["brought_forward_fen"],
        d["net_fen"],
        d["payout_fen"],
        d["carried_fen"],
        STATUS_ZH.get(d["status"], d["status"]),
    ]


_DETAIL_MONEY = (7, 8, 9)
_DAY_MONEY = (4, 6, 7, 8, 9, 10, 11, 12, 13)
_DAY_SUMMED = (3, 4, 5, 6, 7, 8, 9, 12)  # columns whose total means something (not balances carried along)


def _day_totals(doc: dict[str, Any]) -> list[Any]:
    rows = [_day_row(d) for d in doc["days"]]
    out: list[Any] = ["合计"] + [""] * (len(DAY_HEADERS) - 1)
    for i in _DAY_SUMMED:
        out[i] = sum(r[i] for r in rows)
    return out


def to_csv(doc: dict[str, Any]) -> bytes:
    """UTF-8 with a byte-order mark (so spreadsheet programs read the Chinese), amounts as yuan like 12.34."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(
        ["商户对账单", doc["merchant_name"], doc["merchant_id"], doc["period"], doc["bank"], doc["account"]]
    )
    w.writerow(DETAIL_HEADERS)
    for ln in doc["lines"]:
        row = _detail_row(ln)
        for i in _DETAIL_MONEY:
            row[i] = fen_to_yuan_str(row[i])
        w.writerow(row)
    t = doc["totals"]
    w.writerow(
        [
            "合计",
            "",
            "",
            f"{len(doc['lines'])} 笔",
            "",
            "",
            "",
            fen_to_yuan_str(t["amount_fen"]),
            fen_to_yuan_str(t["fee_fen"]),
            fen_to_yuan_str(t["net_fen"]),
            "",
        ]
    )
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(doc: dict[str, Any]) -> bytes:
    """Two sheets, 每日结算 (per-day settlement lines) and 交易明细 (every movement), each with a total row;
    amounts are numbers in yuan with two decimals."""
    wb = Workbook(write_only=True)
    bold = Font(bold=True)
    money = "#,##0.00"

    def sheet(
        title: str,
        headers: tuple[str, ...],
        rows: list[list[Any]],
        money_cols: tuple[int, ...],
        total: list[Any],
    ) -> None:
        from openpyxl.cell import WriteOnlyCell

        ws = wb.create_sheet(title)
        ws.freeze_panes = "A3"
        for i, h in enumerate(headers):
            ws.column_dimensions[chr(ord("A") + i)].width = max(12, len(h) * 2 + 2)
        title_cell = WriteOnlyCell(
            ws,
            f"{doc['merchant_name']}（{doc['merchant_id']}）{doc['period']} 对账单  "
            f"结算账户 {doc['bank']} {doc['account']}",
        )
        title_cell.font = bold
        ws.append([title_cell])
        head = []
        for h in headers:
            c = WriteOnlyCell(ws, h)
            c.font = bold
            head.append(c)
        ws.append(head)
        for row in [*rows, total]:
            cells = []
            for i, v in enumerate(row):
                c = WriteOnlyCell(ws, _yuan(v) if i in money_cols and isinstance(v, int) else v)
                if i in money_cols:
                    c.number_format = money
                if row is total:
                    c.font = bold
                cells.append(c)
            ws.append(cells)

    t = doc["totals"]
    detail_total: list[Any] = [
        "合计",
        "",
        "",
        f"{len(doc['lines'])} 笔",
        "",
        "",
        "",
        t["amount_fen"],
        t["fee_fen"],
        t["net_fen"],
        "",
    ]
    sheet("每日结算", DAY_HEADERS, [_day_row(d) for d in doc["days"]], _DAY_MONEY, _day_totals(doc))
    sheet("交易明细", DETAIL_HEADERS, [_detail_row(ln) for ln in doc["lines"]], _DETAIL_MONEY, detail_total)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
