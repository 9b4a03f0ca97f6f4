"""Channel statement files: one typed row, a strict parser and a writer per format, dispatched by channel."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Sequence

import polars as pl

from zhifu.channels.alipay.statement import parse_alipay, write_alipay
from zhifu.channels.statement_frame import STATEMENT_SCHEMA, lines_to_frame
from zhifu.channels.statement import (
    CUTOFF_HOUR,
    STATUSES,
    TXN_TYPES,
    StatementFormatError,
    StatementLine,
    business_date_of,
)
from zhifu.recon.formats.payout import PayoutResult, parse_payout_results, write_payout_results
from zhifu.channels.wechat.statement import parse_wechat, write_wechat
from zhifu.channels.unionpay.statement import parse_zm, parse_zm_frame, write_zm

__all__ = [
    "CHANNEL_FORMATS",
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

# UnionPay-switched rails (bank apps, face pay, the social-security card) all settle through the ZM file.
CHANNEL_FORMATS: dict[str, str] = {
    "unionpay_qr": "zm",
    "unionpay_card": "zm",
    "nfc": "zm",
    "bank_app": "zm",
    "face": "zm",
    "sscard": "zm",
    "wechat": "wechat",
    "alipay": "alipay",
}
_Parser = Callable[[bytes, dt.date, str], list[StatementLine]]
_Writer = Callable[[Sequence[StatementLine], dt.date], bytes]
_PARSERS: dict[str, _Parser] = {"zm": parse_zm, "wechat": parse_wechat, "alipay": parse_alipay}
_WRITERS: dict[str, _Writer] = {"zm": write_zm, "wechat": write_wechat, "alipay": write_alipay}


def format_of(channel: str) -> str:
    """The statement format a channel delivers; an unknown channel is refused."""
    try:
        return CHANNEL_FORMATS[channel]
    except KeyError:
        raise StatementFormatError(f"unknown channel {channel!r}", field="channel") from None


def parse_statement(channel: str, data: bytes, business_date: dt.date) -> list[StatementLine]:
    """Every line of a channel's file for `business_date`, or StatementFormatError for the whole file."""
    return _PARSERS[format_of(channel)](data, business_date, channel)


def parse_statement_frame(channel: str, data: bytes, business_date: dt.date) -> pl.DataFrame:
    """The same lines as a STATEMENT_SCHEMA frame; ZM files are parsed column-wise for large days."""
    fmt = format_of(channel)
    if fmt == "zm":
        return parse_zm_frame(data, business_date, channel)
    return lines_to_frame(_PARSERS[fmt](data, business_date, channel))


def write_statement(channel: str, lines: Sequence[StatementLine], business_date: dt.date) -> bytes:
    """The channel's file for `business_date`, in that channel's format."""
    return _WRITERS[format_of(channel)](lines, business_date)


def file_sha256(data: bytes) -> str:
    """Hex SHA-256 of a file as received, to record and to refuse re-imports."""
    return hashlib.sha256(data).hexdigest()
