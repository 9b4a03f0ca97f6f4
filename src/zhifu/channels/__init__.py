"""Payment rails: one package per rail family (`unionpay`, `wechat`, `alipay`) behind one protocol, and the
registry that finds them. Nothing outside this package names a rail."""

from __future__ import annotations

import re

from zhifu.channels.base import (
    BadNotification,
    Channel,
    ChannelResult,
    Notification,
    NotificationAck,
    PaymentOrder,
    RailError,
    RailFacts,
    RailTimeout,
    merchant_code,
)
from zhifu.channels.registry import CHANNELS, FACTS, TERMINAL_CHANNELS, configure, facts, get_channel
from zhifu.core.errors import InvalidRequest

REGISTRY = FACTS  # name -> the rail's facts (labels, mobile, bank_standard, ...)
_PAYCODES = tuple((re.compile(f.paycode_pattern), f.name) for f in FACTS.values() if f.paycode_pattern)


def channel_for_auth_code(auth_code: str) -> str:
    """Route a consumer's pay code by its shape (each rail declares the shape of its codes)."""
    for pattern, name in _PAYCODES:
        if pattern.fullmatch(auth_code):
            return name
    raise InvalidRequest(
        "付款码无法识别 / auth_code is not a pay code of UnionPay (19 digits from 62), WeChat (18 "
        "digits from 10–15) or Alipay (16–24 digits from 25–30)",
        param="auth_code",
        code="invalid_auth_code",
    )


__all__ = [
    "CHANNELS",
    "FACTS",
    "REGISTRY",
    "TERMINAL_CHANNELS",
    "BadNotification",
    "Channel",
    "ChannelResult",
    "Notification",
    "NotificationAck",
    "PaymentOrder",
    "RailError",
    "RailFacts",
    "RailTimeout",
    "channel_for_auth_code",
    "configure",
    "facts",
    "get_channel",
    "merchant_code",
]
