"""Statement files: one typed row, and each rail's own parser and writer (in its package), found by channel."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from types import ModuleType

import polars as pl

from zhifu.channels.statement import (
    CUTOFF_HOUR,
    STATUSES,
    TXN_TYPES,
    StatementFormatError,
    StatementLine,
    business_date_of,
)
from zhifu.channels.statement_frame import STATEMENT_SCHEMA, lines_to_frame
from zhifu.recon.formats.payout import PayoutResult, parse_payout_results, write_payout_results

__all__ = [
    "CUTOFF_HOUR",
    "STATEMENT_SCHEMA",
    "STATUSES",
    "TXN_TYPES",
    "PayoutResult",
    "StatementFormatError",
    "StatementLine",
    "business_date_of",
    "file_sha256",
    "format_of",
    "lines_to_frame",
    "parse_payout_results",
    "parse_statement",
    "parse_statement_frame",
    "write_payout_results",
    "write_statement",
]


def _family(channel: str) -> ModuleType:
    from zhifu.channels.registry import FACTS, FAMILIES

    f = FACTS.get(channel)
    if f is None:
        raise StatementFormatError(f"unknown channel {channel!r}", field="channel")
    return FAMILIES[f.family]


def format_of(channel: str) -> str:
    """The statement format a channel delivers (its rail declares it); an unknown channel is refused."""
    from zhifu.channels.registry import FACTS

    _family(channel)
    return FACTS[channel].statement_format


def parse_statement(channel: str, data: bytes, business_date: dt.date) -> list[StatementLine]:
    """Every line of a channel's file for `business_date`, or StatementFormatError for the whole file."""
    return list(_family(channel).parse_statement(data, business_date, channel))


def parse_statement_frame(channel: str, data: bytes, business_date: dt.date) -> pl.DataFrame:
    """The same lines as a STATEMENT_SCHEMA frame; a rail may parse column-wise for large days (ZM does)."""
    family = _family(channel)
    frame = getattr(family, "parse_statement_frame", None)
    if frame is not None:
        return frame(data, business_date, channel)
    return lines_to_frame(family.parse_statement(data, business_date, channel))


def write_statement(channel: str, lines: Sequence[StatementLine], business_date: dt.date) -> bytes:
    """The channel's file for `business_date`, in that channel's format."""
    return bytes(_family(channel).write_statement(lines, business_date))


def file_sha256(data: bytes) -> str:
    """Hex SHA-256 of a file as received, to record and to refuse re-imports."""
    return hashlib.sha256(data).hexdigest()
