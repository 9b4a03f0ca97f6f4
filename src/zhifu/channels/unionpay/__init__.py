"""UnionPay-switched rails (银联转接): UnionPay QR / 云闪付, bank card at a POS, NFC (QuickPass), a bank's own app,
face pay and the electronic social-security card — one connector for the acquirer gateway (5.1.0 messages,
certificate RSA-SHA256 signatures) and one statement format, the ZM file."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from zhifu.channels.base import Channel, RailFacts
from zhifu.channels.http import RailHttp
from zhifu.channels.statement import StatementLine
from zhifu.channels.unionpay.connector import UnionPayConnector
from zhifu.channels.unionpay.statement import parse_zm, parse_zm_frame, write_zm

FAMILY = "unionpay"
STATEMENT_FORMAT = "zm"
DEFAULT_ISSUER = "yiyuan_rcb"
REF_WIDTH = 21  # queryId
_COSTS: dict[str, tuple[int, int | None, int, int | None]] = {
    "debit": (3500, 1300, 325, 325),
    "credit": (4500, None, 325, 325),
}


def _rail(
    name: str,
    zh: str,
    en: str,
    *,
    mobile: bool,
    terminal: bool,
    cards: tuple[str, ...] = ("debit", "credit"),
    paycode: str | None = None,
) -> RailFacts:
    return RailFacts(
        name=name,
        label_zh=zh,
        label_en=en,
        family=FAMILY,
        terminal=terminal,
        bank_standard=True,
        mobile=mobile,
        card_types=cards,
        statement_format=STATEMENT_FORMAT,
        costs=_COSTS,
        paycode_pattern=paycode,
        ref_digits=REF_WIDTH,
    )


RAILS: tuple[RailFacts, ...] = (
    _rail(
        "unionpay_qr",
        "云闪付/银联二维码",
        "UnionPay QR and UnionPay app",
        mobile=True,
        terminal=False,
        paycode=r"62[0-9]{17}",
    ),
    _rail("unionpay_card", "银行卡", "Bank card at a POS", mobile=False, terminal=True),
    _rail("nfc", "手机闪付", "NFC phone pay (QuickPass)", mobile=True, terminal=True),
    _rail("bank_app", "银行App", "A bank's own app", mobile=True, terminal=False),
    _rail("face", "刷脸支付", "Biometric (face) pay", mobile=True, terminal=True),
    _rail(
        "sscard",
        "电子社保卡",
        "Electronic social-security card",
        mobile=True,
        terminal=True,
        cards=("debit",),
    ),
)


def connector(facts: RailFacts, config: Mapping[str, Any], http: RailHttp) -> Channel:
    return UnionPayConnector(facts, config, http)


def parse_statement(data: bytes, business_date: dt.date, channel: str) -> list[StatementLine]:
    return parse_zm(data, business_date, channel)


def parse_statement_frame(data: bytes, business_date: dt.date, channel: str) -> pl.DataFrame:
    return parse_zm_frame(data, business_date, channel)


def write_statement(lines: Sequence[StatementLine], business_date: dt.date) -> bytes:
    return write_zm(lines, business_date)
