"""中文在前 / Chinese first in the files people open: every CSV and workbook export heads each column with its
Chinese name (the machine name after it where a program reads the file) and names its sheets in Chinese."""

from __future__ import annotations

import csv
import io
import re

from openpyxl import load_workbook

from zhifu.bills.nontax import ITEM_FIELDS, RECEIPT_FIELDS
from zhifu.bills.social import EXPORT_HEADER as SOCIAL
from zhifu.complaints.service import EXPORT_HEAD as COMPLAINTS
from zhifu.recon.service import REPORT_COLUMNS, report_csv, report_xlsx
from zhifu.rural.payouts import BUYER_STATEMENT_HEADINGS
from zhifu.settlement.statements import DETAIL_HEADERS

CHINESE_FIRST = re.compile(r"^[\u4e00-\u9fff（]")


def _chinese_first(headings: list[str] | tuple[str, ...], where: str) -> None:
    assert headings, where
    for h in headings:
        assert CHINESE_FIRST.match(str(h)), (where, h)


def test_every_export_heads_its_columns_in_chinese_first() -> None:
    rows = [
        {
            "business_date": "2026-12-01",
            "channel": "wechat",
            "batch_id": "rcb_1",
            "side": "line",
            "class": "matched",
            "count": 3,
            "amount_fen": 1200,
            "open": 0,
            "proposed": 0,
            "resolved": 0,
        }
    ]
    text = report_csv(rows).decode("utf-8-sig")
    head, first = list(csv.reader(io.StringIO(text)))[:2]
    _chinese_first(head, "recon csv")
    assert head[0] == "业务日期 business_date" and head[6] == "金额（分） amount_fen"  # the machine name kept
    assert len(head) == len(REPORT_COLUMNS) and first[6] == "1200"
    case = {k: "x" for k in ("id", "business_date", "channel", "kind", "item_id", "line_no", "merchant_id")}
    case |= {k: 0 for k in ("ours_fen", "channel_fen", "diff_fen")}
    case |= {"suggested_action": "", "status": "open", "action": "", "proposed_by": "", "approved_by": ""}
    wb = load_workbook(io.BytesIO(report_xlsx(rows, [case])))
    for ws in wb.worksheets:
        assert CHINESE_FIRST.match(ws.title), ws.title
        _chinese_first([c.value for c in ws[1]], f"recon xlsx {ws.title}")
    _chinese_first(COMPLAINTS, "complaints export")
    _chinese_first(BUYER_STATEMENT_HEADINGS, "purchase station statement")
    _chinese_first(list(DETAIL_HEADERS), "merchant statement")
    _chinese_first(SOCIAL, "social insurance file")
    _chinese_first([zh for zh, _ in RECEIPT_FIELDS] + [zh for zh, _ in ITEM_FIELDS], "fiscal e-receipts")
