"""Alipay (支付宝) through the Alipay OpenAPI gateway: the acquirer's app places face-to-face trades for its
sub-merchants (pay code and QR), signs every call RSA2 and verifies every answer and notification with Alipay's
public key; the day's business bill comes through the bill download."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from zhifu.channels.alipay.connector import AlipayConnector
from zhifu.channels.alipay.statement import parse_alipay, write_alipay
from zhifu.channels.base import Channel, RailFacts
from zhifu.channels.http import RailHttp
from zhifu.channels.statement import StatementLine

FAMILY = "alipay"
RAILS: tuple[RailFacts, ...] = (
    RailFacts(
        name="alipay",
        label_zh="支付宝",
        label_en="Alipay",
        family=FAMILY,
        terminal=False,
        bank_standard=False,
        mobile=True,
        card_types=("wallet", "debit", "credit"),
        statement_format="alipay",
        costs={"*": (2000, None, 0, None)},
        paycode_pattern=r"(2[5-9]|30)[0-9]{14,22}",
    ),
)


def connector(facts: RailFacts, config: Mapping[str, Any], http: RailHttp) -> Channel:
    return AlipayConnector(facts, config, http)


def parse_statement(data: bytes, business_date: dt.date, channel: str = "alipay") -> list[StatementLine]:
    return parse_alipay(data, business_date, channel)


def write_statement(lines: Sequence[StatementLine], business_date: dt.date) -> bytes:
    return write_alipay(lines, business_date)


__all__ = ["FAMILY", "RAILS", "AlipayConnector", "connector", "parse_statement", "write_statement"]
