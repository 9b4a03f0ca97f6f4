"""Helpers shared by the CSV-style bills: exact yuan↔fen text, decoding that names the line."""

from __future__ import annotations

import re

from zhifu.channels.statement import StatementFormatError
from zhifu.core.money import fen_to_yuan_str

fen_to_yuan = fen_to_yuan_str  # the statement formats write amounts as core writes yuan text

_YUAN_RE = re.compile(r"(-?)(0|[1-9][0-9]{0,12})\.([0-9]{2})")


def yuan_to_fen(text: str, *, line_no: int, field: str) -> int:
    """ "12.34" → 1234 and "-0.06" → -6, exactly; anything else is refused."""
    m = _YUAN_RE.fullmatch(text)
    if m is None:
        raise StatementFormatError(
            f"{text!r} is not an amount of yuan like 12.34", line_no=line_no, field=field
        )
    fen = int(m.group(2)) * 100 + int(m.group(3))
    return -fen if m.group(1) else fen


def decode(data: bytes, encoding: str, columns: tuple[str, ...] = ()) -> str:
    """Decode the whole file or refuse it naming the line (and the column, when it can tell)."""
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line_no = data.count(b"\n", 0, exc.start) + 1
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        column = data.count(b",", line_start, exc.start)
        field = columns[column] if column < len(columns) else f"column {column + 1}"
        raise StatementFormatError(
            f"bytes {data[exc.start : exc.end]!r} are not valid {encoding.upper()}",
            line_no=line_no,
            field=field,
        ) from exc


def check_columns(row: list[str], columns: tuple[str, ...], line_no: int) -> None:
    """A detail row has exactly the header's columns; a short row names the first missing one."""
    if len(row) < len(columns):
        raise StatementFormatError(
            f"line has {len(row)} columns, expected {len(columns)}: too short",
            line_no=line_no,
            field=columns[len(row)],
        )
    if len(row) > len(columns):
        raise StatementFormatError(
            f"line has {len(row)} columns, expected {len(columns)}: too long",
            line_no=line_no,
            field=columns[-1],
        )
