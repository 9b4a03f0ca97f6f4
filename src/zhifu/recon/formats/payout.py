"""The bank's payout result file for settlement: UTF-8 CSV with a control-total last line."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass

from zhifu.channels.statement import LINES_MAX, StatementFormatError
from zhifu.channels.statement_text import check_columns, decode

COLUMNS: tuple[str, ...] = (
    "batch_no",
    "payout_id",
    "merchant_id",
    "account_no",
    "account_name",
    "amount_fen",
    "status",
    "reason",
)
PAYOUT_STATUSES = frozenset({"paid", "failed"})
_FEN_RE = re.compile(r"[1-9][0-9]{0,14}")
_COUNT_RE = re.compile(r"0|[1-9][0-9]{0,8}")


@dataclass(frozen=True, slots=True)
class PayoutResult:
    """One payout as the bank reports it: paid, or failed with a reason."""

    batch_no: str
    payout_id: str
    merchant_id: str
    account_no: str
    account_name: str
    amount_fen: int
    status: str
    reason: str = ""


def write_payout_results(rows: Sequence[PayoutResult]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for r in rows:
        writer.writerow(
            [
                r.batch_no,
                r.payout_id,
                r.merchant_id,
                r.account_no,
                r.account_name,
                r.amount_fen,
                r.status,
                r.reason,
            ]
        )
    writer.writerow(["TOTAL", len(rows), sum(r.amount_fen for r in rows)])
    return out.getvalue().encode("utf-8")


def _parse_row(row: list[str], line_no: int) -> PayoutResult:
    check_columns(row, COLUMNS, line_no)
    values = dict(zip(COLUMNS, row, strict=True))
    for name in ("batch_no", "payout_id", "merchant_id", "account_no", "account_name"):
        if not values[name]:
            raise StatementFormatError("is blank", line_no=line_no, field=name)
    if not _FEN_RE.fullmatch(values["amount_fen"]):
        raise StatementFormatError(
            f"{values['amount_fen']!r} is not a positive integer of fen", line_no=line_no, field="amount_fen"
        )
    if values["status"] not in PAYOUT_STATUSES:
        raise StatementFormatError(
            f"status {values['status']!r} is not paid or failed", line_no=line_no, field="status"
        )
    if values["status"] == "failed" and not values["reason"]:
        raise StatementFormatError("a failed payout needs a reason", line_no=line_no, field="reason")
    return PayoutResult(
        batch_no=values["batch_no"],
        payout_id=values["payout_id"],
        merchant_id=values["merchant_id"],
        account_no=values["account_no"],
        account_name=values["account_name"],
        amount_fen=int(values["amount_fen"]),
        status=values["status"],
        reason=values["reason"],
    )


def parse_payout_results(data: bytes) -> list[PayoutResult]:
    """Every row, checked, and the TOTAL line's count and sum verified against them."""
    rows = list(csv.reader(decode(data, "utf-8", COLUMNS).removeprefix("\ufeff").splitlines()))
    if not rows or tuple(rows[0]) != COLUMNS:
        raise StatementFormatError("header row is not the payout result header", line_no=1, field="header")
    if len(rows) < 2 or not rows[-1] or rows[-1][0] != "TOTAL":
        raise StatementFormatError(
            "the last line must be TOTAL,<count>,<sum amount_fen>", line_no=len(rows), field="TOTAL"
        )
    if len(rows) - 2 > LINES_MAX:
        raise StatementFormatError(f"more than {LINES_MAX} lines")
    out = [_parse_row(row, i + 2) for i, row in enumerate(rows[1:-1])]
    seen: set[str] = set()
    for i, r in enumerate(out):
        if r.batch_no != out[0].batch_no:
            raise StatementFormatError(
                f"batch {r.batch_no} differs from {out[0].batch_no}", line_no=i + 2, field="batch_no"
            )
        if r.payout_id in seen:
            raise StatementFormatError(
                f"payout {r.payout_id} appears twice", line_no=i + 2, field="payout_id"
            )
        seen.add(r.payout_id)
    total, line_no = rows[-1], len(rows)
    if (
        len(total) != 3
        or not _COUNT_RE.fullmatch(total[1])
        or not (total[2] == "0" or _FEN_RE.fullmatch(total[2]))
    ):
        raise StatementFormatError(
            "control line must be TOTAL,<count>,<sum amount_fen>", line_no=line_no, field="TOTAL"
        )
    if int(total[1]) != len(out):
        raise StatementFormatError(
            f"control count {total[1]} but the file has {len(out)} rows", line_no=line_no, field="count"
        )
    amount_fen = sum(r.amount_fen for r in out)
    if int(total[2]) != amount_fen:
        raise StatementFormatError(
            f"control sum {total[2]} but the rows add up to {amount_fen}", line_no=line_no, field="amount_fen"
        )
    return out
