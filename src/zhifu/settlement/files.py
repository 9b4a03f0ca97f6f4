"""Payout instruction files: a UTF-8 CSV and a fixed-width GBK bank batch file, both ending in a control-total
line, plus a JSON summary. Written atomically (temp file, then rename) so a crash never leaves half a file."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zhifu.core.errors import InvalidRequest
from zhifu.core.money import fen_to_yuan_str

CSV_COLUMNS: tuple[str, ...] = (
    "batch_no",
    "payout_id",
    "merchant_id",
    "bank",
    "account_no",
    "account_name",
    "amount_fen",
    "amount_yuan",
    "settle_date",
    "advanced",
    "business_date",
)
# Fixed-width records: widths in GBK bytes; text left-aligned and space-padded, numbers right-aligned and
# zero-padded; every record is RECORD_BYTES long and ends with CRLF.
RECORD_BYTES = 240
HEADER_FIELDS: tuple[tuple[str, int], ...] = (
    ("kind", 1),
    ("batch_no", 20),
    ("business_date", 8),
    ("created_at", 14),
    ("currency", 3),
)
DETAIL_FIELDS: tuple[tuple[str, int], ...] = (
    ("kind", 1),
    ("seq", 8),
    ("payout_id", 32),
    ("merchant_id", 32),
    ("account_no", 32),
    ("account_name", 60),
    ("bank", 40),
    ("amount_fen", 15),
    ("settle_date", 8),
    ("advanced", 1),
)
TRAILER_FIELDS: tuple[tuple[str, int], ...] = (("kind", 1), ("count", 8), ("total_fen", 15))
_NUMERIC = frozenset({"seq", "amount_fen", "count", "total_fen"})


@dataclasses.dataclass(frozen=True, slots=True)
class PayoutInstruction:
    """One transfer the bank is asked to make to a merchant's own account."""

    batch_no: str
    payout_id: str
    merchant_id: str
    bank: str
    account_no: str
    account_name: str
    amount_fen: int
    settle_date: dt.date
    advanced: bool
    business_date: dt.date


def write_csv(rows: Sequence[PayoutInstruction]) -> bytes:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(CSV_COLUMNS)
    for r in rows:
        w.writerow(
            [
                r.batch_no,
                r.payout_id,
                r.merchant_id,
                r.bank,
                r.account_no,
                r.account_name,
                r.amount_fen,
                fen_to_yuan_str(r.amount_fen),
                r.settle_date.isoformat(),
                "Y" if r.advanced else "N",
                r.business_date.isoformat(),
            ]
        )
    w.writerow(["TOTAL", len(rows), sum(r.amount_fen for r in rows)])
    return out.getvalue().encode("utf-8")


def _gbk_text(value: str, width: int) -> tuple[bytes, bool]:
    """GBK bytes cut at a character boundary to fit; characters GBK lacks become '?' (flagged)."""
    raw = value.encode("gbk", errors="replace")
    lossy = raw.decode("gbk") != value
    while len(raw) > width:
        value = value[:-1]
        raw = value.encode("gbk", errors="replace")
    return raw.ljust(width, b" "), lossy


def _record(fields: tuple[tuple[str, int], ...], values: dict[str, Any]) -> tuple[bytes, bool]:
    parts, lossy = [], False
    for name, width in fields:
        value = values[name]
        if name in _NUMERIC:
            text = str(value)
            if not text.isdigit() or len(text) > width:
                raise InvalidRequest(f"{name} {value} does not fit {width} digits", param=name)
            parts.append(text.zfill(width).encode("ascii"))
        else:
            raw, lost = _gbk_text(str(value), width)
            lossy |= lost
            parts.append(raw)
    line = b"".join(parts)
    return line.ljust(RECORD_BYTES, b" ") + b"\r\n", lossy


def write_bank_batch(
    batch_no: str, business_date: dt.date, created_at: dt.datetime, rows: Sequence[PayoutInstruction]
) -> tuple[bytes, list[str]]:
    """The bank's fixed-width GBK batch file; returns it and the payout ids whose text GBK could not hold."""
    out = [
        _record(
            HEADER_FIELDS,
            {
                "kind": "H",
                "batch_no": batch_no,
                "business_date": f"{business_date:%Y%m%d}",
                "created_at": f"{created_at:%Y%m%d%H%M%S}",
                "currency": "CNY",
            },
        )[0]
    ]
    lossy: list[str] = []
    for i, r in enumerate(rows, 1):
        line, lost = _record(
            DETAIL_FIELDS,
            {
                "kind": "D",
                "seq": i,
                "payout_id": r.payout_id,
                "merchant_id": r.merchant_id,
                "account_no": r.account_no,
                "account_name": r.account_name,
                "bank": r.bank,
                "amount_fen": r.amount_fen,
                "settle_date": f"{r.settle_date:%Y%m%d}",
                "advanced": "Y" if r.advanced else "N",
            },
        )
        out.append(line)
        if lost:
            lossy.append(r.payout_id)
    out.append(
        _record(
            TRAILER_FIELDS, {"kind": "T", "count": len(rows), "total_fen": sum(r.amount_fen for r in rows)}
        )[0]
    )
    return b"".join(out), lossy


def _fields(line: bytes, fields: tuple[tuple[str, int], ...], line_no: int) -> dict[str, str]:
    out, pos = {}, 0
    for name, width in fields:
        try:
            out[name] = line[pos : pos + width].decode("gbk").strip()
        except UnicodeDecodeError as exc:
            raise InvalidRequest(f"line {line_no}, field {name}: not GBK text", param=name) from exc
        pos += width
    return out


def parse_bank_batch(data: bytes) -> tuple[dict[str, str], list[dict[str, str]], dict[str, str]]:
    """Read a bank batch file back: header, details and trailer, with the control line checked."""
    lines = data.split(b"\r\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for i, line in enumerate(lines, 1):
        if len(line) != RECORD_BYTES:
            raise InvalidRequest(f"line {i} is {len(line)} bytes, not {RECORD_BYTES}", param="line")
    if len(lines) < 2 or lines[0][:1] != b"H" or lines[-1][:1] != b"T":
        raise InvalidRequest(
            "a bank batch file is a header line, detail lines and a control line", param="line"
        )
    header = _fields(lines[0], HEADER_FIELDS, 1)
    details = [_fields(line, DETAIL_FIELDS, i) for i, line in enumerate(lines[1:-1], 2)]
    trailer = _fields(lines[-1], TRAILER_FIELDS, len(lines))
    if int(trailer["count"]) != len(details) or int(trailer["total_fen"]) != sum(
        int(d["amount_fen"]) for d in details
    ):
        raise InvalidRequest(
            f"line {len(lines)}: the control line does not match the detail lines", param="total"
        )
    return header, details, trailer


def write_atomically(path: Path, data: bytes) -> None:
    """Write the whole file or nothing; payout files hold account numbers, so only the owner may read them."""
    tmp = path.with_name(path.name + ".part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        os.fchmod(f.fileno(), 0o600)  # a leftover .part file keeps its old mode through O_CREAT
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_batch_files(
    directory: Path,
    batch_no: str,
    business_date: dt.date,
    created_at: dt.datetime,
    rows: Sequence[PayoutInstruction],
    summary: dict[str, Any],
) -> dict[str, str]:
    """Write the CSV, the GBK bank file and the summary; returns their paths by kind."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    directory.chmod(0o700)  # the files carry full account numbers: owner only, even in an older directory
    bank, lossy = write_bank_batch(batch_no, business_date, created_at, rows)
    summary = {**summary, "gbk_replaced_payouts": lossy}
    paths = {
        "csv": directory / f"{batch_no}.csv",
        "bank": directory / f"{batch_no}.gbk.txt",
        "summary": directory / f"{batch_no}.summary.json",
    }
    write_atomically(paths["csv"], write_csv(rows))
    write_atomically(paths["bank"], bank)
    write_atomically(
        paths["summary"], json.dumps(summary, ensure_ascii=False, indent=2, default=str).encode()
    )
    return {k: str(v) for k, v in paths.items()}
