"""Payment channels: one module per rail behind one protocol, and the registry that finds them."""

from __future__ import annotations

import re

from zhifu.channels import alipay, bank_app, face, nfc, sscard, unionpay_card, unionpay_qr, wechat
from zhifu.channels.base import Channel, ChannelResult, Notification, PaymentOrder
from zhifu.channels.sim import OUTCOMES, Payer, SimConfig, SimulatedRail, paycode_outcome, sim_txns
from zhifu.core.errors import InvalidRequest

REGISTRY: dict[str, SimulatedRail] = {
    m.channel.name: m.channel
    for m in (unionpay_qr, unionpay_card, nfc, bank_app, face, sscard, wechat, alipay)
}
CHANNELS = tuple(REGISTRY)


def get_channel(name: str) -> SimulatedRail:
    try:
        return REGISTRY[name]
    except KeyError:
        raise InvalidRequest(f"unknown channel {name!r}; one of {', '.join(CHANNELS)}", param="channel") from None


_PAYCODES = (
    (re.compile(r"62[0-9]{17}"), "unionpay_qr"),
    (re.compile(r"1[0-5][0-9]{16}"), "wechat"),
    (re.compile(r"(2[5-9]|30)[0-9]{14,22}"), "alipay"),
)


def channel_for_auth_code(auth_code: str) -> str:
    """Route a consumer's pay code by its shape: UnionPay 19 digits from 62; WeChat 18 from 10–15; Alipay
    16–24 from 25–30."""
    for pattern, name in _PAYCODES:
        if pattern.fullmatch(auth_code):
            return name
    raise InvalidRequest("auth_code is not a pay code of UnionPay (19 digits from 62), WeChat (18 digits from "
                         "10–15) or Alipay (16–24 digits from 25–30)", param="auth_code", code="invalid_auth_code")


__all__ = ["CHANNELS", "Channel", "ChannelResult", "Notification", "OUTCOMES", "Payer", "PaymentOrder", "REGISTRY",
           "SimConfig", "SimulatedRail", "channel_for_auth_code", "get_channel", "paycode_outcome", "sim_txns"]
