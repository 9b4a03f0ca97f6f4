"""Finds each capability's parts by convention, so adding a capability touches no shared file:
`zhifu.<cap>.models` (tables), `zhifu.<cap>.routes.router` (HTTP), `zhifu.<cap>.cli.app` (commands),
`zhifu.<cap>.events` (the payment events it publishes and subscribes to)."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

import zhifu


def capabilities() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(zhifu.__path__) if m.ispkg)


def modules(kind: str) -> list[ModuleType]:
    """Import `zhifu.<cap>.<kind>` for every capability that has one."""
    out = []
    for cap in capabilities():
        name = f"zhifu.{cap}.{kind}"
        try:
            spec = importlib.util.find_spec(name)
        except ModuleNotFoundError:
            continue
        if spec is not None:
            out.append(importlib.import_module(name))
    return out


def load_events() -> None:
    """Install every capability's event wiring, declared in `zhifu.<cap>.events` (`PUBLISHES`: the event types it
    owns, each with its history; `SUBSCRIBES`: (event type, handler) pairs). Every process that takes payments
    calls this at start-up; a subscriber module that fails to import fails the start."""
    from zhifu.core import events

    declared = modules("events")
    events.install(
        ((m.__name__, getattr(m, "PUBLISHES", {})) for m in declared),
        ((m.__name__, getattr(m, "SUBSCRIBES", ())) for m in declared),
    )
