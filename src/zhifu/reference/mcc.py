"""ISO 18245 merchant category codes used in China, with Chinese and English names (data in mcc.csv)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import cache
from importlib import resources

from zhifu.core.errors import InvalidRequest


@dataclass(frozen=True, slots=True)
class Mcc:
    """One merchant category: a 4-digit code, its names, a coarse group and a county usage note."""

    code: str
    name_zh: str
    name_en: str
    group: str
    note: str = ""


@cache
def _table() -> dict[str, Mcc]:
    text = resources.files("zhifu.reference").joinpath("mcc.csv").read_text(encoding="utf-8")
    table: dict[str, Mcc] = {}
    for row in csv.DictReader(io.StringIO(text)):
        mcc = Mcc(row["code"], row["name_zh"], row["name_en"], row["group"], row["note"] or "")
        if len(mcc.code) != 4 or not mcc.code.isdigit() or mcc.code in table:
            raise ValueError(f"mcc.csv: bad or duplicate code {mcc.code!r}")
        table[mcc.code] = mcc
    return table


def is_known_mcc(code: str) -> bool:
    """True when `code` is in the reference list."""
    return code in _table()


def get_mcc(code: str, *, param: str = "mcc") -> Mcc:
    """The category for a 4-digit code; unknown codes raise InvalidRequest."""
    mcc = _table().get(code) if isinstance(code, str) else None
    if mcc is None:
        raise InvalidRequest(
            f'未知的商户类别码 {code!r} / unknown merchant category code {code!r} (4 digits, e.g. "5411")',
            param=param,
        )
    return mcc


def all_mccs() -> list[Mcc]:
    """Every category in the reference list, ordered by code."""
    return sorted(_table().values(), key=lambda m: m.code)
