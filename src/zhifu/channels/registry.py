"""The rails the platform speaks to: one line per rail family, each family a package that declares its rails'
facts and builds their connectors from the acquirer's rail configuration (base URLs, ids, key files)."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx

from zhifu.channels import alipay, unionpay, wechat
from zhifu.channels.base import Channel, RailFacts
from zhifu.channels.http import RailHttp
from zhifu.core.config import get_settings
from zhifu.core.errors import InvalidRequest

FAMILIES: dict[str, ModuleType] = {m.FAMILY: m for m in (unionpay, wechat, alipay)}
FACTS: dict[str, RailFacts] = {f.name: f for m in FAMILIES.values() for f in m.RAILS}
CHANNELS: tuple[str, ...] = tuple(FACTS)
TERMINAL_CHANNELS = frozenset(n for n, f in FACTS.items() if f.terminal)

_lock = threading.Lock()
_config: dict[str, Any] | None = None
_transport: httpx.BaseTransport | None = None
_connectors: dict[str, Channel] = {}
_clients: list[RailHttp] = []


class RailNotConfigured(InvalidRequest):
    code = "rail_not_configured"


def facts(name: str) -> RailFacts:
    try:
        return FACTS[name]
    except KeyError:
        raise InvalidRequest(
            f"未知渠道 {name!r} / unknown channel {name!r}; one of {', '.join(CHANNELS)}", param="channel"
        ) from None


def configure(config: Mapping[str, Any] | None, *, transport: httpx.BaseTransport | None = None) -> None:
    """Use this rail configuration (a parsed rails.json); None reads the file named by ZHIFU_RAILS_CONFIG again."""
    global _config, _transport
    with _lock:
        for c in _connectors.values():
            http = getattr(
                c, "http", None
            )  # a connector's close() closes an order at its rail, not its client
            if http is not None:
                http.close()
        _connectors.clear()
        _config = dict(config) if config is not None else None
        _transport = transport


def rail_config() -> dict[str, Any]:
    global _config
    if _config is None:
        path = Path(get_settings().rails_config)
        if not path.exists():
            raise RailNotConfigured(
                f"没有支付通道配置 {path} / no rail configuration at {path}: set ZHIFU_RAILS_CONFIG "
                f"(the simulator writes one: zhifu sim rails)",
                param="channel",
            )
        _config = json.loads(path.read_text())
    return _config


def get_channel(name: str) -> Channel:
    """The connector of a rail, built once from the rail configuration."""
    f = facts(name)
    with _lock:
        conn = _connectors.get(name)
        if conn is None:
            cfg = rail_config().get(f.family)
            if not cfg:
                raise RailNotConfigured(
                    f"渠道 {f.label_zh} 未配置 / rail {name} ({f.family}) is not configured", param="channel"
                )
            # the rail posts its notifications to our public URL unless the configuration names another
            cfg = {**cfg, "notify_url_base": cfg.get("notify_url_base") or get_settings().public_base_url}
            http = RailHttp(
                name,
                cfg["base_url"],
                transport=_transport,
                timeout_s=float(cfg.get("timeout_s", get_settings().rail_timeout_s)),
            )
            _clients.append(http)
            conn = _connectors[name] = FAMILIES[f.family].connector(f, cfg, http)
        return conn
