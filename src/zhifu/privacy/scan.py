"""个人信息明文扫描 / The plaintext scan: is any known personal value (C2: an ID number, a phone, an account
number, a name) stored or logged in the clear? Values are looked for in every text column of every table, and in
files (a SQLite database with its journal, log files) as UTF-8 and GBK bytes. A hit names where, never the value.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from pathlib import Path

from sqlalchemy import JSON, Connection, String, select

from zhifu.db.meta import metadata

VALUE_CHARS_MIN = 6  # shorter values match by chance everywhere; a C2 value is longer than this
VALUES_MAX = 1_000  # values per scan: each is searched in every byte and every text cell
FILE_CHUNK_BYTES = 4 << 20  # files are read in 4 MB pieces (with an overlap) so a big database file fits
ROWS_PER_FETCH = 5_000


@dataclasses.dataclass(frozen=True)
class Hit:
    where: str  # "table.column" or "file@offset"
    value_masked: str


def _mask(value: str) -> str:
    return value[:3] + "*" * (len(value) - 5) + value[-2:]


def _check(values: Sequence[str]) -> list[str]:
    if len(values) > VALUES_MAX:
        raise ValueError(f"at most {VALUES_MAX} values per scan")
    short = [v for v in values if len(v) < VALUE_CHARS_MIN]
    if short:
        raise ValueError(f"value {_mask(short[0])!r} is shorter than {VALUE_CHARS_MIN} characters")
    return list(dict.fromkeys(values))


def _forms(value: str) -> set[bytes]:
    """The bytes a value is written as: UTF-8 and GBK, an ID's check letter in either case."""
    out: set[bytes] = set()
    for v in {value, value.lower(), value.upper()}:
        out.add(v.encode())
        try:
            out.add(v.encode("gbk"))
        except UnicodeEncodeError:
            pass
    return out


def scan_files(paths: Iterable[str | Path], values: Sequence[str]) -> list[Hit]:
    """Every place a value appears in the files' bytes (missing files are skipped: a WAL may be absent)."""
    values = _check(values)
    forms = [(v, f) for v in values for f in _forms(v)]
    overlap = max((len(f) for _, f in forms), default=1) - 1
    hits: list[Hit] = []
    for path in map(Path, paths):
        if not path.is_file():
            continue
        with path.open("rb") as fh:
            offset, tail = 0, b""
            while chunk := fh.read(FILE_CHUNK_BYTES):
                data = tail + chunk
                base = offset - len(tail)
                for v, f in forms:
                    at = data.find(f)
                    while at != -1:
                        if at + len(f) > len(tail):  # not already reported from the previous piece
                            hits.append(Hit(f"{path}@{base + at}", _mask(v)))
                        at = data.find(f, at + 1)
                offset += len(chunk)
                tail = data[-overlap:] if overlap else b""
    return hits


def scan_tables(conn: Connection, values: Sequence[str]) -> list[Hit]:
    """Every text or JSON column of every table this database has, row by row."""
    values = _check(values)
    low = [(v, v.lower()) for v in values]
    hits: list[Hit] = []
    for table in metadata.sorted_tables:
        cols = [c for c in table.columns if isinstance(c.type, String | JSON)]
        if not cols or not conn.dialect.has_table(conn, table.name):
            continue
        result = conn.execution_options(stream_results=True, yield_per=ROWS_PER_FETCH).execute(select(*cols))
        for row in result:
            for col, cell in zip(cols, row, strict=True):
                if cell is None:
                    continue
                text = str(cell).lower()
                hits.extend(Hit(f"{table.name}.{col.name}", _mask(v)) for v, lv in low if lv in text)
    return hits


__all__ = ["Hit", "scan_files", "scan_tables"]
