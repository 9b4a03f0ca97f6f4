"""WeChat Pay (微信支付) through API v3 in service-provider mode: the rail's facts, its connector and its trade
bill (交易账单) format."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from zhifu.channels.base import Channel, RailFacts
from zhifu.channels.http import RailHttp
from zhifu.channels.statement import StatementLine
from zhifu.channels.wechat.statement import parse_wechat, write_wechat

FAMILY = "wechat"
RAILS: tuple[RailFacts, ...] = (
    RailFacts(
        name="wechat",
        label_zh="微信支付",
        label_en="WeChat Pay",
        family=FAMILY,
        terminal=False,
        bank_standard=False,
        mobile=True,
        card_types=("wallet", "debit", "credit"),
        statement_format="wechat",
        costs={"*": (2000, None, 0, None)},
        paycode_pattern=r"1[0-5][0-9]{16}",
    ),
)
REF_PREFIX = "42000"  # transaction ids: 28 digits, "42000" then yyyymmdd...
REF_WIDTH = 28


def connector(facts: RailFacts, config: Mapping[str, Any], http: RailHttp) -> Channel:
    from zhifu.channels.wechat.client import WechatConnector

    return WechatConnector(facts, config, http)


def parse_statement(data: bytes, business_date: dt.date, channel: str = "wechat") -> list[StatementLine]:
    return parse_wechat(data, business_date, channel)


def write_statement(lines: Sequence[StatementLine], business_date: dt.date) -> bytes:
    return write_wechat(lines, business_date)


__all__ = ["FAMILY", "RAILS", "connector", "parse_statement", "write_statement"]
